//! Test databases: SQLite in a temp dir, PostgreSQL as a fresh database per test on
//! the server named by `LANYARD_TEST_POSTGRES_URL`.

use std::sync::Arc;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId, TrustDomain};
use lanyard_store::model::{AttestedNode, EntrySpec, NewEntry};
use lanyard_store::{Store, StoreConfig};
use sqlx::Connection as _;
use time::OffsetDateTime;

pub(crate) const POSTGRES_URL_VAR: &str = "LANYARD_TEST_POSTGRES_URL";
pub(crate) const REQUIRE_POSTGRES_VAR: &str = "LANYARD_REQUIRE_POSTGRES";

/// A store on a throw-away database, and how to reopen or remove it.
pub(crate) struct TestDb {
    pub(crate) config: StoreConfig,
    pub(crate) store: Arc<Store>,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code, reason = "held for its Drop")] tempfile::TempDir),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::sqlite_in(dir.path());
        let store = Arc::new(Store::open(&config).await.unwrap());
        Self {
            config,
            store,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// `None` (after saying why) when no PostgreSQL is configured, unless
    /// `LANYARD_REQUIRE_POSTGRES=1`, which turns that into a failure.
    pub(crate) async fn postgres() -> Option<Self> {
        let admin_url = postgres_url()?;
        let name = format!("lanyard_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();

        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        let config = StoreConfig::postgres(url.to_string());
        let store = Arc::new(Store::open(&config).await.unwrap());
        Some(Self {
            config,
            store,
            cleanup: Cleanup::Database { admin_url, name },
        })
    }

    /// Another handle on the same database, as a second server process would have.
    pub(crate) async fn open_again(&self) -> Arc<Store> {
        Arc::new(Store::open(&self.config).await.unwrap())
    }

    /// Closes the store and drops a PostgreSQL test database.
    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Database { admin_url, name } = &self.cleanup {
            let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .unwrap();
        }
    }
}

/// The PostgreSQL server URL, or `None` after printing why the test is skipped.
pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(REQUIRE_POSTGRES_VAR).as_deref() != Ok("1"),
                "{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set"
            );
            eprintln!("skipping the PostgreSQL half: {POSTGRES_URL_VAR} is not set");
            None
        }
    }
}

/// Defines `mod $name { sqlite, postgres }` tests that run `$name(Arc<Store>)`
/// (an async fn in the enclosing module) against each backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(db) = $crate::common::TestDb::postgres().await else {
                        return;
                    };
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            }
        )*
    };
}
pub(crate) use conformance;

pub(crate) fn td(name: &str) -> TrustDomain {
    name.parse().unwrap()
}

pub(crate) fn id(path: &str) -> SpiffeId {
    format!("spiffe://example.org{path}").parse().unwrap()
}

pub(crate) fn selectors(list: &[&str]) -> SelectorSet {
    list.iter().map(|s| Selector::parse(s).unwrap()).collect()
}

pub(crate) fn spec(spiffe_path: &str, parent_path: &str, sels: &[&str]) -> EntrySpec {
    EntrySpec::new(id(spiffe_path), id(parent_path), selectors(sels))
}

pub(crate) fn new_entry(spec: EntrySpec) -> NewEntry {
    NewEntry { id: None, spec }
}

/// A join-token node at `path` with selectors `sels`.
pub(crate) fn node(path: &str, sels: &[&str]) -> AttestedNode {
    AttestedNode {
        spiffe_id: id(path),
        attestation_type: "join_token".into(),
        cert_serial: "1234".into(),
        cert_not_after: OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap(),
        new_cert_serial: None,
        new_cert_not_after: None,
        can_reattest: false,
        banned: false,
        selectors: selectors(sels),
        agent_version: "0.1.0".into(),
        last_seen: None,
    }
}
