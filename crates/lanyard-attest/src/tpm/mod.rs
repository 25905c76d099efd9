//! The `tpm` node attestor: admin-gated TPM enrollment with credential
//! activation, an 802.1AR LDevID certificate issued at enrollment, and
//! re-attestation by proof of possession of the LDevID key bound to the TLS
//! session.
//!
//! - The server half ([`server`]) is pure Rust and always built: TPM
//!   structure decoding ([`wire`]), key and certify rules ([`checks`]), EK
//!   trust ([`ek`]), software MakeCredential ([`credential`]), the LDevID CA
//!   ([`ldevid`]).
//! - The agent half ([`agent`], cargo feature `tpm`) drives a TPM through
//!   tss-esapi.
//! - [`protocol`] defines the JSON messages both exchange.

pub mod checks;
pub mod credential;
mod der;
pub mod ek;
mod error;
pub mod key;
pub mod ldevid;
mod node_type;
pub mod protocol;
pub mod server;
pub mod wire;
mod xname;

#[cfg(feature = "tpm")]
pub mod agent;

#[cfg(test)]
pub(crate) mod testing;

pub use error::TpmError;
pub use node_type::{InvalidNodeType, NodeType};
pub use protocol::KIND;
pub use xname::{Xname, XnameError, XnameKind};
