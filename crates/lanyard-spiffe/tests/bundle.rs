//! Trust bundles, bundle JSON, bundle maps and PEM (checklist 1.2, 1.3 and 1.4).
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use lanyard_spiffe::bundle::certificates_to_pem;
use lanyard_spiffe::{
    Bundle, BundleError, BundleSet, JsonError, JwtAuthority, KeyError, TrustDomain,
};
use rcgen::{
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ECDSA_P521_SHA512, PKCS_ED25519,
    PKCS_RSA_SHA256, PublicKeyData as _,
};
use serde_json::{Value, json};

fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).unwrap()
}

fn jwt_authority(kid: &str, alg: &'static rcgen::SignatureAlgorithm) -> JwtAuthority {
    JwtAuthority::new(kid, key(alg).subject_public_key_info(), Some(1_800_000_000)).unwrap()
}

/// A bundle with an EC and an RSA root and JWT keys of every supported type.
fn full_bundle() -> Bundle {
    let mut bundle = Bundle::new(td("example.org"));
    bundle
        .add_x509_authority(root("example.org").der())
        .unwrap();
    bundle
        .add_x509_authority(root_with(ca_params("example.org"), &PKCS_RSA_SHA256).der())
        .unwrap();
    for (kid, alg) in [
        ("p256", &PKCS_ECDSA_P256_SHA256),
        ("p384", &PKCS_ECDSA_P384_SHA384),
        ("p521", &PKCS_ECDSA_P521_SHA512),
        ("rsa", &PKCS_RSA_SHA256),
    ] {
        bundle.add_jwt_authority(jwt_authority(kid, alg)).unwrap();
    }
    bundle.set_sequence_number(42);
    bundle.set_refresh_hint(Some(Duration::from_secs(300)));
    bundle
}

/// `bundle` read back from its own JSON; JSON carries no JWT key expiry.
fn without_expiry(bundle: &Bundle) -> Bundle {
    let mut copy = bundle.clone();
    for authority in bundle.jwt_authorities() {
        copy.remove_jwt_authority(authority.key_id());
        copy.add_jwt_authority(
            JwtAuthority::new(authority.key_id(), authority.public_key().to_vec(), None).unwrap(),
        )
        .unwrap();
    }
    copy
}

fn parse(doc: &Value) -> Result<Bundle, BundleError> {
    Bundle::parse_json(td("example.org"), doc.to_string().as_bytes())
}

fn x509_jwk(cert: &[u8]) -> Value {
    json!({"use": "x509-svid", "kty": "EC", "x5c": [STANDARD.encode(cert)]})
}

fn jwt_jwk(bundle: &Bundle, kid: &str) -> Value {
    let jwks: Value = serde_json::from_str(&bundle.to_jwt_jwks().unwrap()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone()
}

#[test]
fn json_round_trip() {
    let bundle = full_bundle();
    let text = bundle.to_json().unwrap();
    let parsed = Bundle::parse_json(td("example.org"), text.as_bytes()).unwrap();
    assert_eq!(parsed, without_expiry(&bundle));
    assert_eq!(parsed.sequence_number(), 42);
    assert_eq!(parsed.refresh_hint(), Some(Duration::from_secs(300)));
}

#[test]
fn written_json_follows_the_spec() {
    let bundle = full_bundle();
    let doc: Value = serde_json::from_str(&bundle.to_json().unwrap()).unwrap();
    assert_eq!(doc["spiffe_sequence"], 42);
    assert_eq!(doc["spiffe_refresh_hint"], 300);

    let keys = doc["keys"].as_array().unwrap();
    let x509: Vec<_> = keys.iter().filter(|k| k["use"] == "x509-svid").collect();
    let jwt: Vec<_> = keys.iter().filter(|k| k["use"] == "jwt-svid").collect();
    assert_eq!((x509.len(), jwt.len(), keys.len()), (2, 4, 6));
    for (key, cert) in x509.iter().zip(bundle.x509_authorities()) {
        assert!(
            key.get("kid").is_none(),
            "x509-svid JWKs must not have a kid"
        );
        let x5c = key["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 1);
        assert_eq!(
            STANDARD.decode(x5c[0].as_str().unwrap()).unwrap(),
            cert.as_ref()
        );
        assert!(key["kty"].is_string());
    }
    assert_eq!(x509[0]["kty"], "EC");
    assert_eq!(x509[1]["kty"], "RSA");
    for key in &jwt {
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    }
    let p521 = jwt.iter().find(|k| k["kid"] == "p521").unwrap();
    assert_eq!(p521["crv"], "P-521");
    assert_eq!(p521["x"].as_str().unwrap().len(), 88, "66-byte coordinate");
}

#[test]
fn keys_is_required_and_may_be_empty() {
    assert!(matches!(parse(&json!({})), Err(BundleError::MissingKeys)));
    assert!(matches!(
        parse(&json!({"keys": {}})),
        Err(BundleError::KeysNotArray)
    ));
    let empty = parse(&json!({"keys": []})).unwrap();
    assert!(empty.is_empty(), "an empty bundle trusts nothing");
    assert!(matches!(
        parse(&json!({"keys": [1]})),
        Err(BundleError::JwkNotObject { index: 0 })
    ));
}

#[test]
fn unknown_top_level_members_are_allowed() {
    let b = parse(&json!({"keys": [], "spiffe_whatever": {"a": 1}, "x": null})).unwrap();
    assert!(b.is_empty());
}

#[test]
fn sequence_is_a_64_bit_unsigned_integer() {
    let b = parse(&json!({"keys": [], "spiffe_sequence": u64::MAX})).unwrap();
    assert_eq!(b.sequence_number(), u64::MAX);
    assert_eq!(parse(&json!({"keys": []})).unwrap().sequence_number(), 0);
    for bad in [json!(-1), json!(1.5), json!("1"), json!(null)] {
        assert!(matches!(
            parse(&json!({"keys": [], "spiffe_sequence": bad})),
            Err(BundleError::BadSequence)
        ));
    }
    let too_big = br#"{"keys":[],"spiffe_sequence":18446744073709551616}"#;
    assert!(Bundle::parse_json(td("example.org"), too_big).is_err());
}

#[test]
fn refresh_hint_is_integer_seconds() {
    let b = parse(&json!({"keys": [], "spiffe_refresh_hint": 60})).unwrap();
    assert_eq!(b.refresh_hint(), Some(Duration::from_secs(60)));
    assert_eq!(parse(&json!({"keys": []})).unwrap().refresh_hint(), None);
    for bad in [json!("5m"), json!(-1), json!(1.5)] {
        assert!(matches!(
            parse(&json!({"keys": [], "spiffe_refresh_hint": bad})),
            Err(BundleError::BadRefreshHint)
        ));
    }
}

#[test]
fn jwks_with_missing_or_unknown_use_are_ignored() {
    let cert = root("example.org").der();
    let mut jwk = x509_jwk(&cert);
    for use_value in [
        None,
        Some("X509-SVID"),
        Some("wit-svid"),
        Some("sig"),
        Some(""),
    ] {
        match use_value {
            None => jwk.as_object_mut().unwrap().remove("use"),
            Some(u) => jwk.as_object_mut().unwrap().insert("use".into(), u.into()),
        };
        let b = parse(&json!({"keys": [jwk]})).unwrap();
        assert!(b.is_empty(), "{use_value:?}");
    }
}

#[test]
fn jwks_with_missing_or_unknown_kty_are_ignored() {
    let cert = root("example.org").der();
    let mut unknown = x509_jwk(&cert);
    unknown["kty"] = "foo".into();
    let mut missing = x509_jwk(&cert);
    missing.as_object_mut().unwrap().remove("kty");
    // Symmetric keys are never usable: no HMAC-signed JWT-SVIDs.
    let hmac = json!({"use": "jwt-svid", "kty": "oct", "kid": "k", "k": "c2VjcmV0"});
    let b = parse(&json!({"keys": [unknown, missing, hmac]})).unwrap();
    assert!(b.is_empty());
}

#[test]
fn x509_entries_use_only_the_first_x5c_certificate() {
    let first = root("example.org").der();
    let second = root("example.org").der();
    let mut jwk = x509_jwk(&first);
    jwk["x5c"] = json!([STANDARD.encode(&first), STANDARD.encode(&second)]);
    let b = parse(&json!({"keys": [jwk]})).unwrap();
    assert_eq!(b.x509_authorities(), [first]);
}

#[test]
fn x509_entries_without_x5c_are_ignored() {
    let b = parse(&json!({"keys": [
        {"use": "x509-svid", "kty": "EC"},
        {"use": "x509-svid", "kty": "EC", "x5c": []},
    ]}))
    .unwrap();
    assert!(b.x509_authorities().is_empty());
}

#[test]
fn x509_authorities_are_the_union_of_entries() {
    let a = root("example.org").der();
    let b = root("example.org").der();
    let bundle = parse(&json!({"keys": [x509_jwk(&a), x509_jwk(&b), x509_jwk(&a)]})).unwrap();
    assert_eq!(bundle.x509_authorities(), [a, b]);
}

#[test]
fn malformed_x509_entries_are_errors() {
    let bad_x5c = [json!("MII"), json!([1]), json!(["%%%"])];
    for x5c in bad_x5c {
        let doc = json!({"keys": [{"use": "x509-svid", "kty": "EC", "x5c": x5c}]});
        assert!(
            matches!(parse(&doc), Err(BundleError::BadX5c { index: 0 })),
            "{doc}"
        );
    }
    let not_a_cert =
        json!({"keys": [{"use": "x509-svid", "kty": "EC", "x5c": [STANDARD.encode(b"hello")]}]});
    assert!(matches!(
        parse(&not_a_cert),
        Err(BundleError::BadCertificate(_))
    ));
}

#[test]
fn jwt_entries_need_a_kid() {
    let bundle = full_bundle();
    let mut jwk = jwt_jwk(&bundle, "p256");
    jwk.as_object_mut().unwrap().remove("kid");
    assert!(matches!(
        parse(&json!({"keys": [jwk]})),
        Err(BundleError::MissingKeyId { index: 0 })
    ));
    jwk["kid"] = "".into();
    assert!(matches!(
        parse(&json!({"keys": [jwk]})),
        Err(BundleError::MissingKeyId { index: 0 })
    ));
}

#[test]
fn jwt_key_ids_are_unique() {
    let bundle = full_bundle();
    let a = jwt_jwk(&bundle, "p256");
    let mut b = jwt_jwk(&bundle, "p384");
    b["kid"] = "p256".into();
    assert!(matches!(
        parse(&json!({"keys": [a, b]})),
        Err(BundleError::DuplicateKeyId(k)) if k == "p256"
    ));
    assert!(matches!(
        parse(&json!({"keys": [a, a]})),
        Err(BundleError::DuplicateKeyId(_))
    ));
}

#[test]
fn malformed_jwt_keys_are_errors() {
    let bundle = full_bundle();
    let mut short = jwt_jwk(&bundle, "p256");
    short["x"] = "AAAA".into();
    assert!(matches!(
        parse(&json!({"keys": [short]})),
        Err(BundleError::Key(KeyError::BadJwkParameter("x")))
    ));

    let mut off_curve = jwt_jwk(&bundle, "p256");
    off_curve["y"] = off_curve["x"].clone();
    assert!(matches!(
        parse(&json!({"keys": [off_curve]})),
        Err(BundleError::Key(KeyError::InvalidKeyMaterial))
    ));

    let mut curve = jwt_jwk(&bundle, "p256");
    curve["crv"] = "secp256k1".into();
    assert!(matches!(
        parse(&json!({"keys": [curve]})),
        Err(BundleError::Key(KeyError::UnsupportedCurve(_)))
    ));
}

#[test]
fn duplicate_json_keys_are_rejected() {
    let text = br#"{"keys":[],"spiffe_sequence":1,"spiffe_sequence":2}"#;
    assert!(matches!(
        Bundle::parse_json(td("example.org"), text),
        Err(BundleError::Json(JsonError::DuplicateKey(k))) if k == "spiffe_sequence"
    ));
}

#[test]
fn jwt_authorities_accept_only_jwt_capable_keys() {
    assert!(matches!(
        JwtAuthority::new("k", key(&PKCS_ED25519).subject_public_key_info(), None),
        Err(BundleError::UnsupportedJwtKey)
    ));
    assert!(matches!(
        JwtAuthority::new(
            "",
            key(&PKCS_ECDSA_P256_SHA256).subject_public_key_info(),
            None
        ),
        Err(BundleError::BadKeyId { .. })
    ));
    assert!(matches!(
        JwtAuthority::new("k", b"not a key".to_vec(), None),
        Err(BundleError::Key(KeyError::MalformedSpki))
    ));

    let mut bundle = Bundle::new(td("example.org"));
    let a = jwt_authority("k", &PKCS_ECDSA_P256_SHA256);
    bundle.add_jwt_authority(a.clone()).unwrap();
    bundle.add_jwt_authority(a).unwrap();
    assert_eq!(bundle.jwt_authorities().len(), 1);
    assert!(matches!(
        bundle.add_jwt_authority(jwt_authority("k", &PKCS_ECDSA_P256_SHA256)),
        Err(BundleError::DuplicateKeyId(_))
    ));
    assert!(bundle.remove_jwt_authority("k").is_some());
    assert!(bundle.jwt_authority("k").is_none());
}

#[test]
fn jwt_jwks_hold_only_jwt_keys() {
    let bundle = full_bundle();
    let doc: Value = serde_json::from_str(&bundle.to_jwt_jwks().unwrap()).unwrap();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    assert!(
        keys.iter()
            .all(|k| k["use"] == "jwt-svid" && k.get("x5c").is_none())
    );
    assert!(doc.get("spiffe_sequence").is_none());

    let parsed = Bundle::parse_jwt_jwks(td("example.org"), doc.to_string().as_bytes()).unwrap();
    assert!(parsed.x509_authorities().is_empty());
    assert_eq!(parsed.jwt_authorities().len(), 4);

    // Plain JWKS without `use` (as some clients write them) count as JWT keys;
    // x509-svid entries are dropped.
    let mut plain = jwt_jwk(&bundle, "rsa");
    plain.as_object_mut().unwrap().remove("use");
    let cert = root("example.org").der();
    let doc = json!({"keys": [plain, x509_jwk(&cert)]});
    let parsed = Bundle::parse_jwt_jwks(td("example.org"), doc.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.jwt_authorities().len(), 1);
    assert!(parsed.x509_authorities().is_empty());
}

#[test]
fn pem_round_trip() {
    let bundle = full_bundle();
    let pem = bundle.x509_authorities_to_pem();
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(pem.lines().all(|l| l.len() <= 64));
    let parsed = Bundle::parse_x509_pem(td("example.org"), pem.as_bytes()).unwrap();
    assert_eq!(parsed.x509_authorities(), bundle.x509_authorities());
    assert_eq!(certificates_to_pem(bundle.x509_authorities()), pem);

    assert!(matches!(
        Bundle::parse_x509_pem(td("example.org"), b"no pem here"),
        Err(BundleError::NoCertificatesInPem)
    ));
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(Bundle::parse_x509_pem(td("example.org"), broken.as_bytes()).is_err());
}

#[test]
fn x509_authorities_must_be_certificates() {
    let mut bundle = Bundle::new(td("example.org"));
    assert!(matches!(
        bundle.add_x509_authority(b"junk".to_vec().into()),
        Err(BundleError::BadCertificate(_))
    ));
    let cert = root("example.org").der();
    assert!(bundle.add_x509_authority(cert.clone()).unwrap());
    assert!(!bundle.add_x509_authority(cert.clone()).unwrap());
    assert!(bundle.remove_x509_authority(&cert));
    assert!(bundle.is_empty());
}

#[test]
fn bundle_map_round_trip_omits_per_bundle_hints() {
    let mut other = Bundle::new(td("other.org"));
    other.add_x509_authority(root("other.org").der()).unwrap();
    let set: BundleSet = [full_bundle(), other].into_iter().collect();

    let text = set.to_bundle_map_json().unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(
        doc["trust_domains"]["example.org"]
            .get("spiffe_refresh_hint")
            .is_none()
    );
    assert_eq!(doc["trust_domains"]["example.org"]["spiffe_sequence"], 42);

    let parsed = BundleSet::parse_bundle_map_json(text.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 2);
    let mut expected = without_expiry(set.get(&td("example.org")).unwrap());
    expected.set_refresh_hint(None);
    assert_eq!(parsed.get(&td("example.org")).unwrap(), &expected);
    assert_eq!(parsed.get(&td("other.org")), set.get(&td("other.org")));
}

#[test]
fn bundle_map_requires_trust_domains() {
    assert!(matches!(
        BundleSet::parse_bundle_map_json(b"{}"),
        Err(BundleError::MissingTrustDomains)
    ));
    assert!(matches!(
        BundleSet::parse_bundle_map_json(br#"{"trust_domains": []}"#),
        Err(BundleError::MissingTrustDomains)
    ));
    let empty = BundleSet::parse_bundle_map_json(br#"{"trust_domains": {}}"#).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn bundle_map_rejects_duplicate_trust_domains() {
    let text = br#"{"trust_domains": {"a.org": {"keys": []}, "a.org": {"keys": []}}}"#;
    assert!(matches!(
        BundleSet::parse_bundle_map_json(text),
        Err(BundleError::Json(JsonError::DuplicateKey(k))) if k == "a.org"
    ));
}

#[test]
fn bundle_map_checks_names_and_bundles() {
    let bad_name = br#"{"trust_domains": {"A.org": {"keys": []}}}"#;
    assert!(matches!(
        BundleSet::parse_bundle_map_json(bad_name),
        Err(BundleError::BadTrustDomain { .. })
    ));
    let bad_bundle = br#"{"trust_domains": {"a.org": {}}}"#;
    assert!(matches!(
        BundleSet::parse_bundle_map_json(bad_bundle),
        Err(BundleError::InMap { .. })
    ));
}

#[test]
fn bundle_set_holds_one_bundle_per_trust_domain() {
    let mut set = BundleSet::new();
    let mut first = Bundle::new(td("a.org"));
    first.set_sequence_number(1);
    let mut second = Bundle::new(td("a.org"));
    second.set_sequence_number(2);
    assert!(set.insert(first).is_none());
    assert_eq!(set.insert(second).unwrap().sequence_number(), 1);
    assert_eq!(set.len(), 1);

    let id = lanyard_spiffe::SpiffeId::parse("spiffe://a.org/x").unwrap();
    assert_eq!(set.get_for_id(&id).unwrap().sequence_number(), 2);
    assert!(set.contains(&td("a.org")));
    assert_eq!(set.trust_domains().collect::<Vec<_>>(), [&td("a.org")]);
    assert!(set.remove(&td("a.org")).is_some());
    assert!(set.is_empty());
}

#[test]
fn default_refresh_hint_is_five_minutes() {
    let mut bundle = Bundle::new(td("example.org"));
    assert_eq!(bundle.refresh_hint_or_default(), Duration::from_secs(300));
    bundle.set_refresh_hint(Some(Duration::from_secs(30)));
    assert_eq!(bundle.refresh_hint_or_default(), Duration::from_secs(30));
}

#[test]
fn bundle_with_no_usable_keys_trusts_no_svid() {
    let root = root("example.org");
    let mut unknown_use = x509_jwk(&root.der());
    unknown_use["use"] = "sig".into();
    let doc = json!({"keys": [unknown_use, {"use": "x509-svid", "kty": "EC"}]});
    let bundle = parse(&doc).unwrap();
    assert!(bundle.is_empty());

    let set: BundleSet = [bundle].into_iter().collect();
    let chain = [leaf(&leaf_params("spiffe://example.org/w"), &root)];
    assert!(matches!(
        lanyard_spiffe::verify_x509_svid(&chain, &set, now()),
        Err(lanyard_spiffe::X509SvidError::NoX509Authorities(_))
    ));
}
