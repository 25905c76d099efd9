//! Leaf facts and what they become: serial numbers, SAN selectors, selectors.

use std::collections::BTreeMap;

use lanyard_spiffe::TrustDomain;
use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256};

use super::X509PopError;
use super::cert::{Curve, Leaf, LeafKey};
use super::identity::{selectors, uri_san_selectors};

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn leaf_with_uris(uris: &[&str]) -> Leaf {
    Leaf {
        fingerprint: "00".into(),
        serial_hex: "01".into(),
        common_name: None,
        uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        ips: Vec::new(),
        digital_signature: true,
        key: LeafKey::Ecdsa {
            curve: Curve::P256,
            point: Vec::new(),
        },
    }
}

#[test]
fn reads_serial_cn_and_key_usage() {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "node-7");
    params.serial_number = Some(vec![0x80, 0x01].into());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.self_signed(&key).unwrap();

    let leaf = Leaf::parse(cert.der()).unwrap();
    // The DER integer is 00 80 01; Go prints the magnitude.
    assert_eq!(leaf.serial_hex, "8001");
    assert_eq!(leaf.common_name.as_deref(), Some("node-7"));
    assert!(leaf.digital_signature);
    assert!(matches!(
        leaf.key,
        LeafKey::Ecdsa {
            curve: Curve::P256,
            ..
        }
    ));
    assert_eq!(leaf.fingerprint.len(), 40);

    let mut trailing = cert.der().to_vec();
    trailing.push(0);
    assert!(matches!(
        Leaf::parse(&trailing),
        Err(X509PopError::MalformedCertificate { index: 0 })
    ));
}

#[test]
fn uri_san_selectors_follow_spire() {
    let leaf = leaf_with_uris(&[
        "x509pop://example.org/datacenter/us-east-1",
        "x509pop://example.org/path/a/b/",
        "x509pop://example.org/rack/r%2010?x=1#frag",
        "x509pop://example.org/only",
        "x509pop://example.org/bad/%zz",
        "x509pop://example.org/sign/%+1",
        "x509pop://example.org.evil/k/v",
        "x509pop://other.org/k/v",
        "spiffe://example.org/k/v",
        "x509pop://example.org/datacenter/eu-west-1",
    ]);
    let pairs = uri_san_selectors(&leaf, &td());
    let want: BTreeMap<String, String> = [
        ("datacenter", "eu-west-1"),
        ("path", "a/b"),
        ("rack", "r 10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(pairs, want);
}

#[test]
fn selectors_cover_cn_cas_serial_and_sans() {
    let mut leaf = leaf_with_uris(&["x509pop://example.org/zone/a"]);
    leaf.common_name = Some("node-1".into());
    let sans = uri_san_selectors(&leaf, &td());
    let cas = vec![b"intermediate".to_vec(), b"root".to_vec()];

    let got: Vec<String> = selectors(&leaf, &cas, &sans)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let fp = |der: &[u8]| super::cert::fingerprint(der);
    let mut want = vec![
        "x509pop:subject:cn:node-1".to_owned(),
        format!("x509pop:ca:fingerprint:{}", fp(b"intermediate")),
        format!("x509pop:ca:fingerprint:{}", fp(b"root")),
        "x509pop:serialnumber:01".to_owned(),
        "x509pop:san:zone:a".to_owned(),
    ];
    want.sort();
    assert_eq!(got, want);

    // No CN, no CN selector; an empty CN neither.
    leaf.common_name = Some(String::new());
    let none = selectors(&leaf, &[], &BTreeMap::new()).unwrap();
    assert_eq!(none.len(), 1);

    // A value that cannot be a selector fails the attestation.
    let control = leaf_with_uris(&["x509pop://example.org/k/a%0Ab"]);
    let sans = uri_san_selectors(&control, &td());
    assert!(matches!(
        selectors(&control, &[], &sans),
        Err(X509PopError::Selector { .. })
    ));
}
