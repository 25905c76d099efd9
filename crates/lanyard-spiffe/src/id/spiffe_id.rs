//! SPIFFE IDs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::{
    SCHEME_PREFIX, check_path, check_relative_path, check_total_len, check_trust_domain,
};
use super::{SpiffeIdError, TrustDomain};

/// A SPIFFE ID such as `spiffe://example.org/ns/prod/web`, valid by construction.
///
/// The trust domain is lower case `[a-z0-9.-_]`, the path is empty (the trust
/// domain's root ID) or `/`-separated segments of `[a-zA-Z0-9.-_]` that are neither
/// empty, `.` nor `..`; there is no userinfo, port, query, fragment or
/// percent-encoding, and the whole ID is at most 2048 bytes.
/// `Display`, `FromStr` and serde use the full URI string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    // `full` first so the derived ordering is the ordering of the URI strings.
    full: String,
    trust_domain: TrustDomain,
}

impl SpiffeId {
    /// Parses a SPIFFE ID URI.
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        if s.is_empty() {
            return Err(SpiffeIdError::Empty);
        }
        check_total_len(s.len())?;
        let Some(rest) = s.strip_prefix(SCHEME_PREFIX) else {
            return Err(SpiffeIdError::WrongScheme);
        };

        if rest.contains('?') {
            return Err(SpiffeIdError::Query);
        }
        if rest.contains('#') {
            return Err(SpiffeIdError::Fragment);
        }

        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        check_trust_domain(authority)?;
        check_path(path)?;

        Ok(Self {
            full: s.to_owned(),
            trust_domain: TrustDomain::from_validated(authority),
        })
    }

    /// Builds an ID from a trust domain and a path (`""` for the root ID, else
    /// `/a/b`).
    pub fn from_parts(td: &TrustDomain, path: &str) -> Result<Self, SpiffeIdError> {
        check_path(path)?;
        check_total_len(SCHEME_PREFIX.len() + td.as_str().len() + path.len())?;
        Ok(Self::from_validated(td.clone(), path))
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path: `""` for the root ID, else `/a/b`.
    pub fn path(&self) -> &str {
        &self.full[SCHEME_PREFIX.len() + self.trust_domain.as_str().len()..]
    }

    /// Whether this is the trust domain's root ID (no path).
    pub fn is_root(&self) -> bool {
        self.path().is_empty()
    }

    /// The path segments, none for the root ID.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path().split('/').skip(1)
    }

    /// Whether this ID belongs to `td`.
    pub fn is_member_of(&self, td: &TrustDomain) -> bool {
        self.trust_domain == *td
    }

    /// Appends one segment (`"seg"`) or several (`"seg/seg2"`) to the path, each
    /// checked like a parsed segment. A leading or trailing `/` is rejected.
    pub fn join(&self, path: &str) -> Result<Self, SpiffeIdError> {
        if path.is_empty() {
            return Err(SpiffeIdError::EmptySegment);
        }
        check_relative_path(path)?;
        check_total_len(self.full.len() + 1 + path.len())?;

        Ok(Self {
            full: format!("{}/{}", self.full, path),
            trust_domain: self.trust_domain.clone(),
        })
    }

    /// The full URI, e.g. `spiffe://example.org/a/b`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// Builds an ID from parts already checked; the length is checked by callers
    /// or bounded by the trust domain limit (root IDs).
    pub(crate) fn from_validated(trust_domain: TrustDomain, path: &str) -> Self {
        Self {
            full: format!("{SCHEME_PREFIX}{}{path}", trust_domain.as_str()),
            trust_domain,
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for SpiffeId {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl TryFrom<&str> for SpiffeId {
    type Error = SpiffeIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl Serialize for SpiffeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for SpiffeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}
