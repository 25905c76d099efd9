//! Which database to open.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file name of the embedded SQLite database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "datastore.sqlite3";

/// How long a SQLite connection waits for a lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in a PostgreSQL pool unless configured otherwise.
pub const DEFAULT_PG_MAX_CONNECTIONS: u32 = 20;

/// The backend and how to reach it, chosen at run time from configuration.
#[derive(Clone)]
#[non_exhaustive]
pub enum StoreConfig {
    /// The embedded default: one SQLite file.
    Sqlite {
        path: PathBuf,
        busy_timeout: Duration,
    },
    /// A PostgreSQL database shared by every server of the trust domain.
    Postgres {
        /// `postgres://user:password@host:port/db?...`; never logged.
        connection_string: String,
        max_connections: u32,
    },
}

impl StoreConfig {
    /// SQLite in `data_dir` (the file [`SQLITE_FILE_NAME`]).
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite {
            path: data_dir.join(SQLITE_FILE_NAME),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }

    pub fn postgres(connection_string: impl Into<String>) -> Self {
        Self::Postgres {
            connection_string: connection_string.into(),
            max_connections: DEFAULT_PG_MAX_CONNECTIONS,
        }
    }
}

// The connection string may carry a password.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path, busy_timeout } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("busy_timeout", busy_timeout)
                .finish(),
            Self::Postgres {
                max_connections, ..
            } => f
                .debug_struct("Postgres")
                .field("connection_string", &"<redacted>")
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}
