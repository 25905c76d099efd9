//! Reading every entry (a full load of the entry cache) in chunks of consecutive IDs.
//!
//! Each chunk is one value holding the entries with their selectors (see `framed`).
//! DNS names and federated trust domains, which few entries have, are read per
//! chunk by ID range. Chunks bound what is held at once, so the peak memory of a
//! load is the result plus one chunk.

use lanyard_spiffe::{Selector, SelectorSet};

use crate::StoreError;
use crate::backend::{Conn, DbRow, args};
use crate::model::RegistrationEntry;
use crate::sql::parse_db;

use super::framed;

/// Entries per chunk.
#[cfg(not(test))]
const CHUNK: usize = 5000;
#[cfg(test)]
const CHUNK: usize = 3;

/// Every entry, ordered by ID.
pub(crate) async fn all<C: Conn>(conn: &mut C) -> Result<Vec<RegistrationEntry>, StoreError> {
    let row = conn
        .fetch_optional("SELECT COUNT(*) AS n FROM registration_entries", vec![])
        .await?;
    let count = row.map(|r| r.i64("n")).transpose()?.unwrap_or(0);
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));

    // IDs are never empty, so "" sorts before the first one.
    let mut after = String::new();
    loop {
        let chunk = chunk(conn, &after).await?;
        let Some(last) = chunk.last() else {
            break;
        };
        after = last.id.as_str().to_owned();
        let full = chunk.len() == CHUNK;
        entries.extend(chunk);
        if !full {
            break;
        }
    }
    Ok(entries)
}

/// Up to [`CHUNK`] entries with IDs after `after`, ordered by ID, complete.
async fn chunk<C: Conn>(conn: &mut C, after: &str) -> Result<Vec<RegistrationEntry>, StoreError> {
    let limit = i64::try_from(CHUNK).unwrap_or(i64::MAX);
    let row = conn
        .fetch_optional(&framed::chunk_sql(), args![after, limit])
        .await?;
    let mut entries: Vec<RegistrationEntry> = Vec::with_capacity(CHUNK);
    if let Some(text) = row.map(|r| r.opt_text("chunk")).transpose()?.flatten() {
        framed::decode(&text, &mut entries)?;
    }
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(entries);
    };
    let range = args![first.id.as_str(), last.id.as_str()];

    let dns = conn
        .fetch_all(
            "SELECT entry_id, dns_name FROM entry_dns_names \
             WHERE entry_id >= $1 AND entry_id <= $2 ORDER BY entry_id, position",
            range.clone(),
        )
        .await?;
    let federated = conn
        .fetch_all(
            "SELECT entry_id, trust_domain FROM entry_federates_with \
             WHERE entry_id >= $1 AND entry_id <= $2",
            range,
        )
        .await?;
    if dns.is_empty() && federated.is_empty() {
        return Ok(entries);
    }

    let position = super::read::positions(&entries);
    for row in &dns {
        if let Some(&i) = position.get(&row.text("entry_id")?) {
            entries[i].spec.dns_names.push(row.text("dns_name")?);
        }
    }
    for row in &federated {
        if let Some(&i) = position.get(&row.text("entry_id")?) {
            let td = parse_db(
                &row.text("trust_domain")?,
                "entry_federates_with.trust_domain",
            )?;
            entries[i].spec.federates_with.insert(td);
        }
    }
    Ok(entries)
}

/// The set of `selectors`, holding no spare capacity (the cache keeps it for long).
pub(super) fn selector_set(mut selectors: Vec<Selector>) -> SelectorSet {
    selectors.shrink_to_fit();
    SelectorSet::from(selectors)
}

#[cfg(test)]
mod tests {
    use lanyard_spiffe::{Selector, SelectorSet, SpiffeId};

    use crate::model::{EntrySpec, NewEntry};
    use crate::{Store, StoreConfig};

    fn spec(i: usize) -> EntrySpec {
        let id = |path: &str| SpiffeId::parse(&format!("spiffe://example.org{path}")).unwrap();
        let selectors: Vec<Selector> = (0..i % 3)
            .map(|k| Selector::new("unix", &format!("uid:{k}")).unwrap())
            .chain([Selector::new("k8s", &format!("ns:{i}")).unwrap()])
            .collect();
        let mut spec = EntrySpec::new(
            id(&format!("/w/{i}")),
            id("/agent"),
            SelectorSet::from(selectors),
        );
        spec.dns_names = (0..i % 2).map(|k| format!("d{k}.w{i}.example")).collect();
        spec
    }

    #[tokio::test]
    async fn chunks_read_the_same_entries_as_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::sqlite_in(dir.path()))
            .await
            .unwrap();
        let batch: Vec<NewEntry> = (0..3 * super::CHUNK + 2)
            .map(|i| NewEntry {
                id: None,
                spec: spec(i),
            })
            .collect();
        for result in store.create_entries(&batch).await.unwrap() {
            result.unwrap();
        }

        let all = store.list_all_entries().await.unwrap();
        let ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
        assert_eq!(all.len(), batch.len());
        assert_eq!(all, store.get_entries(&ids).await.unwrap());
        // Entries with several selectors and DNS names, across chunk boundaries.
        assert!(
            all.iter()
                .any(|e| e.spec.selectors.len() == 3 && !e.spec.dns_names.is_empty())
        );
    }
}
