//! Creating a batch of entries with a handful of statements: the entry rows go in
//! multi-row INSERTs that skip conflicting rows, their selectors, DNS names and
//! federations follow in multi-row INSERTs, and only the rows that were skipped
//! are looked at again to say why. The results are those of creating each entry
//! in turn: an earlier entry of the batch wins over a later one it conflicts with.

use std::collections::HashSet;

use time::OffsetDateTime;

use crate::StoreError;
use crate::backend::{Conn, DbRow as _, Value};
use crate::changelog::{ChangeKind, Tx};
use crate::model::{EntryId, NewEntry, RegistrationEntry};
use crate::sql::{PARAMETERS_PER_STATEMENT, db_time, time_from_db};

use super::read;
use super::write::{ENTRY_COLUMNS, SIMILAR, entry_row, insert_children, placeholders, validate};

/// Entry rows per INSERT.
const ROWS_PER_INSERT: usize = PARAMETERS_PER_STATEMENT / ENTRY_COLUMNS.len();

/// Creates `batch` in the transaction `tx`, each entry with its own result.
pub(crate) async fn create_many<C: Conn>(
    tx: &mut Tx<'_, C>,
    batch: &[NewEntry],
    now: OffsetDateTime,
) -> Result<Vec<Result<RegistrationEntry, StoreError>>, StoreError> {
    let mut results: Vec<Option<Result<RegistrationEntry, StoreError>>> =
        std::iter::repeat_with(|| None).take(batch.len()).collect();

    let mut candidates = Vec::with_capacity(batch.len());
    for (slot, new) in batch.iter().enumerate() {
        match validate(tx.conn, &new.spec).await {
            Ok(()) => {
                let id = new.id.clone().unwrap_or_else(EntryId::generate);
                candidates.push((slot, id));
            }
            Err(error) => results[slot] = Some(Err(error)),
        }
    }

    let mut inserted = HashSet::with_capacity(candidates.len());
    for chunk in candidates.chunks(ROWS_PER_INSERT) {
        let mut rows = Vec::with_capacity(chunk.len());
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * ENTRY_COLUMNS.len());
        for (slot, id) in chunk {
            rows.push(format!(
                "({})",
                placeholders(values.len(), ENTRY_COLUMNS.len())
            ));
            values.extend(entry_row(id, &batch[*slot].spec, now));
        }
        let sql = format!(
            "INSERT INTO registration_entries ({}) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
            ENTRY_COLUMNS.join(", "),
            rows.join(", ")
        );
        for row in tx.conn.fetch_all(&sql, values).await? {
            inserted.insert(row.text("id")?);
        }
    }

    // A chosen ID may come twice in a batch; only its first row went in, and the
    // returned IDs say which rows did, so each returned ID marks one candidate.
    let is_new: Vec<bool> = candidates
        .iter()
        .map(|(_, id)| inserted.remove(id.as_str()))
        .collect();
    let created: Vec<_> = candidates
        .iter()
        .zip(&is_new)
        .filter(|(_, new)| **new)
        .map(|((slot, id), _)| (id, &batch[*slot].spec))
        .collect();
    insert_children(tx.conn, &created).await?;

    let created_at = time_from_db(db_time(now), "created_at")?;
    for ((slot, id), new) in candidates.into_iter().zip(is_new) {
        let result = if new {
            tx.record(ChangeKind::Entry, id.as_str());
            Ok(RegistrationEntry {
                id,
                revision_number: 0,
                created_at,
                spec: batch[slot].spec.clone(),
            })
        } else if batch[slot].id.is_some() && read::exists(tx.conn, &id).await? {
            Err(StoreError::AlreadyExists("registration entry"))
        } else {
            Err(StoreError::AlreadyExists(SIMILAR))
        };
        results[slot] = Some(result);
    }

    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Corrupt("batch result"))))
        .collect())
}
