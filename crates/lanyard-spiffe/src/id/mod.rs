//! SPIFFE IDs and trust domains (SPIFFE-ID specification).

mod error;
mod spiffe_id;
mod trust_domain;
mod validate;

pub use error::SpiffeIdError;
pub use spiffe_id::SpiffeId;
pub use trust_domain::TrustDomain;
pub use validate::{MAX_SPIFFE_ID_LEN, MAX_TRUST_DOMAIN_LEN};

#[cfg(test)]
mod tests;
