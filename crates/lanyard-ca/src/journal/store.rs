//! Where the journal is kept.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::JournalError;
use crate::fsutil::write_atomic;

/// Loads and saves the serialized journal. The server implements this on
/// its datastore (one journal per server); a save must be durable when it
/// returns.
pub trait JournalStore: Send + Sync + fmt::Debug {
    /// The last saved journal, or `None` if there is none yet.
    fn load(&self) -> Result<Option<Vec<u8>>, JournalError>;

    /// Replaces the saved journal.
    fn save(&self, journal: &[u8]) -> Result<(), JournalError>;
}

/// A journal in one file, replaced atomically (mode 0600).
#[derive(Debug, Clone)]
pub struct FileJournalStore {
    path: PathBuf,
}

impl FileJournalStore {
    /// A store at `path` (the file is created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl JournalStore for FileJournalStore {
    fn load(&self) -> Result<Option<Vec<u8>>, JournalError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(JournalError::Store(Box::new(err))),
        }
    }

    fn save(&self, journal: &[u8]) -> Result<(), JournalError> {
        write_atomic(&self.path, journal, 0o600).map_err(|err| JournalError::Store(Box::new(err)))
    }
}

/// A journal in memory. Clones share the same journal, so a test can drop a
/// CA manager and open a new one on the same store to simulate a restart.
#[derive(Debug, Clone, Default)]
pub struct MemoryJournalStore {
    saved: Arc<Mutex<Option<Vec<u8>>>>,
}

impl MemoryJournalStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl JournalStore for MemoryJournalStore {
    fn load(&self) -> Result<Option<Vec<u8>>, JournalError> {
        let saved = self.saved.lock().map_err(|_| poisoned())?;
        Ok(saved.clone())
    }

    fn save(&self, journal: &[u8]) -> Result<(), JournalError> {
        let mut saved = self.saved.lock().map_err(|_| poisoned())?;
        *saved = Some(journal.to_vec());
        Ok(())
    }
}

fn poisoned() -> JournalError {
    JournalError::Store("journal lock poisoned".into())
}
