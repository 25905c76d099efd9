//! The `join_token` node attestor, in SPIRE's format: the attestation data
//! type is `join_token`, the payload is the token as UTF-8, the agent ID is
//! `spiffe://<td>/spire/agent/join_token/<token>`, and the token is single-use.
//! The token itself yields no selectors; the server's store supplies those
//! bound to it at issuance.

mod agent;
mod server;
mod token;

use lanyard_spiffe::{SpiffeId, TrustDomain};
use thiserror::Error;

use crate::ErrorClass;

pub use agent::{JoinTokenAgent, JoinTokenAgentConfig};
pub use server::{JoinTokenRedeemer, JoinTokenServer, RedeemError};
pub use token::{InvalidJoinToken, JoinToken, MAX_JOIN_TOKEN_LEN};

/// The attestation data type and agent ID segment of this attestor.
pub const KIND: &str = "join_token";

/// The agent ID a join token attests to: `spiffe://<td>/spire/agent/join_token/<token>`.
pub fn agent_id(td: &TrustDomain, token: &JoinToken) -> SpiffeId {
    let path = format!("/spire/agent/{KIND}/{}", token.as_str());
    // A token is a single valid path segment and at most MAX_JOIN_TOKEN_LEN
    // bytes, so the path is valid and the ID within the length limit.
    SpiffeId::from_parts(td, &path).expect("a join token is a valid SPIFFE ID path segment")
}

/// Why a join token attestation failed. No variant holds the token.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JoinTokenError {
    /// The payload is not a well-formed token.
    #[error("join token is malformed")]
    Malformed(#[source] InvalidJoinToken),

    /// No such token: never issued, or already redeemed.
    #[error("join token does not exist or has already been used")]
    NotFound,

    /// The token expired before it was redeemed (and is now gone).
    #[error("join token expired")]
    Expired,

    /// The token store failed.
    #[error("join token store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl JoinTokenError {
    /// How the server reports this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Malformed(_) => ErrorClass::Malformed,
            Self::NotFound | Self::Expired => ErrorClass::Denied,
            Self::Store(_) => ErrorClass::Internal,
        }
    }
}

impl From<RedeemError> for JoinTokenError {
    fn from(err: RedeemError) -> Self {
        match err {
            RedeemError::NotFound => Self::NotFound,
            RedeemError::Expired => Self::Expired,
            RedeemError::Store(source) => Self::Store(source),
        }
    }
}
