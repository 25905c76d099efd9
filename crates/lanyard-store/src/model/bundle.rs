//! Trust bundles as stored: the authorities and hint, keyed by trust domain.

use lanyard_spiffe::TrustDomain;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A trust domain's bundle (our own or a federated one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub trust_domain: TrustDomain,
    pub x509_authorities: Vec<X509Authority>,
    pub jwt_authorities: Vec<JwtAuthority>,
    /// Seconds; how often holders should refresh, if set.
    pub refresh_hint: Option<u64>,
    /// Set by the store: 1 on creation, one more on every change.
    pub sequence_number: u64,
}

impl BundleRecord {
    /// An empty bundle for `trust_domain`.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            x509_authorities: Vec::new(),
            jwt_authorities: Vec::new(),
            refresh_hint: None,
            sequence_number: 0,
        }
    }

    /// Adds the authorities not already present (X.509 by certificate bytes, JWT by
    /// key ID); returns whether anything was added.
    pub fn append(&mut self, x509: &[X509Authority], jwt: &[JwtAuthority]) -> bool {
        let mut changed = false;
        for authority in x509 {
            if !self.x509_authorities.iter().any(|a| a.der == authority.der) {
                self.x509_authorities.push(authority.clone());
                changed = true;
            }
        }
        for authority in jwt {
            if !self
                .jwt_authorities
                .iter()
                .any(|a| a.key_id == authority.key_id)
            {
                self.jwt_authorities.push(authority.clone());
                changed = true;
            }
        }
        changed
    }

    /// Whether the content (not the sequence number) equals `other`'s.
    pub(crate) fn same_content(&self, other: &Self) -> bool {
        self.x509_authorities == other.x509_authorities
            && self.jwt_authorities == other.jwt_authorities
            && self.refresh_hint == other.refresh_hint
    }
}

/// An X.509 root (or intermediate, with an upstream authority).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Authority {
    /// The DER certificate (base64 in serde).
    #[serde(with = "b64")]
    pub der: Vec<u8>,
    pub tainted: bool,
}

/// A JWT signing key's public half.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtAuthority {
    pub key_id: String,
    /// DER SubjectPublicKeyInfo (base64 in serde).
    #[serde(with = "b64")]
    pub public_key_der: Vec<u8>,
    #[serde(with = "time::serde::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub tainted: bool,
}

/// What deleting a bundle does to entries that federate with its trust domain
/// (SPIRE's `BatchDeleteFederatedBundle` modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BundleDeleteMode {
    /// Refuse (`Conflict`) while any entry federates with it.
    #[default]
    Restrict,
    /// Remove the trust domain from those entries' `federates_with`.
    Dissociate,
    /// Delete those entries.
    Delete,
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
