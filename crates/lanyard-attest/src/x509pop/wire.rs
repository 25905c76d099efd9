//! SPIRE's x509pop messages, as JSON with byte strings in padded standard
//! base64 (Go's encoding of `[]byte`):
//!
//! - attestation data payload: `{"certificates":["<DER leaf>","<DER intermediate>",...]}`;
//! - challenge (server to agent): `{"rsa_signature":{"nonce":"..."},"ecdsa_signature":null}`
//!   or `{"rsa_signature":null,"ecdsa_signature":{"nonce":"..."}}`, by leaf key type;
//! - challenge response: `{"rsa_signature":{"nonce":"...","signature":"..."},"ecdsa_signature":null}`
//!   or `{"rsa_signature":null,"ecdsa_signature":{"nonce":"...","r":"...","s":"..."}}`.
//!
//! Nonces are 32 bytes. The agent signs SHA-256(server nonce ‖ agent nonce):
//! RSA-PSS with SHA-256, or ECDSA with `r` and `s` as unsigned big-endian
//! integers. Missing and `null` fields read as empty, as Go reads them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of both nonces, in bytes.
pub const NONCE_LEN: usize = 32;

/// The `x509pop` attestation data payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationPayload {
    /// DER certificates: the leaf first, then intermediates.
    #[serde(with = "base64_list", default)]
    pub certificates: Vec<Vec<u8>>,
}

/// The server's challenge: exactly one member is set, matching the leaf key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Set when the leaf key is RSA.
    #[serde(default)]
    pub rsa_signature: Option<NonceChallenge>,
    /// Set when the leaf key is ECDSA.
    #[serde(default)]
    pub ecdsa_signature: Option<NonceChallenge>,
}

/// A server nonce.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceChallenge {
    /// The server's nonce.
    #[serde(with = "base64_bytes", default)]
    pub nonce: Vec<u8>,
}

/// The agent's answer: the member matching the challenge is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The answer to an RSA challenge.
    #[serde(default)]
    pub rsa_signature: Option<RsaSignatureResponse>,
    /// The answer to an ECDSA challenge.
    #[serde(default)]
    pub ecdsa_signature: Option<EcdsaSignatureResponse>,
}

/// An RSA-PSS answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsaSignatureResponse {
    /// The agent's nonce.
    #[serde(with = "base64_bytes", default)]
    pub nonce: Vec<u8>,
    /// RSA-PSS (SHA-256) signature over the two nonces.
    #[serde(with = "base64_bytes", default)]
    pub signature: Vec<u8>,
}

/// An ECDSA answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdsaSignatureResponse {
    /// The agent's nonce.
    #[serde(with = "base64_bytes", default)]
    pub nonce: Vec<u8>,
    /// The signature's `r`, unsigned big-endian.
    #[serde(with = "base64_bytes", default)]
    pub r: Vec<u8>,
    /// The signature's `s`, unsigned big-endian.
    #[serde(with = "base64_bytes", default)]
    pub s: Vec<u8>,
}

/// The bytes both sides sign and verify: server nonce, then agent nonce. The
/// signature schemes hash them with SHA-256.
pub(crate) fn signed_message(challenge_nonce: &[u8], response_nonce: &[u8]) -> Vec<u8> {
    [challenge_nonce, response_nonce].concat()
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => STANDARD.decode(text).map_err(serde::de::Error::custom),
            None => Ok(Vec::new()),
        }
    }
}

mod base64_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::{Deserialize, Deserializer, Serialize as _, Serializer};

    pub(super) fn serialize<S: Serializer>(
        items: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let encoded: Vec<String> = items.iter().map(|item| STANDARD.encode(item)).collect();
        encoded.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let encoded = Option::<Vec<Option<String>>>::deserialize(deserializer)?.unwrap_or_default();
        encoded
            .into_iter()
            .map(|item| match item {
                Some(text) => STANDARD.decode(text).map_err(serde::de::Error::custom),
                None => Ok(Vec::new()),
            })
            .collect()
    }
}
