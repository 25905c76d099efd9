//! Private keys: their types, the key manager trait and its implementations.
//!
//! A key manager hands out [`Signer`] handles. Callers sign through the
//! handle and never see private key bytes, so a key manager backed by a KMS
//! or a TPM can take the place of the in-process ones later.

mod disk;
mod memory;
mod signer;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use disk::DiskKeyManager;
pub use memory::MemoryKeyManager;
pub use signer::Signer;

/// Holds signing keys under stable identifiers (such as `x509-CA-A`).
///
/// Implementations are blocking; async callers wrap them in
/// `spawn_blocking`.
pub trait KeyManager: Send + Sync + fmt::Debug {
    /// Generates a new key under `id`, replacing any key already stored there.
    fn generate_key(&self, id: &KeyId, key_type: KeyType) -> Result<Signer, KeyError>;

    /// Returns the key stored under `id`, if there is one.
    fn get_key(&self, id: &KeyId) -> Result<Option<Signer>, KeyError>;

    /// Removes the key stored under `id`; returns whether there was one.
    fn delete_key(&self, id: &KeyId) -> Result<bool, KeyError>;
}

/// The key algorithms a CA or JWT signing key may use (SPIRE's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256.
    #[default]
    EcP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcP384,
    /// RSA with a 2048-bit modulus, PKCS#1 v1.5 signatures with SHA-256.
    Rsa2048,
    /// RSA with a 4096-bit modulus, PKCS#1 v1.5 signatures with SHA-256.
    Rsa4096,
}

impl KeyType {
    /// Every supported key type, in SPIRE's documentation order.
    pub const ALL: [Self; 4] = [Self::Rsa2048, Self::Rsa4096, Self::EcP256, Self::EcP384];

    /// The configuration name (`ec-p256`, `ec-p384`, `rsa-2048`, `rsa-4096`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcP256 => "ec-p256",
            Self::EcP384 => "ec-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa4096 => "rsa-4096",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|key_type| key_type.as_str() == s)
            .ok_or_else(|| KeyError::UnknownKeyType(s.to_owned()))
    }
}

impl From<KeyType> for String {
    fn from(key_type: KeyType) -> Self {
        key_type.as_str().to_owned()
    }
}

impl TryFrom<String> for KeyType {
    type Error = KeyError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The name a key is stored under: 1 to 128 characters of `[A-Za-z0-9._-]`,
/// not starting with a dot, so that it is safe as a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    const MAX_LEN: usize = 128;

    /// Validates `id` as a key identifier.
    pub fn new(id: impl Into<String>) -> Result<Self, KeyError> {
        let id = id.into();
        let valid_chars = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if id.is_empty() || id.len() > Self::MAX_LEN || !valid_chars || id.starts_with('.') {
            return Err(KeyError::InvalidKeyId(id));
        }
        Ok(Self(id))
    }

    /// The identifier as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> Self {
        id.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = KeyError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// Why a key operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key type name is not one of `ec-p256`, `ec-p384`, `rsa-2048`, `rsa-4096`.
    #[error("unknown key type {0:?}: expected one of ec-p256, ec-p384, rsa-2048, rsa-4096")]
    UnknownKeyType(String),

    /// A key identifier has characters that are not allowed.
    #[error("invalid key id {0:?}: use 1 to 128 characters of [A-Za-z0-9._-]")]
    InvalidKeyId(String),

    /// The crypto library could not generate a key.
    #[error("key generation failed for {0}")]
    Generate(KeyType),

    /// Private key bytes are not a supported key (or are corrupt).
    #[error("private key is not a valid {expected} key")]
    InvalidPrivateKey {
        /// What the bytes were expected to hold.
        expected: &'static str,
    },

    /// The crypto library failed to sign.
    #[error("signing with a {0} key failed")]
    Sign(KeyType),

    /// Reading or writing the key store failed.
    #[error("key store i/o failed: {context}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The key store file is not in the expected format.
    #[error("key store file is malformed: {0}")]
    MalformedStore(String),

    /// A lock was poisoned by a panic in another thread.
    #[error("key store lock poisoned")]
    Poisoned,
}

#[cfg(test)]
mod tests;
