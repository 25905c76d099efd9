//! SPIFFE types for Lanyard: SPIFFE IDs and trust domains, selectors,
//! X.509-SVID and JWT-SVID verification, and trust bundles.
//!
//! Everything here is pure computation: no I/O, no async, no global state.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod id;
mod json;
pub mod jwt;
mod key;
pub mod selector;
pub mod x509;

pub use bundle::{Bundle, BundleError, BundleSet, JwtAuthority};
pub use id::{SpiffeId, SpiffeIdError, TrustDomain};
pub use json::JsonError;
pub use jwt::{
    JwtAlgorithm, JwtSigner, JwtSvid, JwtSvidClaims, JwtSvidError, issue_jwt_svid,
    parse_jwt_svid_insecure, verify_jwt_svid,
};
pub use key::KeyError;
pub use selector::{Selector, SelectorError, SelectorMatch, SelectorSet};
pub use x509::{X509Svid, X509SvidError, verify_x509_svid};
