//! The [`Store`] handle: opening a backend, running transactions on it, and
//! publishing change-log progress to subscribers.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::postgres::PgDb;
use crate::backend::sqlite::SqliteDb;
use crate::changelog::{self, ChangesSince};
use crate::model::{AttestedNode, BundleRecord, RegistrationEntry};
use crate::published::{Appended, Published};
use crate::tx::{read_tx, write_tx};
use crate::{StoreConfig, StoreError, bundles, entries, nodes};

/// The datastore. Open once, share as `Arc<Store>`; every method is one transaction.
pub struct Store {
    pub(crate) db: Db,
    published: Published,
    listener: Option<JoinHandle<()>>,
}

/// Everything an entry cache needs, read in one snapshot, and the change-log
/// sequence number that snapshot includes: follow the log from `seq`.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub seq: u64,
    pub entries: Vec<RegistrationEntry>,
    pub nodes: Vec<AttestedNode>,
    pub bundles: Vec<BundleRecord>,
}

impl Store {
    /// Opens the backend, creating the SQLite file if needed, and applies migrations.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let db = match config {
            StoreConfig::Sqlite { path, busy_timeout } => {
                Db::Sqlite(SqliteDb::open(path, *busy_timeout).await?)
            }
            StoreConfig::Postgres {
                connection_string,
                max_connections,
            } => Db::Postgres(PgDb::open(connection_string, *max_connections).await?),
        };
        let mut store = Self {
            db,
            published: Published::new(),
            listener: None,
        };

        let (last, _) = read_tx!(&store, |conn| changelog::counter(conn).await?);
        store.published.raise(Appended::unknown(last));
        if let Db::Postgres(pg) = &store.db {
            store.listener = Some(pg.spawn_listener(store.published.clone()));
        }
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes the connections; later calls fail with `Backend`.
    pub async fn close(&self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        match &self.db {
            Db::Sqlite(db) => db.close().await,
            Db::Postgres(db) => db.close().await,
        }
    }

    /// The highest change-log sequence number known to be committed, updated after
    /// every commit in this process and, on PostgreSQL, on NOTIFY from other
    /// processes. Wait with `changed()`/`wait_for()`, then call [`Self::changes_since`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// The highest committed sequence number that may carry a node change: a
    /// reader that has applied the log that far has every node change committed so
    /// far. Exact for this process's commits and for others' NOTIFYs; a position
    /// learnt only from the counter counts as a node change.
    pub fn last_node_change_seq(&self) -> u64 {
        self.published.last_node_change()
    }

    /// The change-log rows after `after`, at most `limit` (0 = all).
    pub async fn changes_since(&self, after: u64, limit: u32) -> Result<ChangesSince, StoreError> {
        Ok(read_tx!(self, |conn| changelog::changes_since(
            conn, after, limit
        )
        .await?))
    }

    /// The last committed change-log sequence number.
    pub async fn last_change_seq(&self) -> Result<u64, StoreError> {
        Ok(read_tx!(self, |conn| changelog::counter(conn).await?.0))
    }

    /// Deletes change-log rows older than `before`. Readers still behind them get
    /// [`ChangesSince::ReloadRequired`].
    pub async fn prune_changes(&self, before: time::OffsetDateTime) -> Result<u64, StoreError> {
        Ok(write_tx!(self, |tx| changelog::prune(tx.conn, before).await?))
    }

    /// Entries, nodes and bundles as of one instant, with the change-log position.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(read_tx!(self, |conn| Snapshot {
            seq: changelog::counter(conn).await?.0,
            entries: entries::read::all(conn).await?,
            nodes: nodes::read::all(conn).await?,
            bundles: bundles::all(conn).await?,
        }))
    }

    pub(crate) fn publish(&self, appended: Option<Appended>) {
        if let Some(appended) = appended {
            self.published.raise(appended);
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

pub(crate) enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}
