//! Errors of attestation sessions and of attestor configuration.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::join_token::{InvalidJoinToken, JoinTokenError};
use crate::template::TemplateError;
use crate::x509pop::X509PopError;

/// Why an attestation failed. Messages name the rule that failed and never
/// hold a token or key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AttestError {
    /// No attestor handles the attestation data type.
    #[error("no node attestor is configured for attestation data type {0:?}")]
    UnknownAttestor(String),

    /// The session is over (it finished or failed) or was started twice.
    #[error("attestation session is already finished")]
    SessionFinished,

    /// A challenge response arrived while no challenge was outstanding.
    #[error("challenge response received but no challenge is outstanding")]
    UnexpectedChallengeResponse,

    /// The server sent a challenge the agent's attestor does not expect.
    #[error("{0} attestation does not expect a challenge")]
    UnexpectedChallenge(&'static str),

    /// Join token attestation failed.
    #[error(transparent)]
    JoinToken(#[from] JoinTokenError),

    /// x509pop attestation failed.
    #[error(transparent)]
    X509Pop(#[from] X509PopError),

    /// TPM attestation failed.
    #[error(transparent)]
    Tpm(#[from] crate::tpm::TpmError),

    /// The agent could not load its evidence (files, keys, token).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// How the server should report an [`AttestError`] to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request is malformed (gRPC `InvalidArgument`).
    Malformed,
    /// The evidence was understood and refused (gRPC `PermissionDenied`).
    Denied,
    /// The server failed (gRPC `Internal`); details belong in its log only.
    Internal,
}

impl AttestError {
    /// How to report this error to the agent.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownAttestor(_)
            | Self::SessionFinished
            | Self::UnexpectedChallengeResponse
            | Self::UnexpectedChallenge(_) => ErrorClass::Malformed,
            Self::JoinToken(err) => err.class(),
            Self::X509Pop(err) => err.class(),
            Self::Tpm(err) => err.class(),
            Self::Config(_) => ErrorClass::Internal,
        }
    }
}

/// Why an attestor's configuration, or the files it names, cannot be used.
/// These go to operators, so they name the setting and the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {setting} {path:?}")]
    Read {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// A PEM file is malformed.
    #[error("{setting} {path:?} is not valid PEM")]
    Pem {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },

    /// A PEM file holds no `CERTIFICATE` block.
    #[error("{setting} {path:?} holds no certificate")]
    NoCertificates {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
    },

    /// A certificate in a file is not valid DER X.509.
    #[error("certificate {index} in {setting} {path:?} is malformed")]
    BadCertificate {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Position of the certificate in the file, from 0.
        index: usize,
    },

    /// A CA certificate cannot serve as a trust anchor.
    #[error("certificate {index} in {setting} {path:?} cannot be a trust anchor: {reason}")]
    BadTrustAnchor {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Position of the certificate in the file, from 0.
        index: usize,
        /// What rustls-webpki reported.
        reason: webpki::Error,
    },

    /// The private key file holds no supported key (PKCS#8, SEC1 or PKCS#1
    /// for EC P-256/P-384/P-521 or RSA).
    #[error("private_key_path {path:?} holds no supported private key")]
    UnsupportedPrivateKey {
        /// The file.
        path: PathBuf,
    },

    /// The private key does not belong to the certificate.
    #[error("private key in {key_path:?} does not match the certificate in {certificate_path:?}")]
    KeyMismatch {
        /// The key file.
        key_path: PathBuf,
        /// The certificate file.
        certificate_path: PathBuf,
    },

    /// `mode` is neither `external_pki` nor `spiffe`.
    #[error("x509pop mode {0:?} is unknown: use external_pki or spiffe")]
    UnknownMode(String),

    /// `mode = "external_pki"` without a CA bundle.
    #[error("x509pop external_pki mode needs ca_bundle_path or ca_bundle_paths")]
    MissingCaBundle,

    /// A CA bundle was given in `spiffe` mode, which uses the server's own bundle.
    #[error("x509pop spiffe mode uses the server's trust bundle: remove ca_bundle_path(s)")]
    CaBundleInSpiffeMode,

    /// `svid_prefix` is not a usable SPIFFE ID path prefix.
    #[error("x509pop svid_prefix {0:?} must be a path such as /spire-exchange")]
    BadSvidPrefix(String),

    /// `max_rsa_key_size` is below what the verifier supports.
    #[error("x509pop max_rsa_key_size {0} is below the 2048-bit minimum")]
    MaxRsaKeySizeTooSmall(usize),

    /// `agent_path_template` cannot be used.
    #[error("x509pop agent_path_template is invalid")]
    Template(#[source] TemplateError),

    /// More than one join token source is configured.
    #[error("join token is set by both join_token and join_token_file: keep one")]
    ConflictingJoinTokenSources,

    /// No join token source is configured.
    #[error("no join token: set join_token or join_token_file, or pass -joinToken")]
    MissingJoinToken,

    /// The configured join token is malformed.
    #[error("configured join token is invalid")]
    InvalidJoinToken(#[source] InvalidJoinToken),

    /// A `tpm` attestor setting cannot be used.
    #[error("tpm {setting} is invalid: {reason}")]
    TpmSetting {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },

    /// The `tpm` attestor's LDevID CA cannot be loaded or generated.
    #[error("tpm ldevid ca cannot be loaded")]
    LdevidCa(#[source] crate::tpm::TpmError),
}
