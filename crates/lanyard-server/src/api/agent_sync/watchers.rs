//! Which open push streams a cache update concerns. Each stream registers its roots
//! (its agent's ID and the SPIFFE IDs of the node aliases its node belongs to); one
//! dispatcher task reads every cache update and wakes only the streams it can
//! concern, so a change for one node costs one wake-up, not one per connected agent.
//!
//! An update concerns a stream when a root of the stream is the parent an entry had
//! before or after the change, or is above that parent (the parent is the SPIFFE ID
//! of an entry under the root, and so on); when it changed the stream's node; or
//! when every stream must look: a reload, a bundle change, a node alias change.
//! Wake-ups coalesce: a stream woken several times before it runs recomputes once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use lanyard_spiffe::SpiffeId;
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::cache::{CacheUpdate, EntryCache};

/// The open streams and the dispatcher that wakes them.
#[derive(Default)]
pub(super) struct Watchers {
    registry: Mutex<Registry>,
    dispatching: OnceLock<()>,
}

/// What a woken stream must read again before it recomputes its view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reread {
    /// Only the entries and bundles.
    Entries,
    /// Its node too, from the cache (the node changed, or the cache reloaded).
    NodeFromCache,
    /// Its node from the datastore: updates were missed, nothing is known of them.
    NodeFromStore,
}

/// One open stream's place among the watchers; dropping it unregisters the stream.
pub(super) struct Registration {
    watchers: Arc<Watchers>,
    watch: Arc<Watch>,
}

impl Watchers {
    /// Registers a stream of agent `agent_id`, with the agent's ID as its only root
    /// for now. Updates applied to `cache` from here on wake it when they concern it.
    pub(super) fn register(
        self: &Arc<Self>,
        cache: &EntryCache,
        agent_id: &SpiffeId,
    ) -> Registration {
        self.start_dispatching(cache);

        let mut registry = self.lock();
        registry.next_id += 1;
        let watch = Arc::new(Watch {
            id: registry.next_id,
            wake: Notify::new(),
            node_changed: AtomicBool::new(false),
            lagged: AtomicBool::new(false),
        });
        let roots = vec![agent_id.clone()];
        registry.add_roots(&watch, &roots);
        registry
            .streams
            .insert(watch.id, (Arc::clone(&watch), roots));
        Registration {
            watchers: Arc::clone(self),
            watch,
        }
    }

    /// Wakes the streams `update` concerns.
    pub(super) fn wake_for(&self, update: &CacheUpdate, cache: &EntryCache) {
        let above = {
            let index = cache.read();
            let everyone = update.reloaded
                || !update.bundles.is_empty()
                || update.parents.contains(index.server_id());
            (!everyone).then(|| index.ancestors(&update.parents))
        };

        let registry = self.lock();
        for node in &update.nodes {
            for watch in registry.by_root.get(node).into_iter().flatten() {
                watch.node_changed.store(true, Ordering::Release);
                watch.wake.notify_one();
            }
        }
        match above {
            // A reload, a bundle or a node alias: any stream may hold or gain it.
            None => registry.wake_all(|watch| {
                if update.reloaded {
                    watch.node_changed.store(true, Ordering::Release);
                }
            }),
            Some(above) => {
                for id in &above {
                    for watch in registry.by_root.get(id).into_iter().flatten() {
                        watch.wake.notify_one();
                    }
                }
            }
        }
    }

    /// Whether exactly `streams` streams are registered, and nothing else is.
    #[cfg(test)]
    pub(super) fn is_empty_but_for(&self, streams: usize) -> bool {
        let registry = self.lock();
        let roots: usize = registry
            .streams
            .values()
            .map(|(_, roots)| roots.len())
            .sum();
        let registered: usize = registry.by_root.values().map(Vec::len).sum();
        registry.streams.len() == streams && roots == registered
    }

    /// Starts the dispatcher on the first registration (inside the runtime).
    fn start_dispatching(self: &Arc<Self>, cache: &EntryCache) {
        self.dispatching.get_or_init(|| {
            // Subscribed here, before the first stream reads the cache.
            let updates = cache.subscribe_updates();
            tokio::spawn(dispatch(Arc::downgrade(self), cache.clone(), updates));
        });
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every change to the registry is a whole step; a panic cannot leave half of one.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Registration {
    /// Waits until an update may have changed the stream's view; says what to re-read.
    pub(super) async fn woken(&self) -> Reread {
        self.watch.wake.notified().await;
        let lagged = self.watch.lagged.swap(false, Ordering::Acquire);
        let node_changed = self.watch.node_changed.swap(false, Ordering::Acquire);
        if lagged {
            Reread::NodeFromStore
        } else if node_changed {
            Reread::NodeFromCache
        } else {
            Reread::Entries
        }
    }

    /// Makes `roots` the stream's roots; returns whether they changed.
    pub(super) fn set_roots(&self, roots: &HashSet<SpiffeId>) -> bool {
        let mut registry = self.watchers.lock();
        let Some((_, held)) = registry.streams.get(&self.watch.id) else {
            return false;
        };
        if held.len() == roots.len() && held.iter().all(|root| roots.contains(root)) {
            return false;
        }

        let old = held.clone();
        let new: Vec<SpiffeId> = roots.iter().cloned().collect();
        registry.remove_roots(self.watch.id, &old);
        registry.add_roots(&self.watch, &new);
        if let Some((_, held)) = registry.streams.get_mut(&self.watch.id) {
            *held = new;
        }
        true
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.watchers.lock();
        if let Some((_, roots)) = registry.streams.remove(&self.watch.id) {
            registry.remove_roots(self.watch.id, &roots);
        }
    }
}

/// One stream's wake-up, and what its waker found.
struct Watch {
    id: u64,
    wake: Notify,
    node_changed: AtomicBool,
    lagged: AtomicBool,
}

/// Streams by ID (with the roots each is registered under) and by root.
#[derive(Default)]
struct Registry {
    next_id: u64,
    streams: HashMap<u64, (Arc<Watch>, Vec<SpiffeId>)>,
    by_root: HashMap<SpiffeId, Vec<Arc<Watch>>>,
}

impl Registry {
    fn wake_all(&self, mark: impl Fn(&Watch)) {
        tracing::debug!(streams = self.streams.len(), "waking every push stream");
        for (watch, _) in self.streams.values() {
            mark(watch);
            watch.wake.notify_one();
        }
    }

    fn add_roots(&mut self, watch: &Arc<Watch>, roots: &[SpiffeId]) {
        for root in roots {
            self.by_root
                .entry(root.clone())
                .or_default()
                .push(Arc::clone(watch));
        }
    }

    fn remove_roots(&mut self, id: u64, roots: &[SpiffeId]) {
        for root in roots {
            if let Some(watches) = self.by_root.get_mut(root) {
                watches.retain(|watch| watch.id != id);
                if watches.is_empty() {
                    self.by_root.remove(root);
                }
            }
        }
    }
}

/// Reads every cache update and wakes the streams it concerns, until the watchers
/// are gone.
async fn dispatch(
    watchers: Weak<Watchers>,
    cache: EntryCache,
    mut updates: broadcast::Receiver<Arc<CacheUpdate>>,
) {
    loop {
        let received = updates.recv().await;
        let Some(watchers) = watchers.upgrade() else {
            return;
        };
        match received {
            Ok(update) => watchers.wake_for(&update, &cache),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "push stream dispatcher lagged");
                watchers
                    .lock()
                    .wake_all(|watch| watch.lagged.store(true, Ordering::Release));
            }
            Err(RecvError::Closed) => return,
        }
    }
}
