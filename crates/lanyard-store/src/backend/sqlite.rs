//! SQLite: one file under the data directory, WAL, `synchronous=FULL`, one writer.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::StoreError;

use super::impl_engine;

impl_engine!(Sqlite, SqliteConnection, sqlx::sqlite::SqliteRow, None, "");

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many connections serve reads; WAL lets them run beside the writer.
const READERS: u32 = 4;

pub(crate) struct SqliteDb {
    // Exactly one connection: SQLite has one writer at a time anyway, and queueing in
    // the pool is cheaper and fairer than spinning on SQLITE_BUSY.
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteDb {
    pub(crate) async fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(busy_timeout);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::backend)?;
        MIGRATOR.run(&writer).await.map_err(StoreError::migration)?;

        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.read_only(true))
            .await
            .map_err(StoreError::backend)?;

        tracing::debug!(path = %path.display(), "sqlite datastore open");
        Ok(Self { writer, reader })
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction that
    /// reads before it writes cannot fail half-way on a lock upgrade.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::backend)
    }

    /// A read transaction: every statement in it sees the same snapshot.
    pub(crate) async fn begin_read(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.reader.begin().await.map_err(StoreError::backend)
    }

    pub(crate) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
