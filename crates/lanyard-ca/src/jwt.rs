//! JWT-SVID signing keys.

use std::fmt;
use std::time::{Duration, SystemTime};

use lanyard_spiffe::SpiffeId;
use lanyard_spiffe::bundle::JwtAuthority;
use lanyard_spiffe::jwt::{
    JwtAlgorithm, JwtIssueError, JwtSignError, JwtSigner, JwtSvidClaims, issue_jwt_svid,
};
use thiserror::Error;

use crate::key::{KeyError, Signer};

/// A JWT-SVID signing key: a signer, its `kid`, and its expiry. JWT-SVIDs
/// it signs never outlive it.
#[derive(Clone)]
pub struct JwtKey {
    signer: Signer,
    key_id: String,
    issued_at: SystemTime,
    not_after: SystemTime,
}

/// What to put in a JWT-SVID.
#[derive(Debug, Clone)]
pub struct JwtSvidRequest {
    /// `sub`.
    pub spiffe_id: SpiffeId,
    /// `aud`: at least one audience.
    pub audience: Vec<String>,
    /// Requested lifetime; capped at the key's expiry.
    pub ttl: Duration,
    /// `iss`, when the server has `jwt_issuer` configured.
    pub issuer: Option<String>,
    /// Whether to add a random `jti`.
    pub include_jti: bool,
}

/// A signed JWT-SVID. `Debug` does not show the token.
#[derive(Clone)]
pub struct IssuedJwtSvid {
    token: String,
    issued_at: i64,
    expires_at: SystemTime,
}

/// Why a JWT-SVID could not be signed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JwtKeyError {
    /// The key has expired at signing time.
    #[error("the jwt signing key {0} has expired")]
    Expired(String),

    /// The requested lifetime is zero.
    #[error("the requested ttl must be greater than zero")]
    ZeroTtl,

    /// The SPIFFE ID belongs to another trust domain than the server's.
    #[error("spiffe id {0} is not in the server's trust domain")]
    ForeignTrustDomain(String),

    /// The claims are not a valid JWT-SVID (e.g. no audience).
    #[error("jwt-svid rejected")]
    Issue(#[from] JwtIssueError),

    /// The random number generator failed.
    #[error("random number generator failed")]
    Random,
}

impl JwtKey {
    /// Wraps `signer` as a JWT key with a new random `kid`, valid from `now` for `ttl`.
    pub fn new(signer: Signer, now: SystemTime, ttl: Duration) -> Result<Self, KeyError> {
        let key_id = random_hex::<16>().map_err(|_| KeyError::Generate(signer.key_type()))?;
        Ok(Self::from_parts(
            signer,
            key_id,
            whole_seconds(now),
            whole_seconds(crate::x509::template::later(now, ttl)),
        ))
    }

    /// Rebuilds a key from stored parts.
    pub fn from_parts(
        signer: Signer,
        key_id: String,
        issued_at: SystemTime,
        not_after: SystemTime,
    ) -> Self {
        Self {
            signer,
            key_id,
            issued_at,
            not_after,
        }
    }

    /// The key ID (`kid` header, and the authority ID in the LocalAuthority API).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// When the key was made.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// When the key expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The signing key.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The public half, as it is published in the trust bundle.
    pub fn authority(&self) -> Result<JwtAuthority, lanyard_spiffe::BundleError> {
        JwtAuthority::new(
            &self.key_id,
            self.signer.public_key().as_ref().to_vec(),
            Some(unix_seconds(self.not_after)),
        )
    }

    /// Signs a JWT-SVID at `now`: `exp` is `now + ttl` capped at the key's
    /// expiry, `iat` is `now`.
    pub fn issue_jwt_svid(
        &self,
        request: &JwtSvidRequest,
        now: SystemTime,
    ) -> Result<IssuedJwtSvid, JwtKeyError> {
        if request.ttl.is_zero() {
            return Err(JwtKeyError::ZeroTtl);
        }
        if now >= self.not_after {
            return Err(JwtKeyError::Expired(self.key_id.clone()));
        }

        let expires_at =
            whole_seconds(crate::x509::template::later(now, request.ttl)).min(self.not_after);
        let jti = if request.include_jti {
            Some(random_hex::<16>().map_err(|_| JwtKeyError::Random)?)
        } else {
            None
        };
        let issued_at = unix_seconds(now);
        let claims = JwtSvidClaims {
            sub: request.spiffe_id.clone(),
            aud: request.audience.clone(),
            exp: unix_seconds(expires_at),
            iat: issued_at,
            iss: request.issuer.clone(),
            jti,
        };
        let token = issue_jwt_svid(self, &claims)?;
        tracing::debug!(spiffe_id = %request.spiffe_id, key_id = %self.key_id, "signed jwt-svid");
        Ok(IssuedJwtSvid {
            token,
            issued_at,
            expires_at,
        })
    }
}

impl JwtSigner for JwtKey {
    fn algorithm(&self) -> JwtAlgorithm {
        self.signer.jwt_algorithm()
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JwtSignError> {
        self.signer
            .sign_jws(signing_input)
            .map_err(JwtSignError::new)
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("key_id", &self.key_id)
            .field("not_after", &self.not_after)
            .field("signer", &self.signer)
            .finish()
    }
}

impl IssuedJwtSvid {
    /// The compact JWS token. A bearer credential: never log it.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `iat` claim, in Unix seconds.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// The `exp` claim.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

impl fmt::Debug for IssuedJwtSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedJwtSvid")
            .field("token", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    crate::x509::template::whole_seconds(t)
}

fn random_hex<const N: usize>() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut random = [0u8; N];
    aws_lc_rs::rand::fill(&mut random)?;
    Ok(hex::encode(random))
}
