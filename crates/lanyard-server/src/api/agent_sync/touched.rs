//! What one cache update touched, worked out once and shared by every open stream.
//! With thousands of streams open, each stream looking up every entry of a large
//! update in the index would cost streams x entries lookups per update; with this,
//! a stream only checks its own (few) entries and roots against a set.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use lanyard_spiffe::SpiffeId;
use lanyard_store::model::EntryId;

use crate::cache::{CacheUpdate, EntryCache};

/// Updates whose [`Touched`] is kept; a stream that is further behind recomputes.
const REMEMBERED_UPDATES: usize = 8;

/// The entries, parents and nodes one update touched.
#[derive(Debug, Default)]
pub(super) struct Touched {
    /// Entries created, changed or deleted.
    pub(super) entries: HashSet<EntryId>,
    /// The parent IDs of those still in the cache, other than the server's.
    pub(super) parents: HashSet<SpiffeId>,
    /// Whether one of them is a node alias (its parent is the server).
    pub(super) node_alias: bool,
    /// Attested nodes that changed.
    pub(super) nodes: HashSet<SpiffeId>,
}

impl Touched {
    /// What `update` touched, with parents as `cache` has them now.
    pub(super) fn of(update: &CacheUpdate, cache: &EntryCache) -> Self {
        let mut touched = Self {
            entries: update.entries.iter().cloned().collect(),
            nodes: update.nodes.iter().cloned().collect(),
            ..Self::default()
        };
        if update.entries.is_empty() {
            return touched;
        }
        let index = cache.read();
        let server_id = index.server_id();
        for id in &update.entries {
            let Some(entry) = index.entry(id) else {
                continue;
            };
            let parent = &entry.spec.parent_id;
            if parent == server_id {
                touched.node_alias = true;
            } else if !touched.parents.contains(parent) {
                touched.parents.insert(parent.clone());
            }
        }
        touched
    }
}

/// The [`Touched`] of the latest updates, computed by the first stream to see each.
#[derive(Default)]
pub(super) struct TouchedMemo {
    recent: Mutex<VecDeque<(Arc<CacheUpdate>, Arc<Touched>)>>,
}

impl TouchedMemo {
    /// What `update` touched.
    pub(super) fn get(&self, update: &Arc<CacheUpdate>, cache: &EntryCache) -> Arc<Touched> {
        // Held while computing, so the other streams wait for the result instead of
        // computing it too.
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, touched)) = recent.iter().find(|(seen, _)| Arc::ptr_eq(seen, update)) {
            return Arc::clone(touched);
        }
        let touched = Arc::new(Touched::of(update, cache));
        if recent.len() == REMEMBERED_UPDATES {
            recent.pop_front();
        }
        recent.push_back((Arc::clone(update), Arc::clone(&touched)));
        touched
    }
}

#[cfg(test)]
mod tests {
    use lanyard_store::Snapshot;

    use super::*;

    fn update(seq: u64) -> Arc<CacheUpdate> {
        Arc::new(CacheUpdate {
            seq,
            entries: vec![EntryId::parse("gone").expect("entry id")],
            ..CacheUpdate::default()
        })
    }

    #[test]
    fn each_update_is_worked_out_once_for_all_streams() {
        let server = SpiffeId::parse("spiffe://example.org/spire/server").expect("id");
        let snapshot = Snapshot {
            seq: 0,
            entries: Vec::new(),
            nodes: Vec::new(),
            bundles: Vec::new(),
        };
        let cache = EntryCache::from_snapshot(server, snapshot);
        let memo = TouchedMemo::default();
        let first = update(1);
        let a = memo.get(&first, &cache);
        let b = memo.get(&first, &cache);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(
            a.entries
                .contains(&EntryId::parse("gone").expect("entry id"))
        );
        assert!(a.parents.is_empty(), "a deleted entry has no parent left");
        for seq in 2..=REMEMBERED_UPDATES as u64 {
            memo.get(&update(seq), &cache);
        }
        assert!(
            Arc::ptr_eq(&a, &memo.get(&first, &cache)),
            "still remembered"
        );
        memo.get(&update(99), &cache);
        memo.get(&update(100), &cache);
        assert!(!Arc::ptr_eq(&a, &memo.get(&first, &cache)), "recomputed");
    }
}
