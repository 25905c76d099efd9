//! The change log: one row `(seq, kind, key)` per record that changed what an agent
//! may receive, written in the same transaction as the change.
//!
//! Ordering: a writer appends its rows last, right before commit, by first
//! updating the single `change_counter` row. That update takes a row lock held until
//! the writer commits or rolls back, so the next writer's sequence numbers are
//! assigned only after the previous writer is visible (or gone, in which case its
//! numbers are reused). Sequence numbers are therefore gapless and commit order
//! equals sequence order: a reader that sees `seq = n` has already been able to see
//! every `seq < n`. SQLite gets the same guarantee from its single writer.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreError;
use crate::backend::{Conn, DbRow as _, args};
use crate::published::Appended;
use crate::sql::{db_time, time_from_db, u64_from_db, u64_to_db};

/// What kind of record a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// `key` is a trust domain name.
    Bundle,
    /// `key` is a registration entry ID.
    Entry,
    /// `key` is an agent SPIFFE ID (the node record or its selectors).
    Node,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bundle => "bundle",
            Self::Entry => "entry",
            Self::Node => "node",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "bundle" => Ok(Self::Bundle),
            "entry" => Ok(Self::Entry),
            "node" => Ok(Self::Node),
            _ => Err(StoreError::Corrupt("changes.kind")),
        }
    }
}

/// One change-log row. The log says only which record changed; read the record
/// (it may be gone: then it was deleted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub kind: ChangeKind,
    pub key: String,
    #[serde(with = "time::serde::timestamp")]
    pub at: OffsetDateTime,
}

/// The answer to `Store::changes_since`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangesSince {
    /// The changes after the requested sequence number, consecutive and in order
    /// (empty when there are none yet).
    Changes(Vec<Change>),
    /// The log no longer reaches back to the requested sequence number (it was
    /// pruned), or the number is ahead of the log (the database was replaced):
    /// reload everything with `Store::snapshot` and follow on from its sequence.
    ReloadRequired,
}

/// A write transaction's connection plus the changes it has made so far.
pub(crate) struct Tx<'a, C> {
    pub(crate) conn: &'a mut C,
    changes: Vec<(ChangeKind, String)>,
    seen: HashSet<(ChangeKind, String)>,
}

/// Rows per multi-row INSERT into `changes` (4 parameters each).
const APPEND_CHUNK: usize = crate::sql::PARAMETERS_PER_STATEMENT / 4;

impl<'a, C: Conn> Tx<'a, C> {
    pub(crate) fn new(conn: &'a mut C) -> Self {
        Self {
            conn,
            changes: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Notes that `key` of `kind` changed; recorded once per transaction.
    pub(crate) fn record(&mut self, kind: ChangeKind, key: &str) {
        let change = (kind, key.to_owned());
        if self.seen.insert(change.clone()) {
            self.changes.push(change);
        }
    }

    /// Starts a savepoint (one item of a batch) and returns a mark for `rollback_item`.
    pub(crate) async fn begin_item(&mut self) -> Result<usize, StoreError> {
        self.conn.execute("SAVEPOINT lanyard_item", vec![]).await?;
        Ok(self.changes.len())
    }

    pub(crate) async fn commit_item(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute("RELEASE SAVEPOINT lanyard_item", vec![])
            .await?;
        Ok(())
    }

    /// Undoes one failed batch item, including the changes it recorded.
    pub(crate) async fn rollback_item(&mut self, mark: usize) -> Result<(), StoreError> {
        self.conn
            .execute("ROLLBACK TO SAVEPOINT lanyard_item", vec![])
            .await?;
        self.conn
            .execute("RELEASE SAVEPOINT lanyard_item", vec![])
            .await?;
        for change in self.changes.drain(mark..) {
            self.seen.remove(&change);
        }
        Ok(())
    }

    /// Appends the recorded changes to the log; call last, right before commit.
    /// Returns what was appended, if anything.
    pub(crate) async fn finish(self) -> Result<Option<Appended>, StoreError> {
        if self.changes.is_empty() {
            return Ok(None);
        }

        let count = u64_to_db(self.changes.len() as u64);
        let row = self
            .conn
            .fetch_optional(
                "UPDATE change_counter SET last_seq = last_seq + $1 WHERE id = 1 \
                 RETURNING last_seq",
                args![count],
            )
            .await?
            .ok_or(StoreError::Corrupt("change_counter"))?;
        let last = row.i64("last_seq")?;

        let now = db_time(OffsetDateTime::now_utc());
        let mut seq = last - count;
        for chunk in self.changes.chunks(APPEND_CHUNK) {
            let mut sql = String::from("INSERT INTO changes (seq, kind, key, created_at) VALUES ");
            let mut values = Vec::with_capacity(chunk.len() * 4);
            for (i, (kind, key)) in chunk.iter().enumerate() {
                seq += 1;
                let p = i * 4;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
                values.extend(args![seq, kind.as_str(), key.as_str(), now]);
            }
            self.conn.execute(&sql, values).await?;
        }

        let appended = Appended {
            last: u64_from_db(last, "change_counter.last_seq")?,
            nodes: self
                .changes
                .iter()
                .any(|(kind, _)| *kind == ChangeKind::Node),
        };
        if let Some(notify) = C::NOTIFY_SQL {
            self.conn
                .fetch_all(notify, args![appended.to_payload()])
                .await?;
        }
        Ok(Some(appended))
    }
}

/// Reads the log after `after`, at most `limit` rows (0 = no limit).
pub(crate) async fn changes_since<C: Conn>(
    conn: &mut C,
    after: u64,
    limit: u32,
) -> Result<ChangesSince, StoreError> {
    let (last, pruned_through) = counter(conn).await?;
    if after < pruned_through || after > last {
        return Ok(ChangesSince::ReloadRequired);
    }

    let limit = if limit == 0 {
        i64::MAX
    } else {
        i64::from(limit)
    };
    let rows = conn
        .fetch_all(
            "SELECT seq, kind, key, created_at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            args![u64_to_db(after), limit],
        )
        .await?;
    let changes = rows
        .iter()
        .map(|row| {
            Ok(Change {
                seq: u64_from_db(row.i64("seq")?, "changes.seq")?,
                kind: ChangeKind::parse(&row.text("kind")?)?,
                key: row.text("key")?,
                at: time_from_db(row.i64("created_at")?, "changes.created_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ChangesSince::Changes(changes))
}

/// `(last_seq, pruned_through)`.
pub(crate) async fn counter<C: Conn>(conn: &mut C) -> Result<(u64, u64), StoreError> {
    let row = conn
        .fetch_optional(
            "SELECT last_seq, pruned_through FROM change_counter WHERE id = 1",
            vec![],
        )
        .await?
        .ok_or(StoreError::Corrupt("change_counter"))?;
    Ok((
        u64_from_db(row.i64("last_seq")?, "change_counter.last_seq")?,
        u64_from_db(row.i64("pruned_through")?, "change_counter.pruned_through")?,
    ))
}

/// Deletes changes older than `before`, keeping the log a contiguous suffix, and
/// moves the horizon; returns how many rows went.
pub(crate) async fn prune<C: Conn>(
    conn: &mut C,
    before: OffsetDateTime,
) -> Result<u64, StoreError> {
    let row = conn
        .fetch_optional(
            "SELECT MAX(seq) AS through FROM changes WHERE created_at < $1",
            args![db_time(before)],
        )
        .await?;
    let Some(through) = row.map(|r| r.opt_i64("through")).transpose()?.flatten() else {
        return Ok(0);
    };

    let deleted = conn
        .execute("DELETE FROM changes WHERE seq <= $1", args![through])
        .await?;
    conn.execute(
        "UPDATE change_counter SET pruned_through = $1 WHERE id = 1 AND pruned_through < $2",
        args![through, through],
    )
    .await?;
    Ok(deleted)
}
