#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Harness, published_anchors, published_kids};
use lanyard_ca::{
    CaManager, DiskUpstreamAuthority, LocalAuthorityError, RotationEvent, Unpublished,
};

const HOUR: Duration = Duration::from_secs(3600);

fn started() -> (Harness, CaManager) {
    let harness = Harness::new(24 * HOUR);
    let manager = harness.open();
    manager.rotate().unwrap();
    (harness, manager)
}

#[test]
fn nothing_can_be_done_before_the_first_rotation() {
    let harness = Harness::new(24 * HOUR);
    let manager = harness.open();

    assert!(matches!(
        manager.x509_authority_state(),
        Err(LocalAuthorityError::NotReady)
    ));
    assert!(matches!(
        manager.prepare_x509_authority(),
        Err(LocalAuthorityError::NotReady)
    ));
    assert!(matches!(
        manager.jwt_authority_state(),
        Err(LocalAuthorityError::NotReady)
    ));
}

#[test]
fn x509_prepare_activate_taint_revoke() {
    let (_harness, manager) = started();
    let first = manager.x509_authority_state().unwrap();
    assert!(first.prepared.is_none() && first.old.is_none());
    let first_cert = manager
        .active_x509_authority()
        .unwrap()
        .certificate()
        .clone();

    let prepared = manager.prepare_x509_authority().unwrap();
    let state = manager.x509_authority_state().unwrap();
    assert_eq!(state.prepared.as_ref(), Some(&prepared));
    assert_eq!(
        published_anchors(&manager).len(),
        2,
        "prepared is published at once"
    );

    assert!(matches!(
        manager.activate_x509_authority(""),
        Err(LocalAuthorityError::MissingAuthorityId)
    ));
    assert!(matches!(
        manager.activate_x509_authority(&first.active.authority_id),
        Err(LocalAuthorityError::UnexpectedAuthorityId(_))
    ));
    assert!(matches!(
        manager.taint_x509_authority(&prepared.authority_id),
        Err(LocalAuthorityError::NotOld)
    ));

    let activated = manager
        .activate_x509_authority(&prepared.authority_id)
        .unwrap();
    assert_eq!(activated.authority_id, prepared.authority_id);
    let state = manager.x509_authority_state().unwrap();
    assert_eq!(state.active.authority_id, prepared.authority_id);
    assert_eq!(
        state.old.as_ref().unwrap().authority_id,
        first.active.authority_id
    );
    assert!(matches!(
        manager.activate_x509_authority(&first.active.authority_id),
        Err(LocalAuthorityError::NotPrepared)
    ));

    let old_id = first.active.authority_id;
    assert!(matches!(
        manager.taint_x509_authority(&prepared.authority_id),
        Err(LocalAuthorityError::ActiveAuthority)
    ));
    assert!(matches!(
        manager.revoke_x509_authority(&old_id),
        Err(LocalAuthorityError::NotTainted)
    ));
    let tainted = manager.taint_x509_authority(&old_id).unwrap();
    assert!(tainted.tainted);
    assert!(matches!(
        manager.taint_x509_authority(&old_id),
        Err(LocalAuthorityError::AlreadyTainted)
    ));
    let published = manager.published_authorities().unwrap();
    let tainted_flags: Vec<_> = published
        .x509
        .iter()
        .map(|p| (p.certificate == first_cert, p.tainted))
        .collect();
    assert!(tainted_flags.contains(&(true, true)));
    assert!(tainted_flags.contains(&(false, false)));

    let (revoked, unpublished) = manager.revoke_x509_authority(&old_id).unwrap();
    assert_eq!(revoked.authority_id, old_id);
    assert_eq!(
        unpublished,
        Unpublished::X509Certificates(vec![first_cert.clone()])
    );
    assert!(!published_anchors(&manager).contains(&first_cert));
    assert!(manager.x509_authority_state().unwrap().old.is_none());
}

#[test]
fn operations_survive_a_restart() {
    let (harness, manager) = started();
    let prepared = manager.prepare_x509_authority().unwrap();
    manager
        .activate_x509_authority(&prepared.authority_id)
        .unwrap();
    let old = manager.x509_authority_state().unwrap().old.unwrap();
    manager.taint_x509_authority(&old.authority_id).unwrap();
    drop(manager);

    let restarted = harness.open();

    let state = restarted.x509_authority_state().unwrap();
    assert_eq!(state.active.authority_id, prepared.authority_id);
    assert!(state.old.unwrap().tainted);
    assert!(restarted.rotate().unwrap().is_empty());
}

#[test]
fn jwt_prepare_activate_taint_revoke() {
    let (_harness, manager) = started();
    let first = manager.jwt_authority_state().unwrap().active;

    let prepared = manager.prepare_jwt_authority().unwrap();
    assert!(published_kids(&manager).contains(&prepared.authority_id));
    manager
        .activate_jwt_authority(&prepared.authority_id)
        .unwrap();
    assert_eq!(
        manager.active_jwt_key().unwrap().key_id(),
        prepared.authority_id
    );

    assert!(matches!(
        manager.taint_jwt_authority(&prepared.authority_id),
        Err(LocalAuthorityError::ActiveAuthority)
    ));
    assert!(matches!(
        manager.revoke_jwt_authority(&first.authority_id),
        Err(LocalAuthorityError::NotTainted)
    ));
    manager.taint_jwt_authority(&first.authority_id).unwrap();
    let published = manager.published_authorities().unwrap();
    assert!(
        published
            .jwt
            .iter()
            .any(|j| j.authority.key_id() == first.authority_id && j.tainted)
    );

    let (_, unpublished) = manager.revoke_jwt_authority(&first.authority_id).unwrap();
    assert_eq!(unpublished, Unpublished::JwtKey(first.authority_id.clone()));
    assert!(!published_kids(&manager).contains(&first.authority_id));
    assert!(matches!(
        manager.revoke_jwt_authority("unknown"),
        Err(LocalAuthorityError::UnexpectedAuthorityId(_))
    ));
}

#[test]
fn jwt_operations_are_refused_when_jwt_is_disabled() {
    let mut harness = Harness::new(24 * HOUR);
    harness.config.jwt_enabled = false;
    let manager = harness.open();
    manager.rotate().unwrap();

    assert!(matches!(
        manager.jwt_authority_state(),
        Err(LocalAuthorityError::JwtDisabled)
    ));
    assert!(matches!(
        manager.prepare_jwt_authority(),
        Err(LocalAuthorityError::JwtDisabled)
    ));
}

#[test]
fn a_manual_prepare_replaces_the_old_one_which_stays_published() {
    let (harness, manager) = started();
    let prepared = manager.prepare_x509_authority().unwrap();
    manager
        .activate_x509_authority(&prepared.authority_id)
        .unwrap();
    let old = manager.x509_authority_state().unwrap().old.unwrap();

    let again = manager.prepare_x509_authority().unwrap();

    let state = manager.x509_authority_state().unwrap();
    assert_eq!(state.prepared.unwrap().authority_id, again.authority_id);
    assert!(state.old.is_none(), "the old one left its slot");
    assert_eq!(
        published_anchors(&manager).len(),
        3,
        "but is still published"
    );

    harness.clock.set(old.expires_at);
    let events = manager.rotate().unwrap();
    assert!(events.iter().any(|e| matches!(e, RotationEvent::Pruned { authority_id, .. } if *authority_id == old.authority_id)));
}

#[test]
fn with_an_upstream_authority_the_bundle_holds_the_upstream_root_and_taint_is_refused() {
    let root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    params.not_before = time::OffsetDateTime::from(common::start() - HOUR);
    params.not_after = time::OffsetDateTime::from(common::start() + 100 * HOUR);
    let root = params.self_signed(&root_key).unwrap();
    let upstream = DiskUpstreamAuthority::from_pem(
        root.pem().as_bytes(),
        root_key.serialize_pem().as_bytes(),
        None,
    )
    .unwrap();
    let mut harness = Harness::new(24 * HOUR);
    harness.upstream = Some(Arc::new(upstream));
    let manager = harness.open();
    manager.rotate().unwrap();

    let prepared = manager.prepare_x509_authority().unwrap();
    manager
        .activate_x509_authority(&prepared.authority_id)
        .unwrap();
    let old = manager.x509_authority_state().unwrap().old.unwrap();

    assert_eq!(published_anchors(&manager), vec![root.der().clone()]);
    assert!(old.upstream_authority_id.is_some());
    assert!(matches!(
        manager.taint_x509_authority(&old.authority_id),
        Err(LocalAuthorityError::UpstreamConfigured)
    ));
    let svid = manager
        .issue_x509_svid(&lanyard_ca::X509SvidRequest {
            public_key: common::workload_key(),
            spiffe_id: common::id("/w"),
            dns_names: Vec::new(),
            ttl: HOUR,
        })
        .unwrap();
    common::webpki_verify(&svid.chain(), &published_anchors(&manager), harness.now()).unwrap();
}

fn upstream_root(
    name: &str,
) -> (
    DiskUpstreamAuthority,
    rustls_pki_types::CertificateDer<'static>,
) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    params.not_before = time::OffsetDateTime::from(common::start() - HOUR);
    params.not_after = time::OffsetDateTime::from(common::start() + 100 * HOUR);
    let root = params.self_signed(&key).unwrap();
    let upstream = DiskUpstreamAuthority::from_pem(
        root.pem().as_bytes(),
        key.serialize_pem().as_bytes(),
        None,
    )
    .unwrap();
    (upstream, root.der().clone())
}

#[test]
fn an_upstream_root_that_signed_the_old_authority_can_be_tainted_then_revoked() {
    let (first_upstream, first_root) = upstream_root("first root");
    let (second_upstream, second_root) = upstream_root("second root");
    let mut harness = Harness::new(24 * HOUR);
    harness.upstream = Some(Arc::new(first_upstream));
    let manager = harness.open();
    manager.rotate().unwrap();
    let first_skid = manager
        .x509_authority_state()
        .unwrap()
        .active
        .upstream_authority_id
        .unwrap();
    drop(manager);

    // The site moves to a new upstream root; the server restarts with it.
    harness.upstream = Some(Arc::new(second_upstream));
    let manager = harness.open();
    let prepared = manager.prepare_x509_authority().unwrap();
    manager
        .activate_x509_authority(&prepared.authority_id)
        .unwrap();
    let second_skid = prepared.upstream_authority_id.unwrap();
    assert_ne!(first_skid, second_skid);
    assert_eq!(published_anchors(&manager).len(), 2);

    assert!(matches!(
        manager.taint_x509_upstream_authority(&second_skid),
        Err(LocalAuthorityError::ActiveAuthority)
    ));
    assert!(matches!(
        manager.revoke_x509_upstream_authority(&first_skid),
        Err(LocalAuthorityError::NotTainted)
    ));
    assert!(matches!(
        manager.taint_x509_upstream_authority(""),
        Err(LocalAuthorityError::MissingAuthorityId)
    ));

    let tainted = manager
        .taint_x509_upstream_authority(&first_skid.to_uppercase())
        .unwrap();
    assert_eq!(tainted, first_skid);
    let published = manager.published_authorities().unwrap();
    for anchor in &published.x509 {
        assert_eq!(
            anchor.tainted,
            anchor.certificate == first_root,
            "only the first root is tainted"
        );
    }

    let (_, unpublished) = manager.revoke_x509_upstream_authority(&first_skid).unwrap();
    assert_eq!(unpublished, Unpublished::X509Certificates(vec![first_root]));
    assert_eq!(published_anchors(&manager), vec![second_root]);
    assert!(manager.x509_authority_state().unwrap().old.is_none());
}

#[test]
fn upstream_operations_need_an_upstream_authority() {
    let (_harness, manager) = started();

    assert!(matches!(
        manager.taint_x509_upstream_authority("abcd"),
        Err(LocalAuthorityError::UpstreamNotConfigured)
    ));
    assert!(matches!(
        manager.revoke_x509_upstream_authority("abcd"),
        Err(LocalAuthorityError::UpstreamNotConfigured)
    ));
}
