//! PostgreSQL for tests: the server URL from the run, and a fresh database per
//! test that is dropped afterwards.
//!
//! Talks to the server through the `psql` client (part of every PostgreSQL
//! install), which keeps this crate synchronous and free of a driver.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use url::Url;

use crate::require::{REQUIRE_POSTGRES_VAR, skip_or_fail};

/// The server URL of the run (`postgres://user@host:port/db`), set by
/// `scripts/test`; its role must be allowed to create databases.
pub const POSTGRES_URL_VAR: &str = "LANYARD_TEST_POSTGRES_URL";

/// Errors from [`TestDatabase`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The server URL does not parse.
    #[error("invalid PostgreSQL URL")]
    InvalidUrl {
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
    /// The server URL is not a `postgres://` or `postgresql://` URL.
    #[error("PostgreSQL URL must use the postgres:// or postgresql:// scheme, not {scheme}://")]
    WrongScheme {
        /// The scheme found.
        scheme: String,
    },
    /// `psql` could not be started.
    #[error("could not run psql (is the PostgreSQL client installed?)")]
    Spawn {
        /// The error from spawning.
        #[source]
        source: io::Error,
    },
    /// `psql` ran and reported an error.
    #[error("psql failed ({status}): {stderr}")]
    Psql {
        /// The exit status of psql.
        status: ExitStatus,
        /// What psql printed on standard error.
        stderr: String,
    },
}

/// The run's PostgreSQL URL, or `None` after printing why the test is skipped.
///
/// # Panics
///
/// When the URL is missing and `LANYARD_REQUIRE_POSTGRES=1`: the test fails.
pub fn require_postgres() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            skip_or_fail(
                REQUIRE_POSTGRES_VAR,
                "LANYARD_TEST_POSTGRES_URL is not set (scripts/test starts a private PostgreSQL)",
            );
            None
        }
    }
}

/// A database created for one test, dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// A fresh database on the run's server, or `None` (after printing why)
    /// when the run has no server and does not require one.
    ///
    /// # Panics
    ///
    /// When the server is required but missing, or is set but the database
    /// cannot be created: either way the test fails.
    pub fn require() -> Option<Self> {
        let admin_url = require_postgres()?;

        match Self::create(&admin_url) {
            Ok(db) => Some(db),
            Err(error) => panic!("cannot create a test database: {error}"),
        }
    }

    /// Creates a database with a unique name through `admin_url`.
    pub fn create(admin_url: &str) -> Result<Self, PostgresError> {
        let name = unique_database_name();
        let url = database_url(admin_url, &name)?;

        run_psql(admin_url, &format!("CREATE DATABASE \"{name}\""))?;

        Ok(Self {
            name,
            url,
            admin_url: admin_url.to_owned(),
        })
    }

    /// URL of this database, for the code under test.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Name of this database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL in this database and returns psql's unaligned, tuples-only
    /// output (`|` between columns, one row per line), trimmed.
    pub fn run_sql(&self, sql: &str) -> Result<String, PostgresError> {
        run_psql(&self.url, sql)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(error) = run_psql(&self.admin_url, &drop_sql) {
            eprintln!("TestDatabase: could not drop {}: {error}", self.name);
        }
    }
}

/// `admin_url` with its database replaced by `name`; user, password, host,
/// port and query parameters are kept.
fn database_url(admin_url: &str, name: &str) -> Result<String, PostgresError> {
    let mut url = Url::parse(admin_url).map_err(|source| PostgresError::InvalidUrl { source })?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(PostgresError::WrongScheme {
            scheme: url.scheme().to_owned(),
        });
    }

    url.set_path(&format!("/{name}"));

    Ok(url.into())
}

/// Lower-case letters, digits and `_` only, so it never needs escaping;
/// unique across processes (pid), threads (counter) and runs (random bits).
fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().build_hasher().finish() as u32;

    format!(
        "lanyard_test_{}_{sequence}_{random:08x}",
        std::process::id()
    )
}

fn run_psql(url: &str, sql: &str) -> Result<String, PostgresError> {
    let output = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PostgresError::Spawn { source })?;

    if !output.status.success() {
        return Err(PostgresError::Psql {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }

    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_keeps_credentials_host_and_parameters() {
        let url = database_url(
            "postgres://u:p%40ss@127.0.0.1:5433/postgres?sslmode=disable",
            "db_1",
        )
        .unwrap();

        assert_eq!(
            url,
            "postgres://u:p%40ss@127.0.0.1:5433/db_1?sslmode=disable"
        );
    }

    #[test]
    fn a_url_without_a_database_gets_one() {
        assert_eq!(
            database_url("postgresql://u@localhost", "x").unwrap(),
            "postgresql://u@localhost/x"
        );
    }

    #[test]
    fn a_non_postgres_url_is_rejected() {
        let err = database_url("mysql://u@localhost/db", "x").unwrap_err();

        assert!(matches!(err, PostgresError::WrongScheme { scheme } if scheme == "mysql"));
    }

    #[test]
    fn database_names_are_unique_and_need_no_quoting() {
        let a = unique_database_name();
        let b = unique_database_name();

        assert_ne!(a, b);
        assert!(
            a.len() <= 63,
            "PostgreSQL truncates identifiers past 63 bytes"
        );
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        );
    }

    #[test]
    fn a_test_database_is_usable_and_dropped_afterwards() {
        let Some(admin_url) = require_postgres() else {
            return;
        };
        let db = TestDatabase::create(&admin_url).unwrap();
        let name = db.name().to_owned();
        let exists_sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");

        db.run_sql("CREATE TABLE t (v int); INSERT INTO t VALUES (41), (1)")
            .unwrap();
        let sum = db.run_sql("SELECT sum(v) FROM t").unwrap();
        let existed = run_psql(&admin_url, &exists_sql).unwrap();
        drop(db);

        assert_eq!(sum, "42");
        assert_eq!(existed, "1");
        assert_eq!(run_psql(&admin_url, &exists_sql).unwrap(), "0");
    }

    #[test]
    fn two_test_databases_are_isolated() {
        let Some(admin_url) = require_postgres() else {
            return;
        };
        let first = TestDatabase::create(&admin_url).unwrap();
        let second = TestDatabase::create(&admin_url).unwrap();

        first.run_sql("CREATE TABLE only_in_first (v int)").unwrap();
        let in_second = second
            .run_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_first'",
            )
            .unwrap();

        assert_ne!(first.name(), second.name());
        assert_eq!(in_second, "0");
    }

    #[test]
    fn a_psql_error_is_reported() {
        let Some(admin_url) = require_postgres() else {
            return;
        };
        let db = TestDatabase::create(&admin_url).unwrap();

        let err = db.run_sql("SELECT * FROM no_such_table").unwrap_err();

        assert!(
            matches!(err, PostgresError::Psql { stderr, .. } if stderr.contains("no_such_table"))
        );
    }
}
