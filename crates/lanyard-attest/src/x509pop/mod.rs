//! The `x509pop` node attestor, in SPIRE's wire format (see [`wire`]): the
//! agent presents a certificate chain, the server verifies it to its
//! configured roots (or, in `spiffe` mode, to its own trust bundle), sends a
//! nonce, and the agent proves possession of the leaf key by signing the
//! server's nonce and one of its own.
//!
//! Agent ID: `spiffe://<td>/spire/agent/x509pop/<sha1 of leaf DER>` by default,
//! or from `agent_path_template`. Selectors (type `x509pop`): `subject:cn:<CN>`,
//! `ca:fingerprint:<sha1>` per CA on the verified path, `serialnumber:<hex>`,
//! `san:<key>:<value>` from `x509pop://<td>/<key>/<value>` URI SANs.
//! Re-attestable.

mod agent;
mod cert;
mod chain;
mod config;
mod identity;
mod pop;
mod server;
pub mod wire;

use lanyard_spiffe::{SelectorError, SpiffeIdError};
use thiserror::Error;

use crate::ErrorClass;
use crate::rng::RngError;
use crate::template::TemplateError;

pub use agent::X509PopAgent;
pub use config::{
    DEFAULT_MAX_INTERMEDIATES, DEFAULT_MAX_RSA_KEY_SIZE, DEFAULT_SVID_PREFIX, X509PopAgentConfig,
    X509PopMode, X509PopServerConfig,
};
pub use server::X509PopServer;

/// The attestation data type, selector type and agent ID segment.
pub const KIND: &str = "x509pop";

/// Why an x509pop attestation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum X509PopError {
    /// The attestation data payload is not SPIRE's x509pop JSON.
    #[error("x509pop attestation data is malformed")]
    Payload(#[source] serde_json::Error),

    /// The payload carries no certificate.
    #[error("x509pop attestation data holds no certificate")]
    NoCertificates,

    /// The payload carries more intermediates than `max_intermediates`.
    #[error("x509pop chain has {count} intermediates, the limit is {max}")]
    TooManyIntermediates {
        /// Intermediates sent.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A certificate of the payload is not valid DER X.509.
    #[error("x509pop certificate {index} is malformed")]
    MalformedCertificate {
        /// Position in the payload, the leaf being 0.
        index: usize,
    },

    /// The leaf's subject common name is not a text string.
    #[error("x509pop leaf subject common name is not a text string")]
    CommonNameNotText,

    /// The leaf key is of an unsupported type.
    #[error("x509pop leaf key is not supported: {0}")]
    UnsupportedKey(&'static str),

    /// The leaf's RSA key is larger than `max_rsa_key_size`.
    #[error("x509pop leaf rsa key has {bits} bits, the limit is {max}")]
    RsaKeyTooLarge {
        /// Modulus length.
        bits: usize,
        /// The limit.
        max: usize,
    },

    /// The leaf's key usage lacks `digitalSignature`.
    #[error("x509pop leaf key usage does not allow digitalSignature")]
    MissingDigitalSignature,

    /// The server has no usable root to verify against.
    #[error("x509pop has no usable trust anchor")]
    NoTrustAnchors,

    /// The chain does not verify to a trusted root (expired, unknown issuer,
    /// bad signature, ...).
    #[error("x509pop certificate chain does not verify: {0}")]
    ChainNotVerified(webpki::Error),

    /// Spiffe mode: the leaf has no `spiffe://` URI SAN.
    #[error("x509pop leaf has no spiffe id")]
    NoSpiffeId,

    /// Spiffe mode: the leaf's SPIFFE ID is invalid.
    #[error("x509pop leaf spiffe id is invalid")]
    BadSpiffeId(#[source] SpiffeIdError),

    /// Spiffe mode: the leaf's SPIFFE ID is of another trust domain.
    #[error("x509pop leaf spiffe id is not in this trust domain")]
    ForeignTrustDomain,

    /// Spiffe mode: the leaf's SPIFFE ID path does not start with `svid_prefix`.
    #[error("x509pop leaf spiffe id does not start with the svid prefix {prefix:?}")]
    SvidPrefixMismatch {
        /// The required prefix.
        prefix: String,
    },

    /// `verify_client_ip` is set and the server does not know the peer address.
    #[error("x509pop cannot verify the client ip: peer address unknown")]
    ClientIpUnknown,

    /// `verify_client_ip` is set and the peer is not among the leaf's IP SANs.
    #[error("x509pop client ip is not among the leaf's ip sans")]
    ClientIpMismatch,

    /// The agent path template could not be rendered for this leaf.
    #[error("x509pop agent path template failed")]
    AgentPathTemplate(#[source] TemplateError),

    /// The rendered agent ID is not a valid SPIFFE ID.
    #[error("x509pop agent id path {path:?} is invalid")]
    AgentId {
        /// The path that was built.
        path: String,
        /// Why it is invalid.
        #[source]
        source: SpiffeIdError,
    },

    /// A selector derived from the leaf is invalid.
    #[error("x509pop selector value {value:?} is invalid")]
    Selector {
        /// The selector value.
        value: String,
        /// Why it is invalid.
        #[source]
        source: SelectorError,
    },

    /// The challenge response is not SPIRE's x509pop JSON.
    #[error("x509pop challenge response is malformed")]
    ResponsePayload(#[source] serde_json::Error),

    /// The challenge response answers a different key type.
    #[error("x509pop challenge response has no {expected} signature")]
    ResponseKindMismatch {
        /// The key type the leaf has.
        expected: &'static str,
    },

    /// A nonce is not 32 bytes.
    #[error("x509pop nonce is {len} bytes, expected 32")]
    NonceLength {
        /// Length found.
        len: usize,
    },

    /// The signature does not verify with the leaf key over this session's
    /// challenge (wrong key, tampered nonce, or a response to another challenge).
    #[error("x509pop challenge response signature does not verify")]
    BadSignature,

    /// The challenge (on the agent) is not SPIRE's x509pop JSON.
    #[error("x509pop challenge is malformed")]
    ChallengePayload(#[source] serde_json::Error),

    /// The challenge (on the agent) is for a different key type.
    #[error("x509pop challenge has no {expected} member for this key")]
    ChallengeKindMismatch {
        /// The key type the agent holds.
        expected: &'static str,
    },

    /// Signing the answer failed.
    #[error("x509pop signing failed")]
    Sign,

    /// The random number generator failed.
    #[error("x509pop nonce generation failed")]
    Random(#[source] RngError),
}

impl X509PopError {
    /// How the server reports this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Payload(_)
            | Self::NoCertificates
            | Self::TooManyIntermediates { .. }
            | Self::MalformedCertificate { .. }
            | Self::CommonNameNotText
            | Self::ResponsePayload(_)
            | Self::ResponseKindMismatch { .. }
            | Self::NonceLength { .. }
            | Self::ChallengePayload(_)
            | Self::ChallengeKindMismatch { .. } => ErrorClass::Malformed,
            Self::UnsupportedKey(_)
            | Self::RsaKeyTooLarge { .. }
            | Self::MissingDigitalSignature
            | Self::ChainNotVerified(_)
            | Self::NoSpiffeId
            | Self::BadSpiffeId(_)
            | Self::ForeignTrustDomain
            | Self::SvidPrefixMismatch { .. }
            | Self::ClientIpMismatch
            | Self::AgentPathTemplate(_)
            | Self::AgentId { .. }
            | Self::Selector { .. }
            | Self::BadSignature => ErrorClass::Denied,
            Self::NoTrustAnchors | Self::ClientIpUnknown | Self::Sign | Self::Random(_) => {
                ErrorClass::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests;
