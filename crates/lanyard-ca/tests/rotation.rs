#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Harness, id, published_anchors, published_kids, webpki_verify, workload_key};
use lanyard_ca::{
    AuthorityKind, CaConfig, CaError, CaManager, DiskKeyManager, FileJournalStore, KeyType,
    RotationEvent, Unpublished, X509SvidRequest,
};
use rustls_pki_types::CertificateDer;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

struct Issued {
    chain: Vec<CertificateDer<'static>>,
    expires_at: SystemTime,
    authority_id: String,
}

struct IssuedJwt {
    token: String,
    expires_at: SystemTime,
}

fn issue(manager: &CaManager, ttl: Duration) -> Issued {
    let authority = manager.active_x509_authority().unwrap();
    let request = X509SvidRequest {
        public_key: workload_key(),
        spiffe_id: id("/w"),
        dns_names: Vec::new(),
        ttl,
    };
    let svid = manager.issue_x509_svid(&request).unwrap();
    Issued {
        chain: svid.chain(),
        expires_at: svid.expires_at(),
        authority_id: authority.authority_id().to_owned(),
    }
}

fn kind_events(events: &[RotationEvent], kind: AuthorityKind) -> Vec<&RotationEvent> {
    events
        .iter()
        .filter(|e| match e {
            RotationEvent::Prepared { kind: k, .. }
            | RotationEvent::Activated { kind: k, .. }
            | RotationEvent::Pruned { kind: k, .. } => *k == kind,
            _ => false,
        })
        .collect()
}

/// Subject key IDs (hex) of the published X.509 anchors.
fn anchor_ids(manager: &CaManager) -> Vec<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    published_anchors(manager)
        .iter()
        .map(|der| {
            let (_, cert) = X509Certificate::from_der(der).unwrap();
            let skid = cert
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                    _ => None,
                })
                .unwrap();
            skid.iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect()
}

#[test]
fn a_long_run_keeps_every_issued_svid_verifiable_across_rotations() {
    let harness = Harness::new(DAY);
    let manager = harness.open();
    let svid_ttl = manager.max_svid_ttl();
    assert_eq!(svid_ttl, 4 * HOUR);

    let step = Duration::from_secs(900);
    let mut issued: Vec<Issued> = Vec::new();
    let mut issued_jwts: Vec<IssuedJwt> = Vec::new();
    let mut prepared_at: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut activations = Vec::new();
    let mut prunes = Vec::new();
    let mut jwt_prepared: BTreeSet<String> = BTreeSet::new();

    for tick in 0..(5 * 24 * 4) {
        let now = harness.now();
        let events = manager.rotate().unwrap();

        for event in kind_events(&events, AuthorityKind::X509) {
            match event {
                RotationEvent::Prepared { authority_id, .. } => {
                    assert!(
                        anchor_ids(&manager).contains(authority_id),
                        "prepared but not published"
                    );
                    prepared_at.insert(authority_id.clone(), now);
                    let active = manager.active_x509_authority().unwrap();
                    if tick > 0 {
                        assert_ne!(
                            active.authority_id(),
                            authority_id,
                            "prepared must not sign yet"
                        );
                    }
                }
                RotationEvent::Activated { authority_id, .. } => {
                    let since = prepared_at[authority_id];
                    if tick > 0 {
                        assert!(since < now, "activated in the same tick it was prepared");
                    }
                    activations.push(authority_id.clone());
                }
                RotationEvent::Pruned {
                    authority_id,
                    unpublished,
                    ..
                } => {
                    let Unpublished::X509Certificates(certs) = unpublished else {
                        panic!("x509 prune must unpublish certificates");
                    };
                    assert_eq!(certs.len(), 1);
                    for svid in issued.iter().filter(|s| &s.authority_id == authority_id) {
                        assert!(
                            svid.expires_at <= now,
                            "pruned while an svid it signed is valid"
                        );
                    }
                    assert!(!published_anchors(&manager).contains(&certs[0]));
                    prunes.push(authority_id.clone());
                }
                _ => {}
            }
        }
        for event in kind_events(&events, AuthorityKind::Jwt) {
            match event {
                RotationEvent::Prepared { authority_id, .. } => {
                    jwt_prepared.insert(authority_id.clone());
                    assert!(published_kids(&manager).contains(authority_id));
                }
                RotationEvent::Activated { authority_id, .. } => {
                    assert!(jwt_prepared.contains(authority_id));
                }
                _ => {}
            }
        }

        let anchors = published_anchors(&manager);
        assert!(
            anchors.len() <= 3,
            "at most active, next and one retired root"
        );
        for svid in issued.iter().filter(|s| s.expires_at > now) {
            webpki_verify(&svid.chain, &anchors, now).unwrap_or_else(|err| {
                panic!(
                    "svid from {} failed at tick {tick}: {err:?}",
                    svid.authority_id
                )
            });
        }
        let kid = manager.active_jwt_key().unwrap().key_id().to_owned();
        assert!(published_kids(&manager).contains(&kid));
        let bundles = common::bundle_set(&manager);
        for svid in issued.iter().filter(|s| s.expires_at > now) {
            lanyard_spiffe::verify_x509_svid(&svid.chain, &bundles, now).unwrap();
        }
        for jwt in issued_jwts.iter().filter(|j| j.expires_at > now) {
            lanyard_spiffe::jwt::verify_jwt_svid(&jwt.token, &bundles, "api", now).unwrap();
        }

        issued.push(issue(&manager, svid_ttl));
        let jwt = manager
            .issue_jwt_svid(&common::jwt_request("/w", svid_ttl))
            .unwrap();
        issued_jwts.push(IssuedJwt {
            token: jwt.token().to_owned(),
            expires_at: jwt.expires_at(),
        });
        harness.clock.advance(step);
    }

    assert!(activations.len() >= 6, "{activations:?}");
    assert!(prunes.len() >= 4, "{prunes:?}");
    let distinct: BTreeSet<_> = issued.iter().map(|s| &s.authority_id).collect();
    assert!(distinct.len() >= 6);
}

#[test]
fn rotation_timing_follows_half_and_five_sixths_of_the_lifetime() {
    let harness = Harness::new(DAY);
    let manager = harness.open();

    let first = manager.rotate().unwrap();
    assert_eq!(first.len(), 4, "prepare and activate both kinds: {first:?}");
    assert!(manager.rotate().unwrap().is_empty(), "rotate is idempotent");

    harness.clock.advance(12 * HOUR);
    assert!(
        manager.rotate().unwrap().is_empty(),
        "exactly half: not yet"
    );
    harness.clock.advance(Duration::from_secs(1));
    let prepared = manager.rotate().unwrap();
    assert_eq!(prepared.len(), 2);
    assert!(
        prepared
            .iter()
            .all(|e| matches!(e, RotationEvent::Prepared { .. }))
    );
    assert_eq!(manager.published_authorities().unwrap().x509.len(), 2);
    assert_eq!(manager.published_authorities().unwrap().jwt.len(), 2);

    harness.clock.set(common::start() + 20 * HOUR);
    assert!(
        manager.rotate().unwrap().is_empty(),
        "exactly five sixths: not yet"
    );
    harness.clock.advance(Duration::from_secs(1));
    let activated = manager.rotate().unwrap();
    assert_eq!(activated.len(), 2);
    assert!(
        activated
            .iter()
            .all(|e| matches!(e, RotationEvent::Activated { .. }))
    );
}

#[test]
fn lead_times_are_capped_for_long_lived_authorities() {
    let harness = Harness::new(90 * DAY);
    let manager = harness.open();
    manager.rotate().unwrap();
    assert_eq!(manager.max_svid_ttl(), 7 * DAY);

    harness.clock.set(common::start() + 60 * DAY);
    assert!(
        manager.rotate().unwrap().is_empty(),
        "prepare 30 days before expiry, not at half"
    );
    harness.clock.advance(Duration::from_secs(1));
    assert_eq!(manager.rotate().unwrap().len(), 2);

    harness.clock.set(common::start() + 83 * DAY);
    assert!(manager.rotate().unwrap().is_empty());
    harness.clock.advance(Duration::from_secs(1));
    assert_eq!(manager.rotate().unwrap().len(), 2);
}

#[test]
fn max_svid_ttl_is_a_sixth_of_the_ca_ttl_up_to_seven_days() {
    let mut config = CaConfig::new(common::td());
    config.ca_ttl = DAY;
    assert_eq!(config.max_svid_ttl(), 4 * HOUR);
    config.ca_ttl = 365 * DAY;
    assert_eq!(config.max_svid_ttl(), 7 * DAY);
}

#[test]
fn restart_with_the_disk_key_manager_resumes_the_same_authorities() {
    let dir = tempfile::tempdir().unwrap();
    let keys_path = dir.path().join("keys.json");
    let journal_path = dir.path().join("journal.json");
    let harness = Harness::new(DAY);
    let open = || {
        CaManager::open(
            harness.config.clone(),
            Arc::new(DiskKeyManager::open(&keys_path).unwrap()),
            Arc::new(FileJournalStore::new(&journal_path)),
            None,
            harness.clock.clone(),
        )
        .unwrap()
    };

    let manager = open();
    manager.rotate().unwrap();
    harness.clock.advance(13 * HOUR);
    manager.rotate().unwrap();
    let active = manager.active_x509_authority().unwrap();
    let kid = manager.active_jwt_key().unwrap().key_id().to_owned();
    let before = issue(&manager, HOUR);
    let published_before = manager.published_authorities().unwrap();
    drop(manager);

    let restarted = open();

    let again = restarted.active_x509_authority().unwrap();
    assert_eq!(again.authority_id(), active.authority_id());
    assert_eq!(again.certificate(), active.certificate());
    assert_eq!(restarted.active_jwt_key().unwrap().key_id(), kid);
    assert!(
        restarted.rotate().unwrap().is_empty(),
        "nothing to do after a restart"
    );
    let state = restarted.x509_authority_state().unwrap();
    assert!(
        state.prepared.is_some(),
        "the prepared authority survives too"
    );
    assert_eq!(
        restarted.published_authorities().unwrap().x509,
        published_before.x509
    );

    let after = issue(&restarted, HOUR);
    let anchors = published_anchors(&restarted);
    webpki_verify(&before.chain, &anchors, harness.now()).unwrap();
    webpki_verify(&after.chain, &anchors, harness.now()).unwrap();

    harness.clock.advance(8 * HOUR);
    let events = restarted.rotate().unwrap();
    assert!(events.iter().any(|e| matches!(e, RotationEvent::Activated { authority_id, .. } if Some(authority_id) == state.prepared.as_ref().map(|p| &p.authority_id))));
}

#[test]
fn restart_without_the_keys_starts_a_new_authority_and_keeps_the_old_one_published() {
    let harness = Harness::new(DAY);
    let manager = harness.open();
    manager.rotate().unwrap();
    let old = manager.active_x509_authority().unwrap();
    let old_svid = issue(&manager, HOUR);
    drop(manager);

    let restarted = CaManager::open(
        harness.config.clone(),
        Arc::new(lanyard_ca::MemoryKeyManager::new()),
        Arc::new(harness.journal.clone()),
        None,
        harness.clock.clone(),
    )
    .unwrap();
    assert!(matches!(
        restarted.active_x509_authority(),
        Err(CaError::NotReady(AuthorityKind::X509))
    ));
    let events = restarted.rotate().unwrap();

    let new = restarted.active_x509_authority().unwrap();
    assert_ne!(new.authority_id(), old.authority_id());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RotationEvent::Activated { .. }))
    );
    let anchors = published_anchors(&restarted);
    assert!(anchors.contains(old.certificate()));
    webpki_verify(&old_svid.chain, &anchors, harness.now()).unwrap();
}

#[test]
fn a_failed_journal_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    std::fs::create_dir(&journal_dir).unwrap();
    let harness = Harness::new(DAY);
    let manager = CaManager::open(
        harness.config.clone(),
        harness.keys.clone(),
        Arc::new(FileJournalStore::new(journal_dir.join("journal.json"))),
        None,
        harness.clock.clone(),
    )
    .unwrap();
    std::fs::remove_dir(&journal_dir).unwrap();

    let err = manager.rotate().unwrap_err();

    assert!(matches!(err, CaError::Journal(_)), "{err}");
    assert!(manager.active_x509_authority().is_err());
    assert!(manager.published_authorities().unwrap().x509.is_empty());
}

#[test]
fn disabled_jwt_keeps_no_jwt_keys() {
    let mut harness = Harness::new(DAY);
    harness.config.jwt_enabled = false;
    let manager = harness.open();

    let events = manager.rotate().unwrap();

    assert_eq!(events.len(), 2);
    assert!(matches!(
        manager.active_jwt_key(),
        Err(CaError::JwtDisabled)
    ));
    assert!(manager.published_authorities().unwrap().jwt.is_empty());
}

#[test]
fn every_ca_key_type_rotates() {
    for key_type in [KeyType::EcP384, KeyType::Rsa2048] {
        let mut harness = Harness::new(DAY);
        harness.config.ca_key_type = key_type;
        harness.config.jwt_key_type = key_type;
        let manager = harness.open();
        manager.rotate().unwrap();
        let svid = issue(&manager, HOUR);

        assert_eq!(
            manager.active_x509_authority().unwrap().key_type(),
            key_type
        );
        assert_eq!(
            manager.active_jwt_key().unwrap().signer().key_type(),
            key_type
        );
        webpki_verify(&svid.chain, &published_anchors(&manager), harness.now()).unwrap();
    }
}

#[test]
fn the_manager_and_its_authorities_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<CaManager>();
    shared::<lanyard_ca::X509Authority>();
    shared::<lanyard_ca::JwtKey>();
    shared::<lanyard_ca::Signer>();
    shared::<DiskKeyManager>();

    let harness = Harness::new(DAY);
    let manager = Arc::new(harness.open());
    manager.rotate().unwrap();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let manager = Arc::clone(&manager);
            std::thread::spawn(move || issue(&manager, HOUR).authority_id)
        })
        .collect();
    let rotated = manager.prepare_x509_authority().unwrap();
    for worker in workers {
        assert_ne!(
            worker.join().unwrap(),
            rotated.authority_id,
            "prepared must not sign"
        );
    }
}
