//! Reading attested nodes with their selectors.

use std::collections::HashMap;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId};

use crate::StoreError;
use crate::backend::{Conn, DbRow, Value};
use crate::model::{AttestedNode, NodeFilter, Page, PageRequest};
use crate::sql::{
    Where, db_time, opt_time_from_db, page_token, page_token_key, parse_db, time_from_db,
    u64_from_db,
};

const COLUMNS: &str = "n.spiffe_id, n.attestation_type, n.cert_serial, n.cert_not_after, \
     n.new_cert_serial, n.new_cert_not_after, n.can_reattest, n.banned, n.agent_version, \
     n.last_seen";

pub(crate) async fn get<C: Conn>(
    conn: &mut C,
    id: &SpiffeId,
) -> Result<Option<AttestedNode>, StoreError> {
    let mut w = Where::default();
    let p = w.arg(id.as_str());
    w.and(format!("n.spiffe_id = {p}"));
    Ok(load(conn, &w, None).await?.pop())
}

/// The nodes with these IDs that exist, ordered by ID.
pub(crate) async fn get_many<C: Conn>(
    conn: &mut C,
    ids: &[SpiffeId],
) -> Result<Vec<AttestedNode>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(crate::entries::read::IN_CHUNK) {
        let mut w = Where::default();
        let list: Vec<String> = chunk.iter().map(|id| w.arg(id.as_str())).collect();
        w.and(format!("n.spiffe_id IN ({})", list.join(", ")));
        found.extend(load(conn, &w, None).await?);
    }
    found.sort_by(|a, b| a.spiffe_id.cmp(&b.spiffe_id));
    found.dedup_by(|a, b| a.spiffe_id == b.spiffe_id);
    Ok(found)
}

pub(crate) async fn all<C: Conn>(conn: &mut C) -> Result<Vec<AttestedNode>, StoreError> {
    load(conn, &Where::default(), None).await
}

pub(crate) async fn count<C: Conn>(conn: &mut C, filter: &NodeFilter) -> Result<u64, StoreError> {
    let w = filter_where(filter)?;
    let sql = format!("SELECT COUNT(*) AS n FROM attested_nodes n{}", w.sql());
    let row = conn.fetch_optional(&sql, w.args).await?;
    let n = row.map(|r| r.i64("n")).transpose()?.unwrap_or(0);
    u64_from_db(n, "count")
}

pub(crate) async fn list<C: Conn>(
    conn: &mut C,
    filter: &NodeFilter,
    page: &PageRequest,
) -> Result<Page<AttestedNode>, StoreError> {
    let mut w = filter_where(filter)?;
    if let Some(token) = &page.page_token {
        let p = w.arg(page_token_key(token)?);
        w.and(format!("n.spiffe_id > {p}"));
    }

    let limit = (page.page_size > 0).then(|| i64::from(page.page_size) + 1);
    let mut items = load(conn, &w, limit).await?;
    let mut next_page_token = None;
    if page.page_size > 0 && items.len() > page.page_size as usize {
        items.truncate(page.page_size as usize);
        next_page_token = items.last().map(|n| page_token(n.spiffe_id.as_str()));
    }
    Ok(Page {
        items,
        next_page_token,
    })
}

fn filter_where(filter: &NodeFilter) -> Result<Where, StoreError> {
    let mut w = Where::default();
    if let Some(kind) = &filter.by_attestation_type {
        let p = w.arg(kind.as_str());
        w.and(format!("n.attestation_type = {p}"));
    }
    if let Some(banned) = filter.by_banned {
        let p = w.arg(banned);
        w.and(format!("n.banned = {p}"));
    }
    if let Some(can_reattest) = filter.by_can_reattest {
        let p = w.arg(can_reattest);
        w.and(format!("n.can_reattest = {p}"));
    }
    if let Some(before) = filter.by_expires_before {
        let p = w.arg(db_time(before));
        w.and(format!("n.cert_not_after < {p}"));
    }
    if let Some(f) = &filter.by_selectors {
        if f.selectors.is_empty() {
            return Err(StoreError::InvalidArgument("selector filter is empty"));
        }
        let members: Vec<Vec<String>> = f
            .selectors
            .iter()
            .map(|s| vec![s.kind().to_owned(), s.value().to_owned()])
            .collect();
        w.set_match(
            "node_selectors",
            "spiffe_id",
            "n.spiffe_id",
            &["type", "value"],
            &members,
            f.mode,
        );
    }
    Ok(w)
}

async fn load<C: Conn>(
    conn: &mut C,
    w: &Where,
    limit: Option<i64>,
) -> Result<Vec<AttestedNode>, StoreError> {
    let mut args = w.args.clone();
    let mut selected = format!("FROM attested_nodes n{} ORDER BY n.spiffe_id", w.sql());
    if let Some(limit) = limit {
        args.push(Value::I64(limit));
        selected.push_str(&format!(" LIMIT ${}", args.len()));
    }

    let rows = conn
        .fetch_all(&format!("SELECT {COLUMNS} {selected}"), args.clone())
        .await?;
    let mut nodes = rows
        .iter()
        .map(node_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Ok(nodes);
    }
    let index: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.spiffe_id.as_str().to_owned(), i))
        .collect();

    let sql = format!(
        "SELECT spiffe_id, type, value FROM node_selectors \
         WHERE spiffe_id IN (SELECT n.spiffe_id {selected})"
    );
    let mut selectors: Vec<Vec<Selector>> = vec![Vec::new(); nodes.len()];
    for row in conn.fetch_all(&sql, args).await? {
        if let Some(&i) = index.get(&row.text("spiffe_id")?) {
            let selector = Selector::new(&row.text("type")?, &row.text("value")?)
                .map_err(|_| StoreError::Corrupt("node_selectors"))?;
            selectors[i].push(selector);
        }
    }
    for (node, set) in nodes.iter_mut().zip(selectors) {
        node.selectors = SelectorSet::from(set);
    }
    Ok(nodes)
}

fn node_from_row<R: DbRow>(row: &R) -> Result<AttestedNode, StoreError> {
    Ok(AttestedNode {
        spiffe_id: parse_db(&row.text("spiffe_id")?, "attested_nodes.spiffe_id")?,
        attestation_type: row.text("attestation_type")?,
        cert_serial: row.text("cert_serial")?,
        cert_not_after: time_from_db(row.i64("cert_not_after")?, "cert_not_after")?,
        new_cert_serial: row.opt_text("new_cert_serial")?,
        new_cert_not_after: opt_time_from_db(
            row.opt_i64("new_cert_not_after")?,
            "new_cert_not_after",
        )?,
        can_reattest: row.bool("can_reattest")?,
        banned: row.bool("banned")?,
        selectors: SelectorSet::new(),
        agent_version: row.text("agent_version")?,
        last_seen: opt_time_from_db(row.opt_i64("last_seen")?, "last_seen")?,
    })
}
