//! How the Bundle service reports failures: the one place its store errors become
//! gRPC codes and caller-facing messages.

use lanyard_store::StoreError;

use crate::api::ApiError;

/// Maps a store failure during `action` (e.g. "failed to create bundle").
pub(super) fn store_error(action: &'static str, error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(_) => ApiError::not_found("bundle not found"),
        StoreError::AlreadyExists(_) => ApiError::already_exists("bundle already exists"),
        StoreError::InvalidArgument(why) => ApiError::invalid(why).context(action),
        StoreError::Conflict(why) => ApiError::failed_precondition(why).context(action),
        StoreError::Expired(_) => ApiError::not_found("bundle not found"),
        other => ApiError::internal(action, &other),
    }
}

/// Refusal to manage the server's own bundle through the federated-bundle calls.
pub(super) fn own_trust_domain(field: &str) -> ApiError {
    ApiError::invalid(format!(
        "invalid {field}: the server's own trust domain is not a federated bundle"
    ))
}
