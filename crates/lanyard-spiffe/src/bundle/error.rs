//! Errors for trust bundles.

use thiserror::Error;

use crate::json::JsonError;
use crate::key::KeyError;
use crate::{SpiffeIdError, TrustDomain};

/// Why a bundle, bundle map or authority was rejected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The document is not a JSON object, or holds duplicate keys.
    #[error("bundle json is invalid")]
    Json(#[source] JsonError),

    /// The required `keys` member is missing.
    #[error("bundle must have a \"keys\" member")]
    MissingKeys,

    /// `keys` is not an array.
    #[error("bundle \"keys\" must be an array")]
    KeysNotArray,

    /// An element of `keys` is not a JSON object.
    #[error("bundle key {index} is not a json object")]
    JwkNotObject {
        /// Position in `keys`.
        index: usize,
    },

    /// `spiffe_sequence` is not an unsigned 64-bit integer.
    #[error("\"spiffe_sequence\" must be an unsigned 64-bit integer")]
    BadSequence,

    /// `spiffe_refresh_hint` is not a non-negative integer number of seconds.
    #[error("\"spiffe_refresh_hint\" must be a non-negative integer number of seconds")]
    BadRefreshHint,

    /// An `x509-svid` entry's `x5c` is not an array of base64 strings.
    #[error("bundle key {index}: \"x5c\" must be an array of base64 der certificates")]
    BadX5c {
        /// Position in `keys`.
        index: usize,
    },

    /// A certificate is not a well-formed DER X.509 certificate.
    #[error("x509 authority is not a valid der certificate")]
    BadCertificate(#[source] x509_parser::error::X509Error),

    /// A `jwt-svid` entry has no `kid`.
    #[error("bundle key {index}: a jwt-svid key must have a non-empty \"kid\"")]
    MissingKeyId {
        /// Position in `keys`.
        index: usize,
    },

    /// A JWT authority key ID is empty, too long or holds control characters.
    #[error("jwt authority key id must be 1 to {max} bytes without control characters")]
    BadKeyId {
        /// The limit.
        max: usize,
    },

    /// Two JWT authorities share a key ID.
    #[error("duplicate jwt authority key id {0:?}")]
    DuplicateKeyId(String),

    /// A public key could not be read or converted.
    #[error("invalid public key")]
    Key(#[source] KeyError),

    /// A JWT authority key is not usable with any JWT-SVID algorithm.
    #[error("jwt authority key must be an ec p-256/p-384/p-521 or rsa key")]
    UnsupportedJwtKey,

    /// The bundle map has no `trust_domains` object.
    #[error("bundle map must have a \"trust_domains\" object")]
    MissingTrustDomains,

    /// A bundle map key is not a trust domain name.
    #[error("bundle map key {name:?} is not a trust domain name")]
    BadTrustDomain {
        /// The rejected key.
        name: String,
        /// Why it was rejected.
        #[source]
        source: SpiffeIdError,
    },

    /// A bundle inside a bundle map is invalid.
    #[error("bundle for trust domain {trust_domain} is invalid")]
    InMap {
        /// The trust domain whose bundle failed.
        trust_domain: TrustDomain,
        /// Why it failed.
        #[source]
        source: Box<Self>,
    },

    /// PEM input could not be read.
    #[error("invalid pem")]
    Pem(#[source] rustls_pki_types::pem::Error),

    /// PEM input holds no certificate.
    #[error("pem holds no certificate")]
    NoCertificatesInPem,
}

impl From<JsonError> for BundleError {
    fn from(e: JsonError) -> Self {
        Self::Json(e)
    }
}

impl From<KeyError> for BundleError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}
