//! PostgreSQL: a connection pool, READ COMMITTED writes, REPEATABLE READ reads, and
//! LISTEN/NOTIFY so every server process learns of new changes at once.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::StoreError;
use crate::published::{Appended, Published};

use super::impl_engine;

impl_engine!(
    Postgres,
    PgConnection,
    sqlx::postgres::PgRow,
    Some("SELECT pg_notify('lanyard_changes', $1)"),
    " FOR UPDATE"
);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel carrying what each commit appended to the change log (see
/// `Appended::to_payload`).
const CHANNEL: &str = "lanyard_changes";

/// How long to wait before listening again after the listener failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

pub(crate) struct PgDb {
    pool: PgPool,
}

impl PgDb {
    pub(crate) async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|_| StoreError::InvalidArgument("invalid PostgreSQL connection string"))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;

        // sqlx takes an advisory lock around migrations, so servers starting together
        // against one database do not race.
        MIGRATOR.run(&pool).await.map_err(StoreError::migration)?;
        tracing::debug!("postgres datastore open");
        Ok(Self { pool })
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(StoreError::backend)
    }

    /// A read transaction on one snapshot, so multi-statement reads agree.
    pub(crate) async fn begin_read(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(StoreError::backend)
    }

    /// Follows NOTIFYs from every process sharing the database and publishes the
    /// highest sequence number seen. After a lost connection it re-reads the counter,
    /// because notifications sent while disconnected are gone. The store aborts the
    /// task when it is dropped.
    pub(crate) fn spawn_listener(&self, published: Published) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = listen(&pool, &published).await {
                    tracing::debug!(%error, "change listener failed; listening again");
                }
                if pool.is_closed() {
                    return;
                }
                tokio::time::sleep(RELISTEN_DELAY).await;
            }
        })
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn listen(pool: &PgPool, published: &Published) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    publish_current(pool, published).await?;

    loop {
        match listener.try_recv().await? {
            Some(note) => {
                if let Some(appended) = Appended::from_payload(note.payload()) {
                    published.raise(appended);
                }
            }
            // The connection dropped; the next try_recv reconnects, and whatever was
            // announced meanwhile is recovered from the counter.
            None => publish_current(pool, published).await?,
        }
    }
}

async fn publish_current(pool: &PgPool, published: &Published) -> Result<(), sqlx::Error> {
    let last: i64 = sqlx::query_scalar("SELECT last_seq FROM change_counter WHERE id = 1")
        .fetch_one(pool)
        .await?;
    published.raise(Appended::unknown(u64::try_from(last).unwrap_or(0)));
    Ok(())
}
