//! Upstream authorities: an existing PKI that signs this server's CA.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lanyard_spiffe::TrustDomain;
use rcgen::{Issuer, PublicKeyData};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::key::{KeyError, KeyId, Signer};
use crate::public_key::PublicKey;
use crate::x509::CaSubject;
use crate::x509::template;

/// Signs this server's intermediate CA certificates.
pub trait UpstreamAuthority: Send + Sync + fmt::Debug {
    /// Signs a CA certificate for `request.public_key`.
    fn mint_x509_ca(&self, request: &UpstreamCaRequest<'_>) -> Result<MintedX509Ca, UpstreamError>;
}

/// What the server asks an upstream authority to sign.
#[derive(Debug)]
pub struct UpstreamCaRequest<'a> {
    /// The trust domain the CA serves (its URI SAN).
    pub trust_domain: &'a TrustDomain,
    /// The CA's subject name.
    pub subject: &'a CaSubject,
    /// The CA's public key.
    pub public_key: &'a PublicKey,
    /// Requested lifetime; the upstream may shorten it.
    pub ttl: Duration,
    /// Signing time.
    pub now: SystemTime,
}

/// A CA certificate signed by an upstream authority.
#[derive(Debug, Clone)]
pub struct MintedX509Ca {
    /// The new CA certificate.
    pub certificate: CertificateDer<'static>,
    /// Certificates between the new CA and the roots, nearest first, no roots.
    pub upstream_chain: Vec<CertificateDer<'static>>,
    /// The upstream roots (trust anchors for the bundle); never empty.
    pub upstream_roots: Vec<CertificateDer<'static>>,
}

/// Why an upstream authority could not be loaded or could not sign.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// A file could not be read.
    #[error("cannot read the upstream {what} file {path}")]
    Io {
        /// Which file (certificate, key, bundle).
        what: &'static str,
        /// The configured path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file holds no usable PEM block of the expected kind.
    #[error("upstream {0} is not valid pem")]
    Pem(&'static str),

    /// A certificate could not be parsed.
    #[error("upstream certificate {index} is not a valid x509 certificate")]
    Certificate {
        /// Position in its file, from 0.
        index: usize,
    },

    /// The first certificate of the chain is not a CA.
    #[error("the upstream certificate is not a ca (basicConstraints cA is not true)")]
    NotCa,

    /// The upstream key is not the key of the first certificate.
    #[error("the upstream key does not match the upstream certificate")]
    KeyMismatch,

    /// No trust anchor: no bundle file, and the chain does not end in a self-signed root.
    #[error(
        "no upstream root: the chain does not end in a self-signed certificate and no bundle was given"
    )]
    NoRoot,

    /// The upstream certificate has expired.
    #[error("the upstream certificate expired")]
    Expired,

    /// The upstream key could not be loaded or could not sign.
    #[error("upstream key failed")]
    Key(#[from] KeyError),

    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,

    /// The certificate could not be built.
    #[error("certificate encoding failed")]
    Encode(#[source] rcgen::Error),
}

/// An upstream CA whose certificate chain and key are PEM files on disk
/// (SPIRE's `UpstreamAuthority "disk"`: `cert_file_path`, `key_file_path`,
/// optional `bundle_file_path`).
pub struct DiskUpstreamAuthority {
    issuer: Issuer<'static, Signer>,
    chain: Vec<CertificateDer<'static>>,
    roots: Vec<CertificateDer<'static>>,
    not_after: SystemTime,
}

impl DiskUpstreamAuthority {
    /// Loads the upstream CA. `cert_file` holds the upstream CA certificate
    /// first, then any intermediates; `bundle_file`, if given, holds the
    /// roots, otherwise the last certificate of `cert_file` must be a
    /// self-signed root.
    pub fn load(
        cert_file: &Path,
        key_file: &Path,
        bundle_file: Option<&Path>,
    ) -> Result<Self, UpstreamError> {
        let certs = read("certificate", cert_file)?;
        let key = read("key", key_file)?;
        let bundle = bundle_file.map(|path| read("bundle", path)).transpose()?;
        Self::from_pem(&certs, &key, bundle.as_deref())
    }

    /// Same as [`DiskUpstreamAuthority::load`] from PEM bytes.
    pub fn from_pem(
        cert_chain_pem: &[u8],
        key_pem: &[u8],
        bundle_pem: Option<&[u8]>,
    ) -> Result<Self, UpstreamError> {
        let certs = parse_certs(cert_chain_pem, "certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| UpstreamError::Pem("key"))?;
        let id = KeyId::new("upstream-authority")?;
        let (signer, _pkcs8) = Signer::from_private_key_der(id, &key)?;

        let first = certs
            .first()
            .ok_or(UpstreamError::Pem("certificate chain"))?;
        let upstream = parse_cert(first, 0)?;
        if !upstream
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca)
        {
            return Err(UpstreamError::NotCa);
        }
        if upstream.public_key().raw != signer.public_key().as_ref() {
            return Err(UpstreamError::KeyMismatch);
        }
        let not_after = template::from_unix(upstream.validity().not_after.timestamp());

        let (chain, roots) = match bundle_pem {
            Some(bundle) => {
                let roots = parse_certs(bundle, "bundle")?;
                let chain = certs
                    .iter()
                    .filter(|c| !roots.contains(c))
                    .cloned()
                    .collect();
                (chain, roots)
            }
            None => {
                let last = certs.len() - 1;
                if !is_self_signed(&parse_cert(&certs[last], last)?) {
                    return Err(UpstreamError::NoRoot);
                }
                (certs[..last].to_vec(), vec![certs[last].clone()])
            }
        };

        let issuer = Issuer::from_ca_cert_der(first, signer).map_err(UpstreamError::Encode)?;
        Ok(Self {
            issuer,
            chain,
            roots,
            not_after,
        })
    }

    /// The upstream roots.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }
}

impl UpstreamAuthority for DiskUpstreamAuthority {
    fn mint_x509_ca(&self, request: &UpstreamCaRequest<'_>) -> Result<MintedX509Ca, UpstreamError> {
        if request.now >= self.not_after {
            return Err(UpstreamError::Expired);
        }

        let serial = template::random_serial().map_err(|_| UpstreamError::Random)?;
        let skid = template::subject_key_id(request.public_key.der_bytes());
        let validity = (
            template::backdated(request.now),
            template::whole_seconds(template::later(request.now, request.ttl)).min(self.not_after),
        );
        let params = template::ca_params(
            request.trust_domain,
            request.subject,
            serial,
            skid,
            validity,
        )
        .map_err(UpstreamError::Encode)?;
        let certificate = params
            .signed_by(request.public_key, &self.issuer)
            .map_err(UpstreamError::Encode)?;

        tracing::debug!(
            trust_domain = request.trust_domain.as_str(),
            "upstream signed a ca"
        );
        Ok(MintedX509Ca {
            certificate: certificate.der().clone(),
            upstream_chain: self.chain.clone(),
            upstream_roots: self.roots.clone(),
        })
    }
}

impl fmt::Debug for DiskUpstreamAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskUpstreamAuthority")
            .field("chain_len", &self.chain.len())
            .field("roots", &self.roots.len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, UpstreamError> {
    std::fs::read(path).map_err(|source| UpstreamError::Io {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn parse_certs(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, UpstreamError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| UpstreamError::Pem(what))?;
    if certs.is_empty() {
        return Err(UpstreamError::Pem(what));
    }
    for (index, cert) in certs.iter().enumerate() {
        parse_cert(cert, index)?;
    }
    Ok(certs)
}

fn parse_cert<'a>(
    der: &'a CertificateDer<'_>,
    index: usize,
) -> Result<X509Certificate<'a>, UpstreamError> {
    match X509Certificate::from_der(der.as_ref()) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(UpstreamError::Certificate { index }),
    }
}

fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok()
}
