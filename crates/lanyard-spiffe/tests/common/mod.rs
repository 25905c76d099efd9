//! Certificates and keys for tests, made with rcgen at run time.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]
#![allow(clippy::unwrap_used, reason = "test code")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SanType, SignatureAlgorithm, date_time_ymd,
};
use rustls_pki_types::CertificateDer;

/// Every test certificate is valid from 2025-01-01 to 2026-01-01.
pub fn now() -> SystemTime {
    // 2025-06-01T00:00:00Z
    UNIX_EPOCH + Duration::from_secs(1_748_736_000)
}

pub fn after_expiry() -> SystemTime {
    // 2026-06-01T00:00:00Z
    UNIX_EPOCH + Duration::from_secs(1_780_272_000)
}

pub struct Ca {
    pub key: KeyPair,
    pub params: CertificateParams,
    pub cert: Certificate,
}

impl Ca {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn base_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2026, 1, 1);
    params
}

/// The parameters of a SPIFFE CA of `td` (SPIRE's CA template).
pub fn ca_params(td: &str) -> CertificateParams {
    let mut params = base_params();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CountryName, "US");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "SPIFFE");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![SanType::URI(format!("spiffe://{td}").try_into().unwrap())];
    params
}

pub fn key(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).unwrap()
}

/// A self-signed root CA of `td`.
pub fn root(td: &str) -> Ca {
    root_with(ca_params(td), &PKCS_ECDSA_P256_SHA256)
}

pub fn root_with(params: CertificateParams, alg: &'static SignatureAlgorithm) -> Ca {
    let key = key(alg);
    let cert = params.self_signed(&key).unwrap();
    Ca { key, params, cert }
}

/// An intermediate CA signed by `parent`.
pub fn intermediate(parent: &Ca, mut params: CertificateParams) -> Ca {
    // A subject of its own, so path building cannot mistake it for its parent.
    params
        .distinguished_name
        .push(DnType::CommonName, "intermediate");
    let key = key(&PKCS_ECDSA_P256_SHA256);
    let cert = params.signed_by(&key, &parent.issuer()).unwrap();
    Ca { key, params, cert }
}

/// The parameters of an X509-SVID leaf for `id` (SPIRE's leaf template).
pub fn leaf_params(id: &str) -> CertificateParams {
    let mut params = base_params();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CountryName, "US");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "SPIRE");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
    params
}

/// A leaf signed by `issuer`.
pub fn leaf(params: &CertificateParams, issuer: &Ca) -> CertificateDer<'static> {
    let key = key(&PKCS_ECDSA_P256_SHA256);
    params
        .signed_by(&key, &issuer.issuer())
        .unwrap()
        .der()
        .clone()
}

/// A non-critical key usage extension with the given BIT STRING content bytes
/// (e.g. `[0x07, 0x80]` for digitalSignature).
pub fn non_critical_key_usage(bits: &[u8]) -> CustomExtension {
    let mut content = vec![0x03, u8::try_from(bits.len()).unwrap()];
    content.extend_from_slice(bits);
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 15], content);
    ext.set_criticality(false);
    ext
}

/// A SAN extension holding one URI, with the given criticality.
pub fn uri_san_extension(uri: &str, critical: bool) -> CustomExtension {
    let mut name = vec![0x86, u8::try_from(uri.len()).unwrap()];
    name.extend_from_slice(uri.as_bytes());
    let mut content = vec![0x30, u8::try_from(name.len()).unwrap()];
    content.extend_from_slice(&name);
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 17], content);
    ext.set_criticality(critical);
    ext
}
