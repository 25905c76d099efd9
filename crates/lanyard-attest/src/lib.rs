//! Node attestation for Lanyard, both halves: what an agent presents to prove
//! which node it runs on, and how the server checks it and derives the
//! node's agent ID and selectors.
//!
//! - [`ServerAttestor`] / [`ServerSession`]: the server's `AttestAgent` stream
//!   handler looks up the attestor for the attestation data type
//!   ([`ServerAttestors`]), starts a session with the payload, and relays
//!   challenges until [`Step::Done`] yields an [`AttestationResult`].
//! - [`AgentAttestor`] / [`AgentSession`]: the agent's attestation client sends
//!   [`AgentSession::attestation_data`] and relays each challenge through
//!   [`AgentSession::answer_challenge`].
//! - Attestors: [`join_token`] and [`x509pop`], in SPIRE's wire formats, and
//!   `tpm`, whose server half is pure Rust and whose agent half (which links
//!   the TPM libraries) sits behind the `tpm` cargo feature.
//!
//! No datastore access here: the server supplies what an attestor needs
//! through small traits ([`join_token::JoinTokenRedeemer`]) and the
//! per-attestation [`SessionContext`].
#![forbid(unsafe_code)]

mod attestor;
mod error;
pub mod join_token;
mod rng;
pub mod template;
pub mod tpm;
pub mod x509pop;

pub use attestor::{
    AgentAttestor, AgentSession, AttestationResult, BoxFuture, ServerAttestor, ServerAttestors,
    ServerSession, SessionContext, Step,
};
pub use error::{AttestError, ConfigError, ErrorClass};
pub use rng::RngError;
