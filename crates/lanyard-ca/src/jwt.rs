//! JWT-SVID signing keys.

use std::fmt;
use std::time::{Duration, SystemTime};

use lanyard_spiffe::bundle::JwtAuthority;

use crate::key::Signer;

/// A JWT-SVID signing key: a signer, its `kid`, and its expiry. JWT-SVIDs
/// it signs never outlive it.
#[derive(Clone)]
pub struct JwtKey {
    signer: Signer,
    key_id: String,
    issued_at: SystemTime,
    not_after: SystemTime,
}

impl JwtKey {
    /// Wraps `signer` as a JWT key with a new random `kid`, valid from `now` for `ttl`.
    pub fn new(
        signer: Signer,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Self, crate::key::KeyError> {
        let mut random = [0u8; 16];
        aws_lc_rs::rand::fill(&mut random)
            .map_err(|_| crate::key::KeyError::Generate(signer.key_type()))?;
        Ok(Self::from_parts(
            signer,
            hex::encode(random),
            whole_seconds(now),
            whole_seconds(now + ttl),
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
    pub fn authority(&self) -> Result<JwtAuthority, lanyard_spiffe::bundle::BundleError> {
        JwtAuthority::new(
            &self.key_id,
            self.signer.public_key().as_ref().to_vec(),
            Some(unix_seconds(self.not_after)),
        )
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

pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    crate::x509::template::whole_seconds(t)
}
