//! The cache's data behind its lock, and how snapshots are computed from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use lanyard_spiffe::{Bundle, SelectorSet, TrustDomain};
use tokio::sync::watch;

use super::jwt::{JwtCache, JwtFlight, JwtKey};
use super::snapshot::{Bundles, WorkloadIdentity, WorkloadSnapshot, WorkloadSvid};
use crate::convert::Entry;

pub(crate) struct State {
    pub(crate) serving: bool,
    pub(crate) entries: BTreeMap<String, Arc<Entry>>,
    pub(crate) svids: HashMap<String, Arc<WorkloadSvid>>,
    pub(crate) bundle: Option<Arc<Bundle>>,
    pub(crate) federated: BTreeMap<TrustDomain, Arc<Bundle>>,
    pub(crate) subscribers: HashMap<SelectorSet, watch::Sender<Arc<WorkloadSnapshot>>>,
    pub(crate) bundle_watch: watch::Sender<Arc<Bundles>>,
    pub(crate) jwt: JwtCache,
    pub(crate) jwt_flights: HashMap<JwtKey, JwtFlight>,
    pub(crate) x509_max: usize,
}

impl State {
    pub(crate) fn new(x509_max: usize, jwt_max: usize) -> Self {
        Self {
            serving: true,
            entries: BTreeMap::new(),
            svids: HashMap::new(),
            bundle: None,
            federated: BTreeMap::new(),
            subscribers: HashMap::new(),
            bundle_watch: watch::Sender::new(Arc::new(Bundles::default())),
            jwt: JwtCache::new(jwt_max),
            jwt_flights: HashMap::new(),
            x509_max,
        }
    }

    /// The snapshot for a workload with `selectors`.
    pub(crate) fn snapshot_for(&self, selectors: &SelectorSet) -> WorkloadSnapshot {
        let mut identities = Vec::new();
        let mut pending = 0;
        for entry in self.entries.values() {
            if !serves(entry, selectors) {
                continue;
            }
            match self.svids.get(&entry.id) {
                Some(svid) if svid.spiffe_id == entry.spiffe_id => {
                    identities.push(WorkloadIdentity {
                        entry: Arc::clone(entry),
                        svid: Arc::clone(svid),
                    })
                }
                _ => pending += 1,
            }
        }
        identities.sort_by(|a, b| {
            (a.entry.created_at, &a.entry.id).cmp(&(b.entry.created_at, &b.entry.id))
        });

        let wanted: BTreeSet<&TrustDomain> = identities
            .iter()
            .flat_map(|i| i.entry.federates_with.iter())
            .collect();
        let federated_bundles = wanted
            .into_iter()
            .filter_map(|td| Some((td.clone(), Arc::clone(self.federated.get(td)?))))
            .collect();

        WorkloadSnapshot {
            identities,
            pending,
            bundle: self.bundle.clone(),
            federated_bundles,
        }
    }

    /// Sends every subscriber its snapshot if it changed; forgets subscribers whose
    /// receivers are all gone.
    pub(crate) fn publish(&mut self) {
        self.subscribers
            .retain(|_, sender| sender.receiver_count() > 0);
        let updates: Vec<(SelectorSet, WorkloadSnapshot)> = self
            .subscribers
            .keys()
            .map(|selectors| (selectors.clone(), self.snapshot_for(selectors)))
            .collect();
        for (selectors, snapshot) in updates {
            if let Some(sender) = self.subscribers.get(&selectors) {
                sender.send_if_modified(|current| {
                    if current.same_as(&snapshot) {
                        return false;
                    }
                    *current = Arc::new(snapshot);
                    true
                });
            }
        }

        let bundles = Bundles {
            own: self.bundle.clone(),
            federated: self.federated.clone(),
        };
        self.bundle_watch.send_if_modified(|current| {
            let same = same_opt(&current.own, &bundles.own)
                && current.federated.len() == bundles.federated.len()
                && current
                    .federated
                    .values()
                    .zip(bundles.federated.values())
                    .all(|(a, b)| Arc::ptr_eq(a, b));
            if same {
                return false;
            }
            *current = Arc::new(bundles);
            true
        });
    }

    /// Entries that need an X.509-SVID at `now`, those some subscriber can use first: no
    /// SVID yet, one due for renewal, or one minted for an older revision of the entry
    /// (its TTL or DNS names may have changed; as in SPIRE, any change re-mints). The
    /// old SVID is served until the new one is stored.
    ///
    /// Beyond `x509_max` minted SVIDs only entries a current subscriber matches are
    /// minted (a soft bound, as in SPIRE: subscribed identities are always served).
    pub(crate) fn due_for_svid(&self, now: SystemTime) -> Vec<Arc<Entry>> {
        if !self.serving {
            return Vec::new();
        }
        let subscribed = |entry: &Entry| {
            self.subscribers
                .iter()
                .any(|(selectors, sender)| sender.receiver_count() > 0 && serves(entry, selectors))
        };

        let mut wanted: Vec<(bool, Arc<Entry>)> = self
            .entries
            .values()
            .filter(|entry| !entry.selectors.is_empty())
            .filter(|entry| match self.svids.get(&entry.id) {
                None => true,
                Some(svid) => {
                    svid.spiffe_id != entry.spiffe_id
                        || svid.entry_revision != entry.revision_number
                        || now >= svid.renew_at
                }
            })
            .map(|entry| (subscribed(entry), Arc::clone(entry)))
            .collect();
        wanted.sort_by_key(|(subscribed, _)| !*subscribed);

        let mut room = self.x509_max.saturating_sub(self.svids.len());
        wanted
            .into_iter()
            .filter(|(subscribed, entry)| {
                if *subscribed || self.svids.contains_key(&entry.id) {
                    return true;
                }
                if room == 0 {
                    return false;
                }
                room -= 1;
                true
            })
            .map(|(_, entry)| entry)
            .collect()
    }

    /// The earliest time an SVID is due for renewal.
    pub(crate) fn next_renewal(&self) -> Option<SystemTime> {
        self.svids.values().map(|svid| svid.renew_at).min()
    }

    /// Trust domains some entry federates with.
    pub(crate) fn federated_trust_domains(&self) -> BTreeSet<TrustDomain> {
        self.entries
            .values()
            .flat_map(|entry| entry.federates_with.iter().cloned())
            .collect()
    }
}

/// Whether `entry` is served to a workload with `selectors`: it has selectors and all of
/// them are among the workload's.
pub(crate) fn serves(entry: &Entry, selectors: &SelectorSet) -> bool {
    !entry.selectors.is_empty() && entry.selectors.is_subset_of(selectors)
}

fn same_opt(a: &Option<Arc<Bundle>>, b: &Option<Arc<Bundle>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}
