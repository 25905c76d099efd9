//! The JWT-SVID signature algorithms.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self as sig, VerificationAlgorithm};

use super::JwtSvidError;
use super::error::clip;
use crate::key::{EcCurve, KeyKind};

/// The nine algorithms the JWT-SVID specification allows, and nothing else
/// (no `none`, no HMAC, no EdDSA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
}

impl JwtAlgorithm {
    /// Every allowed algorithm.
    pub const ALL: [Self; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
    ];

    /// The JOSE name, e.g. `ES256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
        }
    }

    /// The fixed signature size of the ECDSA algorithms (r||s), `None` for RSA.
    pub fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Self::Es256 => Some(64),
            Self::Es384 => Some(96),
            Self::Es512 => Some(132),
            _ => None,
        }
    }

    /// Whether a key of `kind` can verify this algorithm.
    pub(crate) fn fits(self, kind: KeyKind) -> bool {
        match self {
            Self::Es256 => kind == KeyKind::Ec(EcCurve::P256),
            Self::Es384 => kind == KeyKind::Ec(EcCurve::P384),
            Self::Es512 => kind == KeyKind::Ec(EcCurve::P521),
            _ => kind == KeyKind::Rsa,
        }
    }

    /// The aws-lc-rs verification algorithm (RSA keys of 2048 to 8192 bits).
    pub(crate) fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::Rs256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Self::Rs384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Self::Rs512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Self::Es256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::Es384 => &sig::ECDSA_P384_SHA384_FIXED,
            Self::Es512 => &sig::ECDSA_P521_SHA512_FIXED,
            Self::Ps256 => &sig::RSA_PSS_2048_8192_SHA256,
            Self::Ps384 => &sig::RSA_PSS_2048_8192_SHA384,
            Self::Ps512 => &sig::RSA_PSS_2048_8192_SHA512,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwtAlgorithm {
    type Err = JwtSvidError;

    /// Exact, case-sensitive match against the allow-list.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| JwtSvidError::UnsupportedAlgorithm(clip(s)))
    }
}
