//! Certificate templates: what a CA certificate and an X509-SVID contain.

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use lanyard_spiffe::{SpiffeId, TrustDomain};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::CaSubject;

/// How far NotBefore is set in the past, for peers whose clocks lag ours.
pub(crate) const BACKDATE: Duration = Duration::from_secs(10);

/// A CA certificate: cA=true, keyCertSign and cRLSign (critical), the trust
/// domain ID as the only URI SAN, and the serial number repeated in the
/// subject. No name constraints (the X509-SVID spec advises caution).
pub(crate) fn ca_params(
    trust_domain: &TrustDomain,
    subject: &CaSubject,
    serial: u128,
    subject_key_id: Vec<u8>,
    validity: (SystemTime, SystemTime),
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    params.distinguished_name = subject.to_distinguished_name(serial);
    params.not_before = to_offset(validity.0);
    params.not_after = to_offset(validity.1);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![uri_san(&trust_domain.id())?];
    params.key_identifier_method = KeyIdMethod::PreSpecified(subject_key_id);
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// An X509-SVID leaf, following SPIRE's template: digitalSignature,
/// keyEncipherment and keyAgreement (critical), serverAuth and clientAuth,
/// cA=false, one URI SAN then the DNS SANs, subject `C=US, O=SPIRE` with
/// the first DNS name as CN.
pub(crate) fn leaf_params(
    spiffe_id: &SpiffeId,
    dns_names: &[String],
    serial: u128,
    validity: (SystemTime, SystemTime),
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    params.distinguished_name = leaf_subject(dns_names.first());
    params.not_before = to_offset(validity.0);
    params.not_after = to_offset(validity.1);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];

    let mut sans = vec![uri_san(spiffe_id)?];
    for name in dns_names {
        sans.push(SanType::DnsName(name.as_str().try_into()?));
    }
    params.subject_alt_names = sans;
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// RFC 5280 method 1: SHA-1 over the subjectPublicKey bits. It names the
/// key (it is the authority ID operators see), it is not a security control.
pub(crate) fn subject_key_id(public_key_bits: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, public_key_bits)
        .as_ref()
        .to_vec()
}

/// A random, non-zero 128-bit serial number.
pub(crate) fn random_serial() -> Result<u128, aws_lc_rs::error::Unspecified> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)?;
    Ok(u128::from_be_bytes(bytes).max(1))
}

/// Whether `name` is a DNS name (or `*.` wildcard) fit for a DNS SAN.
pub(crate) fn is_valid_dns_name(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    if host.is_empty() || name.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The latest time a certificate can state (GeneralizedTime 9999-12-31T23:59:59Z).
const LATEST: Duration = Duration::from_secs(253_402_300_799);

/// `t + d`, saturating at the latest time a certificate can state, so that
/// no requested TTL can overflow.
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    let latest = SystemTime::UNIX_EPOCH + LATEST;
    t.checked_add(d).map_or(latest, |sum| sum.min(latest))
}

/// `t` backdated by [`BACKDATE`] (not before the Unix epoch).
pub(crate) fn backdated(t: SystemTime) -> SystemTime {
    t.checked_sub(BACKDATE)
        .map_or(SystemTime::UNIX_EPOCH, |early| {
            early.max(SystemTime::UNIX_EPOCH)
        })
}

pub(crate) fn to_offset(t: SystemTime) -> OffsetDateTime {
    let clamped = t.clamp(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH + LATEST);
    OffsetDateTime::from(clamped)
}

/// `t` without its fraction of a second, as certificates store it.
pub(crate) fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => t,
    }
}

pub(crate) fn from_unix(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(after) => SystemTime::UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()),
    }
}

fn leaf_subject(first_dns_name: Option<&String>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, "US");
    name.push(DnType::OrganizationName, "SPIRE");
    if let Some(dns_name) = first_dns_name {
        name.push(DnType::CommonName, dns_name.as_str());
    }
    name
}

fn uri_san(id: &SpiffeId) -> Result<SanType, rcgen::Error> {
    Ok(SanType::URI(id.as_str().try_into()?))
}
