//! What the cache hands out: per-workload snapshots of identities and bundles, and
//! JWT-SVIDs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use lanyard_spiffe::{Bundle, SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;

use crate::convert::Entry;
use crate::keys::PrivateKey;

/// An X.509-SVID the agent minted for one entry, with its private key.
///
/// The key never leaves the process except to the workload entitled to it; `Debug`
/// does not show it and its memory is wiped when the last copy is dropped.
#[derive(Clone)]
pub struct WorkloadSvid {
    /// The SVID's SPIFFE ID.
    pub spiffe_id: SpiffeId,
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key (PKCS#8 through [`PrivateKey::pkcs8_der`]).
    pub key: PrivateKey,
    /// Start of validity of the leaf.
    pub not_before: SystemTime,
    /// End of validity of the leaf.
    pub expires_at: SystemTime,
    /// When the agent replaces it (half-life with jitter).
    pub renew_at: SystemTime,
    /// The entry revision it was minted for.
    pub entry_revision: i64,
}

impl WorkloadSvid {
    /// The chain as concatenated DER (the Workload API's `x509_svid` field).
    pub fn chain_der(&self) -> Vec<u8> {
        self.chain.iter().flat_map(|c| c.iter().copied()).collect()
    }
}

impl fmt::Debug for WorkloadSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadSvid")
            .field("spiffe_id", &self.spiffe_id)
            .field("expires_at", &self.expires_at)
            .field("entry_revision", &self.entry_revision)
            .finish_non_exhaustive()
    }
}

/// One identity a workload may hold: the entry and its current SVID.
#[derive(Debug, Clone)]
pub struct WorkloadIdentity {
    /// The registration entry.
    pub entry: Arc<Entry>,
    /// Its current X.509-SVID.
    pub svid: Arc<WorkloadSvid>,
}

impl WorkloadIdentity {
    /// The SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.svid.spiffe_id
    }

    /// The entry's hint (may be empty).
    pub fn hint(&self) -> &str {
        &self.entry.hint
    }

    /// Trust domains whose bundles come with this SVID.
    pub fn federates_with(&self) -> &[TrustDomain] {
        &self.entry.federates_with
    }
}

/// Everything one workload (one selector set) is entitled to at one moment.
///
/// Sent in full on every change (an SVID rotated, an entry added, changed or removed, a
/// bundle changed). A removed identity or federated bundle is simply absent from the
/// next snapshot.
#[derive(Debug, Clone, Default)]
pub struct WorkloadSnapshot {
    /// Identities whose entry selectors are all among the workload's selectors and whose
    /// SVID is minted, oldest entry first (ties by entry ID), so the first is a stable
    /// default.
    pub identities: Vec<WorkloadIdentity>,
    /// Entries that match but whose SVID is not minted yet. A Workload API call that
    /// finds no identity but pending ones should wait for the next snapshot rather than
    /// answer `PermissionDenied`.
    pub pending: usize,
    /// The bundle of the agent's own trust domain, once known.
    pub bundle: Option<Arc<Bundle>>,
    /// The bundles of the trust domains the identities federate with (those known).
    pub federated_bundles: BTreeMap<TrustDomain, Arc<Bundle>>,
}

impl WorkloadSnapshot {
    /// Whether the workload holds no identity (and none is pending).
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.pending == 0
    }

    /// Same identities (entry revision and SVID), same pending count and same bundles.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.pending == other.pending
            && self.identities.len() == other.identities.len()
            && self
                .identities
                .iter()
                .zip(&other.identities)
                .all(|(a, b)| Arc::ptr_eq(&a.entry, &b.entry) && Arc::ptr_eq(&a.svid, &b.svid))
            && same_bundle(&self.bundle, &other.bundle)
            && self.federated_bundles.len() == other.federated_bundles.len()
            && self
                .federated_bundles
                .iter()
                .zip(&other.federated_bundles)
                .all(|((ta, a), (tb, b))| ta == tb && Arc::ptr_eq(a, b))
    }
}

fn same_bundle(a: &Option<Arc<Bundle>>, b: &Option<Arc<Bundle>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// A JWT-SVID minted by the server for one entry and audience set.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSvid {
    /// The compact JWS. Never log it.
    pub token: String,
    /// The subject.
    pub spiffe_id: SpiffeId,
    /// Issue time.
    pub issued_at: SystemTime,
    /// Expiry.
    pub expires_at: SystemTime,
    /// The entry's hint.
    pub hint: String,
}

impl fmt::Debug for JwtSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSvid")
            .field("spiffe_id", &self.spiffe_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The bundles the agent holds: its own trust domain's and every federated one any
/// entry asks for. What `ValidateJWTSVID` and unauthenticated verifiers use.
#[derive(Debug, Clone, Default)]
pub struct Bundles {
    /// The own trust domain's bundle, once known.
    pub own: Option<Arc<Bundle>>,
    /// Federated bundles by trust domain.
    pub federated: BTreeMap<TrustDomain, Arc<Bundle>>,
}

impl Bundles {
    /// All bundles as one set (own first when trust domains collide, which they
    /// cannot for a well-behaved server).
    pub fn to_bundle_set(&self) -> lanyard_spiffe::BundleSet {
        let mut set: lanyard_spiffe::BundleSet =
            self.federated.values().map(|b| (**b).clone()).collect();
        if let Some(own) = &self.own {
            set.insert((**own).clone());
        }
        set
    }
}
