//! The datastore's errors, typed so callers map them to status codes by variant.

/// Why a datastore operation failed.
///
/// Messages are safe to show to API callers: backend failures say only that the
/// backend failed, and keep the driver error (which may quote SQL) as the `source`
/// for logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record (named by the message) does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),

    /// A record with the same key, or a "similar" entry, already exists.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),

    /// The request breaks a rule the store enforces (the message names it).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),

    /// The request is valid but the current state forbids it (the message says why).
    #[error("conflict: {0}")]
    Conflict(&'static str),

    /// The record exists but has expired (it was removed when it was found).
    #[error("{0} expired")]
    Expired(&'static str),

    /// The database failed or could not be reached.
    #[error("datastore backend failed")]
    Backend(#[source] sqlx::Error),

    /// The schema could not be brought to the current version.
    #[error("datastore migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),

    /// A stored value no longer parses (the message names the column).
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    pub(crate) fn backend(error: sqlx::Error) -> Self {
        Self::Backend(error)
    }

    pub(crate) fn migration(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(error)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Backend(error)
    }
}

/// Whether a driver error is a unique-constraint violation.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Maps a unique violation to `AlreadyExists(what)`, anything else to `Backend`.
pub(crate) fn unique_as_exists(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| {
        if is_unique_violation(&error) {
            StoreError::AlreadyExists(what)
        } else {
            StoreError::Backend(error)
        }
    }
}
