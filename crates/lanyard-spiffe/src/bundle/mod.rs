//! Trust bundles (SPIFFE Trust Domain and Bundle specification): per trust domain
//! X.509 and JWT authorities, SPIFFE bundle JSON, bundle maps and PEM.

#[allow(
    clippy::module_inception,
    reason = "the type lives in a file of its name"
)]
mod bundle;
mod error;
mod json;
mod pem;
mod set;

pub use bundle::{Bundle, DEFAULT_REFRESH_HINT, JwtAuthority, MAX_KEY_ID_LEN};
pub use error::BundleError;
pub use pem::certificates_to_pem;
pub use set::BundleSet;
