//! The X.509 certificate authority: CA certificates (self-signed roots or
//! intermediates under an upstream authority) and the X509-SVIDs they sign.

mod authority;
mod subject;
mod svid;
pub(crate) mod template;

use thiserror::Error;

pub use authority::X509Authority;
pub use subject::CaSubject;
pub use svid::{IssuedX509Svid, X509SvidRequest};

use crate::key::KeyError;
use crate::upstream::UpstreamError;

/// Why a CA certificate or an X509-SVID could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum X509Error {
    /// The SPIFFE ID belongs to another trust domain than the CA's.
    #[error("spiffe id {id} is not in the ca's trust domain {trust_domain}")]
    ForeignTrustDomain {
        /// The requested ID.
        id: String,
        /// The CA's trust domain.
        trust_domain: String,
    },

    /// X509-SVID leaves need an ID with a path.
    #[error("an x509-svid needs a spiffe id with a path, got the trust domain id {0}")]
    RootSpiffeId(String),

    /// A DNS name is not a syntactically valid (optionally wildcard) name.
    #[error("invalid dns name {0:?}")]
    InvalidDnsName(String),

    /// The requested lifetime is zero.
    #[error("the requested ttl must be greater than zero")]
    ZeroTtl,

    /// The CA certificate has expired (or is not valid yet) at signing time.
    #[error("the x509 authority {authority_id} is not valid at the requested time")]
    AuthorityNotValid {
        /// The authority's subject key ID (hex).
        authority_id: String,
    },

    /// A stored or loaded CA certificate is not usable as this CA.
    #[error("invalid ca certificate: {0}")]
    InvalidCaCertificate(String),

    /// The signing key failed.
    #[error("ca key failed")]
    Key(#[from] KeyError),

    /// The upstream authority failed to sign the CA.
    #[error("upstream authority failed")]
    Upstream(#[from] UpstreamError),

    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,

    /// The certificate could not be encoded or signed.
    #[error("certificate encoding failed")]
    Encode(#[source] rcgen::Error),
}
