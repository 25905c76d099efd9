//! How the LocalAuthority service reports failures: the one place CA errors
//! become gRPC codes and caller-facing messages.

use lanyard_ca::manager::{CaError, LocalAuthorityError};
use tonic::Code;

use crate::api::ApiError;
use crate::ca::ServerCaError;

/// Maps a failure of `action` (e.g. "failed to prepare X.509 authority").
pub(super) fn ca_error(action: &'static str, error: ServerCaError) -> ApiError {
    match error {
        ServerCaError::LocalAuthority(error) => local_authority_error(action, error),
        ServerCaError::Ca(CaError::NotReady(_)) => {
            ApiError::new(Code::Unavailable, "server is initializing").context(action)
        }
        ServerCaError::Ca(CaError::JwtDisabled) => {
            ApiError::new(Code::Unimplemented, "jwt functionality is disabled").context(action)
        }
        other => ApiError::internal(action, &other),
    }
}

fn local_authority_error(action: &'static str, error: LocalAuthorityError) -> ApiError {
    match error {
        LocalAuthorityError::NotReady => {
            ApiError::new(Code::Unavailable, "server is initializing").context(action)
        }
        LocalAuthorityError::JwtDisabled => {
            ApiError::new(Code::Unimplemented, "jwt functionality is disabled").context(action)
        }
        LocalAuthorityError::UpstreamConfigured | LocalAuthorityError::UpstreamNotConfigured => {
            ApiError::failed_precondition(error.to_string()).context(action)
        }
        LocalAuthorityError::Ca(inner) => ApiError::internal(action, &inner),
        other => ApiError::invalid(other.to_string()).context(action),
    }
}
