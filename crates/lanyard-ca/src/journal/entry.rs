//! Journal records.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::key::{KeyId, KeyType};
use crate::x509::template::later;

/// One of the two key slots of an authority kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Slot {
    /// Slot A (`x509-CA-A`, `JWT-Signer-A`).
    A,
    /// Slot B (`x509-CA-B`, `JWT-Signer-B`).
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    pub(crate) fn x509_key_id(self) -> KeyId {
        key_id(match self {
            Self::A => "x509-CA-A",
            Self::B => "x509-CA-B",
        })
    }

    pub(crate) fn jwt_key_id(self) -> KeyId {
        key_id(match self {
            Self::A => "JWT-Signer-A",
            Self::B => "JWT-Signer-B",
        })
    }
}

/// Lifecycle of an authority: published first, then signing, then only published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// In the bundle, not signing yet.
    Prepared,
    /// Signing.
    Active,
    /// Replaced; in the bundle until what it signed has expired.
    Old,
}

/// What every journal record has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EntryMeta {
    pub(crate) slot: Slot,
    pub(crate) status: Status,
    pub(crate) authority_id: String,
    pub(crate) key_type: KeyType,
    pub(crate) issued_at: u64,
    pub(crate) not_after: u64,
    pub(crate) tainted: bool,
}

impl EntryMeta {
    pub(crate) fn issued_at(&self) -> SystemTime {
        later(SystemTime::UNIX_EPOCH, Duration::from_secs(self.issued_at))
    }

    pub(crate) fn not_after(&self) -> SystemTime {
        later(SystemTime::UNIX_EPOCH, Duration::from_secs(self.not_after))
    }
}

/// An X.509 CA record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct X509Entry {
    #[serde(flatten)]
    pub(crate) meta: EntryMeta,
    pub(crate) certificate: Der,
    pub(crate) upstream_chain: Vec<Der>,
    pub(crate) upstream_roots: Vec<Der>,
    pub(crate) upstream_authority_id: Option<String>,
    /// The upstream root named by `upstream_authority_id` was tainted.
    #[serde(default)]
    pub(crate) upstream_tainted: bool,
}

/// A JWT signing key record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JwtEntry {
    #[serde(flatten)]
    pub(crate) meta: EntryMeta,
    pub(crate) public_key: Der,
}

/// The records of one authority kind: the active one, the one in the
/// other slot (prepared or old), and retired ones (old, their slot reused)
/// that stay published until they expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Slots<E> {
    pub(crate) active: Option<E>,
    pub(crate) next: Option<E>,
    pub(crate) retired: Vec<E>,
}

impl<E> Default for Slots<E> {
    fn default() -> Self {
        Self {
            active: None,
            next: None,
            retired: Vec::new(),
        }
    }
}

/// DER bytes, base64 in JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Der(pub(crate) Vec<u8>);

impl Serialize for Der {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Der {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

fn key_id(name: &'static str) -> KeyId {
    KeyId::new(name).expect("slot key ids are constant valid names")
}
