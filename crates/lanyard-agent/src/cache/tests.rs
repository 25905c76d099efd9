use std::collections::HashMap;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lanyard_ca::KeyType;
use lanyard_spiffe::{Selector, SpiffeId};

use super::minter::mint_due;
use super::*;
use crate::testutil::{TestCa, id, td};

/// The server side of signing, in process: a real CA behind the `SvidSigner` seam.
struct CaSigner {
    ca: TestCa,
    ids: StdMutex<HashMap<String, SpiffeId>>,
    ttl: Duration,
    jwt_calls: AtomicUsize,
    x509_calls: AtomicUsize,
}

impl CaSigner {
    fn new(ca: TestCa) -> Arc<Self> {
        Arc::new(Self {
            ca,
            ids: StdMutex::new(HashMap::new()),
            ttl: Duration::from_secs(3600),
            jwt_calls: AtomicUsize::new(0),
            x509_calls: AtomicUsize::new(0),
        })
    }

    fn know(&self, entry: &Entry) {
        self.ids
            .lock()
            .expect("lock")
            .insert(entry.id.clone(), entry.spiffe_id.clone());
    }
}

impl SvidSigner for CaSigner {
    fn new_x509_svids(
        &self,
        requests: Vec<X509SvidRequest>,
    ) -> BoxFuture<'_, Result<Vec<X509SvidResult>, tonic::Status>> {
        self.x509_calls.fetch_add(1, Ordering::SeqCst);
        let results = requests
            .into_iter()
            .map(|request| {
                let id = self
                    .ids
                    .lock()
                    .expect("lock")
                    .get(&request.entry_id)
                    .cloned()
                    .ok_or_else(|| tonic::Status::not_found("no such entry"))?;
                let key = lanyard_ca::public_key_from_csr(&request.csr)
                    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
                Ok(self.ca.issue_for_spki(
                    &id,
                    key.spki_der().as_ref(),
                    self.ttl,
                    SystemTime::now(),
                ))
            })
            .collect();
        Box::pin(async move { Ok(results) })
    }

    fn new_jwt_svid<'a>(
        &'a self,
        entry_id: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<JwtSvid, tonic::Status>> {
        let n = self.jwt_calls.fetch_add(1, Ordering::SeqCst);
        let spiffe_id = self.ids.lock().expect("lock").get(entry_id).cloned();
        Box::pin(async move {
            let now = SystemTime::now();
            Ok(JwtSvid {
                token: format!("token-{entry_id}-{}-{n}", audiences.join(",")),
                spiffe_id: spiffe_id.ok_or_else(|| tonic::Status::not_found("no entry"))?,
                issued_at: now,
                expires_at: now + Duration::from_secs(300),
                hint: String::new(),
            })
        })
    }
}

fn selectors(list: &[&str]) -> SelectorSet {
    list.iter()
        .map(|s| Selector::parse(s).expect("selector"))
        .collect()
}

pub(super) fn entry(entry_id: &str, path: &str, sel: &[&str], created_at: i64) -> Entry {
    Entry {
        id: entry_id.into(),
        spiffe_id: id("example.org", path),
        parent_id: id("example.org", "/spire/agent/join_token/t"),
        selectors: selectors(sel),
        x509_svid_ttl: 0,
        jwt_svid_ttl: 0,
        federates_with: Vec::new(),
        admin: false,
        downstream: false,
        expires_at: 0,
        dns_names: Vec::new(),
        revision_number: 1,
        hint: String::new(),
        created_at,
    }
}

struct Fixture {
    cache: Cache,
    signer: Arc<CaSigner>,
}

fn fixture(entries: Vec<Entry>) -> Fixture {
    let ca = TestCa::valid_from("example.org", SystemTime::now() - Duration::from_secs(60));
    let bundle = ca.bundle();
    let signer = CaSigner::new(ca);
    for e in &entries {
        signer.know(e);
    }
    let cache = Cache::new(td("example.org"), signer.clone(), 1000, 1000);
    cache.set_bundle(bundle);
    cache.update_entries(EntryUpdate::Full(entries));
    Fixture { cache, signer }
}

fn three_entries() -> Vec<Entry> {
    vec![
        entry("a", "/web", &["unix:uid:1000"], 20),
        entry("b", "/web-admin", &["unix:uid:1000", "unix:gid:10"], 10),
        entry("c", "/db", &["unix:uid:2000"], 5),
    ]
}

fn ids_of(snapshot: &WorkloadSnapshot) -> Vec<&str> {
    snapshot
        .identities
        .iter()
        .map(|i| i.entry.id.as_str())
        .collect()
}

async fn mint(fixture: &Fixture) -> minter::MintReport {
    mint_due(&fixture.cache, KeyType::EcP256, SystemTime::now())
        .await
        .expect("mint")
}

#[tokio::test]
async fn snapshot_holds_entries_whose_selectors_are_a_subset() {
    let f = fixture(three_entries());
    assert_eq!(mint(&f).await.minted, 3);

    let both = f.cache.snapshot(&selectors(&[
        "unix:uid:1000",
        "unix:gid:10",
        "unix:user:web",
    ]));
    assert_eq!(ids_of(&both), ["b", "a"], "oldest entry first");
    assert!(both.bundle.is_some());

    let one = f.cache.snapshot(&selectors(&["unix:uid:1000"]));
    assert_eq!(ids_of(&one), ["a"]);

    let none = f.cache.snapshot(&selectors(&["unix:uid:3000"]));
    assert!(none.is_empty());
    let nothing = f.cache.snapshot(&SelectorSet::new());
    assert!(nothing.is_empty());
}

#[tokio::test]
async fn identity_carries_chain_key_and_expiry() {
    let f = fixture(three_entries());
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:2000"]));
    assert_eq!(rx.borrow().pending, 1, "matched but not minted yet");
    assert!(rx.borrow().identities.is_empty());

    mint(&f).await;
    assert!(rx.has_changed().expect("sender alive"));
    let snapshot = rx.borrow_and_update().clone();
    assert_eq!(snapshot.pending, 0);
    let identity = &snapshot.identities[0];
    assert_eq!(identity.spiffe_id().as_str(), "spiffe://example.org/db");

    let bundle = snapshot.bundle.as_deref().expect("bundle");
    let verified = lanyard_spiffe::x509::verify_x509_svid_with_bundle(
        &identity.svid.chain,
        bundle,
        SystemTime::now(),
    )
    .expect("chain verifies against the snapshot's bundle");
    assert_eq!(verified, *identity.spiffe_id());
    let key = crate::keys::PrivateKey::from_pkcs8(zeroize::Zeroizing::new(
        identity.svid.key.pkcs8_der().to_vec(),
    ))
    .expect("pkcs8 key");
    assert_eq!(key.key_type(), KeyType::EcP256);
    assert!(identity.svid.expires_at > SystemTime::now());
    assert!(identity.svid.renew_at < identity.svid.expires_at);
    assert!(!identity.svid.chain_der().is_empty());
}

#[tokio::test]
async fn removed_entry_is_redacted_from_the_next_snapshot() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f
        .cache
        .subscribe(selectors(&["unix:uid:1000", "unix:gid:10"]));
    assert_eq!(ids_of(&rx.borrow_and_update()), ["b", "a"]);

    f.cache.update_entries(EntryUpdate::Delta {
        upserted: Vec::new(),
        removed: vec!["b".into()],
    });
    assert!(rx.has_changed().expect("alive"));
    assert_eq!(ids_of(&rx.borrow_and_update()), ["a"]);

    f.cache
        .update_entries(EntryUpdate::Full(vec![three_entries().remove(2)]));
    assert!(rx.borrow_and_update().is_empty());
    assert_eq!(mint(&f).await.minted, 0, "nothing left to mint");
}

#[tokio::test]
async fn unrelated_changes_do_not_wake_a_subscriber() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:1000"]));
    rx.borrow_and_update();

    let mut entries = three_entries();
    entries[2].revision_number = 2;
    entries[2].hint = "changed".into();
    f.signer.know(&entries[2]);
    f.cache.update_entries(EntryUpdate::Full(entries.clone()));
    assert!(
        !rx.has_changed().expect("alive"),
        "entry c is not this workload's"
    );

    f.cache.update_entries(EntryUpdate::Full(entries));
    assert!(!rx.has_changed().expect("alive"), "same entries again");
}

#[tokio::test]
async fn entry_changing_its_id_is_reminted_and_never_served_under_the_old_id() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:2000"]));
    rx.borrow_and_update();

    let mut moved = entry("c", "/db-primary", &["unix:uid:2000"], 5);
    moved.revision_number = 2;
    f.signer.know(&moved);
    f.cache.update_entries(EntryUpdate::Delta {
        upserted: vec![moved],
        removed: Vec::new(),
    });
    let snapshot = rx.borrow_and_update().clone();
    assert!(snapshot.identities.is_empty());
    assert_eq!(snapshot.pending, 1);

    assert_eq!(mint(&f).await.minted, 1);
    let snapshot = rx.borrow_and_update().clone();
    assert_eq!(
        snapshot.identities[0].spiffe_id().as_str(),
        "spiffe://example.org/db-primary"
    );
}

#[tokio::test]
async fn a_changed_entry_is_reminted_and_the_old_svid_served_until_then() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:2000"]));
    let old = rx.borrow_and_update().identities[0].svid.clone();

    let mut changed = three_entries().remove(2);
    changed.revision_number = 2;
    changed.x509_svid_ttl = 600;
    f.cache.update_entries(EntryUpdate::Delta {
        upserted: vec![changed],
        removed: Vec::new(),
    });
    let served = rx.borrow_and_update().identities[0].svid.clone();
    assert!(
        Arc::ptr_eq(&served, &old),
        "no gap while the new one is minted"
    );

    assert_eq!(mint(&f).await.minted, 1, "only the changed entry");
    let new = rx.borrow_and_update().identities[0].svid.clone();
    assert!(!Arc::ptr_eq(&new, &old));
    assert_eq!(new.entry_revision, 2);
    assert_eq!(mint(&f).await.minted, 0);
}

#[tokio::test]
async fn svids_are_renewed_after_their_renewal_time() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:2000"]));
    let first = rx.borrow_and_update().identities[0].svid.clone();

    let report = mint_due(&f.cache, KeyType::EcP256, SystemTime::now())
        .await
        .expect("mint");
    assert_eq!(report.minted, 0, "nothing due yet");

    // Every SVID has its own jittered renewal time: go past the last of them.
    let last_renewal = f
        .cache
        .lock()
        .svids
        .values()
        .map(|svid| svid.renew_at)
        .max()
        .expect("svids minted");
    let later = last_renewal + Duration::from_secs(1);
    let report = mint_due(&f.cache, KeyType::EcP256, later)
        .await
        .expect("mint");
    assert_eq!(report.minted, 3);
    let second = rx.borrow_and_update().identities[0].svid.clone();
    assert!(!Arc::ptr_eq(&first, &second), "rotated");
    assert_ne!(
        first.key.public_key_spki(),
        second.key.public_key_spki(),
        "new key"
    );
}

#[tokio::test]
async fn federated_bundles_go_only_to_entries_that_federate() {
    let mut entries = three_entries();
    entries[1].federates_with = vec![td("other.org")];
    let f = fixture(entries);
    mint(&f).await;
    assert_eq!(
        f.cache
            .federated_trust_domains()
            .into_iter()
            .collect::<Vec<_>>(),
        [td("other.org")]
    );

    let other = TestCa::new("other.org").bundle();
    let third = TestCa::new("third.org").bundle();
    f.cache.set_federated_bundles(
        [(td("other.org"), other), (td("third.org"), third)]
            .into_iter()
            .collect(),
    );

    let admin = f
        .cache
        .snapshot(&selectors(&["unix:uid:1000", "unix:gid:10"]));
    assert_eq!(
        admin.federated_bundles.keys().collect::<Vec<_>>(),
        [&td("other.org")]
    );
    let web = f.cache.snapshot(&selectors(&["unix:uid:1000"]));
    assert!(web.federated_bundles.is_empty());
    assert_eq!(f.cache.bundles().federated.len(), 2);
    assert_eq!(f.cache.bundles().to_bundle_set().len(), 3);
}

#[tokio::test]
async fn bundle_change_reaches_subscribers() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:1000"]));
    let mut bundles_rx = f.cache.subscribe_bundles();
    rx.borrow_and_update();
    bundles_rx.borrow_and_update();

    let mut bundle = (*f.cache.bundles().own.clone().expect("bundle")).clone();
    bundle
        .add_x509_authority(TestCa::new("example.org").root())
        .expect("root");
    assert!(f.cache.set_bundle(bundle.clone()));
    assert!(!f.cache.set_bundle(bundle), "unchanged");
    assert!(rx.has_changed().expect("alive"));
    assert_eq!(
        rx.borrow_and_update()
            .bundle
            .as_ref()
            .map(|b| b.x509_authorities().len()),
        Some(2)
    );
    assert!(bundles_rx.has_changed().expect("alive"));
}

#[tokio::test]
async fn jwt_svids_are_cached_per_audience_set() {
    let f = fixture(three_entries());
    let aud = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let first = f
        .cache
        .jwt_svid("a", &aud(&["x", "y"]))
        .await
        .expect("minted");
    let again = f
        .cache
        .jwt_svid("a", &aud(&["y", "x", "x"]))
        .await
        .expect("cached");
    assert_eq!(first, again);
    assert_eq!(f.signer.jwt_calls.load(Ordering::SeqCst), 1);
    assert!(
        !format!("{first:?}").contains(&first.token),
        "token redacted"
    );

    let other = f.cache.jwt_svid("a", &aud(&["x"])).await.expect("minted");
    assert_ne!(first.token, other.token);
    assert_eq!(f.signer.jwt_calls.load(Ordering::SeqCst), 2);

    assert!(matches!(
        f.cache.jwt_svid("a", &[]).await,
        Err(CacheError::NoAudience)
    ));
    assert!(matches!(
        f.cache.jwt_svid("zz", &aud(&["x"])).await,
        Err(CacheError::UnknownEntry(_))
    ));

    f.cache.update_entries(EntryUpdate::Delta {
        upserted: Vec::new(),
        removed: vec!["a".into()],
    });
    assert!(matches!(
        f.cache.jwt_svid("a", &aud(&["x"])).await,
        Err(CacheError::UnknownEntry(_))
    ));
}

#[tokio::test]
async fn jwt_cache_is_bounded() {
    let ca = TestCa::valid_from("example.org", SystemTime::now() - Duration::from_secs(60));
    let signer = CaSigner::new(ca);
    let e = entry("a", "/web", &["unix:uid:1000"], 1);
    signer.know(&e);
    let cache = Cache::new(td("example.org"), signer.clone(), 10, 2);
    cache.update_entries(EntryUpdate::Full(vec![e]));

    for audience in ["1", "2", "3"] {
        cache
            .jwt_svid("a", &[audience.to_owned()])
            .await
            .expect("minted");
    }
    assert_eq!(cache.lock().jwt.len(), 2);
}

#[tokio::test]
async fn stop_serving_empties_every_snapshot() {
    let f = fixture(three_entries());
    mint(&f).await;
    let mut rx = f.cache.subscribe(selectors(&["unix:uid:1000"]));
    rx.borrow_and_update();

    f.cache.stop_serving();
    assert!(!f.cache.is_serving());
    assert!(rx.has_changed().expect("alive"));
    let snapshot = rx.borrow_and_update().clone();
    assert!(snapshot.is_empty());
    assert!(snapshot.bundle.is_none());
    assert!(matches!(
        f.cache.jwt_svid("a", &["x".to_owned()]).await,
        Err(CacheError::NotServing)
    ));
    assert_eq!(mint(&f).await.minted, 0);
}

#[tokio::test]
async fn size_bound_holds_back_unsubscribed_entries_only() {
    let ca = TestCa::valid_from("example.org", SystemTime::now() - Duration::from_secs(60));
    let bundle = ca.bundle();
    let signer = CaSigner::new(ca);
    let entries = three_entries();
    for e in &entries {
        signer.know(e);
    }
    let cache = Cache::new(td("example.org"), signer, 1, 10);
    cache.set_bundle(bundle);
    cache.update_entries(EntryUpdate::Full(entries));

    let _db = cache.subscribe(selectors(&["unix:uid:2000"]));
    let due: Vec<String> = cache
        .due_for_svid(SystemTime::now())
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(
        due.len(),
        2,
        "the subscribed entry plus one within the bound: {due:?}"
    );
    assert_eq!(due[0], "c");
}

#[tokio::test]
async fn svids_that_do_not_verify_against_the_bundle_are_not_stored() {
    let f = fixture(three_entries());
    f.cache.set_bundle(TestCa::new("example.org").bundle());
    let report = mint(&f).await;
    assert_eq!(report.minted, 0);
    assert_eq!(report.failed, 3);
    assert!(
        f.cache
            .snapshot(&selectors(&["unix:uid:1000"]))
            .identities
            .is_empty()
    );
}
