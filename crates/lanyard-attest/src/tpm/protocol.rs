//! The `tpm` attestation wire format: JSON messages in
//! `AttestationData.payload` (type `tpm`), `AttestAgentResponse.challenge`
//! and `AttestAgentRequest.challenge_response`, bytes as standard base64
//! (as SPIRE's Go plugins marshal `[]byte`). TPM structures are marshalled
//! `TPMT_PUBLIC`, `TPMS_ATTEST` and `TPMT_SIGNATURE` without size prefixes;
//! the credential fields are the TPM2B bodies TPM2_ActivateCredential takes.
//!
//! Enrollment (one `AttestAgent` stream):
//! 1. payload `{"enroll":{"join_token":T}}`
//! 2. challenge `{"evidence_request":{"nonce":N}}`
//! 3. response `{"evidence":{...}}` ([`Evidence`])
//! 4. challenge `{"credential":{"id_object":..,"encrypted_secret":..}}`
//! 5. response `{"proof":{"hmac":..,"ldevid_signature":..}}`
//! 6. challenge `{"issued":{"ldevid_chain":[leaf, CA]}}`
//! 7. response `{"stored":{}}`, then the server returns the agent's SVID.
//!
//! Re-attestation: payload `{"reattest":{"ldevid_chain":[..]}}`, challenge
//! `{"reattest_nonce":{"nonce":N,"residency":bool}}`, response
//! `{"reattest_proof":{"ldevid_signature":..,"residency":{..}|null}}`; when a
//! residency check is due, steps 4-5 follow against the stored EK.

use serde::{Deserialize, Serialize};

use super::TpmError;
use super::node_type::NodeType;
use super::xname::Xname;

/// The attestation data type.
pub const KIND: &str = "tpm";

/// Largest message accepted from the peer.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Label of the certify qualifying data: `SHA-256(label || nonce)`.
pub const CERTIFY_LABEL: &str = "lanyard tpm certify v1\0";
/// Label of the enrollment transcript.
pub const ENROLL_LABEL: &str = "lanyard tpm enrollment v1\0";
/// Label of the residency re-check transcript.
pub const RESIDENCY_LABEL: &str = "lanyard tpm residency v1\0";
/// Prefix of the message the LDevID key signs to prove possession during
/// enrollment or a residency check: `label || transcript`.
pub const LDEVID_PROOF_LABEL: &str = "lanyard tpm ldevid proof v1\0";
/// Prefix of the message the LDevID key signs at re-attestation.
pub const REATTEST_LABEL: &str = "lanyard tpm reattest v1\0";

/// The first message (`AttestationData.payload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Hello {
    /// First enrollment, gated by an administrator's join token.
    Enroll {
        /// The join token (secret until used).
        join_token: String,
    },
    /// Later attestation with the LDevID certificate.
    Reattest {
        /// LDevID certificate then its CA chain, DER.
        #[serde(with = "b64_list")]
        ldevid_chain: Vec<Vec<u8>>,
    },
}

/// A server challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Challenge {
    /// Send evidence; certify the LDevID over this nonce.
    EvidenceRequest {
        /// 32 random bytes.
        #[serde(with = "b64")]
        nonce: Vec<u8>,
    },
    /// Activate this credential and prove it.
    Credential {
        /// `TPM2B_ID_OBJECT` body.
        #[serde(with = "b64")]
        id_object: Vec<u8>,
        /// `TPM2B_ENCRYPTED_SECRET` body.
        #[serde(with = "b64")]
        encrypted_secret: Vec<u8>,
    },
    /// The LDevID certificate the server issued.
    Issued {
        /// Leaf then the LDevID CA, DER.
        #[serde(with = "b64_list")]
        ldevid_chain: Vec<Vec<u8>>,
    },
    /// Sign this nonce with the LDevID key; prove residency again if asked.
    ReattestNonce {
        /// 32 random bytes.
        #[serde(with = "b64")]
        nonce: Vec<u8>,
        /// Whether a full residency check (fresh AK, certify, credential
        /// activation against the enrolled EK) is due.
        residency: bool,
    },
}

/// An agent's answer to a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Answer to [`Challenge::EvidenceRequest`].
    Evidence(Evidence),
    /// Answer to [`Challenge::Credential`].
    Proof {
        /// `HMAC-SHA256(activated secret, transcript)`.
        #[serde(with = "b64")]
        hmac: Vec<u8>,
        /// LDevID `TPMT_SIGNATURE` over `LDEVID_PROOF_LABEL || transcript`.
        #[serde(with = "b64")]
        ldevid_signature: Vec<u8>,
    },
    /// Answer to [`Challenge::Issued`]: the certificate is stored.
    Stored {},
    /// Answer to [`Challenge::ReattestNonce`].
    ReattestProof {
        /// LDevID `TPMT_SIGNATURE` over [`reattest_message`].
        #[serde(with = "b64")]
        ldevid_signature: Vec<u8>,
        /// Present when residency was asked for.
        residency: Option<Residency>,
    },
}

/// Enrollment evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// EK certificate (DER), absent for TPMs without one.
    #[serde(with = "b64_opt", default)]
    pub ek_cert: Option<Vec<u8>>,
    /// EK CA certificates found in the TPM's NV (DER).
    #[serde(with = "b64_list", default)]
    pub ek_chain: Vec<Vec<u8>>,
    /// EK `TPMT_PUBLIC`.
    #[serde(with = "b64")]
    pub ek_pub: Vec<u8>,
    /// AK `TPMT_PUBLIC`.
    #[serde(with = "b64")]
    pub ak_pub: Vec<u8>,
    /// LDevID `TPMT_PUBLIC`.
    #[serde(with = "b64")]
    pub ldevid_pub: Vec<u8>,
    /// `TPMS_ATTEST` of TPM2_Certify(LDevID) by the AK.
    #[serde(with = "b64")]
    pub certify_attest: Vec<u8>,
    /// The certify `TPMT_SIGNATURE`.
    #[serde(with = "b64")]
    pub certify_signature: Vec<u8>,
    /// What the agent believes it is; must agree with the token.
    #[serde(default)]
    pub claims: Claims,
}

/// Residency evidence at re-attestation: a fresh AK certifying the LDevID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Residency {
    /// AK `TPMT_PUBLIC`.
    #[serde(with = "b64")]
    pub ak_pub: Vec<u8>,
    /// LDevID `TPMT_PUBLIC`.
    #[serde(with = "b64")]
    pub ldevid_pub: Vec<u8>,
    /// `TPMS_ATTEST` of TPM2_Certify(LDevID) by the AK.
    #[serde(with = "b64")]
    pub certify_attest: Vec<u8>,
    /// The certify `TPMT_SIGNATURE`.
    #[serde(with = "b64")]
    pub certify_signature: Vec<u8>,
}

/// The agent's own idea of its identity (from its configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The node's xname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xname: Option<Xname>,
    /// The node's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<NodeType>,
}

/// Decodes a peer message, bounded in size.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, TpmError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(TpmError::MessageTooLarge(bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(TpmError::Payload)
}

/// Encodes a message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Plain structs of strings, bools and byte lists always serialize.
    serde_json::to_vec(message).unwrap_or_default()
}

/// The certify qualifying data for `nonce`: `SHA-256(CERTIFY_LABEL || nonce)`
/// (32 bytes, within TPM2B_DATA's limit on SHA-256 TPMs).
pub fn certify_qualifying_data(nonce: &[u8]) -> [u8; 32] {
    Transcript::new(CERTIFY_LABEL).raw(nonce).finish()
}

/// The message an LDevID key signs at re-attestation:
/// `REATTEST_LABEL || H(binding, nonce, SHA-256(leaf DER))`.
pub fn reattest_message(session_binding: &[u8], nonce: &[u8], leaf_der: &[u8]) -> Vec<u8> {
    let leaf_hash = super::ek::sha256(leaf_der);
    let digest = Transcript::new(REATTEST_LABEL)
        .field(session_binding)
        .field(nonce)
        .field(&leaf_hash)
        .finish();
    [REATTEST_LABEL.as_bytes(), &digest].concat()
}

/// The message an LDevID key signs over a transcript hash.
pub fn ldevid_proof_message(transcript: &[u8; 32]) -> Vec<u8> {
    [LDEVID_PROOF_LABEL.as_bytes(), transcript].concat()
}

/// A SHA-256 transcript of length-prefixed fields under a label, so no two
/// field sequences hash alike.
pub struct Transcript {
    ctx: aws_lc_rs::digest::Context,
}

impl Transcript {
    /// Starts a transcript with `label`.
    pub fn new(label: &str) -> Self {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(label.as_bytes());
        Self { ctx }
    }

    /// Adds a field: its length (u32, big-endian), then its bytes.
    pub fn field(mut self, bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.ctx.update(&len.to_be_bytes());
        self.ctx.update(bytes);
        self
    }

    fn raw(mut self, bytes: &[u8]) -> Self {
        self.ctx.update(bytes);
        self
    }

    /// The hash.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.ctx.finish().as_ref());
        out
    }
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

mod b64_opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text = <Option<String>>::deserialize(d)?;
        text.map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod b64_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::ser::SerializeSeq as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&STANDARD.encode(bytes))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = <Vec<String>>::deserialize(d)?;
        texts
            .into_iter()
            .map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_tagged_json_with_base64() {
        let hello = Hello::Enroll {
            join_token: "tok".into(),
        };
        assert_eq!(encode(&hello), br#"{"enroll":{"join_token":"tok"}}"#);
        let challenge = Challenge::ReattestNonce {
            nonce: vec![0xff, 0],
            residency: false,
        };
        assert_eq!(
            encode(&challenge),
            br#"{"reattest_nonce":{"nonce":"/wA=","residency":false}}"#
        );
        assert_eq!(
            decode::<Response>(br#"{"stored":{}}"#).unwrap(),
            Response::Stored {}
        );
        assert!(decode::<Hello>(br#"{"enroll":{"join_token":"t","x":1}}"#).is_err());
        assert!(decode::<Challenge>(br#"{"evidence_request":{"nonce":"!!"}}"#).is_err());
        assert!(matches!(
            decode::<Hello>(&vec![b' '; MAX_MESSAGE_LEN + 1]).unwrap_err(),
            TpmError::MessageTooLarge(_)
        ));
    }

    #[test]
    fn transcripts_separate_fields() {
        let a = Transcript::new("l").field(b"ab").field(b"c").finish();
        let b = Transcript::new("l").field(b"a").field(b"bc").finish();
        assert_ne!(a, b);
        assert_ne!(
            reattest_message(&[1; 32], &[2; 32], b"leaf"),
            reattest_message(&[3; 32], &[2; 32], b"leaf")
        );
    }
}
