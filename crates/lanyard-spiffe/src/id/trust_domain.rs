//! Trust domain names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::{SCHEME_PREFIX, check_trust_domain};
use super::{SpiffeId, SpiffeIdError};

/// A trust domain name such as `example.org`: non-empty, at most 255 bytes, only
/// `[a-z0-9.-_]`.
///
/// Names that look like IP addresses or DNS names get no special treatment.
/// `Display`, `FromStr` and serde use the bare name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain {
    name: String,
}

impl TrustDomain {
    /// Parses a bare trust domain name such as `example.org`.
    pub fn new(name: &str) -> Result<Self, SpiffeIdError> {
        check_trust_domain(name)?;
        Ok(Self {
            name: name.to_owned(),
        })
    }

    /// Parses either a bare name (`example.org`) or a trust domain ID
    /// (`spiffe://example.org`). A trust domain ID with a path is rejected.
    pub fn from_name_or_id(s: &str) -> Result<Self, SpiffeIdError> {
        if !s.starts_with(SCHEME_PREFIX) {
            return Self::new(s);
        }

        let id = SpiffeId::parse(s)?;
        if !id.is_root() {
            return Err(SpiffeIdError::TrustDomainWithPath);
        }
        Ok(id.trust_domain().clone())
    }

    /// The bare name, e.g. `example.org`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The trust domain's root ID, e.g. `spiffe://example.org`.
    pub fn id(&self) -> SpiffeId {
        SpiffeId::from_validated(self.clone(), "")
    }

    /// Whether `id` belongs to this trust domain.
    pub fn contains(&self, id: &SpiffeId) -> bool {
        id.is_member_of(self)
    }

    /// Wraps a name already checked by the ID parser.
    pub(crate) fn from_validated(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for TrustDomain {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for TrustDomain {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl TryFrom<&str> for TrustDomain {
    type Error = SpiffeIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl Serialize for TrustDomain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for TrustDomain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}
