//! JWT-SVIDs (JWT-SVID specification): issuing through a signer and verifying
//! against the JWT authorities of the subject's trust domain.

mod algorithm;
mod error;
mod issue;
mod signer;
mod verify;

use std::fmt;

use serde_json::{Map, Value};

pub use algorithm::JwtAlgorithm;
pub use error::{JwsPart, JwtIssueError, JwtSignError, JwtSvidError};
pub use issue::{JwtSigner, JwtSvidClaims, UnsignedJwtSvid, issue_jwt_svid};
pub use signer::Pkcs8JwtSigner;
pub use verify::{JWT_LEEWAY, MAX_JWT_SVID_LEN, parse_jwt_svid_insecure, verify_jwt_svid};

use crate::SpiffeId;

/// A parsed JWT-SVID. `Debug` does not show the token (a bearer credential).
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSvid {
    token: String,
    spiffe_id: SpiffeId,
    audience: Vec<String>,
    expires_at: i64,
    issued_at: Option<i64>,
    algorithm: JwtAlgorithm,
    key_id: Option<String>,
    claims: Map<String, Value>,
}

impl JwtSvid {
    /// The compact token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The SPIFFE ID (`sub`).
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The audiences (`aud`).
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// Expiry (`exp`), Unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Issue time (`iat`), Unix seconds, if present.
    pub fn issued_at(&self) -> Option<i64> {
        self.issued_at
    }

    /// The signature algorithm (`alg`).
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The key ID (`kid`), if present.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Every claim, as the Workload API's `ValidateJWTSVID` returns them.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

impl fmt::Debug for JwtSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSvid")
            .field("token", &"<redacted>")
            .field("spiffe_id", &self.spiffe_id)
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}
