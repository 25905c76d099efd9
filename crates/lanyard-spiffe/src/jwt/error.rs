//! Errors for JWT-SVIDs.

use thiserror::Error;

use crate::json::JsonError;
use crate::{SpiffeIdError, TrustDomain};

/// A failure of a [`JwtSigner`](super::JwtSigner), e.g. of a key manager.
#[derive(Debug, Error)]
#[error("jwt signer failed")]
pub struct JwtSignError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl JwtSignError {
    /// Wraps the signer's own error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(source.into())
    }
}

/// Why a JWT-SVID could not be issued.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JwtIssueError {
    /// The claims have no audience.
    #[error("jwt-svid must have at least one audience")]
    EmptyAudience,

    /// An audience value is empty.
    #[error("jwt-svid audience values must not be empty")]
    EmptyAudienceValue,

    /// The signer's key ID is empty or holds control characters.
    #[error("jwt signer key id must be non-empty without control characters")]
    BadKeyId,

    /// The signer failed.
    #[error("signing the jwt-svid failed")]
    Sign(#[source] JwtSignError),

    /// The signature does not have the algorithm's fixed size (e.g. a DER ECDSA
    /// signature instead of r||s).
    #[error("{algorithm} signature must be {expected} bytes (r||s), got {actual}")]
    BadSignatureLength {
        /// The algorithm.
        algorithm: &'static str,
        /// The fixed size.
        expected: usize,
        /// The size received.
        actual: usize,
    },

    /// The private key does not fit the algorithm.
    #[error("private key is invalid or does not match the algorithm")]
    BadPrivateKey,
}

/// Which part of a compact JWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsPart {
    /// The protected header.
    Header,
    /// The claims (payload).
    Claims,
    /// The signature.
    Signature,
}

impl std::fmt::Display for JwsPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Claims => "claims",
            Self::Signature => "signature",
        })
    }
}

/// Why a token is not a valid JWT-SVID.
///
/// Each variant names the rule of the JWT-SVID specification that failed.
/// Strings taken from the token are cut to 64 characters.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JwtSvidError {
    /// The token is longer than [`MAX_JWT_SVID_LEN`](super::MAX_JWT_SVID_LEN).
    #[error("token is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length of the token.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The token is not three dot-separated base64url parts.
    #[error("token must use the jws compact serialization (header.claims.signature)")]
    NotCompactSerialization,

    /// A part is not unpadded base64url.
    #[error("token {0} is not valid base64url")]
    BadBase64(JwsPart),

    /// A part is not a JSON object, or has duplicate keys.
    #[error("token {part} is not a valid json object")]
    BadJson {
        /// Which part.
        part: JwsPart,
        /// The JSON error.
        #[source]
        source: JsonError,
    },

    /// The header has no `alg`.
    #[error("header must have \"alg\"")]
    MissingAlgorithm,

    /// `alg` is not one of RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512.
    #[error("algorithm {0:?} is not allowed for jwt-svids")]
    UnsupportedAlgorithm(String),

    /// The header carries a key or a key reference (`jwk`, `jku`, `x5u`, `x5c`, ...).
    #[error("header parameter {0:?} is not allowed: keys never come from the token")]
    KeyInHeader(String),

    /// The header has a parameter other than `alg`, `kid` and `typ`.
    #[error("header parameter {0:?} is not allowed")]
    UnexpectedHeader(String),

    /// `typ` is present but neither `JWT` nor `JOSE`.
    #[error("header \"typ\" must be \"JWT\" or \"JOSE\", found {0:?}")]
    BadType(String),

    /// `kid` is present but not a non-empty string.
    #[error("header \"kid\" must be a non-empty string")]
    BadKeyIdHeader,

    /// `sub` is missing or not a string.
    #[error("claims must have a string \"sub\"")]
    MissingSubject,

    /// `sub` is not a valid SPIFFE ID.
    #[error("\"sub\" is not a valid spiffe id")]
    InvalidSubject(#[source] SpiffeIdError),

    /// `aud` is missing or empty.
    #[error("claims must have a non-empty \"aud\"")]
    MissingAudience,

    /// `aud` is neither a string nor an array of strings.
    #[error("\"aud\" must be a string or an array of strings")]
    BadAudience,

    /// `exp` is missing.
    #[error("claims must have \"exp\"")]
    MissingExpiry,

    /// A time claim (`exp`, `iat`, `nbf`) is not a number of seconds.
    #[error("claim {0:?} must be a numeric date")]
    BadTimeClaim(&'static str),

    /// No bundle for the subject's trust domain.
    #[error("no bundle for trust domain {0}")]
    NoBundle(TrustDomain),

    /// The header has no `kid`, so no authority can be chosen.
    #[error("header must have \"kid\" to select the signing authority")]
    MissingKeyId,

    /// No JWT authority of the trust domain has the `kid`.
    #[error("no jwt authority {key_id:?} in trust domain {trust_domain}")]
    UnknownKeyId {
        /// The key ID from the token.
        key_id: String,
        /// The subject's trust domain.
        trust_domain: TrustDomain,
    },

    /// The authority's key type does not fit `alg`.
    #[error("jwt authority key does not match algorithm {0}")]
    KeyAlgorithmMismatch(&'static str),

    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,

    /// `exp` is in the past (beyond the leeway).
    #[error("token expired at {exp}")]
    Expired {
        /// The `exp` claim.
        exp: i64,
    },

    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid before {nbf}")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
    },

    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future ({iat})")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
    },

    /// The expected audience is not in `aud`.
    #[error("audience {0:?} is not in \"aud\"")]
    AudienceMismatch(String),
}

/// Cuts attacker-controlled text for error messages.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}
