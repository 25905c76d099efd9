//! How the Entry service reports failures: the one place its store errors become
//! gRPC codes and caller-facing messages.

use lanyard_store::StoreError;

use crate::api::ApiError;

/// The message SPIRE tools recognise for a duplicate registration.
pub(super) const SIMILAR_ENTRY_EXISTS: &str = "similar entry already exists";

/// Maps a store failure during `action` (e.g. "failed to create entry").
pub(super) fn store_error(action: &'static str, error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(_) => ApiError::not_found("entry not found"),
        StoreError::AlreadyExists(what) if is_similar(what) => {
            ApiError::already_exists(SIMILAR_ENTRY_EXISTS)
        }
        StoreError::AlreadyExists(_) => {
            ApiError::already_exists("an entry with this ID already exists")
        }
        StoreError::InvalidArgument(why) => ApiError::invalid(why).context(action),
        StoreError::Conflict(why) => ApiError::failed_precondition(why).context(action),
        StoreError::Expired(_) => ApiError::not_found("entry not found"),
        other => ApiError::internal(action, &other),
    }
}

/// Whether a store `AlreadyExists` is about a similar entry (same parent, SPIFFE
/// ID and selectors) rather than a taken entry ID.
pub(super) fn is_similar_error(error: &StoreError) -> bool {
    matches!(error, StoreError::AlreadyExists(what) if is_similar(what))
}

fn is_similar(what: &str) -> bool {
    what.starts_with("similar")
}
