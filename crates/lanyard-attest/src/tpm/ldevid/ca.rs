//! The LDevID CA: its own key and self-signed certificate, generated once
//! and persisted (or supplied by the operator), used only to sign LDevIDs.

use std::fmt;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lanyard_ca::{DiskKeyManager, KeyId, KeyManager as _, KeyType, Signer};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyUsagePurpose,
    SerialNumber,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use super::profile::Profile;
use crate::tpm::TpmError;
use crate::tpm::ek::EkIdentity;
use crate::tpm::key::PublicKey;
use crate::tpm::node_type::NodeType;
use crate::tpm::xname::Xname;

/// Default lifetime of a generated LDevID CA certificate: 20 years.
pub const DEFAULT_CA_TTL: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Default lifetime of an LDevID certificate: 5 years.
pub const DEFAULT_LDEVID_TTL: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

const KEY_FILE: &str = "ldevid-ca-key.json";
const CERT_FILE: &str = "ldevid-ca.pem";
const KEY_ID: &str = "ldevid-ca";

/// A CA that signs LDevID certificates.
pub struct LdevidCa {
    certificate: CertificateDer<'static>,
    issuer: Issuer<'static, Signer>,
    organization: String,
}

/// One LDevID to issue.
#[derive(Debug, Clone)]
pub struct LdevidRequest<'a> {
    /// The TPM-resident LDevID public key.
    pub key: &'a PublicKey,
    /// The node's xname (the subject CN).
    pub xname: &'a Xname,
    /// The node's type (the subject OU).
    pub node_type: Option<&'a NodeType>,
    /// A hardware serial number bound at token issuance (subject serialNumber).
    pub serial_number: Option<&'a str>,
    /// The EK the key was proven resident with.
    pub ek: &'a EkIdentity,
    /// Issuance time.
    pub now: SystemTime,
    /// Lifetime.
    pub ttl: Duration,
}

/// An issued LDevID certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLdevid {
    /// The certificate, DER.
    pub certificate: CertificateDer<'static>,
    /// Its serial number, lower-case hex (what the node record keeps).
    pub serial_hex: String,
}

impl LdevidCa {
    /// Loads the CA persisted in `dir`, or generates one (EC P-256, valid
    /// for [`DEFAULT_CA_TTL`]) and persists it there: the key in
    /// `ldevid-ca-key.json` (mode 0600), the certificate in `ldevid-ca.pem`.
    pub fn open_or_generate(
        dir: &Path,
        organization: &str,
        now: SystemTime,
    ) -> Result<Self, TpmError> {
        let keys = DiskKeyManager::open(dir.join(KEY_FILE)).map_err(issue_err)?;
        let id = KeyId::new(KEY_ID).map_err(issue_err)?;
        let cert_path = dir.join(CERT_FILE);

        if let Some(signer) = keys.get_key(&id).map_err(issue_err)? {
            let pem = fs::read(&cert_path)
                .map_err(|e| TpmError::Issue(format!("reading {}: {e}", cert_path.display())))?;
            let certificate = CertificateDer::from_pem_slice(&pem)
                .map_err(|e| TpmError::Issue(format!("{}: {e}", cert_path.display())))?;
            return Self::from_parts(certificate, signer, organization);
        }

        let signer = keys.generate_key(&id, KeyType::EcP256).map_err(issue_err)?;
        let certificate = self_signed(&signer, organization, now, DEFAULT_CA_TTL)?;
        let pem = pem_certificate(&certificate);
        fs::write(&cert_path, pem)
            .map_err(|e| TpmError::Issue(format!("writing {}: {e}", cert_path.display())))?;
        tracing::info!(path = %cert_path.display(), "generated ldevid ca");
        Self::from_parts(certificate, signer, organization)
    }

    /// Loads an operator-supplied CA: a PEM certificate and its PEM private
    /// key (PKCS#8, SEC1 or PKCS#1).
    pub fn from_pem_files(
        cert_path: &Path,
        key_path: &Path,
        organization: &str,
    ) -> Result<Self, TpmError> {
        let certificate = CertificateDer::from_pem_file(cert_path)
            .map_err(|e| TpmError::Issue(format!("{}: {e}", cert_path.display())))?;
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| TpmError::Issue(format!("{}: {e}", key_path.display())))?;
        let id = KeyId::new(KEY_ID).map_err(issue_err)?;
        let (signer, _) = Signer::from_private_key_der(id, &key).map_err(issue_err)?;
        Self::from_parts(certificate, signer, organization)
    }

    /// A fresh CA held in memory only (tests, demos).
    pub fn generate_ephemeral(organization: &str, now: SystemTime) -> Result<Self, TpmError> {
        let keys = lanyard_ca::MemoryKeyManager::new();
        let id = KeyId::new(KEY_ID).map_err(issue_err)?;
        let signer = keys.generate_key(&id, KeyType::EcP256).map_err(issue_err)?;
        let certificate = self_signed(&signer, organization, now, DEFAULT_CA_TTL)?;
        Self::from_parts(certificate, signer, organization)
    }

    /// The CA certificate (DER): the trust anchor for LDevID verification.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// Issues an LDevID certificate.
    pub fn issue(&self, request: &LdevidRequest<'_>) -> Result<IssuedLdevid, TpmError> {
        let spki = request
            .key
            .to_spki_der()
            .ok_or_else(|| TpmError::Issue("ldevid key type is not supported".into()))?;
        let public = lanyard_ca::PublicKey::from_spki_der(&spki).map_err(issue_err)?;

        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| TpmError::Random)?;
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let profile = Profile {
            organization: &self.organization,
            xname: request.xname,
            node_type: request.node_type,
            serial_number: request.serial_number,
            hw_serial: &request.ek.hw_serial,
            ek_sha256: &request.ek.ek_sha256,
            serial,
            now: request.now,
            ttl: request.ttl,
        };
        let certificate = profile
            .params()
            .signed_by(&public, &self.issuer)
            .map_err(issue_err)?;
        Ok(IssuedLdevid {
            certificate: certificate.der().clone(),
            serial_hex: hex::encode(serial),
        })
    }

    fn from_parts(
        certificate: CertificateDer<'static>,
        signer: Signer,
        organization: &str,
    ) -> Result<Self, TpmError> {
        let issuer = Issuer::from_ca_cert_der(&certificate, signer).map_err(issue_err)?;
        Ok(Self {
            certificate,
            issuer,
            organization: organization.to_owned(),
        })
    }
}

impl fmt::Debug for LdevidCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdevidCa")
            .field("organization", &self.organization)
            .finish_non_exhaustive()
    }
}

/// PEM text of one certificate.
pub(crate) fn pem_certificate(certificate: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn self_signed(
    signer: &Signer,
    organization: &str,
    now: SystemTime,
    ttl: Duration,
) -> Result<CertificateDer<'static>, TpmError> {
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| TpmError::Random)?;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;

    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, organization);
    name.push(DnType::CommonName, "Lanyard LDevID CA");
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.distinguished_name = name;
    params.not_before = OffsetDateTime::from(now - Duration::from_secs(60));
    params.not_after = OffsetDateTime::from(now + ttl);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let certificate = params.self_signed(signer).map_err(issue_err)?;
    Ok(certificate.der().clone())
}

fn issue_err(err: impl fmt::Display) -> TpmError {
    TpmError::Issue(err.to_string())
}
