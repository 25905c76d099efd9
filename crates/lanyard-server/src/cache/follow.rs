//! Advancing the entry cache from the datastore's change log.

use std::collections::BTreeSet;
use std::time::Duration;

use lanyard_spiffe::{SpiffeId, TrustDomain};
use lanyard_store::model::EntryId;
use lanyard_store::{ChangeKind, ChangesSince, Store, StoreError};
use tokio_util::sync::CancellationToken;

use super::{CacheUpdate, EntryCache, EntryIndex, bundle_map};

/// Change-log rows read per round trip.
const CHANGES_PER_READ: u32 = 1000;

/// Re-check the log this often even without a wake-up, in case a notification from
/// another server was lost.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Wait this long after a datastore error before trying again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

impl EntryCache {
    /// Applies every change committed after the cache's position, in order; returns
    /// how many batches were applied. Reloads everything when the log no longer
    /// reaches back far enough.
    pub async fn catch_up(&self, store: &Store) -> Result<usize, StoreError> {
        let mut batches = 0;
        loop {
            let after = self.applied_seq();
            let changes = match store.changes_since(after, CHANGES_PER_READ).await? {
                ChangesSince::Changes(changes) => changes,
                ChangesSince::ReloadRequired => {
                    self.reload(store).await?;
                    return Ok(batches + 1);
                }
            };
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok(batches);
            };

            let mut touched = Touched::default();
            for change in &changes {
                touched.note(change.kind, &change.key);
            }
            self.apply(store, touched, last).await?;
            batches += 1;

            if changes.len() < CHANGES_PER_READ as usize {
                return Ok(batches);
            }
        }
    }

    /// Follows the change log until `shutdown` is cancelled: waits for a commit
    /// (from this process, or announced by another server), then catches up.
    pub async fn follow(self, store: std::sync::Arc<Store>, shutdown: CancellationToken) {
        let mut committed = store.subscribe();
        loop {
            committed.borrow_and_update();
            if let Err(error) = self.catch_up(&store).await {
                tracing::warn!(%error, "entry cache could not read the change log");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY_DELAY) => continue,
                }
            }

            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = committed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Replaces the whole index with a fresh snapshot.
    async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let snapshot = store.snapshot().await?;
        let seq = snapshot.seq;
        let server_id = self.read().server_id().clone();
        let index = EntryIndex::from_records(server_id, snapshot.entries, snapshot.nodes);
        tracing::info!(seq, entries = index.entry_count(), "entry cache reloaded");
        *self.write() = index;
        *self.write_bundles() = bundle_map(snapshot.bundles);
        self.publish(CacheUpdate {
            seq,
            reloaded: true,
            ..CacheUpdate::default()
        });
        Ok(())
    }

    /// Reads the current state of every touched record and applies it; a record
    /// that is gone was deleted.
    async fn apply(&self, store: &Store, touched: Touched, seq: u64) -> Result<(), StoreError> {
        // One read for the whole batch: a write of thousands of entries must not
        // cost thousands of round trips before any agent sees it.
        let ids: Vec<EntryId> = touched.entries.iter().cloned().collect();
        let mut found = store.get_entries(&ids).await?.into_iter().peekable();
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            // Both are ordered by ID; an ID without a row was deleted.
            let entry = found.next_if(|e| e.id == id);
            entries.push((id, entry));
        }
        let ids: Vec<SpiffeId> = touched.nodes.iter().cloned().collect();
        let mut found = store.get_nodes(&ids).await?.into_iter().peekable();
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            let node = found.next_if(|n| n.spiffe_id == id);
            nodes.push((id, node));
        }
        let mut bundles = Vec::with_capacity(touched.bundles.len());
        for td in &touched.bundles {
            bundles.push((td.clone(), store.get_bundle(td).await?));
        }

        let mut parents = BTreeSet::new();
        {
            let mut index = self.write();
            for (id, entry) in entries {
                if let Some(old) = index.entry(&id) {
                    note_parent(&mut parents, &old.spec.parent_id);
                }
                match entry {
                    Some(entry) => {
                        note_parent(&mut parents, &entry.spec.parent_id);
                        index.upsert_entry(entry);
                    }
                    None => {
                        index.remove_entry(&id);
                    }
                }
            }
            for (id, node) in nodes {
                match node {
                    Some(node) => index.upsert_node(node),
                    None => {
                        index.remove_node(&id);
                    }
                }
            }
        }
        {
            let mut cached = self.write_bundles();
            for (td, bundle) in bundles {
                match bundle {
                    Some(bundle) => cached.insert(td, std::sync::Arc::new(bundle)),
                    None => cached.remove(&td),
                };
            }
        }

        tracing::debug!(
            seq,
            entries = touched.entries.len(),
            nodes = touched.nodes.len(),
            "entry cache advanced"
        );
        self.publish(CacheUpdate {
            seq,
            entries: touched.entries.into_iter().collect(),
            parents: parents.into_iter().collect(),
            nodes: touched.nodes.into_iter().collect(),
            bundles: touched.bundles.into_iter().collect(),
            reloaded: false,
        });
        Ok(())
    }
}

/// Adds `parent` to `parents` unless it is there (most of a batch shares a few parents).
fn note_parent(parents: &mut BTreeSet<SpiffeId>, parent: &SpiffeId) {
    if !parents.contains(parent) {
        parents.insert(parent.clone());
    }
}

/// The distinct records a batch of changes is about.
#[derive(Default)]
struct Touched {
    entries: BTreeSet<EntryId>,
    nodes: BTreeSet<SpiffeId>,
    bundles: BTreeSet<TrustDomain>,
}

impl Touched {
    fn note(&mut self, kind: ChangeKind, key: &str) {
        let noted = match kind {
            ChangeKind::Entry => EntryId::parse(key)
                .map(|id| self.entries.insert(id))
                .is_ok(),
            ChangeKind::Node => SpiffeId::parse(key).map(|id| self.nodes.insert(id)).is_ok(),
            ChangeKind::Bundle => TrustDomain::new(key)
                .map(|td| self.bundles.insert(td))
                .is_ok(),
        };
        if !noted {
            tracing::warn!(
                kind = kind.as_str(),
                "change log names a record with an invalid key"
            );
        }
    }
}
