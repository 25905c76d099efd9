//! How the SVID service reports failures: the one place CA errors become gRPC
//! codes and caller-facing messages.

use lanyard_ca::manager::CaError;

use crate::api::ApiError;
use crate::ca::ServerCaError;

/// Maps a CA failure while minting (`action`, e.g. "failed to sign X509-SVID").
pub(super) fn mint_error(action: &'static str, error: ServerCaError) -> ApiError {
    match error {
        ServerCaError::Ca(CaError::NotReady(_)) => {
            ApiError::new(tonic::Code::Unavailable, "server is initializing").context(action)
        }
        ServerCaError::Ca(CaError::JwtDisabled) => ApiError::new(
            tonic::Code::Unimplemented,
            "jwt-svids are disabled on this server",
        ),
        other => ApiError::internal(action, &other),
    }
}

/// A request TTL: 0 means the server default, negative values are refused.
pub(super) fn ttl(field: &str, secs: i32) -> Result<Option<std::time::Duration>, ApiError> {
    match u64::try_from(secs) {
        Ok(0) => Ok(None),
        Ok(s) => Ok(Some(std::time::Duration::from_secs(s))),
        Err(_) => Err(ApiError::invalid(format!(
            "invalid {field}: must not be negative, got {secs}"
        ))),
    }
}
