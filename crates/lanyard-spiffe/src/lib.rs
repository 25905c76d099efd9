//! SPIFFE types for Lanyard: SPIFFE IDs and trust domains, selectors,
//! X.509-SVID and JWT-SVID verification, and trust bundles.
//!
//! Everything here is pure computation: no I/O, no async, no global state.
#![forbid(unsafe_code)]

pub mod id;
pub mod selector;

pub use id::{SpiffeId, SpiffeIdError, TrustDomain};
pub use selector::{Selector, SelectorError, SelectorMatch, SelectorSet};
