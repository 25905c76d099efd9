//! The CA journal: which authorities exist, in which slot and state.
//!
//! The journal is saved after every change, through a [`JournalStore`] (the
//! server stores it in its datastore), so that a restart resumes with the
//! same authorities. Private keys are not in the journal; they stay in the
//! key manager under the slot's key ID.

mod entry;
mod store;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub(crate) use entry::{Der, EntryMeta, JwtEntry, Slots, X509Entry};
pub use entry::{Slot, Status};
pub use store::{FileJournalStore, JournalStore, MemoryJournalStore};

/// The persisted rotation state of one server's X.509 CA and JWT keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    version: u32,
    pub(crate) x509: Slots<X509Entry>,
    pub(crate) jwt: Slots<JwtEntry>,
}

impl Journal {
    const VERSION: u32 = 1;

    /// An empty journal: nothing prepared, nothing active.
    pub fn new() -> Self {
        Self {
            version: Self::VERSION,
            ..Self::default()
        }
    }

    /// Parses a journal saved with [`Journal::to_json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, JournalError> {
        let journal: Self = serde_json::from_slice(bytes).map_err(JournalError::Malformed)?;
        if journal.version != Self::VERSION {
            return Err(JournalError::UnsupportedVersion(journal.version));
        }
        Ok(journal)
    }

    /// Serializes the journal as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, JournalError> {
        serde_json::to_vec(self).map_err(JournalError::Malformed)
    }
}

/// Why the journal could not be loaded or saved.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The stored bytes are not a journal.
    #[error("ca journal is malformed")]
    Malformed(#[source] serde_json::Error),

    /// The journal was written by an incompatible version.
    #[error("ca journal version {0} is not supported")]
    UnsupportedVersion(u32),

    /// The store failed to read or write.
    #[error("ca journal store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests;
