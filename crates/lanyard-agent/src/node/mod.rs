//! The agent's own identity: where its first trust comes from, how it attests and
//! renews, where it keeps its SVID, and the mTLS connection to the server.

pub mod bootstrap;
pub mod bundle_url;
pub mod connection;
pub mod identity;
mod lifecycle;
pub mod rotation;
pub mod server_api;
pub mod status;
pub mod storage;
pub mod tpm_attestor;
pub mod verifier;

pub use lifecycle::{AGENT_KEY_TYPE, BundleKeeper, Node, NodeError, NodeSettings};
