//! What one agent holds: its authorized entries, its trust domain's bundle and the
//! bundles of the trust domains its entries federate with, all read from the entry
//! cache. Two views make a [`Delta`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use lanyard_spiffe::{SelectorSet, SpiffeId, TrustDomain};
use lanyard_store::model::{BundleRecord, EntryId, RegistrationEntry};

use crate::cache::EntryCache;

/// An agent's authorized set as of one cache position.
#[derive(Debug, Clone)]
pub(super) struct View {
    /// The change-log position the view was computed at.
    pub(super) seq: u64,
    pub(super) entries: BTreeMap<EntryId, Arc<RegistrationEntry>>,
    pub(super) bundle: Option<Arc<BundleRecord>>,
    pub(super) federated: BTreeMap<TrustDomain, Arc<BundleRecord>>,
    /// The agent's ID and the SPIFFE IDs of the node aliases it belongs to.
    roots: HashSet<SpiffeId>,
}

/// What changed between the view an agent holds and the current one.
#[derive(Debug, Default)]
pub(super) struct Delta {
    /// The agent holds nothing: this lists everything.
    pub(super) full: bool,
    pub(super) upserted: Vec<Arc<RegistrationEntry>>,
    pub(super) removed: Vec<EntryId>,
    pub(super) bundle: Option<Arc<BundleRecord>>,
    pub(super) federated: Vec<Arc<BundleRecord>>,
    pub(super) removed_federated: Vec<TrustDomain>,
}

impl View {
    /// The view of agent `agent_id` whose node has `node_selectors`, from `cache`.
    pub(super) fn compute(
        cache: &EntryCache,
        agent_id: &SpiffeId,
        node_selectors: &SelectorSet,
        trust_domain: &TrustDomain,
    ) -> Self {
        // Read the position first: the index is at least this far along.
        let seq = cache.applied_seq();
        let (aliases, entries) = {
            let index = cache.read();
            let aliases = index.node_aliases(node_selectors);
            let roots = std::iter::once(agent_id).chain(aliases.iter().map(|a| &a.spec.spiffe_id));
            let entries = index.descendants(roots);
            (aliases, entries)
        };

        let mut roots: HashSet<SpiffeId> =
            aliases.iter().map(|a| a.spec.spiffe_id.clone()).collect();
        roots.insert(agent_id.clone());
        let federates_with: BTreeSet<TrustDomain> = entries
            .iter()
            .flat_map(|e| e.spec.federates_with.iter())
            .filter(|td| *td != trust_domain)
            .cloned()
            .collect();
        let federated = federates_with
            .iter()
            .filter_map(|td| cache.bundle(td).map(|b| (td.clone(), b)))
            .collect();
        Self {
            seq,
            entries: entries.into_iter().map(|e| (e.id.clone(), e)).collect(),
            bundle: cache.bundle(trust_domain),
            federated,
            roots,
        }
    }

    /// The agent's ID and the SPIFFE IDs of the node aliases it belongs to: what
    /// the view hangs from.
    pub(super) fn roots(&self) -> &HashSet<SpiffeId> {
        &self.roots
    }

    /// What an agent holding `held` (nothing when `None`) needs to hold `self`.
    pub(super) fn delta_from(&self, held: Option<&Self>) -> Delta {
        let Some(held) = held else {
            return Delta {
                full: true,
                upserted: self.entries.values().cloned().collect(),
                removed: Vec::new(),
                bundle: self.bundle.clone(),
                federated: self.federated.values().cloned().collect(),
                removed_federated: Vec::new(),
            };
        };

        let upserted = self
            .entries
            .iter()
            .filter(|(id, entry)| !held.entries.get(*id).is_some_and(|old| same(old, entry)))
            .map(|(_, entry)| entry.clone())
            .collect();
        let removed = held
            .entries
            .keys()
            .filter(|id| !self.entries.contains_key(*id))
            .cloned()
            .collect();
        let bundle = match (&held.bundle, &self.bundle) {
            (Some(old), Some(new)) if same(old, new) => None,
            (_, new) => new.clone(),
        };
        let federated = self
            .federated
            .iter()
            .filter(|(td, bundle)| !held.federated.get(*td).is_some_and(|old| same(old, bundle)))
            .map(|(_, bundle)| bundle.clone())
            .collect();
        let removed_federated = held
            .federated
            .keys()
            .filter(|td| !self.federated.contains_key(*td))
            .cloned()
            .collect();
        Delta {
            full: false,
            upserted,
            removed,
            bundle,
            federated,
            removed_federated,
        }
    }
}

impl Delta {
    /// Whether the agent would learn nothing from it.
    pub(super) fn is_empty(&self) -> bool {
        !self.full
            && self.upserted.is_empty()
            && self.removed.is_empty()
            && self.bundle.is_none()
            && self.federated.is_empty()
            && self.removed_federated.is_empty()
    }
}

/// Whether two cached records are equal (the same allocation, or equal content).
fn same<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}
