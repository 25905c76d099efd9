//! PEM input and output for X.509 authorities.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::{Bundle, BundleError};
use crate::TrustDomain;

impl Bundle {
    /// A bundle of `trust_domain` whose X.509 authorities are the `CERTIFICATE`
    /// blocks of `pem` (other blocks are skipped; at least one certificate is
    /// required).
    pub fn parse_x509_pem(trust_domain: TrustDomain, pem: &[u8]) -> Result<Self, BundleError> {
        let mut bundle = Self::new(trust_domain);
        for cert in CertificateDer::pem_slice_iter(pem) {
            bundle.add_x509_authority(cert.map_err(BundleError::Pem)?)?;
        }
        if bundle.x509_authorities().is_empty() {
            return Err(BundleError::NoCertificatesInPem);
        }
        Ok(bundle)
    }

    /// The X.509 authorities as concatenated PEM `CERTIFICATE` blocks.
    pub fn x509_authorities_to_pem(&self) -> String {
        certificates_to_pem(self.x509_authorities())
    }
}

/// Concatenated PEM `CERTIFICATE` blocks of DER certificates.
pub fn certificates_to_pem(certs: &[CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for cert in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = STANDARD.encode(cert);
        for line in b64.as_bytes().chunks(64) {
            // Base64 output is ASCII, so every chunk is valid UTF-8.
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}
