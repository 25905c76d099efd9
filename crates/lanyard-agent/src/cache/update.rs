//! Applying what the sync brought in one step: entries, the own bundle and federated
//! bundles change under one lock and subscribers see one new snapshot, never a state
//! halfway through a sync.

use std::collections::BTreeMap;
use std::sync::Arc;

use lanyard_spiffe::{Bundle, TrustDomain};

use super::state::State;
use super::{Cache, EntryUpdate};

/// A change to the federated bundles.
#[derive(Debug, Clone)]
pub enum FederatedUpdate {
    /// The complete set: every bundle not listed goes.
    Full(BTreeMap<TrustDomain, Bundle>),
    /// Bundles added or changed, and trust domains whose bundles go.
    Delta {
        /// Added or changed bundles.
        upserted: Vec<Bundle>,
        /// Trust domains no longer needed.
        removed: Vec<TrustDomain>,
    },
}

/// One sync's worth of changes; parts left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SyncUpdate {
    /// The change to the authorized entries.
    pub entries: Option<EntryUpdate>,
    /// The own trust domain's bundle.
    pub bundle: Option<Bundle>,
    /// The change to the federated bundles.
    pub federated: Option<FederatedUpdate>,
}

/// What [`Cache::apply_sync`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncApplied {
    /// The own bundle differs from before.
    pub bundle_changed: bool,
    /// Entries held afterwards.
    pub entries: usize,
    /// Federated bundles held afterwards.
    pub federated: usize,
}

impl Cache {
    /// Applies `update` atomically. Removed entries lose their SVIDs and JWT-SVIDs at
    /// once; subscribers see the result as one change.
    ///
    /// The own bundle given here must already be the agent's trust anchors
    /// ([`BundleKeeper::apply`](crate::node::BundleKeeper::apply)), so the agent trusts
    /// new roots no later than its workloads do.
    pub fn apply_sync(&self, update: SyncUpdate) -> SyncApplied {
        let mut state = self.lock();
        let entries_changed = update.entries.is_some();
        if let Some(entries) = update.entries {
            state.apply_entries(entries);
        }
        let bundle_changed = update
            .bundle
            .is_some_and(|bundle| state.replace_bundle(bundle));
        if let Some(federated) = update.federated {
            state.apply_federated(federated);
        }
        state.publish();
        let applied = SyncApplied {
            bundle_changed,
            entries: state.entries.len(),
            federated: state.federated.len(),
        };
        drop(state);
        if entries_changed {
            self.inner.changed.notify_one();
        }
        applied
    }
}

impl State {
    fn apply_entries(&mut self, update: EntryUpdate) {
        let mut incoming = BTreeMap::new();
        let (upserted, full) = match update {
            EntryUpdate::Full(entries) => (entries, true),
            EntryUpdate::Delta { upserted, removed } => {
                for id in removed {
                    self.entries.remove(&id);
                }
                (upserted, false)
            }
        };
        for entry in upserted {
            incoming.insert(entry.id.clone(), entry);
        }
        if full {
            self.entries.retain(|id, _| incoming.contains_key(id));
        }
        for (id, entry) in incoming {
            let unchanged = self.entries.get(&id).is_some_and(|old| **old == entry);
            if !unchanged {
                self.entries.insert(id, Arc::new(entry));
            }
        }

        let Self {
            entries,
            svids,
            jwt,
            ..
        } = self;
        svids.retain(|id, _| entries.contains_key(id));
        jwt.retain_entries(|id| entries.contains_key(id));
        metrics::gauge!(crate::health::metrics::ENTRIES).set(entries.len() as f64);
        metrics::gauge!(crate::health::metrics::CACHED_X509_SVIDS).set(svids.len() as f64);
    }

    fn replace_bundle(&mut self, bundle: Bundle) -> bool {
        if self.bundle.as_deref() == Some(&bundle) {
            return false;
        }
        self.bundle = Some(Arc::new(bundle));
        true
    }

    /// Unchanged bundles keep their `Arc`, so subscribers whose bundles did not change
    /// are not woken.
    fn apply_federated(&mut self, update: FederatedUpdate) {
        let mut next = match update {
            FederatedUpdate::Full(_) => BTreeMap::new(),
            FederatedUpdate::Delta { .. } => self.federated.clone(),
        };
        let incoming: Vec<(TrustDomain, Bundle)> = match update {
            FederatedUpdate::Full(bundles) => bundles.into_iter().collect(),
            FederatedUpdate::Delta { upserted, removed } => {
                for td in &removed {
                    next.remove(td);
                }
                upserted
                    .into_iter()
                    .map(|bundle| (bundle.trust_domain().clone(), bundle))
                    .collect()
            }
        };
        for (td, bundle) in incoming {
            let kept = self
                .federated
                .get(&td)
                .filter(|old| ***old == bundle)
                .cloned();
            next.insert(td, kept.unwrap_or_else(|| Arc::new(bundle)));
        }
        self.federated = next;
    }
}
