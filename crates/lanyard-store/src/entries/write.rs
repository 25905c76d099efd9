//! Writing entries. Every write records an `entry` change.

use time::OffsetDateTime;

use crate::StoreError;
use crate::backend::{Conn, DbRow as _, Value, args};
use crate::changelog::{ChangeKind, Tx};
use crate::error::is_unique_violation;
use crate::model::{EntryId, EntryMask, EntrySpec, NewEntry, RegistrationEntry};
use crate::sql::{db_time, insert_rows, opt_db_time, time_from_db, u64_to_db};

use super::read;

pub(super) const SIMILAR: &str =
    "similar registration entry (same parent, SPIFFE ID and selectors)";

pub(crate) async fn create<C: Conn>(
    tx: &mut Tx<'_, C>,
    new: &NewEntry,
    now: OffsetDateTime,
) -> Result<RegistrationEntry, StoreError> {
    validate(tx.conn, &new.spec).await?;
    // Only an ID the caller chose can be taken; a generated one is a random UUID,
    // so a unique violation on insert can only be a similar entry.
    let id = match &new.id {
        Some(id) if read::exists(tx.conn, id).await? => {
            return Err(StoreError::AlreadyExists("registration entry"));
        }
        Some(id) => id.clone(),
        None => EntryId::generate(),
    };

    let spec = &new.spec;
    let sql = format!(
        "INSERT INTO registration_entries ({}) VALUES ({})",
        ENTRY_COLUMNS.join(", "),
        placeholders(0, ENTRY_COLUMNS.len())
    );
    tx.conn
        .execute(&sql, entry_row(&id, spec, now))
        .await
        .map_err(similar_as_exists)?;
    insert_children(tx.conn, &[(&id, spec)]).await?;

    tx.record(ChangeKind::Entry, id.as_str());
    Ok(RegistrationEntry {
        id,
        revision_number: 0,
        created_at: time_from_db(db_time(now), "created_at")?,
        spec: spec.clone(),
    })
}

pub(crate) async fn update<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &EntryId,
    spec: &EntrySpec,
    mask: &EntryMask,
) -> Result<RegistrationEntry, StoreError> {
    lock(tx.conn, id).await?;
    let mut entry = read::get(tx.conn, id)
        .await?
        .ok_or(StoreError::NotFound("registration entry"))?;
    mask.apply(spec, &mut entry.spec);
    let spec = &entry.spec;
    validate(tx.conn, spec).await?;

    let assignments: Vec<String> = SPEC_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE registration_entries SET {}, revision_number = revision_number + 1 \
         WHERE id = ${}",
        assignments.join(", "),
        SPEC_COLUMNS.len() + 1
    );
    let mut values = spec_values(spec);
    values.extend(args![id.as_str()]);
    tx.conn
        .execute(&sql, values)
        .await
        .map_err(similar_as_exists)?;
    for table in ["entry_selectors", "entry_dns_names", "entry_federates_with"] {
        let sql = format!("DELETE FROM {table} WHERE entry_id = $1");
        tx.conn.execute(&sql, args![id.as_str()]).await?;
    }
    insert_children(tx.conn, &[(id, spec)]).await?;

    tx.record(ChangeKind::Entry, id.as_str());
    entry.revision_number += 1;
    Ok(entry)
}

pub(crate) async fn delete<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &EntryId,
) -> Result<RegistrationEntry, StoreError> {
    lock(tx.conn, id).await?;
    let entry = read::get(tx.conn, id)
        .await?
        .ok_or(StoreError::NotFound("registration entry"))?;
    tx.conn
        .execute(
            "DELETE FROM registration_entries WHERE id = $1",
            args![id.as_str()],
        )
        .await?;
    tx.record(ChangeKind::Entry, id.as_str());
    Ok(entry)
}

/// Deletes entries whose `expires_at` is before `before`; returns how many.
pub(crate) async fn prune<C: Conn>(
    tx: &mut Tx<'_, C>,
    before: OffsetDateTime,
) -> Result<u64, StoreError> {
    let rows = tx
        .conn
        .fetch_all(
            "DELETE FROM registration_entries WHERE expires_at IS NOT NULL AND expires_at < $1 \
             RETURNING id",
            args![db_time(before)],
        )
        .await?;
    for row in &rows {
        tx.record(ChangeKind::Entry, &row.text("id")?);
    }
    Ok(rows.len() as u64)
}

/// Deletes the entries that federate with `trust_domain` (bundle delete mode
/// `Delete`), or only their link to it (`Dissociate`, which bumps their revision).
pub(crate) async fn unfederate<C: Conn>(
    tx: &mut Tx<'_, C>,
    trust_domain: &str,
    delete_entries: bool,
) -> Result<(), StoreError> {
    let rows = tx
        .conn
        .fetch_all(
            "SELECT entry_id FROM entry_federates_with WHERE trust_domain = $1",
            args![trust_domain],
        )
        .await?;
    for row in rows {
        let id = row.text("entry_id")?;
        if delete_entries {
            tx.conn
                .execute(
                    "DELETE FROM registration_entries WHERE id = $1",
                    args![id.as_str()],
                )
                .await?;
        } else {
            tx.conn
                .execute(
                    "DELETE FROM entry_federates_with WHERE entry_id = $1 AND trust_domain = $2",
                    args![id.as_str(), trust_domain],
                )
                .await?;
            tx.conn
                .execute(
                    "UPDATE registration_entries SET revision_number = revision_number + 1 \
                     WHERE id = $1",
                    args![id.as_str()],
                )
                .await?;
        }
        tx.record(ChangeKind::Entry, &id);
    }
    Ok(())
}

/// Rules the store enforces itself; trust-domain membership and reserved paths are
/// the server's, which knows its trust domain.
pub(super) async fn validate<C: Conn>(conn: &mut C, spec: &EntrySpec) -> Result<(), StoreError> {
    if spec.selectors.is_empty() {
        return Err(StoreError::InvalidArgument("entry has no selectors"));
    }
    for td in &spec.federates_with {
        let found = conn
            .fetch_optional(
                "SELECT 1 AS found FROM bundles WHERE trust_domain = $1",
                args![td.as_str()],
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::InvalidArgument(
                "federated trust domain has no bundle in the store",
            ));
        }
    }
    Ok(())
}

/// Locks the entry's row until commit (PostgreSQL); SQLite's writer is alone anyway.
async fn lock<C: Conn>(conn: &mut C, id: &EntryId) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT id FROM registration_entries WHERE id = $1{}",
        C::FOR_UPDATE
    );
    conn.fetch_optional(&sql, args![id.as_str()]).await?;
    Ok(())
}

/// Inserts the selectors, DNS names and federations of `entries` with as few
/// statements as the parameter limit allows.
pub(super) async fn insert_children<C: Conn>(
    conn: &mut C,
    entries: &[(&EntryId, &EntrySpec)],
) -> Result<(), StoreError> {
    let (mut selectors, mut dns_names, mut federates_with) = (Vec::new(), Vec::new(), Vec::new());
    for (id, spec) in entries {
        for s in &spec.selectors {
            selectors.push(args![id.as_str(), s.kind(), s.value()]);
        }
        for (position, name) in spec.dns_names.iter().enumerate() {
            dns_names.push(args![
                id.as_str(),
                u64_to_db(position as u64),
                name.as_str()
            ]);
        }
        for td in &spec.federates_with {
            federates_with.push(args![id.as_str(), td.as_str()]);
        }
    }
    insert_rows(
        conn,
        "entry_selectors",
        &["entry_id", "type", "value"],
        selectors,
    )
    .await?;
    insert_rows(
        conn,
        "entry_dns_names",
        &["entry_id", "position", "dns_name"],
        dns_names,
    )
    .await?;
    insert_rows(
        conn,
        "entry_federates_with",
        &["entry_id", "trust_domain"],
        federates_with,
    )
    .await
}

/// The columns an entry's spec sets, in [`spec_values`]' order.
const SPEC_COLUMNS: [&str; 12] = [
    "spiffe_id",
    "parent_id",
    "similarity_key",
    "x509_svid_ttl",
    "jwt_svid_ttl",
    "admin",
    "downstream",
    "hint",
    "expires_at",
    "store_svid",
    "jwt_svid_include_jti",
    "disable_x509_svid_prefetch",
];

/// The columns of a new `registration_entries` row, in [`entry_row`]'s order.
pub(super) const ENTRY_COLUMNS: [&str; 15] = [
    "id",
    SPEC_COLUMNS[0],
    SPEC_COLUMNS[1],
    SPEC_COLUMNS[2],
    SPEC_COLUMNS[3],
    SPEC_COLUMNS[4],
    SPEC_COLUMNS[5],
    SPEC_COLUMNS[6],
    SPEC_COLUMNS[7],
    SPEC_COLUMNS[8],
    SPEC_COLUMNS[9],
    SPEC_COLUMNS[10],
    SPEC_COLUMNS[11],
    "revision_number",
    "created_at",
];

/// The values of [`SPEC_COLUMNS`] for `spec`.
fn spec_values(spec: &EntrySpec) -> Vec<Value> {
    args![
        spec.spiffe_id.as_str(),
        spec.parent_id.as_str(),
        similarity_key(spec),
        i64::from(spec.x509_svid_ttl),
        i64::from(spec.jwt_svid_ttl),
        spec.admin,
        spec.downstream,
        spec.hint.as_str(),
        opt_db_time(spec.expires_at),
        spec.store_svid,
        spec.jwt_svid_include_jti,
        spec.disable_x509_svid_prefetch,
    ]
}

/// The values of a new entry's row (revision 0), in [`ENTRY_COLUMNS`]' order.
pub(super) fn entry_row(id: &EntryId, spec: &EntrySpec, now: OffsetDateTime) -> Vec<Value> {
    let mut row = args![id.as_str()];
    row.extend(spec_values(spec));
    row.extend(args![0_i64, db_time(now)]);
    row
}

/// `($first+1, ..., $first+count)`'s inside: the placeholders of one row.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first + 1..=first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Equal for "similar" entries (same parent, SPIFFE ID and selector set), which a
/// unique index then refuses. Selector sets are sorted, and no part can hold a newline.
fn similarity_key(spec: &EntrySpec) -> String {
    let mut canonical = format!("{}\n{}", spec.parent_id, spec.spiffe_id);
    for selector in &spec.selectors {
        canonical.push('\n');
        canonical.push_str(&selector.to_string());
    }
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

fn similar_as_exists(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::AlreadyExists(SIMILAR)
    } else {
        StoreError::Backend(error)
    }
}
