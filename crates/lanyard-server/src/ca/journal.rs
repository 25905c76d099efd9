//! The CA journal kept in the datastore, one per server.

use std::fmt;
use std::sync::Arc;

use lanyard_ca::journal::{JournalError, JournalStore};
use lanyard_store::Store;
use tokio::runtime::Handle;

/// A [`JournalStore`] on the datastore, keyed by this server's journal ID.
///
/// The CA manager calls it synchronously, so every CA manager call that may
/// load or save the journal must run on a blocking thread (`spawn_blocking`):
/// this store waits for the async datastore there.
pub struct StoreJournal {
    store: Arc<Store>,
    server_key: String,
    runtime: Handle,
}

impl StoreJournal {
    /// A journal stored under `server_key` in `store`; `runtime` runs the
    /// datastore calls.
    pub fn new(store: Arc<Store>, server_key: String, runtime: Handle) -> Self {
        Self {
            store,
            server_key,
            runtime,
        }
    }
}

impl fmt::Debug for StoreJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreJournal")
            .field("server_key", &self.server_key)
            .finish_non_exhaustive()
    }
}

impl JournalStore for StoreJournal {
    fn load(&self) -> Result<Option<Vec<u8>>, JournalError> {
        self.runtime
            .block_on(self.store.load_ca_journal(&self.server_key))
            .map_err(|e| JournalError::Store(Box::new(e)))
    }

    fn save(&self, journal: &[u8]) -> Result<(), JournalError> {
        self.runtime
            .block_on(self.store.save_ca_journal(&self.server_key, journal))
            .map_err(|e| JournalError::Store(Box::new(e)))
    }
}
