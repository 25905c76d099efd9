//! X509-SVID rules (checklist 1.2), with certificates made by rcgen.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use lanyard_spiffe::x509::{
    CaCertificate, X509Svid, X509SvidError, check_x509_svid_leaf, spiffe_id_from_certificate,
    split_der_chain, verify_x509_svid, verify_x509_svid_with_bundle,
};
use lanyard_spiffe::{Bundle, BundleSet, TrustDomain};
use rcgen::{
    BasicConstraints, CustomExtension, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    PKCS_RSA_SHA256, SanType,
};
use rustls_pki_types::CertificateDer;

const ID: &str = "spiffe://example.org/workload";

fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).unwrap()
}

fn bundles_of(roots: &[(&str, &Ca)]) -> BundleSet {
    roots
        .iter()
        .map(|(name, ca)| {
            let mut bundle = Bundle::new(td(name));
            bundle.add_x509_authority(ca.der()).unwrap();
            bundle
        })
        .collect()
}

/// Verifies a leaf made from `params` under a fresh `example.org` root.
fn verify_leaf(params: &rcgen::CertificateParams) -> Result<String, X509SvidError> {
    let root = root("example.org");
    let chain = [leaf(params, &root)];
    verify_x509_svid(&chain, &bundles_of(&[("example.org", &root)]), now()).map(|id| id.to_string())
}

/// Verifies leaf -> intermediate (from `intermediate_params`) -> root.
fn verify_via(intermediate_params: rcgen::CertificateParams) -> Result<String, X509SvidError> {
    let root = root("example.org");
    let mid = intermediate(&root, intermediate_params);
    let chain = [leaf(&leaf_params(ID), &mid), mid.der()];
    verify_x509_svid(&chain, &bundles_of(&[("example.org", &root)]), now()).map(|id| id.to_string())
}

#[test]
fn valid_svid_verifies() {
    assert_eq!(verify_leaf(&leaf_params(ID)).unwrap(), ID);
}

#[test]
fn valid_svid_through_an_intermediate_verifies() {
    assert_eq!(verify_via(ca_params("example.org")).unwrap(), ID);
}

#[test]
fn cas_may_have_path_len_constraints_and_ekus() {
    let mut params = ca_params("example.org");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    assert_eq!(verify_via(params).unwrap(), ID);
}

#[test]
fn signing_certificates_cannot_authenticate() {
    let root = root("example.org");
    let bundles = bundles_of(&[("example.org", &root)]);
    assert!(matches!(
        verify_x509_svid(&[root.der()], &bundles, now()),
        Err(X509SvidError::LeafIdWithoutPath)
    ));

    let mut ca_with_path = ca_params("example.org");
    ca_with_path.subject_alt_names = vec![SanType::URI(ID.try_into().unwrap())];
    ca_with_path
        .key_usages
        .push(KeyUsagePurpose::DigitalSignature);
    let mid = intermediate(&root, ca_with_path);
    assert!(matches!(
        verify_x509_svid(&[mid.der()], &bundles, now()),
        Err(X509SvidError::LeafIsCa)
    ));
}

#[test]
fn rsa_root_verifies() {
    let root = root_with(ca_params("example.org"), &PKCS_RSA_SHA256);
    let chain = [leaf(&leaf_params(ID), &root)];
    let id = verify_x509_svid(&chain, &bundles_of(&[("example.org", &root)]), now()).unwrap();
    assert_eq!(id.as_str(), ID);
}

#[test]
fn leaf_must_have_exactly_one_uri_san() {
    let mut two = leaf_params(ID);
    two.subject_alt_names.push(SanType::URI(
        "spiffe://example.org/other".try_into().unwrap(),
    ));
    assert!(matches!(
        verify_leaf(&two),
        Err(X509SvidError::MultipleUriSans { count: 2 })
    ));

    let mut none = leaf_params(ID);
    none.subject_alt_names = vec![SanType::DnsName("web.example.org".try_into().unwrap())];
    assert!(matches!(verify_leaf(&none), Err(X509SvidError::NoUriSan)));
}

#[test]
fn dns_sans_may_appear_besides_the_uri_san() {
    let mut params = leaf_params(ID);
    params
        .subject_alt_names
        .push(SanType::DnsName("web.example.org".try_into().unwrap()));
    assert_eq!(verify_leaf(&params).unwrap(), ID);
}

#[test]
fn uri_san_must_be_a_valid_spiffe_id() {
    for uri in [
        "https://example.org/workload",
        "spiffe://Example.org/workload",
        "spiffe://example.org/a/../b",
    ] {
        let params = leaf_params(uri);
        assert!(
            matches!(verify_leaf(&params), Err(X509SvidError::InvalidSpiffeId(_))),
            "{uri}"
        );
    }
}

#[test]
fn leaf_id_must_have_a_path() {
    assert!(matches!(
        verify_leaf(&leaf_params("spiffe://example.org")),
        Err(X509SvidError::LeafIdWithoutPath)
    ));
}

#[test]
fn leaf_must_not_be_a_ca() {
    let mut params = leaf_params(ID);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    assert!(matches!(verify_leaf(&params), Err(X509SvidError::LeafIsCa)));

    // An explicit cA=false is fine.
    let mut explicit = leaf_params(ID);
    explicit.is_ca = IsCa::ExplicitNoCa;
    assert_eq!(verify_leaf(&explicit).unwrap(), ID);
}

#[test]
fn leaf_key_usage_must_be_present() {
    let mut params = leaf_params(ID);
    params.key_usages.clear();
    assert!(matches!(
        verify_leaf(&params),
        Err(X509SvidError::LeafMissingKeyUsage)
    ));
}

#[test]
fn leaf_key_usage_must_be_critical() {
    let mut params = leaf_params(ID);
    params.key_usages.clear();
    params.custom_extensions = vec![non_critical_key_usage(&[0x07, 0x80])];
    assert!(matches!(
        verify_leaf(&params),
        Err(X509SvidError::LeafKeyUsageNotCritical)
    ));
}

#[test]
fn leaf_key_usage_must_include_digital_signature() {
    let mut params = leaf_params(ID);
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    assert!(matches!(
        verify_leaf(&params),
        Err(X509SvidError::LeafMissingDigitalSignature)
    ));

    // keyEncipherment and keyAgreement MAY be set besides (the default template has both).
    let mut minimal = leaf_params(ID);
    minimal.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    assert_eq!(verify_leaf(&minimal).unwrap(), ID);
}

#[test]
fn leaf_key_usage_must_not_include_cert_or_crl_sign() {
    let mut cert_sign = leaf_params(ID);
    cert_sign.key_usages.push(KeyUsagePurpose::KeyCertSign);
    assert!(matches!(
        verify_leaf(&cert_sign),
        Err(X509SvidError::LeafHasKeyCertSign)
    ));

    let mut crl_sign = leaf_params(ID);
    crl_sign.key_usages.push(KeyUsagePurpose::CrlSign);
    assert!(matches!(
        verify_leaf(&crl_sign),
        Err(X509SvidError::LeafHasCrlSign)
    ));
}

#[test]
fn leaf_eku_when_present_needs_server_and_client_auth() {
    for ekus in [
        vec![ExtendedKeyUsagePurpose::ServerAuth],
        vec![ExtendedKeyUsagePurpose::ClientAuth],
        vec![ExtendedKeyUsagePurpose::CodeSigning],
    ] {
        let mut params = leaf_params(ID);
        params.extended_key_usages = ekus;
        assert!(matches!(
            verify_leaf(&params),
            Err(X509SvidError::LeafEkuMissingTlsAuth)
        ));
    }

    let mut absent = leaf_params(ID);
    absent.extended_key_usages.clear();
    assert_eq!(verify_leaf(&absent).unwrap(), ID);
}

#[test]
fn empty_subject_requires_a_critical_san() {
    // rcgen marks the SAN critical when the subject is empty.
    let mut critical = leaf_params(ID);
    critical.distinguished_name = rcgen::DistinguishedName::new();
    assert_eq!(verify_leaf(&critical).unwrap(), ID);

    let mut non_critical = leaf_params(ID);
    non_critical.distinguished_name = rcgen::DistinguishedName::new();
    non_critical.subject_alt_names.clear();
    non_critical.custom_extensions = vec![uri_san_extension(ID, false)];
    assert!(matches!(
        verify_leaf(&non_critical),
        Err(X509SvidError::SanNotCritical)
    ));
}

#[test]
fn signing_certificates_must_be_cas() {
    // webpki refuses a non-CA intermediate during path building, before our own check.
    let mut not_ca = ca_params("example.org");
    not_ca.is_ca = IsCa::ExplicitNoCa;
    assert!(matches!(
        verify_via(not_ca),
        Err(X509SvidError::Chain(webpki::Error::EndEntityUsedAsCa))
    ));

    // A bundle authority that is not a CA cannot anchor an SVID.
    let mut leafish = ca_params("example.org");
    leafish.is_ca = IsCa::NoCa;
    let root = root_with(leafish, &rcgen::PKCS_ECDSA_P256_SHA256);
    let chain = [leaf(&leaf_params(ID), &root)];
    assert!(matches!(
        verify_x509_svid(&chain, &bundles_of(&[("example.org", &root)]), now()),
        Err(X509SvidError::SignerNotCa(CaCertificate::Authority))
    ));
}

#[test]
fn signing_certificates_need_key_cert_sign() {
    let mut params = ca_params("example.org");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    assert!(matches!(
        verify_via(params),
        Err(X509SvidError::SignerMissingKeyCertSign(
            CaCertificate::Intermediate(1)
        ))
    ));

    let mut root_params = ca_params("example.org");
    root_params.key_usages = vec![KeyUsagePurpose::CrlSign];
    let root = root_with(root_params, &rcgen::PKCS_ECDSA_P256_SHA256);
    let chain = [leaf(&leaf_params(ID), &root)];
    assert!(matches!(
        verify_x509_svid(&chain, &bundles_of(&[("example.org", &root)]), now()),
        Err(X509SvidError::SignerMissingKeyCertSign(
            CaCertificate::Authority
        ))
    ));
}

#[test]
fn intermediate_key_usage_must_be_present_and_critical() {
    let mut absent = ca_params("example.org");
    absent.key_usages.clear();
    assert!(matches!(
        verify_via(absent),
        Err(X509SvidError::SignerMissingKeyUsage(
            CaCertificate::Intermediate(1)
        ))
    ));

    let mut non_critical = ca_params("example.org");
    non_critical.key_usages.clear();
    // keyCertSign (bit 5) and cRLSign (bit 6).
    non_critical.custom_extensions = vec![non_critical_key_usage(&[0x01, 0x06])];
    assert!(matches!(
        verify_via(non_critical),
        Err(X509SvidError::SignerKeyUsageNotCritical(
            CaCertificate::Intermediate(1)
        ))
    ));
}

#[test]
fn signing_certificate_ids_must_not_have_a_path() {
    let mut params = ca_params("example.org");
    params.subject_alt_names = vec![SanType::URI("spiffe://example.org/ca".try_into().unwrap())];
    assert!(matches!(
        verify_via(params),
        Err(X509SvidError::SignerIdWithPath(
            CaCertificate::Intermediate(1)
        ))
    ));

    let mut other_td = ca_params("other.org");
    other_td.subject_alt_names = vec![SanType::URI("spiffe://other.org".try_into().unwrap())];
    assert!(matches!(
        verify_via(other_td),
        Err(X509SvidError::SignerIdInOtherTrustDomain(_))
    ));

    // CAs without a SPIFFE ID (e.g. an upstream PKI) are fine.
    let mut no_id = ca_params("example.org");
    no_id.subject_alt_names.clear();
    assert_eq!(verify_via(no_id).unwrap(), ID);
}

#[test]
fn bundle_is_picked_by_the_svid_trust_domain() {
    let a = root("a.org");
    let b = root("b.org");
    let bundles = bundles_of(&[("a.org", &a), ("b.org", &b)]);

    let from_b = [leaf(&leaf_params("spiffe://b.org/x"), &b)];
    assert_eq!(
        verify_x509_svid(&from_b, &bundles, now()).unwrap().as_str(),
        "spiffe://b.org/x"
    );

    // b's CA signing an ID of a.org: a.org's bundle is used, and it does not trust b.
    let forged = [leaf(&leaf_params("spiffe://a.org/x"), &b)];
    let err = verify_x509_svid(&forged, &bundles, now()).unwrap_err();
    assert!(matches!(err, X509SvidError::Chain(_)), "{err:?}");

    let unknown = [leaf(&leaf_params("spiffe://c.org/x"), &b)];
    assert!(matches!(
        verify_x509_svid(&unknown, &bundles, now()),
        Err(X509SvidError::NoBundle(t)) if t.as_str() == "c.org"
    ));
}

#[test]
fn verify_with_a_single_bundle_checks_its_trust_domain() {
    let b = root("b.org");
    let bundle = bundles_of(&[("b.org", &b)])
        .get(&td("b.org"))
        .unwrap()
        .clone();
    let chain = [leaf(&leaf_params("spiffe://b.org/x"), &b)];
    assert!(verify_x509_svid_with_bundle(&chain, &bundle, now()).is_ok());

    let other = [leaf(&leaf_params("spiffe://a.org/x"), &b)];
    assert!(matches!(
        verify_x509_svid_with_bundle(&other, &bundle, now()),
        Err(X509SvidError::BundleTrustDomainMismatch { .. })
    ));
}

#[test]
fn empty_bundle_trusts_nothing() {
    let root = root("example.org");
    let bundles: BundleSet = [Bundle::new(td("example.org"))].into_iter().collect();
    let chain = [leaf(&leaf_params(ID), &root)];
    assert!(matches!(
        verify_x509_svid(&chain, &bundles, now()),
        Err(X509SvidError::NoX509Authorities(_))
    ));
}

#[test]
fn chain_validation_is_rfc5280() {
    let root = root("example.org");
    let bundles = bundles_of(&[("example.org", &root)]);
    let chain = [leaf(&leaf_params(ID), &root)];
    assert!(matches!(
        verify_x509_svid(&chain, &bundles, after_expiry()),
        Err(X509SvidError::Chain(webpki::Error::CertExpired { .. }))
    ));

    let stranger = common::root("example.org");
    let untrusted = [leaf(&leaf_params(ID), &stranger)];
    let err = verify_x509_svid(&untrusted, &bundles, now()).unwrap_err();
    assert!(matches!(err, X509SvidError::Chain(_)), "{err:?}");

    // Missing intermediate.
    let mid = intermediate(&root, ca_params("example.org"));
    let short = [leaf(&leaf_params(ID), &mid)];
    let err = verify_x509_svid(&short, &bundles, now()).unwrap_err();
    assert!(matches!(err, X509SvidError::Chain(_)), "{err:?}");
}

#[test]
fn uri_name_constraints_fail_closed() {
    // NameConstraints { permittedSubtrees [0] { GeneralSubtree { uri "spiffe://example.org" } } }
    let uri = b"spiffe://example.org";
    let mut subtree = vec![0x30, (uri.len() + 2) as u8, 0x86, uri.len() as u8];
    subtree.extend_from_slice(uri);
    let mut content = vec![0x30, (subtree.len() + 2) as u8, 0xa0, subtree.len() as u8];
    content.extend_from_slice(&subtree);
    let ext = CustomExtension::from_oid_content(&[2, 5, 29, 30], content);

    let mut params = ca_params("example.org");
    params.custom_extensions = vec![ext];
    assert!(matches!(
        verify_via(params),
        Err(X509SvidError::Chain(webpki::Error::NameConstraintViolation))
    ));
}

#[test]
fn empty_chain_is_rejected() {
    let bundles = BundleSet::new();
    assert!(matches!(
        verify_x509_svid(&[], &bundles, now()),
        Err(X509SvidError::EmptyChain)
    ));
}

#[test]
fn leaf_profile_check_alone() {
    let root = root("example.org");
    let der = leaf(&leaf_params(ID), &root);
    assert_eq!(check_x509_svid_leaf(&der).unwrap().as_str(), ID);
    assert!(matches!(
        check_x509_svid_leaf(&root.der()),
        Err(X509SvidError::LeafIdWithoutPath)
    ));
    assert!(check_x509_svid_leaf(b"garbage").is_err());
}

#[test]
fn spiffe_id_extraction_works_on_any_certificate() {
    let root = root("example.org");
    assert_eq!(
        spiffe_id_from_certificate(&root.der()).unwrap().as_str(),
        "spiffe://example.org"
    );
    let der = leaf(&leaf_params(ID), &root);
    assert_eq!(spiffe_id_from_certificate(&der).unwrap().as_str(), ID);
}

#[test]
fn svid_type_parses_concatenated_der() {
    let root = root("example.org");
    let mid = intermediate(&root, ca_params("example.org"));
    let chain = vec![leaf(&leaf_params(ID), &mid), mid.der()];
    let concatenated: Vec<u8> = chain.iter().flat_map(|c| c.to_vec()).collect();

    let svid = X509Svid::parse_der_chain(&concatenated).unwrap();
    assert_eq!(svid.spiffe_id().as_str(), ID);
    assert_eq!(svid.chain(), chain.as_slice());
    assert_eq!(svid.leaf(), &chain[0]);
    assert_eq!(svid.chain_der(), concatenated);
    // Leaves are valid until 2026-01-01T00:00:00Z.
    assert_eq!(
        svid.expires_at(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600)
    );

    assert_eq!(split_der_chain(&concatenated).unwrap(), chain);
    assert!(matches!(
        split_der_chain(&[]),
        Err(X509SvidError::EmptyChain)
    ));
    let mut trailing = concatenated;
    trailing.push(0x30);
    assert!(split_der_chain(&trailing).is_err());
    assert!(matches!(
        X509Svid::from_chain(vec![root.der()]),
        Err(X509SvidError::LeafIdWithoutPath)
    ));
    assert!(matches!(
        X509Svid::from_chain(Vec::<CertificateDer<'static>>::new()),
        Err(X509SvidError::EmptyChain)
    ));
}
