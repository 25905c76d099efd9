#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::time::Duration;

use common::{Harness, bundle_set, ca_signer, id, jwt_request, start, td};
use lanyard_ca::{CaError, JwtKey, JwtKeyError, KeyType};
use lanyard_spiffe::jwt::{JwtAlgorithm, verify_jwt_svid};
use lanyard_spiffe::{Bundle, BundleSet};

const HOUR: Duration = Duration::from_secs(3600);

fn bundles_for(key: &JwtKey) -> BundleSet {
    let mut bundle = Bundle::new(td());
    bundle.add_jwt_authority(key.authority().unwrap()).unwrap();
    let mut set = BundleSet::new();
    set.insert(bundle);
    set
}

#[test]
fn jwt_svids_verify_for_each_key_type_with_the_matching_algorithm() {
    let cases = [
        (KeyType::EcP256, JwtAlgorithm::Es256),
        (KeyType::EcP384, JwtAlgorithm::Es384),
        (KeyType::Rsa2048, JwtAlgorithm::Rs256),
    ];
    for (key_type, algorithm) in cases {
        let key = JwtKey::new(ca_signer(key_type), start(), 24 * HOUR).unwrap();
        let mut request = jwt_request("/w", HOUR);
        request.issuer = Some("https://oidc.example.org".into());
        request.include_jti = true;

        let issued = key.issue_jwt_svid(&request, start()).unwrap();
        let svid = verify_jwt_svid(issued.token(), &bundles_for(&key), "api", start()).unwrap();

        assert_eq!(svid.algorithm(), algorithm);
        assert_eq!(svid.key_id(), Some(key.key_id()));
        assert_eq!(svid.spiffe_id(), &id("/w"));
        assert_eq!(svid.expires_at(), 1_800_000_000 + 3600);
        assert_eq!(issued.expires_at(), start() + HOUR);
        assert_eq!(svid.issued_at(), Some(issued.issued_at()));
        assert_eq!(issued.issued_at(), 1_800_000_000);
        assert_eq!(svid.claims()["iss"], "https://oidc.example.org");
        assert_eq!(svid.claims()["jti"].as_str().unwrap().len(), 32);
    }
}

#[test]
fn jwt_svid_expiry_is_capped_at_the_key_expiry() {
    let key = JwtKey::new(ca_signer(KeyType::EcP256), start(), 2 * HOUR).unwrap();
    let now = start() + 90 * 60 * Duration::from_secs(1);

    let issued = key.issue_jwt_svid(&jwt_request("/w", HOUR), now).unwrap();

    assert_eq!(issued.expires_at(), key.not_after());
    assert!(matches!(
        key.issue_jwt_svid(&jwt_request("/w", HOUR), key.not_after()),
        Err(JwtKeyError::Expired(_))
    ));
}

#[test]
fn jwt_svid_requests_are_checked() {
    let key = JwtKey::new(ca_signer(KeyType::EcP256), start(), 2 * HOUR).unwrap();

    let mut no_audience = jwt_request("/w", HOUR);
    no_audience.audience.clear();
    assert!(matches!(
        key.issue_jwt_svid(&no_audience, start()),
        Err(JwtKeyError::Issue(_))
    ));
    assert!(matches!(
        key.issue_jwt_svid(&jwt_request("/w", Duration::ZERO), start()),
        Err(JwtKeyError::ZeroTtl)
    ));
}

#[test]
fn manager_signs_with_the_active_key_and_refuses_foreign_ids() {
    let harness = Harness::new(24 * HOUR);
    let manager = harness.open();
    manager.rotate().unwrap();

    let issued = manager.issue_jwt_svid(&jwt_request("/w", HOUR)).unwrap();
    let svid = verify_jwt_svid(issued.token(), &bundle_set(&manager), "api", start()).unwrap();
    assert_eq!(
        svid.key_id(),
        Some(manager.active_jwt_key().unwrap().key_id())
    );
    assert!(
        !format!("{issued:?}").contains(issued.token()),
        "debug must redact the token"
    );

    let mut foreign = jwt_request("/w", HOUR);
    foreign.spiffe_id = lanyard_spiffe::SpiffeId::parse("spiffe://other.org/w").unwrap();
    assert!(matches!(
        manager.issue_jwt_svid(&foreign),
        Err(CaError::Jwt(JwtKeyError::ForeignTrustDomain(_)))
    ));
}
