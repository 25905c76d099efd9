//! Server configuration: SPIRE's `server.conf` (HCL or JSON), then command-line flags, then
//! defaults, checked and parsed into a [`ServerConfig`] the runtime can use as is.
//!
//! A SPIRE `server.conf` that only uses plugins Lanyard has loads unchanged. With nothing
//! but a trust domain and a data directory the server runs on the embedded default: SQLite
//! at `<data_dir>/datastore.sqlite3`, the disk key manager at `<data_dir>/keys.json` and the
//! `join_token` node attestor.
//!
//! # Deviations from SPIRE
//!
//! Lenient (a file SPIRE rejects may load here):
//! - keys match SPIRE's names ignoring case *and underscores*, so the `CommonName` spelling
//!   found in old SPIRE samples works inside `ca_subject`;
//! - durations may also be integer seconds (`ca_ttl = 86400`);
//! - without `-config`, a missing `conf/server/server.conf` is not an error: the server
//!   runs on flags alone (`-trustDomain`, `-dataDir`);
//! - a `plugins` section without a `DataStore` or `KeyManager` gets the embedded default
//!   for that type (SPIRE requires both); without any `plugins` section the `join_token`
//!   attestor is enabled, with one only the listed attestors are;
//! - `bind_port = 0` (and `-serverPort 0`) picks a free port, for tests.
//!
//! Strict (a file SPIRE accepts may be refused here):
//! - unknown keys are errors in every section, also `experimental`, `federation`,
//!   `telemetry` and `plugin_data` (SPIRE skips some of these). SPIRE keys Lanyard does not
//!   act on are accepted and reported in [`ServerConfig::warnings`]: `log_source_location`,
//!   `profiling_*`, `use_legacy_downstream_x509_ca_ttl`, `wit_issuer`, `wit_key_type`,
//!   `proxy_protocol_trusted_cidrs`, `prune_attested_nodes_batch_size`,
//!   `max_attested_node_info_staleness`, `experimental.named_pipe_name`,
//!   `experimental.feature_flags`, `experimental.agent_spiffe_id_as_selector` and the
//!   telemetry sinks other than `Prometheus`;
//! - settings whose silent omission would weaken security are refused:
//!   `experimental.auth_opa_policy_engine`, `experimental.require_pq_kem = true`,
//!   `telemetry.Prometheus.tls`;
//! - a key set twice is an error; `${...}` interpolation is refused (use `-expandEnv`);
//! - external plugins (`plugin_cmd`) are refused; supported plugins are DataStore `sql`
//!   (`sqlite3`, `postgres`; not `mysql`), KeyManager `disk`/`memory`, NodeAttestor
//!   `join_token`/`x509pop`/`tpm`, UpstreamAuthority `disk`. The `tpm` attestor is
//!   Lanyard's own (credential activation plus an LDevID), not SPIRE's `tpm_devid`.
//!
//! Federation settings are parsed and kept; serving and fetching bundles comes later.

mod build;
mod federation;
mod file;
mod plugins;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lanyard_ca::KeyType;
use lanyard_daemon::{Duration, LogSettings};
use lanyard_spiffe::{SpiffeId, TrustDomain};

pub use build::{ConfigOverrides, DEFAULT_CONFIG_PATH, LoadOptions, ServerConfigError};
pub use plugins::{DEFAULT_KEYS_FILE, DEFAULT_SQLITE_FILE};

/// Everything the server needs to run, parsed and checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The trust domain this server is the authority for.
    pub trust_domain: TrustDomain,
    /// The agent-facing gRPC listener (`bind_address:bind_port`, default `0.0.0.0:8081`).
    pub bind_address: SocketAddr,
    /// The admin API Unix socket (default `/tmp/lanyard-server/private/api.sock`).
    pub socket_path: PathBuf,
    /// Where the server keeps its state.
    pub data_dir: PathBuf,
    /// `log_level`, `log_format`, `log_file`.
    pub log: LogSettings,
    /// Key type of the X.509 CA (default `ec-p256`).
    pub ca_key_type: KeyType,
    /// Key type of the JWT signing keys (default: `ca_key_type`).
    pub jwt_key_type: KeyType,
    /// Lifetime of each CA (default 24h).
    pub ca_ttl: Duration,
    /// Subject of the CA certificates.
    pub ca_subject: CaSubjectConfig,
    /// Default X509-SVID lifetime (default 1h).
    pub default_x509_svid_ttl: Duration,
    /// Default JWT-SVID lifetime (default 5m).
    pub default_jwt_svid_ttl: Duration,
    /// Agent SVID lifetime (default: `default_x509_svid_ttl`).
    pub agent_ttl: Duration,
    /// The `iss` claim of JWT-SVIDs, when set.
    pub jwt_issuer: Option<String>,
    /// SPIFFE IDs treated as admins without an admin entry.
    pub admin_ids: Vec<SpiffeId>,
    /// Whether JWT-SVIDs are refused altogether.
    pub disable_jwt_svids: bool,
    /// Whether structured audit logs are written.
    pub audit_log_enabled: bool,
    /// Per-IP rate limits.
    pub ratelimit: RateLimitConfig,
    /// Prune attested nodes whose SVID expired this long ago (off when `None`).
    pub prune_attested_nodes_expired_for: Option<Duration>,
    /// Whether that pruning also removes nodes that cannot attest again
    /// (join tokens): `prune_tofu_nodes`.
    pub prune_tofu_nodes: bool,
    /// Federation (parsed and kept; not acted on yet).
    pub federation: FederationConfig,
    /// Entry cache tuning.
    pub experimental: ExperimentalConfig,
    /// The built-in plugins chosen in the `plugins` section.
    pub plugins: PluginsConfig,
    /// The HTTP health listener, when `health_checks.listener_enabled`.
    pub health_checks: Option<HealthChecksConfig>,
    /// The Prometheus endpoint, when configured.
    pub prometheus: Option<PrometheusConfig>,
    /// Things worth a warning at start (ignored keys, TTLs longer than rotation allows).
    pub warnings: Vec<String>,
}

/// `ca_subject`; empty means the default (`C=US, O=SPIFFE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSubjectConfig {
    /// `C` values.
    pub country: Vec<String>,
    /// `O` values.
    pub organization: Vec<String>,
    /// `CN`, when set.
    pub common_name: Option<String>,
}

impl Default for CaSubjectConfig {
    fn default() -> Self {
        Self {
            country: vec!["US".to_owned()],
            organization: vec!["SPIFFE".to_owned()],
            common_name: None,
        }
    }
}

/// `ratelimit { attestation, signing }` (both on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Limit node attestations per client IP.
    pub attestation: bool,
    /// Limit signing requests per client IP.
    pub signing: bool,
}

/// `federation { bundle_endpoint {...} federates_with "td" {...} }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FederationConfig {
    /// Serving our bundle to other trust domains.
    pub bundle_endpoint: Option<BundleEndpointConfig>,
    /// Statically configured relationships, by trust domain.
    pub federates_with: BTreeMap<TrustDomain, FederatesWithConfig>,
}

/// `federation.bundle_endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEndpointConfig {
    /// Listen address (default `0.0.0.0:443`).
    pub address: SocketAddr,
    /// `spiffe_refresh_hint` published in the bundle (default 5m).
    pub refresh_hint: Duration,
    /// How the endpoint authenticates itself.
    pub profile: BundleEndpointProfile,
}

/// The bundle endpoint's serving profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleEndpointProfile {
    /// TLS with the server's own X509-SVID (the default).
    HttpsSpiffe,
    /// Web PKI certificate obtained with ACME.
    HttpsWebAcme {
        /// ACME directory (default Let's Encrypt, as SPIRE).
        directory_url: Option<String>,
        /// The DNS name to obtain a certificate for.
        domain_name: String,
        /// Contact address.
        email: String,
        /// Whether the CA's terms of service were accepted.
        tos_accepted: bool,
    },
    /// Web PKI certificate read from files.
    HttpsWebServingCert {
        /// PEM certificate chain.
        cert_file_path: PathBuf,
        /// PEM private key.
        key_file_path: PathBuf,
        /// How often the files are re-read (default 1h).
        file_sync_interval: Duration,
    },
}

/// `federation.federates_with "<td>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatesWithConfig {
    /// Where the peer serves its bundle (https).
    pub bundle_endpoint_url: String,
    /// How the peer's endpoint is authenticated.
    pub profile: BundleEndpointClientProfile,
}

/// How a peer's bundle endpoint is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleEndpointClientProfile {
    /// Web PKI.
    HttpsWeb,
    /// The endpoint presents this SPIFFE ID, verified with the peer's bundle.
    HttpsSpiffe {
        /// The expected SPIFFE ID.
        endpoint_spiffe_id: SpiffeId,
    },
}

/// `experimental { ... }` settings that tune the entry cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentalConfig {
    /// How often a polling cache reloads (default 5s).
    pub cache_reload_interval: Duration,
    /// SPIRE's events-based cache switch (Lanyard's cache always follows the change log).
    pub events_based_cache: bool,
    /// Full reload period of the cache (default 24h).
    pub full_cache_reload_interval: Duration,
    /// Change-log retention (default 12h).
    pub prune_events_older_than: Duration,
    /// How long a gap in the change log is waited for (default 15m).
    pub event_timeout: Duration,
}

impl Default for ExperimentalConfig {
    fn default() -> Self {
        Self {
            cache_reload_interval: Duration::from_secs(5),
            events_based_cache: false,
            full_cache_reload_interval: Duration::from_hours(24),
            prune_events_older_than: Duration::from_hours(12),
            event_timeout: Duration::from_mins(15),
        }
    }
}

/// The built-in plugins in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsConfig {
    /// `DataStore "sql"`.
    pub datastore: DataStoreConfig,
    /// `KeyManager "disk"` or `"memory"`.
    pub key_manager: KeyManagerConfig,
    /// The enabled node attestors.
    pub node_attestors: NodeAttestorsConfig,
    /// `UpstreamAuthority "disk"`, when the CA is an intermediate.
    pub upstream_authority: Option<UpstreamAuthorityConfig>,
}

impl PluginsConfig {
    /// SQLite and disk keys under `data_dir`, join tokens.
    pub fn embedded_default(data_dir: &Path) -> Self {
        Self {
            datastore: DataStoreConfig {
                database_type: DatabaseType::Sqlite3,
                connection_string: data_dir.join(DEFAULT_SQLITE_FILE).display().to_string(),
                ro_connection_string: None,
                max_open_conns: None,
                max_idle_conns: None,
                conn_max_lifetime: None,
                disable_migration: false,
            },
            key_manager: KeyManagerConfig::Disk {
                keys_path: data_dir.join(DEFAULT_KEYS_FILE),
            },
            node_attestors: NodeAttestorsConfig {
                join_token: true,
                ..NodeAttestorsConfig::default()
            },
            upstream_authority: None,
        }
    }
}

/// The SQL engines Lanyard supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseType {
    /// SQLite; `connection_string` is a file path.
    Sqlite3,
    /// PostgreSQL; `connection_string` is a `postgres://` URL.
    Postgres,
}

/// `DataStore "sql" { plugin_data { ... } }`.
#[derive(Clone, PartialEq, Eq)]
pub struct DataStoreConfig {
    /// The engine.
    pub database_type: DatabaseType,
    /// File path (SQLite) or URL (PostgreSQL); may hold a password, never logged.
    pub connection_string: String,
    /// Read replica for reads that tolerate staleness.
    pub ro_connection_string: Option<String>,
    /// Pool size limit.
    pub max_open_conns: Option<u32>,
    /// Idle connections kept.
    pub max_idle_conns: Option<u32>,
    /// Connection recycling age.
    pub conn_max_lifetime: Option<Duration>,
    /// Skip schema migrations at start.
    pub disable_migration: bool,
}

impl DataStoreConfig {
    /// The SQLite file, with SPIRE's `file:` prefix and `?options` removed.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.database_type != DatabaseType::Sqlite3 {
            return None;
        }
        let s = self.connection_string.as_str();
        let s = s.strip_prefix("file:").unwrap_or(s);
        let s = s.split_once('?').map_or(s, |(path, _)| path);
        Some(PathBuf::from(s))
    }
}

impl fmt::Debug for DataStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &str| {
            if self.database_type == DatabaseType::Sqlite3 {
                s.to_owned()
            } else {
                "<redacted>".to_owned()
            }
        };
        f.debug_struct("DataStoreConfig")
            .field("database_type", &self.database_type)
            .field("connection_string", &redacted(&self.connection_string))
            .field(
                "ro_connection_string",
                &self.ro_connection_string.as_deref().map(redacted),
            )
            .field("max_open_conns", &self.max_open_conns)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("conn_max_lifetime", &self.conn_max_lifetime)
            .field("disable_migration", &self.disable_migration)
            .finish()
    }
}

/// Where the CA and JWT keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyManagerConfig {
    /// A JSON file (mode 0600) at `keys_path`.
    Disk {
        /// The key file.
        keys_path: PathBuf,
    },
    /// Memory only: new keys on every start.
    Memory,
}

/// The enabled node attestors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAttestorsConfig {
    /// `NodeAttestor "join_token"`.
    pub join_token: bool,
    /// `NodeAttestor "x509pop"`.
    pub x509pop: Option<X509PopConfig>,
    /// `NodeAttestor "tpm"`.
    pub tpm: Option<TpmAttestorConfig>,
}

/// `NodeAttestor "x509pop" { plugin_data { ... } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509PopConfig {
    /// Where the trust anchors come from.
    pub mode: X509PopMode,
    /// CA bundles (external_pki mode; `ca_bundle_path` and `ca_bundle_paths` merged).
    pub ca_bundle_paths: Vec<PathBuf>,
    /// Path prefix of acceptable SVIDs (spiffe mode, default `/spire-exchange`).
    pub svid_prefix: String,
    /// SPIRE's Go template for the agent ID path, unparsed.
    pub agent_path_template: Option<String>,
}

/// x509pop trust anchors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X509PopMode {
    /// Certificates from an existing PKI (`ca_bundle_paths`).
    ExternalPki,
    /// X509-SVIDs from this trust domain.
    Spiffe,
}

/// `NodeAttestor "tpm" { plugin_data { ... } }` (Lanyard's own attestor; docs/tpm.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmAttestorConfig {
    /// PEM bundles of TPM manufacturer CAs (roots and intermediates) that EK
    /// certificates must chain to.
    pub endorsement_ca_paths: Vec<PathBuf>,
    /// Directory whose file names are allowed EK hashes, for TPMs without an EK
    /// certificate.
    pub ek_hash_path: Option<PathBuf>,
    /// Allowed EK hashes (hex SHA-256 of the EK public key), inline.
    pub ek_hashes: Vec<String>,
    /// Where the LDevID CA comes from.
    pub ldevid_ca: LdevidCaSource,
    /// Lifetime of issued LDevID certificates (default 5 years).
    pub ldevid_ttl: Duration,
    /// Agent ID path template (default `/{{ .PluginName }}/{{ .Xname }}`).
    pub agent_path_template: Option<String>,
    /// Redo the full TPM residency check at a re-attestation when the last one is
    /// older than this; `None` never re-checks.
    pub residency_check_period: Option<Duration>,
}

/// The CA that signs the `tpm` attestor's LDevID certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdevidCaSource {
    /// Operator-supplied PEM certificate and key (`ldevid_ca_cert_path`,
    /// `ldevid_ca_key_path`); required when several servers share a datastore.
    Files {
        /// The CA certificate.
        cert_path: PathBuf,
        /// Its private key.
        key_path: PathBuf,
    },
    /// Generated on first start and kept in this directory (`<data_dir>/tpm`).
    Generated {
        /// Where the key and certificate are kept.
        dir: PathBuf,
    },
}

/// `UpstreamAuthority "disk" { plugin_data { ... } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAuthorityConfig {
    /// An upstream CA certificate and key on disk.
    Disk {
        /// PEM certificate (chain) of the upstream CA.
        cert_file_path: PathBuf,
        /// PEM private key of the upstream CA.
        key_file_path: PathBuf,
        /// PEM roots to publish, when the upstream CA is itself an intermediate.
        bundle_file_path: Option<PathBuf>,
    },
}

/// `health_checks { ... }` with the listener enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChecksConfig {
    /// Host to bind (default `localhost`).
    pub bind_address: String,
    /// Port (default 80).
    pub bind_port: u16,
    /// Liveness path (default `/live`).
    pub live_path: String,
    /// Readiness path (default `/ready`).
    pub ready_path: String,
}

/// `telemetry { Prometheus { host, port } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// Host to bind (default `localhost`).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl ServerConfig {
    /// Loads the configuration the way `lanyard-server run` does.
    pub fn load(options: &LoadOptions) -> Result<Self, ServerConfigError> {
        build::load(options)
    }

    /// Builds the configuration from an already parsed document and flag values.
    pub fn from_document(
        doc: &lanyard_daemon::ConfigDocument,
        overrides: &ConfigOverrides,
    ) -> Result<Self, ServerConfigError> {
        build::from_document(doc, overrides)
    }

    /// The embedded default for a trust domain and a data directory (for tests and demos).
    pub fn embedded_default(trust_domain: TrustDomain, data_dir: &Path) -> Self {
        build::embedded_default(trust_domain, data_dir)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "tpm_tests.rs"]
mod tpm_tests;
