//! The SQLite and PostgreSQL migrations must describe the same schema: same tables,
//! same columns with the same (normalised) types and nullability, same indexes.

use std::collections::{BTreeMap, BTreeSet};

use lanyard_store::StoreConfig;
use sqlx::{Connection as _, Row as _};

use crate::common::TestDb;

/// table -> column -> (type, nullable)
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let lite = TestDb::sqlite().await;

    let (lite_columns, lite_indexes) = sqlite_schema(&lite.config).await;
    let (pg_columns, pg_indexes) = postgres_schema(&pg.config).await;
    assert!(
        lite_columns.len() >= 12,
        "tables: {:?}",
        lite_columns.keys()
    );
    assert_eq!(lite_columns, pg_columns);
    assert_eq!(lite_indexes, pg_indexes);

    lite.finish().await;
    pg.finish().await;
}

fn normalise(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        "text" => "text",
        "boolean" => "boolean",
        "blob" | "bytea" => "bytes",
        other => other,
    }
    .to_owned()
}

async fn sqlite_schema(config: &StoreConfig) -> (Columns, BTreeSet<String>) {
    let StoreConfig::Sqlite { path, .. } = config else {
        unreachable!("a sqlite config")
    };
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut columns = Columns::new();
    for table in tables {
        let sql = format!("SELECT name, type, \"notnull\" FROM pragma_table_info('{table}')");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let cols = rows
            .iter()
            .map(|r| {
                let notnull: i64 = r.get("notnull");
                (
                    r.get::<String, _>("name"),
                    (normalise(&r.get::<String, _>("type")), notnull == 0),
                )
            })
            .collect();
        columns.insert(table, cols);
    }

    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (columns, indexes.into_iter().collect())
}

async fn postgres_schema(config: &StoreConfig) -> (Columns, BTreeSet<String>) {
    let StoreConfig::Postgres {
        connection_string, ..
    } = config
    else {
        unreachable!("a postgres config")
    };
    let mut conn = sqlx::PgConnection::connect(connection_string)
        .await
        .unwrap();

    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
         is_nullable::text AS n FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut columns = Columns::new();
    for r in rows {
        columns.entry(r.get("t")).or_default().insert(
            r.get("c"),
            (
                normalise(&r.get::<String, _>("ty")),
                r.get::<String, _>("n") == "YES",
            ),
        );
    }

    // Primary keys and UNIQUE constraints get engine-specific automatic names.
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' \
         AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key' \
         AND tablename NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (columns, indexes.into_iter().collect())
}
