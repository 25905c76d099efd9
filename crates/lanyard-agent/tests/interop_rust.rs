//! The Rust `spiffe` crate (rust-spiffe) against the agent's public socket: its
//! `X509Source` and `JwtSource` fetch, follow rotations and verify locally. The crate is
//! a dev-dependency, so these tests always run.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use common::{Options, TestAgent, entry, my_uid_selector};
use lanyard_spiffe::{Bundle, TrustDomain};
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe::{JwtSource, JwtSvid, SpiffeId, WorkloadApiClient, X509Source, X509Svid};
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// How long any wait for the agent may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

fn id(path: &str) -> SpiffeId {
    format!("spiffe://example.org{path}").parse().unwrap()
}

fn td(name: &str) -> spiffe::TrustDomain {
    name.try_into().unwrap()
}

/// `web` (default, hinted, federating with partner.org) and `api` for this process, and
/// an entry of another user that must never be served.
fn two_identities_and_a_stranger() -> Vec<lanyard_agent::convert::Entry> {
    let mut web = entry("web", "/web", &[&my_uid_selector()]);
    web.created_at = 1;
    web.hint = "frontend".into();
    web.federates_with = vec![TrustDomain::new("partner.org").unwrap()];
    let mut api = entry("api", "/api", &[&my_uid_selector()]);
    api.created_at = 2;
    let stranger = entry("stranger", "/stranger", &["unix:uid:4294967294"]);
    vec![api, stranger, web]
}

/// Federated bundles for partner.org (federated with) and unrelated.org (not).
fn add_federated_bundles(agent: &TestAgent) {
    let authority = agent.signer.bundle().x509_authorities()[0].clone();
    let bundles = ["partner.org", "unrelated.org"].map(|name| {
        let td = TrustDomain::new(name).unwrap();
        let mut bundle = Bundle::new(td.clone());
        bundle.add_x509_authority(authority.clone()).unwrap();
        (td, bundle)
    });
    agent
        .cache
        .set_federated_bundles(BTreeMap::from_iter(bundles));
}

/// Validity of the leaf certificate of `svid`.
fn validity(svid: &X509Svid) -> (SystemTime, SystemTime) {
    let (_, cert) = X509Certificate::from_der(svid.leaf().as_bytes()).unwrap();
    let to_time = |t: x509_parser::time::ASN1Time| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).unwrap())
    };
    (
        to_time(cert.validity().not_before),
        to_time(cert.validity().not_after),
    )
}

/// Verifies the chain of `svid` up to `roots` with webpki, and that its private key is
/// the one the leaf certifies.
fn verify_locally(svid: &X509Svid, roots: &[spiffe::cert::Certificate]) {
    let roots: Vec<CertificateDer<'_>> = roots
        .iter()
        .map(|cert| CertificateDer::from(cert.as_bytes()))
        .collect();
    let anchors: Vec<_> = roots
        .iter()
        .map(|cert| webpki::anchor_from_trusted_cert(cert).unwrap())
        .collect();
    let leaf_der = CertificateDer::from(svid.leaf().as_bytes());
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
    let intermediates: Vec<CertificateDer<'_>> = svid.cert_chain()[1..]
        .iter()
        .map(|cert| CertificateDer::from(cert.as_bytes()))
        .collect();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .unwrap();

    let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        svid.private_key().as_ref(),
    )
    .unwrap();
    let message = b"proof of possession";
    let signature = key
        .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
        .unwrap();
    leaf.verify_signature(
        webpki::aws_lc_rs::ECDSA_P256_SHA256,
        message,
        signature.as_ref(),
    )
    .unwrap();
}

#[test]
fn x509_source_gets_every_identity_with_bundles_that_verify_locally() {
    let agent = TestAgent::start(two_identities_and_a_stranger(), Options::default());
    add_federated_bundles(&agent);

    agent.runtime.block_on(async {
        let source = X509Source::builder()
            .endpoint(agent.endpoint())
            .build()
            .await
            .unwrap();
        let context = source.x509_context().unwrap();

        let ids: Vec<_> = context.svids().iter().map(|s| s.spiffe_id()).collect();
        assert_eq!(ids, [&id("/web"), &id("/api")]);
        let default = source.svid().unwrap();
        assert_eq!(default.spiffe_id(), &id("/web"));
        assert_eq!(default.hint(), Some("frontend"));

        let bundles = context.bundle_set();
        let mut names: Vec<_> = bundles.iter().map(|(td, _)| td.to_string()).collect();
        names.sort();
        assert_eq!(names, ["example.org", "partner.org"]);

        let own = bundles.get(&td("example.org")).unwrap();
        for svid in context.svids() {
            verify_locally(svid, own.authorities());
        }
        source.shutdown().await;
    });
}

#[test]
fn x509_source_sees_two_rotations_and_always_holds_a_valid_svid() {
    // The CA backdates NotBefore by 10 s, so a 16 s TTL is a 26 s lifetime renewed at
    // half-life: a new SVID about every 3 seconds, each one 13 s before it expires.
    let options = Options {
        x509_ttl: Duration::from_secs(16),
        ..Options::default()
    };
    let agent = TestAgent::start(vec![entry("web", "/web", &[&my_uid_selector()])], options);

    agent.runtime.block_on(async {
        let source = X509Source::builder()
            .endpoint(agent.endpoint())
            .build()
            .await
            .unwrap();
        let mut updates = source.updated();
        let mut held = source.svid().unwrap();
        let (not_before, not_after) = validity(&held);
        let now = SystemTime::now();
        assert!(not_before <= now && now <= not_after);
        let mut seen = vec![held.leaf().as_bytes().to_vec()];

        let deadline = tokio::time::Instant::now() + DEADLINE;
        while seen.len() < 3 {
            tokio::time::timeout_at(deadline, updates.changed())
                .await
                .expect("the source saw no rotation in time")
                .unwrap();
            let now = SystemTime::now();
            let next = source.svid().unwrap();
            if next.leaf().as_bytes() == held.leaf().as_bytes() {
                continue;
            }
            // The SVID held until now was still valid when the new one arrived, and the
            // new one is already valid: no instant without a valid SVID.
            let (_, held_until) = validity(&held);
            assert!(
                now <= held_until,
                "the previous SVID expired before its successor arrived"
            );
            let (from, until) = validity(&next);
            assert!(from <= now && now <= until, "the new SVID is not yet valid");
            verify_locally(
                &next,
                source
                    .bundle_set()
                    .unwrap()
                    .get(&td("example.org"))
                    .unwrap()
                    .authorities(),
            );
            let (held_from, _) = validity(&held);
            assert!(from > held_from, "the new SVID is not newer");
            seen.push(next.leaf().as_bytes().to_vec());
            held = next;
        }
        source.shutdown().await;
    });
}

#[test]
fn jwt_source_fetches_verifies_locally_and_follows_a_key_rotation() {
    let agent = TestAgent::start(two_identities_and_a_stranger(), Options::default());

    agent.runtime.block_on(async {
        let source = JwtSource::builder()
            .endpoint(agent.endpoint())
            .build()
            .await
            .unwrap();

        let default = source.fetch_jwt_svid(["svc"]).await.unwrap();
        assert_eq!(default.spiffe_id(), &id("/web"));
        let api = source
            .fetch_jwt_svid_with_id(["svc"], Some(&id("/api")))
            .await
            .unwrap();
        assert_eq!(api.spiffe_id(), &id("/api"));
        let verified = JwtSvid::parse_and_validate(default.token(), &source, &["svc"]).unwrap();
        assert_eq!(verified.spiffe_id(), &id("/web"));
        assert!(JwtSvid::parse_and_validate(default.token(), &source, &["other"]).is_err());

        // A new signing key: the source receives the bundle holding it, and tokens signed
        // with it verify locally.
        let mut updates = source.updated();
        let new_key = agent.signer.rotate_jwt_key();
        agent.cache.set_bundle(agent.signer.bundle());
        tokio::time::timeout(DEADLINE, updates.changed())
            .await
            .expect("the source saw no bundle update in time")
            .unwrap();
        let bundle = source
            .bundle_set()
            .unwrap()
            .get(&td("example.org"))
            .unwrap();
        assert_eq!(bundle.jwt_authorities().count(), 2);

        let rotated = source.fetch_jwt_svid(["svc2"]).await.unwrap();
        assert_eq!(rotated.key_id(), new_key);
        JwtSvid::parse_and_validate(rotated.token(), &source, &["svc2"]).unwrap();
        source.shutdown().await;
    });
}

#[test]
fn the_workload_api_client_gets_all_jwt_svids_and_validates_through_the_agent() {
    let agent = TestAgent::start(two_identities_and_a_stranger(), Options::default());

    agent.runtime.block_on(async {
        let client = WorkloadApiClient::connect_to(agent.endpoint())
            .await
            .unwrap();

        let all = client.fetch_all_jwt_svids(["a", "b"], None).await.unwrap();
        let ids: Vec<_> = all.iter().map(JwtSvid::spiffe_id).collect();
        assert_eq!(ids, [&id("/web"), &id("/api")]);
        assert_eq!(all[0].hint(), Some("frontend"));
        assert_eq!(all[0].audience(), ["a", "b"]);

        let validated = client
            .validate_jwt_token("b", all[1].token())
            .await
            .unwrap();
        assert_eq!(validated.spiffe_id(), &id("/api"));
        assert!(
            client
                .validate_jwt_token("c", all[1].token())
                .await
                .is_err()
        );

        let not_mine = client
            .fetch_jwt_svid(["a"], Some(&id("/stranger")))
            .await
            .unwrap_err();
        assert!(
            matches!(not_mine, spiffe::WorkloadApiError::NoIdentityIssued),
            "{not_mine:?}"
        );
    });
}

#[test]
fn a_caller_without_identity_is_told_no_identity_issued() {
    let agent = TestAgent::start(
        vec![entry("stranger", "/stranger", &["unix:uid:4294967294"])],
        Options::default(),
    );

    agent.runtime.block_on(async {
        let client = WorkloadApiClient::connect_to(agent.endpoint())
            .await
            .unwrap();

        let x509 = client.fetch_x509_context().await.unwrap_err();
        assert!(
            matches!(x509, spiffe::WorkloadApiError::NoIdentityIssued),
            "{x509:?}"
        );
        let jwt = client.fetch_jwt_svid(["a"], None).await.unwrap_err();
        assert!(
            matches!(jwt, spiffe::WorkloadApiError::NoIdentityIssued),
            "{jwt:?}"
        );
    });
}
