//! X.509-SVIDs (X509-SVID specification): SPIFFE ID extraction, the leaf and
//! CA profile rules, and chain verification against a trust bundle.

mod error;
mod profile;
mod verify;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;

pub use error::{CaCertificate, X509SvidError};
pub(crate) use profile::x509_error;
pub use verify::{verify_x509_svid, verify_x509_svid_with_bundle};

use crate::SpiffeId;

/// An X.509-SVID: its SPIFFE ID, its certificate chain (leaf first) and the
/// leaf's expiry. Holds no private key.
///
/// Building one checks the leaf profile, not the chain: use
/// [`verify_x509_svid`] for that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X509Svid {
    id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    expires_at: SystemTime,
}

impl X509Svid {
    /// Builds an SVID from DER certificates, leaf first.
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Result<Self, X509SvidError> {
        let leaf_der = chain.first().ok_or(X509SvidError::EmptyChain)?;
        let leaf = profile::parse_certificate(leaf_der, 0)?;
        let id = profile::check_leaf(&leaf)?;
        let not_after = leaf.validity().not_after.timestamp();
        let expires_at = UNIX_EPOCH + Duration::from_secs(u64::try_from(not_after).unwrap_or(0));
        for (index, cert) in chain.iter().enumerate().skip(1) {
            profile::parse_certificate(cert, index)?;
        }
        Ok(Self {
            id,
            chain,
            expires_at,
        })
    }

    /// Builds an SVID from concatenated DER certificates, leaf first (the
    /// Workload API's `x509_svid` field).
    pub fn parse_der_chain(der: &[u8]) -> Result<Self, X509SvidError> {
        Self::from_chain(split_der_chain(der)?)
    }

    /// The SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `from_chain` refuses an empty chain.
        &self.chain[0]
    }

    /// The chain as concatenated DER.
    pub fn chain_der(&self) -> Vec<u8> {
        self.chain.iter().flat_map(|c| c.iter().copied()).collect()
    }

    /// When the leaf expires (its notAfter).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// The SPIFFE ID of a certificate: its single URI SAN. Zero or several URI SANs
/// are rejected.
pub fn spiffe_id_from_certificate(der: &[u8]) -> Result<SpiffeId, X509SvidError> {
    profile::single_spiffe_id(&profile::parse_certificate(der, 0)?)
}

/// Checks the X509-SVID leaf rules only (no chain validation) and returns the
/// SPIFFE ID: exactly one URI SAN holding a SPIFFE ID with a path; SAN critical
/// when the subject is empty; not a CA; key usage present, critical, with
/// `digitalSignature` and without `keyCertSign` and `cRLSign`; extended key
/// usage, if present, with both `serverAuth` and `clientAuth`.
pub fn check_x509_svid_leaf(der: &[u8]) -> Result<SpiffeId, X509SvidError> {
    profile::check_leaf(&profile::parse_certificate(der, 0)?)
}

/// Splits concatenated DER certificates into separate certificates.
pub fn split_der_chain(der: &[u8]) -> Result<Vec<CertificateDer<'static>>, X509SvidError> {
    use x509_parser::prelude::{FromDer as _, X509Certificate};

    let mut certs = Vec::new();
    let mut rest = der;
    while !rest.is_empty() {
        let index = certs.len();
        let (next, _) = X509Certificate::from_der(rest).map_err(|e| X509SvidError::Malformed {
            index,
            source: x509_error(e),
        })?;
        let len = rest.len() - next.len();
        certs.push(CertificateDer::from(rest[..len].to_vec()));
        rest = next;
    }
    if certs.is_empty() {
        return Err(X509SvidError::EmptyChain);
    }
    Ok(certs)
}
