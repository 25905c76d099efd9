//! Errors for X.509-SVIDs.

use std::fmt;

use thiserror::Error;

use crate::{SpiffeIdError, TrustDomain};

/// A signing certificate of a chain: an intermediate (by its position in the
/// presented chain, the leaf being 0) or the bundle authority the chain ends at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaCertificate {
    /// The intermediate at this position of the presented chain.
    Intermediate(usize),
    /// The trust bundle's authority.
    Authority,
}

impl fmt::Display for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Intermediate(index) => write!(f, "intermediate certificate {index}"),
            Self::Authority => f.write_str("bundle authority"),
        }
    }
}

/// Why a certificate chain is not a valid X.509-SVID.
///
/// Each variant names the rule of the X509-SVID specification that failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum X509SvidError {
    /// No certificate was given.
    #[error("certificate chain is empty")]
    EmptyChain,

    /// A certificate is not well-formed DER.
    #[error("certificate {index} is not a valid der certificate")]
    Malformed {
        /// Position in the chain, the leaf being 0.
        index: usize,
        /// The parser's complaint.
        #[source]
        source: x509_parser::error::X509Error,
    },

    /// The leaf has no URI SAN.
    #[error("leaf must have exactly one uri san, found none")]
    NoUriSan,

    /// The leaf has more than one URI SAN.
    #[error("leaf must have exactly one uri san, found {count}")]
    MultipleUriSans {
        /// How many URI SANs the leaf has.
        count: usize,
    },

    /// The URI SAN is not a valid SPIFFE ID.
    #[error("uri san is not a valid spiffe id")]
    InvalidSpiffeId(#[source] SpiffeIdError),

    /// The leaf's SPIFFE ID is a trust domain's root ID.
    #[error("leaf spiffe id must have a path")]
    LeafIdWithoutPath,

    /// The subject is empty but the SAN extension is not critical.
    #[error("subject alternative name extension must be critical when the subject is empty")]
    SanNotCritical,

    /// The leaf has basic constraints with `cA` true.
    #[error("leaf must not be a ca (basic constraints ca=true)")]
    LeafIsCa,

    /// The leaf has no key usage extension.
    #[error("leaf must have a key usage extension")]
    LeafMissingKeyUsage,

    /// The leaf's key usage extension is not critical.
    #[error("leaf key usage extension must be critical")]
    LeafKeyUsageNotCritical,

    /// The leaf's key usage lacks `digitalSignature`.
    #[error("leaf key usage must include digitalSignature")]
    LeafMissingDigitalSignature,

    /// The leaf's key usage has `keyCertSign`.
    #[error("leaf key usage must not include keyCertSign")]
    LeafHasKeyCertSign,

    /// The leaf's key usage has `cRLSign`.
    #[error("leaf key usage must not include cRLSign")]
    LeafHasCrlSign,

    /// The leaf's extended key usage lacks serverAuth or clientAuth.
    #[error("leaf extended key usage must include both serverAuth and clientAuth")]
    LeafEkuMissingTlsAuth,

    /// A signing certificate is not a CA (basic constraints `cA` absent or false).
    #[error("{0} must be a ca (basic constraints ca=true)")]
    SignerNotCa(CaCertificate),

    /// A signing certificate has no key usage extension.
    #[error("{0} must have a key usage extension")]
    SignerMissingKeyUsage(CaCertificate),

    /// A signing certificate's key usage extension is not critical.
    #[error("{0} key usage extension must be critical")]
    SignerKeyUsageNotCritical(CaCertificate),

    /// A signing certificate's key usage lacks `keyCertSign`.
    #[error("{0} key usage must include keyCertSign")]
    SignerMissingKeyCertSign(CaCertificate),

    /// A signing certificate's SPIFFE ID has a path.
    #[error("{0} spiffe id must not have a path")]
    SignerIdWithPath(CaCertificate),

    /// A signing certificate's SPIFFE ID is in another trust domain.
    #[error("{0} spiffe id is not in the leaf's trust domain")]
    SignerIdInOtherTrustDomain(CaCertificate),

    /// A signing certificate's SPIFFE URI SAN is not a valid SPIFFE ID.
    #[error("{which} spiffe uri san is not a valid spiffe id")]
    SignerInvalidSpiffeId {
        /// Which certificate.
        which: CaCertificate,
        /// Why the ID is invalid.
        #[source]
        source: SpiffeIdError,
    },

    /// No bundle for the SVID's trust domain.
    #[error("no bundle for trust domain {0}")]
    NoBundle(TrustDomain),

    /// The bundle given is for another trust domain than the SVID's.
    #[error("bundle is for trust domain {bundle}, the svid is in {svid}")]
    BundleTrustDomainMismatch {
        /// The bundle's trust domain.
        bundle: TrustDomain,
        /// The SVID's trust domain.
        svid: TrustDomain,
    },

    /// The trust domain's bundle has no X.509 authority.
    #[error("bundle of trust domain {0} has no x509 authorities")]
    NoX509Authorities(TrustDomain),

    /// RFC 5280 path validation failed (expired, untrusted issuer, bad signature, ...).
    #[error("certificate chain validation failed: {0}")]
    Chain(#[source] webpki::Error),
}
