//! Why a TPM attestation failed.

use thiserror::Error;

use super::credential::CredentialError;
use super::wire::WireError;
use crate::ErrorClass;
use crate::join_token::JoinTokenError;

/// Why a `tpm` attestation failed. Messages name the rule that failed and
/// never hold a token, a secret or key material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TpmError {
    /// A message is not the expected JSON.
    #[error("tpm attestation message is malformed")]
    Payload(#[source] serde_json::Error),

    /// A message is larger than the protocol allows.
    #[error("tpm attestation message is {0} bytes, over the limit")]
    MessageTooLarge(usize),

    /// A message arrived that this step does not expect.
    #[error("tpm attestation expected {expected}")]
    UnexpectedMessage {
        /// What the step expects.
        expected: &'static str,
    },

    /// A TPM structure could not be decoded.
    #[error("tpm {structure} is malformed")]
    Wire {
        /// Which structure.
        structure: &'static str,
        /// The decoding error.
        #[source]
        source: WireError,
    },

    /// The join token was refused.
    #[error(transparent)]
    JoinToken(#[from] JoinTokenError),

    /// The join token does not bind the node's xname.
    #[error("join token is not bound to an xname (node:xname selector)")]
    TokenWithoutXname,

    /// What the agent claims differs from what the token binds.
    #[error("agent claims a different {0} than its join token binds")]
    ClaimMismatch(&'static str),

    /// A key's attributes break a rule.
    #[error("{key} {rule}")]
    Attributes {
        /// `ek`, `ak` or `ldevid`.
        key: &'static str,
        /// The rule that failed.
        rule: &'static str,
    },

    /// The TPM2_Certify breaks a rule.
    #[error("certify {0}")]
    Certify(&'static str),

    /// The EK is not trusted.
    #[error("endorsement key refused: {0}")]
    Ek(&'static str),

    /// The EK certificate does not chain to a manufacturer root.
    #[error("ek certificate does not chain to a configured manufacturer root")]
    EkChain(#[source] webpki::Error),

    /// This EK is enrolled under another xname.
    #[error("this tpm is already enrolled under another xname")]
    EkEnrolledElsewhere,

    /// The credential could not be made.
    #[error(transparent)]
    Credential(#[from] CredentialError),

    /// The credential proof (HMAC of the transcript) is wrong.
    #[error("credential activation proof does not match")]
    ProofMismatch,

    /// The LDevID signature does not verify.
    #[error("ldevid signature does not verify")]
    LdevidSignature,

    /// The LDevID certificate chain is refused.
    #[error("ldevid certificate refused: {0}")]
    Ldevid(&'static str),

    /// The LDevID certificate does not chain to the LDevID CA.
    #[error("ldevid certificate does not chain to the ldevid ca")]
    LdevidChain(#[source] webpki::Error),

    /// The node is not enrolled, or was enrolled again since this LDevID.
    #[error("ldevid certificate is not the current one of an enrolled tpm")]
    NotEnrolled,

    /// Re-attestation needs a TLS session binding the server did not supply.
    #[error("re-attestation needs a tls session binding")]
    MissingSessionBinding,

    /// The server's node registry failed.
    #[error("tpm node registry failed")]
    Registry(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The LDevID CA failed to issue.
    #[error("ldevid certificate issuance failed: {0}")]
    Issue(String),

    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,

    /// The agent's TPM failed (agent side).
    #[error("tpm {operation} failed: {detail}")]
    Device {
        /// The TPM operation.
        operation: &'static str,
        /// What the TPM stack reported.
        detail: String,
    },

    /// The agent's state directory could not be used (agent side).
    #[error("tpm agent state {operation} failed")]
    State {
        /// What was being done.
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl TpmError {
    /// How the server reports this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Payload(_)
            | Self::MessageTooLarge(_)
            | Self::UnexpectedMessage { .. }
            | Self::Wire { .. } => ErrorClass::Malformed,
            Self::JoinToken(err) => err.class(),
            Self::Registry(_)
            | Self::Issue(_)
            | Self::Random
            | Self::Device { .. }
            | Self::State { .. } => ErrorClass::Internal,
            Self::Credential(CredentialError::Crypto | CredentialError::Random) => {
                ErrorClass::Internal
            }
            _ => ErrorClass::Denied,
        }
    }
}
