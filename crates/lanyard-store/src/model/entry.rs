//! Registration entries.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use lanyard_spiffe::{SelectorMatch, SelectorSet, SpiffeId, TrustDomain};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::SelectorFilter;

/// Longest entry ID accepted, in bytes.
pub const MAX_ENTRY_ID_LEN: usize = 255;

/// A registration entry ID: a generated UUID or a caller's choice of 1 to 255
/// printable ASCII characters without spaces.
///
/// Clones share the text: the entry cache keeps every ID in several indexes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryId(Arc<str>);

/// Why a string is not an entry ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryIdError {
    #[error("entry id is empty")]
    Empty,
    #[error("entry id is longer than 255 bytes")]
    TooLong,
    #[error("entry id has a character that is not printable ASCII")]
    BadCharacter,
}

impl EntryId {
    /// A fresh random (version 4) UUID.
    pub fn generate() -> Self {
        Self(Arc::from(uuid::Uuid::new_v4().to_string()))
    }

    pub fn parse(s: &str) -> Result<Self, EntryIdError> {
        if s.is_empty() {
            return Err(EntryIdError::Empty);
        }
        if s.len() > MAX_ENTRY_ID_LEN {
            return Err(EntryIdError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(EntryIdError::BadCharacter);
        }
        Ok(Self(Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EntryId {
    type Err = EntryIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EntryId {
    type Error = EntryIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EntryId> for String {
    fn from(id: EntryId) -> Self {
        id.0.as_ref().to_owned()
    }
}

/// What a caller sets on an entry (everything but its ID, revision and creation time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySpec {
    pub spiffe_id: SpiffeId,
    pub parent_id: SpiffeId,
    /// Never empty: the store refuses an entry without selectors.
    pub selectors: SelectorSet,
    /// Seconds; 0 means the server's default.
    pub x509_svid_ttl: u32,
    /// Seconds; 0 means the server's default.
    pub jwt_svid_ttl: u32,
    /// Each must have a bundle in the store.
    pub federates_with: BTreeSet<TrustDomain>,
    pub admin: bool,
    pub downstream: bool,
    /// In order: the first becomes the X.509-SVID subject's common name.
    pub dns_names: Vec<String>,
    pub hint: String,
    #[serde(with = "time::serde::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub store_svid: bool,
    pub jwt_svid_include_jti: bool,
    pub disable_x509_svid_prefetch: bool,
}

impl EntrySpec {
    /// A spec with the given IDs and selectors and every other field at its default.
    pub fn new(spiffe_id: SpiffeId, parent_id: SpiffeId, selectors: SelectorSet) -> Self {
        Self {
            spiffe_id,
            parent_id,
            selectors,
            x509_svid_ttl: 0,
            jwt_svid_ttl: 0,
            federates_with: BTreeSet::new(),
            admin: false,
            downstream: false,
            dns_names: Vec::new(),
            hint: String::new(),
            expires_at: None,
            store_svid: false,
            jwt_svid_include_jti: false,
            disable_x509_svid_prefetch: false,
        }
    }
}

/// An entry to create; the store generates a UUID when `id` is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    pub id: Option<EntryId>,
    pub spec: EntrySpec,
}

/// A stored registration entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationEntry {
    pub id: EntryId,
    /// 0 at creation, one more on every update.
    pub revision_number: u64,
    #[serde(with = "time::serde::timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(flatten)]
    pub spec: EntrySpec,
}

/// Which fields an update replaces; the others keep their stored values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per entry field, as SPIRE's mask"
)]
pub struct EntryMask {
    pub spiffe_id: bool,
    pub parent_id: bool,
    pub selectors: bool,
    pub x509_svid_ttl: bool,
    pub jwt_svid_ttl: bool,
    pub federates_with: bool,
    pub admin: bool,
    pub downstream: bool,
    pub dns_names: bool,
    pub hint: bool,
    pub expires_at: bool,
    pub store_svid: bool,
    pub jwt_svid_include_jti: bool,
    pub disable_x509_svid_prefetch: bool,
}

impl EntryMask {
    /// Every field: a full replace.
    pub const ALL: Self = Self {
        spiffe_id: true,
        parent_id: true,
        selectors: true,
        x509_svid_ttl: true,
        jwt_svid_ttl: true,
        federates_with: true,
        admin: true,
        downstream: true,
        dns_names: true,
        hint: true,
        expires_at: true,
        store_svid: true,
        jwt_svid_include_jti: true,
        disable_x509_svid_prefetch: true,
    };

    /// Copies the masked fields of `from` into `to`.
    pub fn apply(&self, from: &EntrySpec, to: &mut EntrySpec) {
        macro_rules! copy {
            ($($field:ident),*) => {
                $(if self.$field {
                    to.$field.clone_from(&from.$field);
                })*
            };
        }
        copy!(
            spiffe_id,
            parent_id,
            selectors,
            x509_svid_ttl,
            jwt_svid_ttl,
            federates_with,
            admin,
            downstream,
            dns_names,
            hint,
            expires_at,
            store_svid,
            jwt_svid_include_jti,
            disable_x509_svid_prefetch
        );
    }
}

/// SPIRE's `ListEntries` filters; every filter that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryFilter {
    pub by_spiffe_id: Option<SpiffeId>,
    pub by_parent_id: Option<SpiffeId>,
    pub by_selectors: Option<SelectorFilter>,
    pub by_federates_with: Option<TrustDomainFilter>,
    pub by_hint: Option<String>,
    pub by_downstream: Option<bool>,
}

/// Matches entries whose `federates_with` set relates to `trust_domains` as `mode`
/// says (same semantics as [`SelectorFilter`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustDomainFilter {
    pub trust_domains: BTreeSet<TrustDomain>,
    pub mode: SelectorMatch,
}

/// One item of a batch update: the fields of `spec` selected by `mask` replace
/// those of entry `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryUpdate {
    pub id: EntryId,
    pub spec: EntrySpec,
    pub mask: EntryMask,
}
