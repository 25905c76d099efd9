//! How the Agent service reports failures: the one place its store errors become
//! gRPC codes and caller-facing messages.

use lanyard_store::StoreError;

use crate::api::ApiError;

/// Maps a store failure about attested nodes during `action`.
pub(super) fn node_error(action: &'static str, error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(_) | StoreError::Expired(_) => ApiError::not_found("agent not found"),
        StoreError::AlreadyExists(_) => ApiError::already_exists("agent already exists"),
        StoreError::InvalidArgument(why) => ApiError::invalid(why).context(action),
        StoreError::Conflict(why) => ApiError::failed_precondition(why).context(action),
        other => ApiError::internal(action, &other),
    }
}

/// Maps a store failure while creating a join token (or its alias entry).
pub(super) fn token_error(action: &'static str, error: StoreError) -> ApiError {
    match error {
        StoreError::AlreadyExists(_) => ApiError::already_exists("join token already exists"),
        StoreError::InvalidArgument(why) => ApiError::invalid(why).context(action),
        other => ApiError::internal(action, &other),
    }
}
