//! Endorsement key trust: the EK certificate chains to a configured
//! manufacturer root and certifies the EK public the agent presented; or,
//! for TPMs without an EK certificate, the EK's hash is on the allow-list.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage, aws_lc_rs as algs};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, Oid};
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;

use super::TpmError;
use super::key::PublicKey;
use super::wire::TpmPublic;

/// The TCG EK certificate extended key usage, 2.23.133.8.1, as DER content.
const TCG_KP_EK_CERTIFICATE: &[u8] = &[0x67, 0x81, 0x05, 0x08, 0x01];

/// Most CA certificates an agent may send with its EK certificate.
pub const MAX_EK_CHAIN: usize = 8;

static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P256_SHA384,
    algs::ECDSA_P384_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// How the server decides an EK belongs to a genuine TPM.
#[derive(Debug, Clone, Default)]
pub struct EkPolicy {
    /// Manufacturer root CAs (DER).
    pub roots: Vec<CertificateDer<'static>>,
    /// Manufacturer intermediate CAs the server holds itself (DER), added to
    /// those the agent sends.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// `ek_sha256` values (SHA-256 of the EK public key's DER
    /// `SubjectPublicKeyInfo`) accepted without an EK certificate.
    pub allowed_ek_hashes: BTreeSet<[u8; 32]>,
    /// Fall back to a raw signature-chain check when rustls-webpki rejects
    /// an EK chain (vendor certificates with non-conforming DER). Weaker:
    /// no name constraints, only basic constraints and validity are checked.
    pub insecure_lenient_ek_chain: bool,
}

/// What the server learned about a trusted EK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EkIdentity {
    /// SHA-256 of the EK public key's DER `SubjectPublicKeyInfo`.
    pub ek_sha256: [u8; 32],
    /// SHA-256 of the EK certificate's DER, when there is one.
    pub ek_cert_sha256: Option<[u8; 32]>,
    /// TPM manufacturer from the EK certificate (e.g. `id:00001014`).
    pub manufacturer: Option<String>,
    /// TPM model from the EK certificate.
    pub model: Option<String>,
    /// TPM firmware version from the EK certificate.
    pub version: Option<String>,
    /// The 802.1AR `hwSerialNum`: `<manufacturer>:<EK cert AKI hex>:<EK cert
    /// serial hex>`, or the EK hash in hex without a certificate.
    pub hw_serial: String,
    /// How the EK was trusted.
    pub trusted_by: EkTrust,
}

/// How an EK was trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EkTrust {
    /// Its certificate chains to a manufacturer root (rustls-webpki).
    Certificate,
    /// Its certificate chains under the lenient fallback.
    InsecureLenientCertificate,
    /// Its hash is on the allow-list.
    AllowList,
}

/// Decides whether `ek` is trusted: by its certificate (which must certify
/// exactly this key), or by the allow-list when there is no certificate.
pub fn verify_ek(
    ek: &TpmPublic,
    ek_cert: Option<&[u8]>,
    ek_chain: &[Vec<u8>],
    policy: &EkPolicy,
    now: SystemTime,
) -> Result<EkIdentity, TpmError> {
    let ek_sha256 = ek
        .key()
        .spki_sha256()
        .ok_or(TpmError::Ek("ek key type is not supported"))?;

    let Some(cert_der) = ek_cert else {
        if policy.allowed_ek_hashes.contains(&ek_sha256) {
            return Ok(EkIdentity {
                ek_sha256,
                ek_cert_sha256: None,
                manufacturer: None,
                model: None,
                version: None,
                hw_serial: hex::encode(ek_sha256),
                trusted_by: EkTrust::AllowList,
            });
        }
        return Err(TpmError::Ek(
            "no ek certificate and the ek hash is not allow-listed",
        ));
    };
    if ek_chain.len() > MAX_EK_CHAIN {
        return Err(TpmError::Ek("too many ek chain certificates"));
    }

    let cert_der = der_object(cert_der).ok_or(TpmError::Ek("ek certificate is not der"))?;
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|_| TpmError::Ek("ek certificate is malformed"))?;
    let cert_key = PublicKey::from_spki(cert.public_key())
        .map_err(|_| TpmError::Ek("ek certificate key type is not supported"))?;
    if &cert_key != ek.key() {
        return Err(TpmError::Ek(
            "ek public does not match the ek certificate key",
        ));
    }

    let trusted_by = verify_chain(cert_der, ek_chain, policy, now)?;
    let (manufacturer, model, version) = tpm_attributes(&cert);
    let aki = authority_key_id(&cert).unwrap_or_default();
    let hw_serial = format!(
        "{}:{}:{}",
        manufacturer.as_deref().unwrap_or("unknown"),
        hex::encode(aki),
        hex::encode(cert.raw_serial()),
    );
    Ok(EkIdentity {
        ek_sha256,
        ek_cert_sha256: Some(sha256(cert_der)),
        manufacturer,
        model,
        version,
        hw_serial,
        trusted_by,
    })
}

/// The leading DER object of `bytes` (EK certificates read from NV may be
/// padded); `None` if `bytes` does not start with a complete one.
pub fn der_object(bytes: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    bytes.get(..header.checked_add(len)?)
}

fn verify_chain(
    cert_der: &[u8],
    ek_chain: &[Vec<u8>],
    policy: &EkPolicy,
    now: SystemTime,
) -> Result<EkTrust, TpmError> {
    let anchors: Vec<TrustAnchor<'_>> = policy
        .roots
        .iter()
        .filter_map(|root| webpki::anchor_from_trusted_cert(root).ok())
        .collect();
    if anchors.is_empty() {
        return Err(TpmError::Ek(
            "no usable ek manufacturer roots are configured",
        ));
    }
    let mut intermediates: Vec<CertificateDer<'_>> = ek_chain
        .iter()
        .filter_map(|c| der_object(c))
        .map(CertificateDer::from)
        .collect();
    intermediates.extend(policy.intermediates.iter().cloned());

    let leaf = CertificateDer::from(cert_der);
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let strict = EndEntityCert::try_from(&leaf).and_then(|ee| {
        ee.verify_for_usage(
            SIGNATURE_ALGORITHMS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(since_epoch),
            KeyUsage::required_if_present(TCG_KP_EK_CERTIFICATE),
            None,
            None,
        )
        .map(|_| ())
    });
    match strict {
        Ok(()) => Ok(EkTrust::Certificate),
        Err(err) if policy.insecure_lenient_ek_chain => {
            tracing::debug!(error = %err, "ek chain refused by webpki, trying the lenient check");
            insecure_lenient_chain(cert_der, &intermediates, &policy.roots, now)?;
            Ok(EkTrust::InsecureLenientCertificate)
        }
        Err(err) => Err(TpmError::EkChain(err)),
    }
}

/// The lenient fallback: each certificate's signature verifies under its
/// issuer's key, issuers are CAs valid at `now`, and the path ends at a
/// configured root. Tolerates DER quirks strict parsers refuse.
fn parse_cert(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c)
}

fn insecure_lenient_chain(
    leaf: &[u8],
    intermediates: &[CertificateDer<'_>],
    roots: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<(), TpmError> {
    let refused = || TpmError::Ek("ek certificate does not chain to a manufacturer root");
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let at =
        ASN1Time::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX)).map_err(|_| refused())?;
    let roots: Vec<X509Certificate<'_>> = roots.iter().filter_map(|r| parse_cert(r)).collect();
    let cas: Vec<X509Certificate<'_>> =
        intermediates.iter().filter_map(|c| parse_cert(c)).collect();

    let mut current = parse_cert(leaf).ok_or_else(refused)?;
    if !current.validity().is_valid_at(at) {
        return Err(refused());
    }
    for _ in 0..=MAX_EK_CHAIN {
        let signed_by = |ca: &X509Certificate<'_>| {
            ca.subject().as_raw() == current.issuer().as_raw()
                && ca.is_ca()
                && ca.validity().is_valid_at(at)
                && current.verify_signature(Some(ca.public_key())).is_ok()
        };
        if roots.iter().any(signed_by) {
            return Ok(());
        }
        match cas.iter().find(|ca| signed_by(ca)) {
            Some(next) => current = next.clone(),
            None => break,
        }
    }
    Err(refused())
}

/// Manufacturer, model and version from the directoryName in the EK
/// certificate's subject alternative name (TCG EK Credential Profile).
fn tpm_attributes(cert: &X509Certificate<'_>) -> (Option<String>, Option<String>, Option<String>) {
    let manufacturer_oid = Oid::from(&[2, 23, 133, 2, 1]).ok();
    let model_oid = Oid::from(&[2, 23, 133, 2, 2]).ok();
    let version_oid = Oid::from(&[2, 23, 133, 2, 3]).ok();
    let (mut manufacturer, mut model, mut version) = (None, None, None);

    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return (None, None, None);
    };
    for name in &san.value.general_names {
        let GeneralName::DirectoryName(dn) = name else {
            continue;
        };
        for attr in dn.iter_attributes() {
            let Ok(value) = attr.as_str() else {
                continue;
            };
            let value = Some(printable(value));
            let oid = Some(attr.attr_type().clone());
            if oid == manufacturer_oid {
                manufacturer = value;
            } else if oid == model_oid {
                model = value;
            } else if oid == version_oid {
                version = value;
            }
        }
    }
    (manufacturer, model, version)
}

fn authority_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    let ext = cert
        .get_extension_unique(&OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
        .ok()??;
    match ext.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            aki.key_identifier.as_ref().map(|id| id.0.to_vec())
        }
        _ => None,
    }
}

/// A certificate string made safe for selectors: printable ASCII without
/// spaces, at most 64 characters.
fn printable(value: &str) -> String {
    value
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect()
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}
