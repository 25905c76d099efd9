//! The agent's cache of authorized entries, their X.509-SVIDs, JWT-SVIDs and bundles,
//! and the API the Workload API and SDS are built on.
//!
//! # For the Workload API and SDS
//!
//! - [`Cache::subscribe`] with the selectors workload attestation produced returns a
//!   `watch::Receiver` whose value is the workload's current [`WorkloadSnapshot`]: every
//!   identity whose entry selectors are all among the given selectors (entry, chain
//!   leaf first, PKCS#8 key, expiry, hint, `federates_with`), the own bundle, and the
//!   federated bundles those entries federate with. A new value is sent on every change
//!   that affects the workload (SVID rotation, entry added/changed/removed, bundle
//!   change); compare nothing, just resend the snapshot. Receivers may be dropped at
//!   any time; the cache forgets a selector set once nobody watches it.
//! - [`Cache::snapshot`] is the same value once, for unary calls.
//! - [`Cache::jwt_svid`] returns a JWT-SVID for an entry and audience set, minted by the
//!   server on demand and reused until half its lifetime has passed; callers missing
//!   the same entry and audiences at the same time share one server call. Call it only
//!   with entry IDs from the caller's own snapshot: the cache does not know who is
//!   calling.
//! - [`Cache::bundles`] / [`Cache::subscribe_bundles`] give every bundle the agent holds
//!   (for `ValidateJWTSVID` and unauthenticated verifiers).
//! - [`Cache::is_serving`] turns false when the agent lost its identity for good; every
//!   snapshot is then empty.
//!
//! # For the agent itself
//!
//! The sync task feeds entries and bundles in, a whole sync at once
//! ([`Cache::apply_sync`]; [`Cache::update_entries`], [`Cache::set_bundle`] and
//! [`Cache::set_federated_bundles`] change one part); the minter
//! ([`minter::run_x509_minter`]) keeps an X.509-SVID for every entry, renewed at
//! half-life with jitter.

mod jwt;
pub mod minter;
mod signer;
mod snapshot;
mod state;
mod update;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use lanyard_spiffe::{Bundle, SelectorSet, TrustDomain};
use tokio::sync::{Notify, watch};

pub use signer::{BoxFuture, GrpcSvidSigner, SvidSigner, X509SvidRequest, X509SvidResult};
pub use snapshot::{Bundles, JwtSvid, WorkloadIdentity, WorkloadSnapshot, WorkloadSvid};
pub use update::{FederatedUpdate, SyncApplied, SyncUpdate};

use crate::convert::Entry;
use state::State;

/// Why a JWT-SVID could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No audience was given.
    #[error("at least one audience is required")]
    NoAudience,
    /// The entry is not (or no longer) authorized for this agent.
    #[error("entry {0} is not known to the agent")]
    UnknownEntry(String),
    /// The agent stopped serving identities (it was evicted or banned).
    #[error("the agent is not serving identities")]
    NotServing,
    /// The server refused or failed to mint.
    #[error("the server could not mint the jwt-svid")]
    Server(#[source] tonic::Status),
}

/// A change to the set of authorized entries.
#[derive(Debug, Clone)]
pub enum EntryUpdate {
    /// The complete set: every entry not listed goes.
    Full(Vec<Entry>),
    /// Entries added or changed, and entry IDs removed.
    Delta {
        /// Added or changed entries.
        upserted: Vec<Entry>,
        /// Removed entry IDs.
        removed: Vec<String>,
    },
}

/// The shared cache. Cloning is cheap; every clone is the same cache.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    trust_domain: TrustDomain,
    signer: Arc<dyn SvidSigner>,
    state: Mutex<State>,
    changed: Notify,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("trust_domain", &self.inner.trust_domain)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// An empty cache for `trust_domain` that mints through `signer`; at most
    /// `x509_max` X.509-SVIDs beyond those subscribers use, at most `jwt_max` JWT-SVIDs.
    pub fn new(
        trust_domain: TrustDomain,
        signer: Arc<dyn SvidSigner>,
        x509_max: usize,
        jwt_max: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                trust_domain,
                signer,
                state: Mutex::new(State::new(x509_max, jwt_max)),
                changed: Notify::new(),
            }),
        }
    }

    /// The agent's trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.inner.trust_domain
    }

    /// Watches what a workload with `selectors` is entitled to. The receiver holds the
    /// current snapshot at once and sees every later change.
    pub fn subscribe(&self, selectors: SelectorSet) -> watch::Receiver<Arc<WorkloadSnapshot>> {
        let mut state = self.lock();
        let (receiver, watched_before) = match state.subscribers.get(&selectors) {
            Some(sender) => (sender.subscribe(), sender.receiver_count() > 1),
            None => {
                let snapshot = Arc::new(state.snapshot_for(&selectors));
                let (sender, receiver) = watch::channel(snapshot);
                state.subscribers.insert(selectors, sender);
                (receiver, false)
            }
        };
        drop(state);
        // A selector set nobody watched may need SVIDs the size bound held back; one
        // already watched changes nothing for the minter, which need not wake.
        if !watched_before {
            self.inner.changed.notify_one();
        }
        receiver
    }

    /// What a workload with `selectors` is entitled to now.
    pub fn snapshot(&self, selectors: &SelectorSet) -> Arc<WorkloadSnapshot> {
        Arc::new(self.lock().snapshot_for(selectors))
    }

    /// Every bundle the agent holds now.
    pub fn bundles(&self) -> Arc<Bundles> {
        self.lock().bundle_watch.borrow().clone()
    }

    /// Watches every bundle the agent holds.
    pub fn subscribe_bundles(&self) -> watch::Receiver<Arc<Bundles>> {
        self.lock().bundle_watch.subscribe()
    }

    /// Whether the agent serves identities (false once it lost its own for good).
    pub fn is_serving(&self) -> bool {
        self.lock().serving
    }

    /// Applies a change to the authorized entries. SVIDs and JWT-SVIDs of removed
    /// entries are dropped at once; subscribers see the change.
    pub fn update_entries(&self, update: EntryUpdate) {
        self.apply_sync(SyncUpdate {
            entries: Some(update),
            ..SyncUpdate::default()
        });
    }

    /// The authorized entries, by ID.
    pub fn entries(&self) -> BTreeMap<String, Arc<Entry>> {
        self.lock().entries.clone()
    }

    /// Replaces the own trust domain's bundle; returns whether it changed.
    pub fn set_bundle(&self, bundle: Bundle) -> bool {
        self.apply_sync(SyncUpdate {
            bundle: Some(bundle),
            ..SyncUpdate::default()
        })
        .bundle_changed
    }

    /// Replaces the federated bundles (bundles not given are dropped).
    pub fn set_federated_bundles(&self, bundles: BTreeMap<TrustDomain, Bundle>) {
        self.apply_sync(SyncUpdate {
            federated: Some(FederatedUpdate::Full(bundles)),
            ..SyncUpdate::default()
        });
    }

    /// Trust domains some authorized entry federates with.
    pub fn federated_trust_domains(&self) -> BTreeSet<TrustDomain> {
        self.lock().federated_trust_domains()
    }

    /// Stops serving identities: every entry, SVID, JWT-SVID and bundle is dropped and
    /// every subscriber gets an empty snapshot. Used when the server evicted or banned
    /// the agent and it cannot attest again.
    pub fn stop_serving(&self) {
        let mut state = self.lock();
        state.serving = false;
        state.entries.clear();
        state.svids.clear();
        state.jwt.clear();
        state.bundle = None;
        state.federated.clear();
        state.publish();
    }

    /// Stores a freshly minted SVID for `entry_id`, unless the entry went away or
    /// changed identity meanwhile.
    pub(crate) fn store_svid(&self, entry_id: &str, svid: WorkloadSvid) {
        let mut state = self.lock();
        let Some(entry) = state.entries.get(entry_id) else {
            return;
        };
        if entry.spiffe_id != svid.spiffe_id || !state.serving {
            return;
        }
        state.svids.insert(entry_id.to_owned(), Arc::new(svid));
        metrics::gauge!(crate::health::metrics::CACHED_X509_SVIDS).set(state.svids.len() as f64);
        state.publish();
    }

    pub(crate) fn due_for_svid(&self, now: SystemTime) -> Vec<Arc<Entry>> {
        self.lock().due_for_svid(now)
    }

    pub(crate) fn next_renewal(&self) -> Option<SystemTime> {
        self.lock().next_renewal()
    }

    pub(crate) fn signer(&self) -> Arc<dyn SvidSigner> {
        Arc::clone(&self.inner.signer)
    }

    /// Resolves when entries or subscribers changed since the last call.
    pub(crate) async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Unix seconds to a time (negative clamps to the epoch).
pub(crate) fn unix_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod jwt_tests;
#[cfg(test)]
mod tests;
