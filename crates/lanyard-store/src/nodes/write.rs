//! Writing attested nodes. Every write but `touch` records a `node` change.

use lanyard_spiffe::{SelectorSet, SpiffeId};
use time::OffsetDateTime;

use crate::StoreError;
use crate::backend::{Conn, DbRow as _, args};
use crate::changelog::{ChangeKind, Tx};
use crate::error::unique_as_exists;
use crate::model::{AttestedNode, NodeUpdate};
use crate::sql::{db_time, insert_rows, opt_db_time};

use super::read;

const NODE: &str = "attested node";

pub(crate) async fn create<C: Conn>(
    tx: &mut Tx<'_, C>,
    node: &AttestedNode,
) -> Result<AttestedNode, StoreError> {
    insert(tx, node).await?;
    fetch(tx.conn, &node.spiffe_id).await
}

/// [`create`] without reading the record back.
pub(crate) async fn insert<C: Conn>(
    tx: &mut Tx<'_, C>,
    node: &AttestedNode,
) -> Result<(), StoreError> {
    tx.conn
        .execute(
            "INSERT INTO attested_nodes (spiffe_id, attestation_type, cert_serial, \
             cert_not_after, new_cert_serial, new_cert_not_after, can_reattest, banned, \
             agent_version, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            args![
                node.spiffe_id.as_str(),
                node.attestation_type.as_str(),
                node.cert_serial.as_str(),
                db_time(node.cert_not_after),
                node.new_cert_serial.clone(),
                opt_db_time(node.new_cert_not_after),
                node.can_reattest,
                node.banned,
                node.agent_version.as_str(),
                opt_db_time(node.last_seen),
            ],
        )
        .await
        .map_err(unique_as_exists(NODE))?;
    insert_selectors(tx.conn, &node.spiffe_id, &node.selectors).await?;
    tx.record(ChangeKind::Node, node.spiffe_id.as_str());
    Ok(())
}

pub(crate) async fn update<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &SpiffeId,
    update: &NodeUpdate,
) -> Result<AttestedNode, StoreError> {
    lock(tx.conn, id).await?;
    let mut node = fetch(tx.conn, id).await?;
    if let Some(v) = &update.attestation_type {
        node.attestation_type.clone_from(v);
    }
    if let Some(v) = &update.cert_serial {
        node.cert_serial.clone_from(v);
    }
    if let Some(v) = update.cert_not_after {
        node.cert_not_after = v;
    }
    if let Some(v) = &update.new_cert_serial {
        node.new_cert_serial.clone_from(v);
    }
    if let Some(v) = update.new_cert_not_after {
        node.new_cert_not_after = v;
    }
    if let Some(v) = update.can_reattest {
        node.can_reattest = v;
    }
    if let Some(v) = &update.agent_version {
        node.agent_version.clone_from(v);
    }

    tx.conn
        .execute(
            "UPDATE attested_nodes SET attestation_type = $1, cert_serial = $2, \
             cert_not_after = $3, new_cert_serial = $4, new_cert_not_after = $5, \
             can_reattest = $6, agent_version = $7 WHERE spiffe_id = $8",
            args![
                node.attestation_type.as_str(),
                node.cert_serial.as_str(),
                db_time(node.cert_not_after),
                node.new_cert_serial.clone(),
                opt_db_time(node.new_cert_not_after),
                node.can_reattest,
                node.agent_version.as_str(),
                id.as_str(),
            ],
        )
        .await?;
    tx.record(ChangeKind::Node, id.as_str());
    Ok(node)
}

/// Makes the pending serial `serial` the node's current one, only if it is still
/// the pending one; returns whether it was. A renewal committed in between (a newer
/// pending serial) is therefore never overwritten.
pub(crate) async fn activate_serial<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &SpiffeId,
    serial: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .conn
        .execute(
            "UPDATE attested_nodes SET cert_serial = new_cert_serial, \
             cert_not_after = COALESCE(new_cert_not_after, cert_not_after), \
             new_cert_serial = NULL, new_cert_not_after = NULL \
             WHERE spiffe_id = $1 AND new_cert_serial = $2",
            args![id.as_str(), serial],
        )
        .await?;
    if n > 0 {
        tx.record(ChangeKind::Node, id.as_str());
    }
    Ok(n > 0)
}

/// Records that the agent was seen; not a change agents care about, so not logged.
pub(crate) async fn touch<C: Conn>(
    conn: &mut C,
    id: &SpiffeId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "UPDATE attested_nodes SET last_seen = $1 WHERE spiffe_id = $2",
            args![db_time(at), id.as_str()],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound(NODE));
    }
    Ok(())
}

pub(crate) async fn set_selectors<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &SpiffeId,
    selectors: &SelectorSet,
) -> Result<(), StoreError> {
    lock(tx.conn, id).await?;
    if read::get(tx.conn, id).await?.is_none() {
        return Err(StoreError::NotFound(NODE));
    }
    tx.conn
        .execute(
            "DELETE FROM node_selectors WHERE spiffe_id = $1",
            args![id.as_str()],
        )
        .await?;
    insert_selectors(tx.conn, id, selectors).await?;
    tx.record(ChangeKind::Node, id.as_str());
    Ok(())
}

/// Bans the node: keeps the record, clears its serials so no SVID of it is accepted,
/// and refuses re-attestation until the record is deleted.
pub(crate) async fn ban<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &SpiffeId,
) -> Result<AttestedNode, StoreError> {
    let n = tx
        .conn
        .execute(
            "UPDATE attested_nodes SET banned = $1, cert_serial = '', new_cert_serial = NULL, \
             new_cert_not_after = NULL WHERE spiffe_id = $2",
            args![true, id.as_str()],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound(NODE));
    }
    tx.record(ChangeKind::Node, id.as_str());
    fetch(tx.conn, id).await
}

pub(crate) async fn delete<C: Conn>(
    tx: &mut Tx<'_, C>,
    id: &SpiffeId,
) -> Result<AttestedNode, StoreError> {
    lock(tx.conn, id).await?;
    let node = fetch(tx.conn, id).await?;
    tx.conn
        .execute(
            "DELETE FROM attested_nodes WHERE spiffe_id = $1",
            args![id.as_str()],
        )
        .await?;
    tx.record(ChangeKind::Node, id.as_str());
    Ok(node)
}

/// Deletes nodes whose SVID expired before `before`; banned nodes stay, and nodes
/// that cannot re-attest only when `include_non_reattestable`.
pub(crate) async fn prune<C: Conn>(
    tx: &mut Tx<'_, C>,
    before: OffsetDateTime,
    include_non_reattestable: bool,
) -> Result<u64, StoreError> {
    let mut sql =
        String::from("DELETE FROM attested_nodes WHERE cert_not_after < $1 AND banned = $2");
    if !include_non_reattestable {
        sql.push_str(" AND can_reattest = $3");
    }
    sql.push_str(" RETURNING spiffe_id");
    let mut values = args![db_time(before), false];
    if !include_non_reattestable {
        values.extend(args![true]);
    }

    let rows = tx.conn.fetch_all(&sql, values).await?;
    for row in &rows {
        tx.record(ChangeKind::Node, &row.text("spiffe_id")?);
    }
    Ok(rows.len() as u64)
}

async fn fetch<C: Conn>(conn: &mut C, id: &SpiffeId) -> Result<AttestedNode, StoreError> {
    read::get(conn, id).await?.ok_or(StoreError::NotFound(NODE))
}

async fn lock<C: Conn>(conn: &mut C, id: &SpiffeId) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT spiffe_id FROM attested_nodes WHERE spiffe_id = $1{}",
        C::FOR_UPDATE
    );
    conn.fetch_optional(&sql, args![id.as_str()]).await?;
    Ok(())
}

async fn insert_selectors<C: Conn>(
    conn: &mut C,
    id: &SpiffeId,
    selectors: &SelectorSet,
) -> Result<(), StoreError> {
    let rows = selectors
        .iter()
        .map(|s| args![id.as_str(), s.kind(), s.value()])
        .collect();
    insert_rows(
        conn,
        "node_selectors",
        &["spiffe_id", "type", "value"],
        rows,
    )
    .await
}
