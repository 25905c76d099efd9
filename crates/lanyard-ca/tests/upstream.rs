#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{ca_signer, id, start, td, webpki_verify, workload_key};
use lanyard_ca::{
    CaSubject, DiskUpstreamAuthority, KeyType, UpstreamError, X509Authority, X509Error,
    X509SvidRequest,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use x509_parser::prelude::{FromDer, X509Certificate};

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

/// An existing site PKI: a root and an intermediate, as PEM.
struct SitePki {
    root_pem: String,
    root_key_pem: String,
    intermediate_pem: String,
    intermediate_key_pem: String,
}

fn ca_params(name: &str, lifetime: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = time::OffsetDateTime::from(start() - DAY);
    params.not_after = time::OffsetDateTime::from(start() + lifetime);
    params
}

fn site_pki(lifetime: Duration) -> SitePki {
    let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let root_params = ca_params("site root", lifetime);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, &root_key);

    let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let intermediate = ca_params("site intermediate", lifetime)
        .signed_by(&int_key, &root_issuer)
        .unwrap();

    SitePki {
        root_pem: root.pem(),
        root_key_pem: root_key.serialize_pem(),
        intermediate_pem: intermediate.pem(),
        intermediate_key_pem: int_key.serialize_pem(),
    }
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn request() -> X509SvidRequest {
    X509SvidRequest {
        public_key: workload_key(),
        spiffe_id: id("/w"),
        dns_names: Vec::new(),
        ttl: HOUR,
    }
}

fn intermediate_ca(upstream: &DiskUpstreamAuthority) -> X509Authority {
    X509Authority::under_upstream(
        &td(),
        &CaSubject::default(),
        ca_signer(KeyType::EcP256),
        DAY,
        start(),
        upstream,
    )
    .unwrap()
}

fn root_of(pem: &str) -> rustls_pki_types::CertificateDer<'static> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

#[test]
fn ca_under_a_root_loaded_from_disk_issues_verifiable_svids() {
    let pki = site_pki(30 * DAY);
    let dir = tempfile::tempdir().unwrap();
    let cert = write(&dir, "root.pem", &pki.root_pem);
    let key = write(&dir, "root.key", &pki.root_key_pem);
    let upstream = DiskUpstreamAuthority::load(&cert, &key, None).unwrap();

    let ca = intermediate_ca(&upstream);
    let svid = ca.issue_x509_svid(&request(), start()).unwrap();

    assert_eq!(ca.trust_anchors(), [root_of(&pki.root_pem)]);
    assert_eq!(svid.chain().len(), 2, "leaf and the server ca, no root");
    assert_eq!(&svid.chain()[1], ca.certificate());
    webpki_verify(&svid.chain(), ca.trust_anchors(), start()).unwrap();

    let (_, root) = X509Certificate::from_der(&ca.trust_anchors()[0]).unwrap();
    let root_skid = root
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                Some(hex_lower(k.0))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(ca.upstream_authority_id(), Some(root_skid.as_str()));
}

#[test]
fn ca_under_an_upstream_intermediate_serves_the_whole_chain() {
    let pki = site_pki(30 * DAY);
    let chain_pem = format!("{}{}", pki.intermediate_pem, pki.root_pem);

    let upstream = DiskUpstreamAuthority::from_pem(
        chain_pem.as_bytes(),
        pki.intermediate_key_pem.as_bytes(),
        None,
    )
    .unwrap();
    let ca = intermediate_ca(&upstream);
    let svid = ca.issue_x509_svid(&request(), start()).unwrap();

    assert_eq!(
        svid.chain().len(),
        3,
        "leaf, server ca, upstream intermediate"
    );
    assert_eq!(svid.chain()[2], root_of(&pki.intermediate_pem));
    assert_eq!(ca.trust_anchors(), [root_of(&pki.root_pem)]);
    webpki_verify(&svid.chain(), ca.trust_anchors(), start()).unwrap();

    let mut bundle = lanyard_spiffe::Bundle::new(td());
    bundle.add_x509_authority(root_of(&pki.root_pem)).unwrap();
    let verified =
        lanyard_spiffe::x509::verify_x509_svid_with_bundle(&svid.chain(), &bundle, start());
    assert_eq!(verified.unwrap(), id("/w"));
}

#[test]
fn roots_can_come_from_a_separate_bundle_file() {
    let pki = site_pki(30 * DAY);

    let upstream = DiskUpstreamAuthority::from_pem(
        pki.intermediate_pem.as_bytes(),
        pki.intermediate_key_pem.as_bytes(),
        Some(pki.root_pem.as_bytes()),
    )
    .unwrap();
    let ca = intermediate_ca(&upstream);
    let svid = ca.issue_x509_svid(&request(), start()).unwrap();

    assert_eq!(upstream.roots(), [root_of(&pki.root_pem)]);
    webpki_verify(&svid.chain(), ca.trust_anchors(), start()).unwrap();
}

#[test]
fn ca_lifetime_is_capped_by_the_upstream_certificate() {
    let pki = site_pki(HOUR * 5);
    let upstream =
        DiskUpstreamAuthority::from_pem(pki.root_pem.as_bytes(), pki.root_key_pem.as_bytes(), None)
            .unwrap();

    let ca = intermediate_ca(&upstream);

    assert_eq!(ca.not_after(), start() + HOUR * 5);
}

#[test]
fn loading_rejects_mismatched_or_incomplete_material() {
    let pki = site_pki(30 * DAY);

    let mismatch = DiskUpstreamAuthority::from_pem(
        pki.root_pem.as_bytes(),
        pki.intermediate_key_pem.as_bytes(),
        None,
    );
    assert!(matches!(mismatch, Err(UpstreamError::KeyMismatch)));

    let no_root = DiskUpstreamAuthority::from_pem(
        pki.intermediate_pem.as_bytes(),
        pki.intermediate_key_pem.as_bytes(),
        None,
    );
    assert!(matches!(no_root, Err(UpstreamError::NoRoot)));

    let garbage = DiskUpstreamAuthority::from_pem(b"nope", pki.root_key_pem.as_bytes(), None);
    assert!(matches!(garbage, Err(UpstreamError::Pem(_))));

    let missing = DiskUpstreamAuthority::load(
        std::path::Path::new("/nonexistent/cert.pem"),
        std::path::Path::new("/nonexistent/key.pem"),
        None,
    );
    assert!(matches!(
        missing,
        Err(UpstreamError::Io {
            what: "certificate",
            ..
        })
    ));
}

#[test]
fn an_expired_upstream_cannot_sign() {
    let pki = site_pki(HOUR);
    let upstream =
        DiskUpstreamAuthority::from_pem(pki.root_pem.as_bytes(), pki.root_key_pem.as_bytes(), None)
            .unwrap();

    let result = X509Authority::under_upstream(
        &td(),
        &CaSubject::default(),
        ca_signer(KeyType::EcP256),
        DAY,
        start() + 2 * HOUR,
        &upstream,
    );

    assert!(matches!(
        result,
        Err(X509Error::Upstream(UpstreamError::Expired))
    ));
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
