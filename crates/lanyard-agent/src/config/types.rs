//! The typed pieces of [`AgentConfig`](super::AgentConfig).

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::file::{HealthChecksSection, SdsSection};

/// Where the agent gets the trust bundle it uses before it has talked to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustBundleSource {
    /// A file on disk (`trust_bundle_path`).
    Path {
        /// The file.
        path: PathBuf,
        /// PEM certificates or a SPIFFE bundle.
        format: BundleFormat,
    },
    /// An HTTPS URL checked with the system's Web PKI roots, or plain HTTP over a Unix
    /// socket (`trust_bundle_url`, `trust_bundle_unix_socket`).
    Url {
        /// The URL.
        url: url::Url,
        /// PEM certificates or a SPIFFE bundle.
        format: BundleFormat,
        /// Fetch over this Unix socket instead of TCP.
        unix_socket: Option<PathBuf>,
    },
    /// Trust whatever server answers first (`insecure_bootstrap = true`). Anyone who can
    /// intercept that first connection can impersonate the server for good; use only in
    /// tests and demos.
    InsecureBootstrap,
}

/// How a bootstrap bundle is encoded (`trust_bundle_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleFormat {
    /// Concatenated PEM `CERTIFICATE` blocks.
    #[default]
    Pem,
    /// A SPIFFE bundle (JWK Set with `spiffe_sequence`).
    Spiffe,
}

/// A join token. Never printed: `Debug` shows only that one is set.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken(Zeroizing<String>);

impl JoinToken {
    /// Wraps `token`; `None` when it is empty or blank.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(Zeroizing::new(token.to_owned())))
    }

    /// The token itself, for the attestation payload.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinToken(<redacted>)")
    }
}

/// The built-in plugins selected by the `plugins` section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginsConfig {
    /// How the node proves its identity.
    pub node_attestor: NodeAttestorConfig,
    /// Where the agent's own private key lives.
    pub key_manager: KeyManagerConfig,
    /// The `unix` workload attestor, when configured.
    pub unix_attestor: Option<UnixAttestorConfig>,
    /// The `systemd` workload attestor, when configured.
    pub systemd_attestor: Option<SystemdAttestorConfig>,
}

impl PluginsConfig {
    /// What an agent without a `plugins` section uses: join token attestation, the agent
    /// key on disk in `data_dir`, and the `unix` workload attestor.
    pub fn defaults(data_dir: &Path) -> Self {
        Self {
            node_attestor: NodeAttestorConfig::JoinToken,
            key_manager: KeyManagerConfig::Disk {
                directory: data_dir.to_owned(),
            },
            unix_attestor: Some(UnixAttestorConfig::default()),
            systemd_attestor: None,
        }
    }
}

/// The node attestor (`NodeAttestor "<name>"`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeAttestorConfig {
    /// `join_token`: the token comes from `join_token`/`join_token_file`/`-joinToken`.
    JoinToken,
    /// `x509pop`: proof of possession of a key certified by an existing PKI.
    X509Pop(X509PopAttestorConfig),
    /// `tpm`: TPM enrollment with a join token, then re-attestation with the
    /// LDevID kept in `<data_dir>/tpm` (needs the `tpm` cargo feature).
    Tpm(TpmAttestorConfig),
}

impl NodeAttestorConfig {
    /// The plugin name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::JoinToken => "join_token",
            Self::X509Pop(_) => "x509pop",
            Self::Tpm(_) => "tpm",
        }
    }
}

/// `NodeAttestor "x509pop"` agent settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509PopAttestorConfig {
    /// PEM private key of the node certificate.
    pub private_key_path: PathBuf,
    /// PEM node certificate (may be followed by intermediates).
    pub certificate_path: PathBuf,
    /// PEM intermediates sent along with the certificate.
    pub intermediates_path: Option<PathBuf>,
}

/// `NodeAttestor "tpm"` agent settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmAttestorConfig {
    /// How to reach the TPM (default `device:/dev/tpmrm0`).
    pub tcti: String,
    /// The xname this node expects to be enrolled as (checked against the token).
    pub xname: Option<String>,
    /// The node type this node expects (checked against the token).
    pub node_type: Option<String>,
    /// Use RSA-2048 AK and LDevID keys instead of ECC P-256 (`key_algorithm = "rsa"`).
    pub rsa_keys: bool,
}

/// Where the agent's own private key is kept (`KeyManager "<name>"`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyManagerConfig {
    /// On disk in `directory` (mode 0600): the agent SVID survives a restart.
    Disk {
        /// The directory (SPIRE's `directory`).
        directory: PathBuf,
    },
    /// In memory only: every restart attests again.
    Memory,
}

/// `WorkloadAttestor "unix"` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixAttestorConfig {
    /// Produce `unix:path` and `unix:sha256` from the workload's executable.
    pub discover_workload_path: bool,
    /// Bound on the executable size hashed for `unix:sha256`.
    pub workload_size_limit: WorkloadSizeLimit,
}

/// SPIRE's `workload_size_limit`: 0 means no limit, a negative value never hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkloadSizeLimit {
    /// Hash executables of any size.
    #[default]
    Unlimited,
    /// Hash only executables of at most this many bytes.
    Bytes(u64),
    /// Never compute `unix:sha256`.
    NeverHash,
}

impl WorkloadSizeLimit {
    /// Reads SPIRE's integer form.
    pub fn from_spire(value: i64) -> Self {
        match u64::try_from(value) {
            Ok(0) => Self::Unlimited,
            Ok(n) => Self::Bytes(n),
            Err(_) => Self::NeverHash,
        }
    }
}

/// `WorkloadAttestor "systemd"` settings (SPIRE's plugin has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemdAttestorConfig {}

/// The `sds { ... }` block: the resource names SDS serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdsConfig {
    /// Name of the default X.509-SVID resource (`default`).
    pub default_svid_name: String,
    /// Name of the own trust domain's validation context (`ROOTCA`).
    pub default_bundle_name: String,
    /// Name of the validation context with every bundle (`ALL`).
    pub default_all_bundles_name: String,
    /// Send plain CA lists instead of Envoy's SPIFFE certificate validator config.
    pub disable_spiffe_cert_validation: bool,
}

impl Default for SdsConfig {
    fn default() -> Self {
        Self::from_section(SdsSection::default())
    }
}

impl SdsConfig {
    pub(super) fn from_section(section: SdsSection) -> Self {
        let name = |value: Option<String>, default: &str| {
            value
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            default_svid_name: name(section.default_svid_name, "default"),
            default_bundle_name: name(section.default_bundle_name, "ROOTCA"),
            default_all_bundles_name: name(section.default_all_bundles_name, "ALL"),
            disable_spiffe_cert_validation: section.disable_spiffe_cert_validation.unwrap_or(false),
        }
    }
}

/// The `health_checks { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChecksConfig {
    /// Serve `/live` and `/ready` over HTTP.
    pub listener_enabled: bool,
    /// Listen address (`localhost`).
    pub bind_address: String,
    /// Listen port (80).
    pub bind_port: u16,
    /// Liveness path (`/live`).
    pub live_path: String,
    /// Readiness path (`/ready`).
    pub ready_path: String,
}

impl Default for HealthChecksConfig {
    fn default() -> Self {
        Self::from_section(HealthChecksSection::default())
    }
}

impl HealthChecksConfig {
    pub(super) fn from_section(section: HealthChecksSection) -> Self {
        let path = |value: Option<String>, default: &str| match value.filter(|v| !v.is_empty()) {
            Some(p) if p.starts_with('/') => p,
            Some(p) => format!("/{p}"),
            None => default.to_owned(),
        };
        Self {
            listener_enabled: section.listener_enabled.unwrap_or(false),
            bind_address: section
                .bind_address
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "localhost".to_owned()),
            bind_port: section.bind_port.unwrap_or(80),
            live_path: path(section.live_path, "/live"),
            ready_path: path(section.ready_path, "/ready"),
        }
    }
}

/// `telemetry { Prometheus { host, port } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// Listen host (`localhost`).
    pub host: String,
    /// Listen port.
    pub port: u16,
}
