//! Small pieces shared by the domain modules: time and number columns, parsing
//! stored text, page tokens, WHERE clauses with set-matching filters, and
//! multi-row inserts.

use std::str::FromStr;

use lanyard_spiffe::SelectorMatch;
use time::OffsetDateTime;

use crate::StoreError;
use crate::backend::{Conn, Value};

/// Most parameters one multi-row statement binds. Both engines allow far more
/// (SQLite 32,766, PostgreSQL 65,535), but the SQLite driver looks each parameter
/// up by name in a list as long as the statement's, so binding costs the square of
/// the count: past a few hundred, binding outweighs what batching rows saves.
pub(crate) const PARAMETERS_PER_STATEMENT: usize = 256;

/// Unix seconds, the stored form of every instant.
pub(crate) fn db_time(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn opt_db_time(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(db_time)
}

pub(crate) fn time_from_db(secs: i64, col: &'static str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| StoreError::Corrupt(col))
}

pub(crate) fn opt_time_from_db(
    secs: Option<i64>,
    col: &'static str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    secs.map(|s| time_from_db(s, col)).transpose()
}

pub(crate) fn u64_from_db(v: i64, col: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(col))
}

/// Counts and sequence numbers never reach 2^63; saturate rather than fail.
pub(crate) fn u64_to_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn parse_db<T: FromStr>(text: &str, col: &'static str) -> Result<T, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(col))
}

/// The token for the page after the row with key `last_key`. Opaque to callers.
pub(crate) fn page_token(last_key: &str) -> String {
    hex::encode(last_key)
}

pub(crate) fn page_token_key(token: &str) -> Result<String, StoreError> {
    hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(StoreError::InvalidArgument(
            "page token is not one this store issued",
        ))
}

/// An AND of clauses with `$N` placeholders numbered as arguments are added.
#[derive(Debug, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) args: Vec<Value>,
}

impl Where {
    /// Adds an argument and returns its placeholder.
    pub(crate) fn arg(&mut self, value: impl Into<Value>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    pub(crate) fn and(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// ` WHERE a AND b`, or nothing.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Requires that the set of rows of `table` owned by `owner` (rows whose
    /// `owner_col` equals the outer expression `owner`), each projected on `cols`,
    /// relates to `members` as `mode` says. `members` must not be empty and have
    /// no duplicates; the table's key makes the owned rows unique too.
    pub(crate) fn set_match(
        &mut self,
        table: &str,
        owner_col: &str,
        owner: &str,
        cols: &[&str],
        members: &[Vec<String>],
        mode: SelectorMatch,
    ) {
        let owned = format!("FROM {table} s WHERE s.{owner_col} = {owner}");
        let n = members.len();
        let clause = match mode {
            SelectorMatch::Exact => {
                let member = self.member_predicate(cols, members);
                format!(
                    "(SELECT COUNT(*) {owned}) = {n} AND \
                     (SELECT COUNT(*) {owned} AND ({member})) = {n}"
                )
            }
            SelectorMatch::Subset => {
                let member = self.member_predicate(cols, members);
                format!("NOT EXISTS (SELECT 1 {owned} AND NOT ({member}))")
            }
            SelectorMatch::Superset => {
                let member = self.member_predicate(cols, members);
                format!("(SELECT COUNT(*) {owned} AND ({member})) = {n}")
            }
            SelectorMatch::Any => {
                let member = self.member_predicate(cols, members);
                format!("EXISTS (SELECT 1 {owned} AND ({member}))")
            }
        };
        self.and(clause);
    }

    fn member_predicate(&mut self, cols: &[&str], members: &[Vec<String>]) -> String {
        let alternatives: Vec<String> = members
            .iter()
            .map(|member| {
                let parts: Vec<String> = cols
                    .iter()
                    .zip(member)
                    .map(|(col, v)| format!("s.{col} = {}", self.arg(v.as_str())))
                    .collect();
                format!("({})", parts.join(" AND "))
            })
            .collect();
        alternatives.join(" OR ")
    }
}

/// Inserts `rows` into `table (columns)` with as few statements as the parameter
/// limit allows: one round trip per few hundred rows instead of one per row.
pub(crate) async fn insert_rows<C: Conn>(
    conn: &mut C,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let per_row = columns.len().max(1);
    let rows_per_statement = (PARAMETERS_PER_STATEMENT / per_row).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut values = Vec::new();
        for (i, row) in rows.by_ref().take(rows_per_statement).enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let placeholders: Vec<String> = (1..=row.len())
                .map(|n| format!("${}", values.len() + n))
                .collect();
            sql.push('(');
            sql.push_str(&placeholders.join(", "));
            sql.push(')');
            values.extend(row);
        }
        conn.execute(&sql, values).await?;
    }
    Ok(())
}
