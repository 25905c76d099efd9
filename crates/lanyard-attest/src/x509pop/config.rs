//! x509pop configuration for both halves (the daemons map HCL `plugin_data`
//! to these), and reading certificates and keys from PEM files.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::cert::parse_certificate;
use super::chain::check_anchor;
use crate::ConfigError;

/// Default `max_intermediates`.
pub const DEFAULT_MAX_INTERMEDIATES: usize = 4;

/// Default `max_rsa_key_size`, in bits.
pub const DEFAULT_MAX_RSA_KEY_SIZE: usize = 8192;

/// Default `svid_prefix` (spiffe mode).
pub const DEFAULT_SVID_PREFIX: &str = "/spire-exchange";

/// Where x509pop's trust anchors come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum X509PopMode {
    /// CA certificates from files (`ca_bundle_path(s)`).
    #[default]
    ExternalPki,
    /// The server's own trust bundle: agents present X509-SVIDs of this
    /// trust domain under `svid_prefix`.
    Spiffe,
}

impl X509PopMode {
    /// The configuration name (`external_pki`, `spiffe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExternalPki => "external_pki",
            Self::Spiffe => "spiffe",
        }
    }
}

impl FromStr for X509PopMode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "external_pki" | "" => Ok(Self::ExternalPki),
            "spiffe" => Ok(Self::Spiffe),
            other => Err(ConfigError::UnknownMode(other.to_owned())),
        }
    }
}

/// Server `NodeAttestor "x509pop"` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509PopServerConfig {
    /// `mode`.
    pub mode: X509PopMode,
    /// `ca_bundle_path` and `ca_bundle_paths`, merged: PEM files of trusted
    /// root CAs (external_pki mode only).
    pub ca_bundle_paths: Vec<PathBuf>,
    /// `svid_prefix` (spiffe mode; `None` for `/spire-exchange`). A missing
    /// leading or trailing `/` is added.
    pub svid_prefix: Option<String>,
    /// `agent_path_template`; `None` for `/{{ .PluginName }}/{{ .Fingerprint }}`
    /// (external_pki) or `/{{ .PluginName }}/{{ .SVIDPathTrimmed }}` (spiffe).
    pub agent_path_template: Option<String>,
    /// `max_intermediates`: most intermediates a payload may carry.
    pub max_intermediates: usize,
    /// `max_rsa_key_size`: largest RSA leaf key accepted, in bits.
    pub max_rsa_key_size: usize,
    /// `verify_client_ip`: the peer's IP must be one of the leaf's IP SANs.
    pub verify_client_ip: bool,
}

impl Default for X509PopServerConfig {
    fn default() -> Self {
        Self {
            mode: X509PopMode::ExternalPki,
            ca_bundle_paths: Vec::new(),
            svid_prefix: None,
            agent_path_template: None,
            max_intermediates: DEFAULT_MAX_INTERMEDIATES,
            max_rsa_key_size: DEFAULT_MAX_RSA_KEY_SIZE,
            verify_client_ip: false,
        }
    }
}

/// Agent `NodeAttestor "x509pop"` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509PopAgentConfig {
    /// `private_key_path`: PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub private_key_path: PathBuf,
    /// `certificate_path`: PEM certificates, the leaf first, then any
    /// intermediates.
    pub certificate_path: PathBuf,
    /// `intermediates_path`: more PEM intermediates, appended after those of
    /// `certificate_path`.
    pub intermediates_path: Option<PathBuf>,
}

/// Reads every `CERTIFICATE` block of a PEM file, checking each is DER X.509;
/// a file without certificates is an error.
pub(crate) fn read_certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ConfigError::Pem {
            setting,
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ConfigError::NoCertificates {
            setting,
            path: path.to_owned(),
        });
    }
    for (index, cert) in certs.iter().enumerate() {
        if parse_certificate(cert, index).is_err() {
            return Err(ConfigError::BadCertificate {
                setting,
                path: path.to_owned(),
                index,
            });
        }
    }
    Ok(certs)
}

/// Reads the root CAs of `ca_bundle_paths`, each usable as a trust anchor.
pub(crate) fn read_trust_anchors(
    paths: &[PathBuf],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    const SETTING: &str = "ca_bundle_path";
    let mut roots = Vec::new();
    for path in paths {
        for (index, cert) in read_certificates(SETTING, path)?.into_iter().enumerate() {
            check_anchor(&cert).map_err(|reason| ConfigError::BadTrustAnchor {
                setting: SETTING,
                path: path.clone(),
                index,
                reason,
            })?;
            roots.push(cert);
        }
    }
    Ok(roots)
}

/// Reads the first private key of a PEM file.
pub(crate) fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = zeroize::Zeroizing::new(read("private_key_path", path)?);
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => ConfigError::UnsupportedPrivateKey {
            path: path.to_owned(),
        },
        source => ConfigError::Pem {
            setting: "private_key_path",
            path: path.to_owned(),
            source,
        },
    })
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        setting,
        path: path.to_owned(),
        source,
    })
}
