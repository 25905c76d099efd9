#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::time::Duration;

use common::{ca_signer, id, start, td, webpki_verify, workload_key};
use lanyard_ca::{CaSubject, KeyType, X509Authority, X509Error, X509SvidRequest};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_X509_EXT_KEY_USAGE, OID_X509_EXT_NAME_CONSTRAINTS};
use x509_parser::prelude::{FromDer, X509Certificate};

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

fn self_signed(key_type: KeyType) -> X509Authority {
    X509Authority::self_signed(
        &td(),
        &CaSubject::default(),
        ca_signer(key_type),
        DAY,
        start(),
    )
    .unwrap()
}

fn request(path: &str, dns: &[&str], ttl: Duration) -> X509SvidRequest {
    X509SvidRequest {
        public_key: workload_key(),
        spiffe_id: id(path),
        dns_names: dns.iter().map(|s| (*s).to_owned()).collect(),
        ttl,
    }
}

fn uris(cert: &X509Certificate<'_>) -> Vec<String> {
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect()
}

fn dns_sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn self_signed_ca_follows_the_spiffe_ca_profile() {
    let ca = self_signed(KeyType::EcP256);
    let (_, cert) = X509Certificate::from_der(ca.certificate()).unwrap();

    assert!(cert.basic_constraints().unwrap().unwrap().value.ca);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.key_cert_sign() && ku.value.crl_sign());
    assert!(!ku.value.digital_signature());
    assert_eq!(uris(&cert), vec!["spiffe://example.org".to_owned()]);
    assert!(
        cert.get_extension_unique(&OID_X509_EXT_NAME_CONSTRAINTS)
            .unwrap()
            .is_none()
    );

    let subject = cert.subject();
    let country: Vec<_> = subject
        .iter_country()
        .map(|a| a.as_str().unwrap())
        .collect();
    let org: Vec<_> = subject
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(country, ["US"]);
    assert_eq!(org, ["SPIFFE"]);
    let serial_attr: Vec<_> = subject
        .iter_attributes()
        .filter(|a| a.attr_type().to_id_string() == "2.5.4.5")
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(serial_attr, [cert.serial.to_string()]);

    assert_eq!(ca.trust_anchors(), std::slice::from_ref(ca.certificate()));
    assert!(ca.chain().is_empty());
    assert!(ca.upstream_authority_id().is_none());
    assert_eq!(ca.authority_id().len(), 40, "sha-1 subject key id in hex");
    assert_eq!(ca.not_after(), start() + DAY);
    assert_eq!(ca.not_before(), start() - Duration::from_secs(10));
}

#[test]
fn custom_ca_subject_is_used() {
    let subject = CaSubject {
        country: Some("DE".into()),
        organization: Some("HPC Center".into()),
        organizational_unit: None,
        common_name: Some("lanyard".into()),
    };
    let ca = X509Authority::self_signed(&td(), &subject, ca_signer(KeyType::EcP256), DAY, start())
        .unwrap();
    let (_, cert) = X509Certificate::from_der(ca.certificate()).unwrap();

    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    let org: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["lanyard"]);
    assert_eq!(org, ["HPC Center"]);
}

#[test]
fn leaf_follows_the_x509_svid_profile_and_spire_template() {
    let ca = self_signed(KeyType::EcP256);
    let now = start() + HOUR;
    let req = request("/workload/a", &["a.example.org", "b.example.org"], HOUR);

    let svid = ca.issue_x509_svid(&req, now).unwrap();

    assert_eq!(svid.chain().len(), 1, "self-signed ca: leaf only, no root");
    let (_, leaf) = X509Certificate::from_der(svid.leaf()).unwrap();
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature() && ku.value.key_encipherment());
    assert!(ku.value.key_agreement());
    assert!(!ku.value.key_cert_sign() && !ku.value.crl_sign());
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(
        uris(&leaf),
        vec!["spiffe://example.org/workload/a".to_owned()]
    );
    assert_eq!(dns_sans(&leaf), ["a.example.org", "b.example.org"]);

    let cn: Vec<_> = leaf
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    let org: Vec<_> = leaf
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["a.example.org"]);
    assert_eq!(org, ["SPIRE"]);
    assert_eq!(leaf.serial.to_string(), svid.serial().to_string());
    assert!(
        svid.serial() > u128::from(u64::MAX),
        "128-bit random serial"
    );

    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    let now_secs = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(not_before, now_secs - 10);
    assert_eq!(not_after, now_secs + 3600);
    assert_eq!(svid.expires_at(), now + HOUR);

    let ski = leaf.extensions().iter().any(|e| {
        matches!(
            e.parsed_extension(),
            ParsedExtension::SubjectKeyIdentifier(_)
        )
    });
    assert!(ski);
    assert!(
        leaf.get_extension_unique(&OID_X509_EXT_KEY_USAGE)
            .unwrap()
            .is_some()
    );

    webpki_verify(&svid.chain(), ca.trust_anchors(), now).unwrap();
    let mut bundle = lanyard_spiffe::Bundle::new(td());
    bundle.add_x509_authority(ca.certificate().clone()).unwrap();
    let verified = lanyard_spiffe::x509::verify_x509_svid_with_bundle(&svid.chain(), &bundle, now);
    assert_eq!(verified.unwrap(), id("/workload/a"));
}

#[test]
fn leaf_without_dns_names_has_no_common_name() {
    let ca = self_signed(KeyType::EcP256);

    let svid = ca
        .issue_x509_svid(&request("/w", &[], HOUR), start())
        .unwrap();

    let (_, leaf) = X509Certificate::from_der(svid.leaf()).unwrap();
    assert_eq!(leaf.subject().iter_common_name().count(), 0);
    assert!(dns_sans(&leaf).is_empty());
}

#[test]
fn leaf_lifetime_is_capped_at_the_ca_not_after() {
    let ca = self_signed(KeyType::EcP256);
    let now = start() + DAY - HOUR;

    let svid = ca
        .issue_x509_svid(&request("/w", &[], 5 * HOUR), now)
        .unwrap();

    assert_eq!(svid.expires_at(), ca.not_after());
    webpki_verify(&svid.chain(), ca.trust_anchors(), now).unwrap();
    assert!(
        webpki_verify(
            &svid.chain(),
            ca.trust_anchors(),
            ca.not_after() + Duration::from_secs(1)
        )
        .is_err()
    );
}

#[test]
fn every_key_type_signs_verifiable_svids_except_rsa_4096_which_has_its_own_test() {
    for key_type in [KeyType::EcP256, KeyType::EcP384, KeyType::Rsa2048] {
        let ca = self_signed(key_type);
        let svid = ca
            .issue_x509_svid(&request("/w", &["w"], HOUR), start())
            .unwrap();
        webpki_verify(&svid.chain(), ca.trust_anchors(), start()).unwrap();
    }
}

#[test]
fn rsa_4096_signs_verifiable_x509_and_jwt_svids() {
    let ca = self_signed(KeyType::Rsa4096);

    let svid = ca
        .issue_x509_svid(&request("/w", &[], HOUR), start())
        .unwrap();
    webpki_verify(&svid.chain(), ca.trust_anchors(), start()).unwrap();

    // RSA-4096 generation is slow, so the JWT check lives in this test too.
    let jwt_key = lanyard_ca::JwtKey::new(ca_signer(KeyType::Rsa4096), start(), DAY).unwrap();
    let issued = jwt_key
        .issue_jwt_svid(&common::jwt_request("/w", HOUR), start())
        .unwrap();
    let mut bundle = lanyard_spiffe::Bundle::new(td());
    bundle.add_x509_authority(ca.certificate().clone()).unwrap();
    bundle
        .add_jwt_authority(jwt_key.authority().unwrap())
        .unwrap();
    let mut bundles = lanyard_spiffe::BundleSet::new();
    bundles.insert(bundle);
    let jwt =
        lanyard_spiffe::jwt::verify_jwt_svid(issued.token(), &bundles, "api", start()).unwrap();
    assert_eq!(jwt.algorithm(), lanyard_spiffe::jwt::JwtAlgorithm::Rs256);
    let verified = lanyard_spiffe::verify_x509_svid(&svid.chain(), &bundles, start()).unwrap();
    assert_eq!(verified, id("/w"));
}

#[test]
fn refuses_requests_the_profile_forbids() {
    let ca = self_signed(KeyType::EcP256);

    let mut foreign = request("/w", &[], HOUR);
    foreign.spiffe_id = lanyard_spiffe::SpiffeId::parse("spiffe://other.org/w").unwrap();
    assert!(matches!(
        ca.issue_x509_svid(&foreign, start()),
        Err(X509Error::ForeignTrustDomain { .. })
    ));

    let mut root = request("/w", &[], HOUR);
    root.spiffe_id = td().id();
    assert!(matches!(
        ca.issue_x509_svid(&root, start()),
        Err(X509Error::RootSpiffeId(_))
    ));

    for bad in ["", "bad name", "-x.example", "a..b", "ünïcode.example"] {
        let req = request("/w", &[bad], HOUR);
        assert!(
            matches!(
                ca.issue_x509_svid(&req, start()),
                Err(X509Error::InvalidDnsName(_))
            ),
            "{bad:?}"
        );
    }
    assert!(
        ca.issue_x509_svid(&request("/w", &["*.example.org"], HOUR), start())
            .is_ok()
    );

    assert!(matches!(
        ca.issue_x509_svid(&request("/w", &[], Duration::ZERO), start()),
        Err(X509Error::ZeroTtl)
    ));
    assert!(matches!(
        ca.issue_x509_svid(&request("/w", &[], HOUR), ca.not_after()),
        Err(X509Error::AuthorityNotValid { .. })
    ));
}

#[test]
fn from_parts_rejects_a_certificate_of_another_key() {
    let ca = self_signed(KeyType::EcP256);

    let err = X509Authority::from_parts(
        &td(),
        ca_signer(KeyType::EcP256),
        ca.certificate().clone(),
        Vec::new(),
        Vec::new(),
    )
    .unwrap_err();

    assert!(matches!(err, X509Error::InvalidCaCertificate(_)), "{err}");
}

#[test]
fn from_parts_round_trips_a_ca() {
    let signer = ca_signer(KeyType::EcP384);
    let ca = X509Authority::self_signed(&td(), &CaSubject::default(), signer.clone(), DAY, start())
        .unwrap();

    let again = X509Authority::from_parts(
        &td(),
        signer,
        ca.certificate().clone(),
        Vec::new(),
        Vec::new(),
    )
    .unwrap();

    assert_eq!(again.authority_id(), ca.authority_id());
    assert_eq!(again.not_after(), ca.not_after());
    let svid = again
        .issue_x509_svid(&request("/w", &[], HOUR), start())
        .unwrap();
    webpki_verify(&svid.chain(), ca.trust_anchors(), start()).unwrap();
}

#[test]
fn a_csr_contributes_only_its_public_key() {
    let ca = self_signed(KeyType::EcP256);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["evil.example".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "evil");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let csr = params.serialize_request(&key).unwrap();

    let public_key = lanyard_ca::public_key_from_csr(csr.der()).unwrap();
    let mut req = request("/w", &["good.example"], HOUR);
    req.public_key = public_key;
    let svid = ca.issue_x509_svid(&req, start()).unwrap();

    let (_, leaf) = X509Certificate::from_der(svid.leaf()).unwrap();
    assert_eq!(
        leaf.public_key().raw,
        rcgen::PublicKeyData::subject_public_key_info(&key)
    );
    assert_eq!(dns_sans(&leaf), ["good.example"]);
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
    let cn: Vec<_> = leaf
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["good.example"]);
}

#[test]
fn huge_ttls_are_capped_instead_of_overflowing() {
    let ca = X509Authority::self_signed(
        &td(),
        &CaSubject::default(),
        ca_signer(KeyType::EcP256),
        Duration::MAX,
        start(),
    )
    .unwrap();
    let (_, cert) = X509Certificate::from_der(ca.certificate()).unwrap();
    assert_eq!(cert.validity().not_after.timestamp(), 253_402_300_799);

    let svid = ca
        .issue_x509_svid(&request("/w", &[], Duration::MAX), start())
        .unwrap();
    assert_eq!(svid.expires_at(), ca.not_after());

    let jwt_key = lanyard_ca::JwtKey::new(ca_signer(KeyType::EcP256), start(), DAY).unwrap();
    let jwt = jwt_key
        .issue_jwt_svid(&common::jwt_request("/w", Duration::MAX), start())
        .unwrap();
    assert_eq!(jwt.expires_at(), jwt_key.not_after());
}
