//! Reading entries: rows plus their selectors, DNS names and federated trust domains.

use std::collections::HashMap;

use lanyard_spiffe::{Selector, SelectorSet};

use crate::StoreError;
use crate::backend::{Conn, DbRow, Value};
use crate::model::{EntryFilter, EntryId, EntrySpec, Page, PageRequest, RegistrationEntry};
use crate::sql::{
    Where, opt_time_from_db, page_token, page_token_key, parse_db, time_from_db, u64_from_db,
};

/// IDs per `IN (...)` list.
pub(crate) const IN_CHUNK: usize = crate::sql::PARAMETERS_PER_STATEMENT;

const COLUMNS: &str = "e.id, e.spiffe_id, e.parent_id, e.x509_svid_ttl, e.jwt_svid_ttl, \
     e.admin, e.downstream, e.hint, e.expires_at, e.revision_number, e.store_svid, \
     e.jwt_svid_include_jti, e.disable_x509_svid_prefetch, e.created_at";

pub(crate) async fn get<C: Conn>(
    conn: &mut C,
    id: &EntryId,
) -> Result<Option<RegistrationEntry>, StoreError> {
    let mut w = Where::default();
    let p = w.arg(id.as_str());
    w.and(format!("e.id = {p}"));
    Ok(load(conn, &w, None).await?.pop())
}

/// The entries with these IDs that exist, ordered by ID.
pub(crate) async fn get_many<C: Conn>(
    conn: &mut C,
    ids: &[EntryId],
) -> Result<Vec<RegistrationEntry>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let mut w = Where::default();
        let list: Vec<String> = chunk.iter().map(|id| w.arg(id.as_str())).collect();
        w.and(format!("e.id IN ({})", list.join(", ")));
        found.extend(load(conn, &w, None).await?);
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|a, b| a.id == b.id);
    Ok(found)
}

/// Whether an entry with this ID exists.
pub(crate) async fn exists<C: Conn>(conn: &mut C, id: &EntryId) -> Result<bool, StoreError> {
    let row = conn
        .fetch_optional(
            "SELECT 1 AS found FROM registration_entries WHERE id = $1",
            vec![id.as_str().into()],
        )
        .await?;
    Ok(row.is_some())
}

/// Every entry, ordered by ID.
pub(crate) async fn all<C: Conn>(conn: &mut C) -> Result<Vec<RegistrationEntry>, StoreError> {
    super::scan::all(conn).await
}

pub(crate) async fn count<C: Conn>(conn: &mut C, filter: &EntryFilter) -> Result<u64, StoreError> {
    let w = filter_where(filter)?;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM registration_entries e{}",
        w.sql()
    );
    let row = conn.fetch_optional(&sql, w.args).await?;
    let n = row.map(|r| r.i64("n")).transpose()?.unwrap_or(0);
    u64_from_db(n, "count")
}

pub(crate) async fn list<C: Conn>(
    conn: &mut C,
    filter: &EntryFilter,
    page: &PageRequest,
) -> Result<Page<RegistrationEntry>, StoreError> {
    let mut w = filter_where(filter)?;
    if let Some(token) = &page.page_token {
        let p = w.arg(page_token_key(token)?);
        w.and(format!("e.id > {p}"));
    }

    // One row more than asked tells whether another page follows.
    let limit = (page.page_size > 0).then(|| i64::from(page.page_size) + 1);
    let mut items = load(conn, &w, limit).await?;
    let mut next_page_token = None;
    if page.page_size > 0 && items.len() > page.page_size as usize {
        items.truncate(page.page_size as usize);
        next_page_token = items.last().map(|e| page_token(e.id.as_str()));
    }
    Ok(Page {
        items,
        next_page_token,
    })
}

/// The WHERE clause (over `registration_entries e`) for a filter.
pub(crate) fn filter_where(filter: &EntryFilter) -> Result<Where, StoreError> {
    let mut w = Where::default();
    if let Some(id) = &filter.by_spiffe_id {
        let p = w.arg(id.as_str());
        w.and(format!("e.spiffe_id = {p}"));
    }
    if let Some(id) = &filter.by_parent_id {
        let p = w.arg(id.as_str());
        w.and(format!("e.parent_id = {p}"));
    }
    if let Some(hint) = &filter.by_hint {
        let p = w.arg(hint.as_str());
        w.and(format!("e.hint = {p}"));
    }
    if let Some(downstream) = filter.by_downstream {
        let p = w.arg(downstream);
        w.and(format!("e.downstream = {p}"));
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
            "entry_selectors",
            "entry_id",
            "e.id",
            &["type", "value"],
            &members,
            f.mode,
        );
    }
    if let Some(f) = &filter.by_federates_with {
        if f.trust_domains.is_empty() {
            return Err(StoreError::InvalidArgument(
                "federates-with filter is empty",
            ));
        }
        let members: Vec<Vec<String>> = f
            .trust_domains
            .iter()
            .map(|td| vec![td.as_str().to_owned()])
            .collect();
        w.set_match(
            "entry_federates_with",
            "entry_id",
            "e.id",
            &["trust_domain"],
            &members,
            f.mode,
        );
    }
    Ok(w)
}

/// The entries selected by `w`, ordered by ID, at most `limit`, with their children.
async fn load<C: Conn>(
    conn: &mut C,
    w: &Where,
    limit: Option<i64>,
) -> Result<Vec<RegistrationEntry>, StoreError> {
    let mut args = w.args.clone();
    let mut selected = format!("FROM registration_entries e{} ORDER BY e.id", w.sql());
    if let Some(limit) = limit {
        args.push(Value::I64(limit));
        selected.push_str(&format!(" LIMIT ${}", args.len()));
    }
    let ids = format!("SELECT e.id {selected}");

    let rows = conn
        .fetch_all(&format!("SELECT {COLUMNS} {selected}"), args.clone())
        .await?;
    let mut entries = rows
        .iter()
        .map(entry_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Ok(entries);
    }
    let index = positions(&entries);
    let find = |row: &C::Row| -> Result<Option<usize>, StoreError> {
        Ok(index.get(&row.text("entry_id")?).copied())
    };

    let sql =
        format!("SELECT entry_id, type, value FROM entry_selectors WHERE entry_id IN ({ids})");
    let mut selectors: Vec<Vec<Selector>> = vec![Vec::new(); entries.len()];
    for row in conn.fetch_all(&sql, args.clone()).await? {
        if let Some(i) = find(&row)? {
            let selector = Selector::new(&row.text("type")?, &row.text("value")?)
                .map_err(|_| StoreError::Corrupt("entry_selectors"))?;
            selectors[i].push(selector);
        }
    }
    for (entry, set) in entries.iter_mut().zip(selectors) {
        entry.spec.selectors = super::scan::selector_set(set);
    }

    let sql = format!(
        "SELECT entry_id, dns_name FROM entry_dns_names WHERE entry_id IN ({ids}) \
         ORDER BY entry_id, position"
    );
    for row in conn.fetch_all(&sql, args.clone()).await? {
        if let Some(i) = find(&row)? {
            entries[i].spec.dns_names.push(row.text("dns_name")?);
        }
    }

    let sql = format!(
        "SELECT entry_id, trust_domain FROM entry_federates_with WHERE entry_id IN ({ids})"
    );
    for row in conn.fetch_all(&sql, args).await? {
        if let Some(i) = find(&row)? {
            let td = parse_db(
                &row.text("trust_domain")?,
                "entry_federates_with.trust_domain",
            )?;
            entries[i].spec.federates_with.insert(td);
        }
    }
    Ok(entries)
}

fn entry_from_row<R: DbRow>(row: &R) -> Result<RegistrationEntry, StoreError> {
    let ttl = |col: &'static str| -> Result<u32, StoreError> {
        u32::try_from(row.i64(col)?).map_err(|_| StoreError::Corrupt(col))
    };
    let mut spec = EntrySpec::new(
        parse_db(&row.text("spiffe_id")?, "registration_entries.spiffe_id")?,
        parse_db(&row.text("parent_id")?, "registration_entries.parent_id")?,
        SelectorSet::new(),
    );
    spec.x509_svid_ttl = ttl("x509_svid_ttl")?;
    spec.jwt_svid_ttl = ttl("jwt_svid_ttl")?;
    spec.admin = row.bool("admin")?;
    spec.downstream = row.bool("downstream")?;
    spec.hint = row.text("hint")?;
    spec.expires_at = opt_time_from_db(row.opt_i64("expires_at")?, "expires_at")?;
    spec.store_svid = row.bool("store_svid")?;
    spec.jwt_svid_include_jti = row.bool("jwt_svid_include_jti")?;
    spec.disable_x509_svid_prefetch = row.bool("disable_x509_svid_prefetch")?;

    Ok(RegistrationEntry {
        id: parse_db(&row.text("id")?, "registration_entries.id")?,
        revision_number: u64_from_db(row.i64("revision_number")?, "revision_number")?,
        created_at: time_from_db(row.i64("created_at")?, "created_at")?,
        spec,
    })
}

/// Where each entry of `entries` is, by ID text (to attach child rows read apart).
pub(super) fn positions(entries: &[RegistrationEntry]) -> HashMap<String, usize> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str().to_owned(), i))
        .collect()
}
