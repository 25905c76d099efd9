//! The in-memory entry cache: one full load from the datastore at start, then
//! advanced from the change log, so agent authorization never scans the database.
//!
//! Readers take a consistent view through [`EntryCache::read`]; the follower task
//! ([`EntryCache::follow`]) applies committed changes in sequence order and announces
//! each batch on [`EntryCache::subscribe_updates`], which is what a push stream to
//! agents listens to. Trust bundles (ours and federated ones) are cached beside the
//! index, so a push stream never reads the datastore for them. Attested nodes are
//! cached too, and the agent endpoint authenticates from them (the `nodes` module
//! says when it must read the datastore instead).

mod follow;
mod hashed;
mod index;
mod nodes;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use lanyard_spiffe::{SpiffeId, TrustDomain};
use lanyard_store::model::{BundleRecord, EntryId, RegistrationEntry};
use lanyard_store::{Snapshot, Store, StoreError};
use tokio::sync::{broadcast, watch};

pub use index::EntryIndex;
pub use nodes::NODE_READS_METRIC;

/// How many update notices a slow subscriber may fall behind before it is told it
/// lagged (and must re-read what it serves).
const UPDATE_CHANNEL_CAPACITY: usize = 1024;

/// The records one applied batch of changes touched, and the change-log position
/// the cache reached with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheUpdate {
    /// The last change-log sequence number now reflected in the cache.
    pub seq: u64,
    /// Entries created, updated or deleted.
    pub entries: Vec<EntryId>,
    /// The parent IDs those entries had before the change and have after it (a
    /// deleted entry's parent, and both parents of a moved one, are here).
    pub parents: Vec<SpiffeId>,
    /// Attested nodes created, updated or deleted (their selectors may have changed).
    pub nodes: Vec<SpiffeId>,
    /// Bundles whose content changed.
    pub bundles: Vec<TrustDomain>,
    /// The whole cache was reloaded; every subscriber should re-read everything.
    pub reloaded: bool,
}

/// Trust bundles by trust domain.
type BundleMap = HashMap<TrustDomain, Arc<BundleRecord>>;

/// A shared handle to the entry cache.
#[derive(Clone)]
pub struct EntryCache {
    inner: Arc<Inner>,
}

struct Inner {
    index: RwLock<EntryIndex>,
    bundles: RwLock<BundleMap>,
    applied: watch::Sender<u64>,
    updates: broadcast::Sender<Arc<CacheUpdate>>,
}

impl EntryCache {
    /// Builds the cache from one snapshot of the datastore.
    pub async fn load(store: &Store, server_id: SpiffeId) -> Result<Self, StoreError> {
        let snapshot = store.snapshot().await?;
        Ok(Self::from_snapshot(server_id, snapshot))
    }

    /// Builds the cache from a snapshot already read.
    pub fn from_snapshot(server_id: SpiffeId, snapshot: Snapshot) -> Self {
        let seq = snapshot.seq;
        let index = EntryIndex::from_records(server_id, snapshot.entries, snapshot.nodes);
        metrics::gauge!("lanyard_server_entries").set(index.entry_count() as f64);
        Self {
            inner: Arc::new(Inner {
                index: RwLock::new(index),
                bundles: RwLock::new(bundle_map(snapshot.bundles)),
                applied: watch::channel(seq).0,
                updates: broadcast::channel(UPDATE_CHANNEL_CAPACITY).0,
            }),
        }
    }

    /// A read view of the index. Hold it briefly: writers wait for it.
    pub fn read(&self) -> RwLockReadGuard<'_, EntryIndex> {
        // The index is only modified by plain map operations that cannot panic
        // half-way, so a poisoned lock still guards a consistent index.
        self.inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The entries agent `agent_id` may serve when its node has `node_selectors`.
    pub fn authorized_entries(
        &self,
        agent_id: &SpiffeId,
        node_selectors: &lanyard_spiffe::SelectorSet,
    ) -> Vec<Arc<RegistrationEntry>> {
        self.read().authorized_entries(agent_id, node_selectors)
    }

    /// The entries agent `agent_id` may serve, with its node's selectors as cached.
    pub fn authorized_entries_for_agent(&self, agent_id: &SpiffeId) -> Vec<Arc<RegistrationEntry>> {
        self.read().authorized_entries_for_agent(agent_id)
    }

    /// The entry `id` if agent `agent_id` may serve it when its node has
    /// `node_selectors` (without building the whole authorized set).
    pub fn authorized_entry(
        &self,
        agent_id: &SpiffeId,
        node_selectors: &lanyard_spiffe::SelectorSet,
        id: &EntryId,
    ) -> Option<Arc<RegistrationEntry>> {
        self.read().authorized_entry(agent_id, node_selectors, id)
    }

    /// The bundle of trust domain `td` as of the last applied change.
    pub fn bundle(&self, td: &TrustDomain) -> Option<Arc<BundleRecord>> {
        self.inner
            .bundles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(td)
            .cloned()
    }

    /// The last change-log sequence number applied to the cache.
    pub fn applied_seq(&self) -> u64 {
        *self.inner.applied.borrow()
    }

    /// Watches the applied sequence number (e.g. to wait until a write is visible).
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.inner.applied.subscribe()
    }

    /// Receives one notice per applied batch of changes.
    pub fn subscribe_updates(&self) -> broadcast::Receiver<Arc<CacheUpdate>> {
        self.inner.updates.subscribe()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, EntryIndex> {
        self.inner
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_bundles(&self) -> std::sync::RwLockWriteGuard<'_, BundleMap> {
        self.inner
            .bundles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, update: CacheUpdate) {
        let count = self.read().entry_count();
        metrics::gauge!("lanyard_server_entries").set(count as f64);
        self.inner.applied.send_replace(update.seq);
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.inner.updates.send(Arc::new(update));
    }
}

/// The bundles of a full load, by trust domain.
fn bundle_map(bundles: Vec<BundleRecord>) -> BundleMap {
    bundles
        .into_iter()
        .map(|b| (b.trust_domain.clone(), Arc::new(b)))
        .collect()
}

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;
