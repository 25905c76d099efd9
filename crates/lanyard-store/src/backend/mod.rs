//! The two SQL engines behind one small interface.
//!
//! The SQL is written once, with `$N` placeholders that both engines accept, and the
//! domain modules run it through [`Conn`]. Each engine binds [`Value`]s and reads
//! columns through [`DbRow`]; where the dialects differ (opening, transaction
//! modes, notifications) the engine module says so.

use std::future::Future;

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// One bound parameter. Typed NULLs, because PostgreSQL refuses a NULL of the wrong type.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Bool(bool),
    Bytes(Vec<u8>),
    I64(i64),
    OptI64(Option<i64>),
    OptText(Option<String>),
    Text(String),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::OptI64(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::OptText(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

/// Builds a `Vec<Value>` from expressions convertible into [`Value`].
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::backend::Value::from($v)),*]
    };
}
pub(crate) use args;

/// A connection inside a transaction. Futures are `Send` so store calls can be spawned.
pub(crate) trait Conn: Send {
    type Row: DbRow + Send;

    /// How this engine wakes other processes after commit, if it can: a statement
    /// taking the new last sequence number as `$1`, queued until commit.
    const NOTIFY_SQL: Option<&'static str>;

    /// Appended to a SELECT that must lock its rows until commit ("" where the
    /// engine has a single writer and needs no row locks).
    const FOR_UPDATE: &'static str;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;

    fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send;
}

/// Typed column access by name.
pub(crate) trait DbRow {
    fn bool(&self, col: &str) -> Result<bool, sqlx::Error>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn i64(&self, col: &str) -> Result<i64, sqlx::Error>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
}

/// Implements [`Conn`] and [`DbRow`] for one sqlx engine; the bodies are identical
/// and only the concrete types differ.
macro_rules! impl_engine {
    ($db:ty, $conn:ty, $row:ty, $notify:expr, $for_update:expr) => {
        impl $crate::backend::Conn for $conn {
            type Row = $row;

            const NOTIFY_SQL: Option<&'static str> = $notify;

            const FOR_UPDATE: &'static str = $for_update;

            async fn execute(
                &mut self,
                sql: &str,
                args: Vec<$crate::backend::Value>,
            ) -> Result<u64, sqlx::Error> {
                let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())), args);
                Ok(query.execute(&mut *self).await?.rows_affected())
            }

            async fn fetch_all(
                &mut self,
                sql: &str,
                args: Vec<$crate::backend::Value>,
            ) -> Result<Vec<$row>, sqlx::Error> {
                let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())), args);
                query.fetch_all(&mut *self).await
            }

            async fn fetch_optional(
                &mut self,
                sql: &str,
                args: Vec<$crate::backend::Value>,
            ) -> Result<Option<$row>, sqlx::Error> {
                let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())), args);
                query.fetch_optional(&mut *self).await
            }
        }

        fn bind_all<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            args: Vec<$crate::backend::Value>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            use $crate::backend::Value;

            for arg in args {
                query = match arg {
                    Value::Bool(v) => query.bind(v),
                    Value::Bytes(v) => query.bind(v),
                    Value::I64(v) => query.bind(v),
                    Value::OptI64(v) => query.bind(v),
                    Value::OptText(v) => query.bind(v),
                    Value::Text(v) => query.bind(v),
                };
            }
            query
        }

        impl $crate::backend::DbRow for $row {
            fn bool(&self, col: &str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }

            fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }

            fn i64(&self, col: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }

            fn opt_i64(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }

            fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }

            fn text(&self, col: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
        }
    };
}
pub(crate) use impl_engine;
