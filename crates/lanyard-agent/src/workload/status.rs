//! Every way a Workload API or SDS call can fail, and the one mapping to gRPC statuses.
//!
//! Failures caused by the caller (no header, no identity, a bad token, a process that
//! could not be attested) are logged at debug or info: they are answers, not faults of
//! the agent. Only a failure of the agent itself is logged as a warning.

use tonic::{Code, Status};

use super::attestor::AttestationError;
use crate::cache::CacheError;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// The `workload.spiffe.io: true` metadata is missing.
    #[error("security header missing from request")]
    MissingHeader,
    /// A mandatory request field is empty or invalid.
    #[error("{0}")]
    InvalidRequest(String),
    /// The caller could not be attested.
    #[error("workload attestation failed")]
    Attestation(#[source] AttestationError),
    /// The caller holds no identity (or not the one asked for).
    #[error("no identity issued")]
    NoIdentity,
    /// The agent has no bundle yet.
    #[error("bundle not available")]
    NoBundle,
    /// A JWT-SVID failed validation.
    #[error("{0}")]
    InvalidToken(String),
    /// A JWT-SVID could not be minted.
    #[error("could not fetch jwt-svid")]
    JwtMint(#[source] CacheError),
    /// The agent failed to build the answer.
    #[error("{0}")]
    Internal(String),
}

impl WorkloadError {
    /// The status sent to the caller, logging the failure at the level it deserves.
    pub fn into_status(self) -> Status {
        let message = self.to_string();
        match &self {
            Self::MissingHeader | Self::InvalidRequest(_) => {
                tracing::debug!(reason = %message, "workload api request refused");
                Status::new(Code::InvalidArgument, message)
            }
            Self::InvalidToken(_) => {
                tracing::debug!(reason = %message, "jwt-svid failed validation");
                Status::new(Code::InvalidArgument, message)
            }
            Self::Attestation(err) => {
                tracing::info!(error = %error_chain(err), "workload attestation failed");
                Status::new(Code::PermissionDenied, "workload attestation failed")
            }
            Self::NoIdentity => {
                tracing::info!("no identity issued to caller");
                Status::new(Code::PermissionDenied, message)
            }
            Self::NoBundle => {
                tracing::info!("workload api called before the agent has a bundle");
                Status::new(Code::Unavailable, message)
            }
            Self::JwtMint(err) => match err {
                CacheError::UnknownEntry(_) | CacheError::NotServing => {
                    tracing::info!(error = %err, "jwt-svid refused");
                    Status::new(Code::PermissionDenied, "no identity issued")
                }
                CacheError::NoAudience => {
                    Status::new(Code::InvalidArgument, "audience must be specified")
                }
                _ => {
                    tracing::warn!(error = %error_chain(err), "could not fetch jwt-svid");
                    Status::new(Code::Unavailable, message)
                }
            },
            Self::Internal(_) => {
                tracing::warn!(reason = %message, "workload api failed");
                Status::new(Code::Internal, "internal error")
            }
        }
    }
}

impl From<WorkloadError> for Status {
    fn from(err: WorkloadError) -> Self {
        err.into_status()
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
