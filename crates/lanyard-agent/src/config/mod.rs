//! The agent's configuration: SPIRE's `agent.conf` (HCL or JSON) plus command-line
//! overrides, turned into typed settings.
//!
//! [`AgentConfig::load`] reads the file named by [`ConfigOverrides::config_path`], applies
//! the flags over it, fills in defaults and checks the cross-field rules. Unknown keys are
//! errors that name the key and its line; keys SPIRE documents that Lanyard does not act
//! on load with a warning (see `docs/configuration.md`, section "Agent").

mod file;
mod plugins;
mod types;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lanyard_ca::KeyType;
use lanyard_daemon::{ConfigDocument, ConfigError, Duration, LogFormat, LogLevel, LogSettings};
use lanyard_spiffe::TrustDomain;

pub use types::{
    BundleFormat, HealthChecksConfig, JoinToken, KeyManagerConfig, NodeAttestorConfig,
    PluginsConfig, PrometheusConfig, SdsConfig, SystemdAttestorConfig, TpmAttestorConfig,
    TrustBundleSource, UnixAttestorConfig, WorkloadSizeLimit, X509PopAttestorConfig,
};

use file::{AgentSection, FileConfig};

/// The configuration file used when `-config` is not given (SPIRE's layout).
pub const DEFAULT_CONFIG_PATH: &str = "conf/agent/agent.conf";
/// The Workload API socket when none is configured.
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/lanyard-agent/public/api.sock";
/// The server's agent endpoint port when none is configured.
pub const DEFAULT_SERVER_PORT: u16 = 8081;
/// How often entries are polled when the server offers no push stream.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(5);
/// Default bound of the X.509-SVID cache (a soft limit, as in SPIRE).
pub const DEFAULT_X509_SVID_CACHE_MAX_SIZE: usize = 1000;
/// Default bound of the JWT-SVID cache (a hard limit).
pub const DEFAULT_JWT_SVID_CACHE_MAX_SIZE: usize = 1000;

/// Typed agent settings, defaults filled in and cross-field rules checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The trust domain the agent belongs to.
    pub trust_domain: TrustDomain,
    /// Host name or IP address of the server's agent endpoint.
    pub server_address: String,
    /// Port of the server's agent endpoint.
    pub server_port: u16,
    /// The public socket: Workload API, SDS and gRPC health.
    pub socket_path: PathBuf,
    /// The admin socket (SPIRE's debug, logger and delegated identity APIs), off when unset.
    pub admin_socket_path: Option<PathBuf>,
    /// Where the agent keeps its SVID, key and bundle.
    pub data_dir: PathBuf,
    /// Log level, format and file.
    pub log: LogSettings,
    /// Where the first trust bundle comes from.
    pub trust_bundle: TrustBundleSource,
    /// The join token, from `join_token`, `join_token_file` or the flags.
    pub join_token: Option<JoinToken>,
    /// Key type of the keys generated for workload X.509-SVIDs.
    pub workload_x509_svid_key_type: KeyType,
    /// Soft bound of the X.509-SVID cache.
    pub x509_svid_cache_max_size: usize,
    /// Hard bound of the JWT-SVID cache.
    pub jwt_svid_cache_max_size: usize,
    /// Serve bundles to callers that have no identity.
    pub allow_unauthenticated_verifiers: bool,
    /// Claims of foreign JWT-SVIDs that `ValidateJWTSVID` returns.
    pub allowed_foreign_jwt_claims: Vec<String>,
    /// Do not serve the Workload API.
    pub disable_workload_api: bool,
    /// Do not serve SDS.
    pub disable_sds_api: bool,
    /// SPIFFE IDs allowed to use the delegated identity API.
    pub authorized_delegates: Vec<String>,
    /// Envoy SDS resource names.
    pub sds: SdsConfig,
    /// How often entries are polled when the server offers no push stream.
    pub sync_interval: Duration,
    /// The built-in plugins and their settings.
    pub plugins: PluginsConfig,
    /// The `/live` and `/ready` HTTP listener.
    pub health_checks: HealthChecksConfig,
    /// The Prometheus listener, when configured.
    pub prometheus: Option<PrometheusConfig>,
}

/// What a load produced: the settings and the warnings to log once logging is up.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The settings.
    pub config: AgentConfig,
    /// Keys that were accepted but have no effect, and similar notes.
    pub warnings: Vec<String>,
}

/// Command-line values that take precedence over the file (SPIRE's `run` flags).
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// `-config`: the file to read ([`DEFAULT_CONFIG_PATH`] when unset).
    pub config_path: Option<PathBuf>,
    /// `-expandEnv`: expand `$VAR` and `${VAR}` before parsing.
    pub expand_env: bool,
    /// `-joinToken`.
    pub join_token: Option<String>,
    /// `-joinTokenFile`.
    pub join_token_file: Option<PathBuf>,
    /// `-serverAddress`.
    pub server_address: Option<String>,
    /// `-serverPort`.
    pub server_port: Option<u16>,
    /// `-socketPath`.
    pub socket_path: Option<PathBuf>,
    /// `-trustDomain`.
    pub trust_domain: Option<String>,
    /// `-trustBundle`.
    pub trust_bundle_path: Option<PathBuf>,
    /// `-trustBundleUrl`.
    pub trust_bundle_url: Option<String>,
    /// `-dataDir`.
    pub data_dir: Option<PathBuf>,
    /// `-logLevel`.
    pub log_level: Option<String>,
    /// `-logFormat`.
    pub log_format: Option<String>,
    /// `-logFile`.
    pub log_file: Option<PathBuf>,
    /// `-allowUnauthenticatedVerifiers`.
    pub allow_unauthenticated_verifiers: bool,
}

impl AgentConfig {
    /// Reads the configuration file and applies `overrides`.
    pub fn load(overrides: &ConfigOverrides) -> Result<LoadedConfig, ConfigError> {
        let path = overrides
            .config_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        let doc = ConfigDocument::load(&path, overrides.expand_env)?;
        Self::from_document(&doc, overrides)
    }

    /// Builds the settings from a parsed document and `overrides`.
    pub fn from_document(
        doc: &ConfigDocument,
        overrides: &ConfigOverrides,
    ) -> Result<LoadedConfig, ConfigError> {
        let file: FileConfig = doc.deserialize()?;
        let mut warnings = Vec::new();
        let agent_line = plugins::find_folded(doc.root(), "agent").map_or(0, |e| e.line());
        let agent = file.agent.unwrap_or_default();
        let line_of = |key: &str| key_line(doc, key).unwrap_or(agent_line);

        warnings.extend(
            file::ignored_agent_keys(&agent)
                .into_iter()
                .map(|key| format!("agent.{key} is not supported by Lanyard and is ignored")),
        );

        let trust_domain = match &overrides.trust_domain {
            Some(td) => file::parse_trust_domain(td).map_err(|err| {
                doc.invalid_value(0, "-trustDomain", format!("invalid trust domain: {err}"))
            })?,
            None => agent
                .trust_domain
                .clone()
                .ok_or_else(|| ConfigError::MissingKey {
                    location: doc.location(agent_line),
                    key: "trust_domain".to_owned(),
                    section: "agent".to_owned(),
                })?,
        };

        let server_address = overrides
            .server_address
            .clone()
            .or_else(|| agent.server_address.clone())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ConfigError::MissingKey {
                location: doc.location(agent_line),
                key: "server_address".to_owned(),
                section: "agent".to_owned(),
            })?;
        let server_port = overrides
            .server_port
            .or(agent.server_port)
            .unwrap_or(DEFAULT_SERVER_PORT);
        if server_port == 0 {
            return Err(doc.invalid_value(
                line_of("server_port"),
                "agent.server_port",
                "must be 1 to 65535",
            ));
        }

        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| agent.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("."));
        let log = log_settings(doc, &agent, overrides)?;
        let trust_bundle = trust_bundle_source(doc, &agent, overrides, &line_of)?;
        let join_token = join_token(doc, &agent, overrides, &line_of)?;
        check_refused_keys(doc, &agent, &line_of)?;

        let workload_x509_svid_key_type = match &agent.workload_x509_svid_key_type {
            None => KeyType::EcP256,
            Some(name) => KeyType::from_str(&name.trim().to_ascii_lowercase()).map_err(|_| {
                doc.invalid_value(
                    line_of("workload_x509_svid_key_type"),
                    "agent.workload_x509_svid_key_type",
                    format!(
                        "unknown key type {name:?} (use ec-p256, ec-p384, rsa-2048 or rsa-4096)"
                    ),
                )
            })?,
        };

        let experimental = agent.experimental.unwrap_or_default();
        warnings.extend(
            file::ignored_experimental_keys(&experimental)
                .into_iter()
                .map(|key| format!("agent.experimental.{key} is not supported and is ignored")),
        );
        if experimental.require_pq_kem == Some(true) {
            return Err(doc.invalid_value(
                line_of("require_pq_kem"),
                "agent.experimental.require_pq_kem",
                "requiring post-quantum key exchange is not supported yet",
            ));
        }
        if experimental.use_sync_authorized_entries == Some(false) {
            warnings.push(
                "agent.experimental.use_sync_authorized_entries = false is ignored: \
                 Lanyard always uses SyncAuthorizedEntries when the push stream is absent"
                    .to_owned(),
            );
        }
        let sync_interval = experimental.sync_interval.unwrap_or(DEFAULT_SYNC_INTERVAL);
        if sync_interval.is_zero() {
            return Err(doc.invalid_value(
                line_of("sync_interval"),
                "agent.experimental.sync_interval",
                "must be greater than zero",
            ));
        }

        let socket_path = overrides
            .socket_path
            .clone()
            .or(agent.socket_path.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH));
        if agent.admin_socket_path.is_some() {
            warnings.push(
                "agent.admin_socket_path is set but the admin API is not served yet".to_owned(),
            );
        }

        let plugins = plugins::load_plugins(doc, &data_dir)?;
        let health_checks =
            HealthChecksConfig::from_section(file.health_checks.unwrap_or_default());
        let telemetry = file.telemetry.unwrap_or_default();
        warnings.extend(
            file::ignored_telemetry_keys(&telemetry)
                .into_iter()
                .map(|key| format!("telemetry.{key} is not supported and is ignored")),
        );
        let prometheus = prometheus(doc, telemetry.prometheus, &line_of)?;

        let config = Self {
            trust_domain,
            server_address,
            server_port,
            socket_path,
            admin_socket_path: agent.admin_socket_path,
            data_dir,
            log,
            trust_bundle,
            join_token,
            workload_x509_svid_key_type,
            x509_svid_cache_max_size: cache_size(
                agent.x509_svid_cache_max_size,
                DEFAULT_X509_SVID_CACHE_MAX_SIZE,
            ),
            jwt_svid_cache_max_size: cache_size(
                agent.jwt_svid_cache_max_size,
                DEFAULT_JWT_SVID_CACHE_MAX_SIZE,
            ),
            allow_unauthenticated_verifiers: overrides.allow_unauthenticated_verifiers
                || agent.allow_unauthenticated_verifiers.unwrap_or(false),
            allowed_foreign_jwt_claims: agent.allowed_foreign_jwt_claims.unwrap_or_default(),
            disable_workload_api: agent.disable_workload_api.unwrap_or(false),
            disable_sds_api: agent.disable_sds_api.unwrap_or(false),
            authorized_delegates: agent.authorized_delegates.unwrap_or_default(),
            sds: SdsConfig::from_section(agent.sds.unwrap_or_default()),
            sync_interval,
            plugins,
            health_checks,
            prometheus,
        };
        Ok(LoadedConfig { config, warnings })
    }

    /// The server's SPIFFE ID, which the agent requires the server to present.
    pub fn server_id(&self) -> lanyard_spiffe::SpiffeId {
        server_id(&self.trust_domain)
    }
}

/// `spiffe://<td>/spire/server`, the ID every server of `td` presents.
pub fn server_id(td: &TrustDomain) -> lanyard_spiffe::SpiffeId {
    td.id()
        .join("spire/server")
        .expect("a trust domain ID joined with a fixed valid path is a valid SPIFFE ID")
}

fn cache_size(value: Option<u32>, default: usize) -> usize {
    match value {
        None | Some(0) => default,
        Some(n) => usize::try_from(n).unwrap_or(default),
    }
}

/// The line where `key` is first written anywhere in the document, for messages.
fn key_line(doc: &ConfigDocument, key: &str) -> Option<usize> {
    fn search(node: &lanyard_daemon::config::ConfigNode, key: &str) -> Option<usize> {
        for entry in node.entries()? {
            if entry.key().eq_ignore_ascii_case(key) {
                return Some(entry.line());
            }
            if let Some(line) = search(entry.value(), key) {
                return Some(line);
            }
        }
        None
    }
    search(doc.root(), key)
}

fn log_settings(
    doc: &ConfigDocument,
    agent: &AgentSection,
    overrides: &ConfigOverrides,
) -> Result<LogSettings, ConfigError> {
    let level = match &overrides.log_level {
        Some(level) => level
            .parse::<LogLevel>()
            .map_err(|err| doc.invalid_value(0, "-logLevel", err.to_string()))?,
        None => agent.log_level.unwrap_or_default(),
    };
    let format = match &overrides.log_format {
        Some(format) => format
            .parse::<LogFormat>()
            .map_err(|err| doc.invalid_value(0, "-logFormat", err.to_string()))?,
        None => agent.log_format.unwrap_or_default(),
    };
    let file = overrides
        .log_file
        .clone()
        .or_else(|| agent.log_file.clone())
        .filter(|path| !path.as_os_str().is_empty());
    Ok(LogSettings {
        level,
        format,
        file,
    })
}

fn trust_bundle_source(
    doc: &ConfigDocument,
    agent: &AgentSection,
    overrides: &ConfigOverrides,
    line_of: &dyn Fn(&str) -> usize,
) -> Result<TrustBundleSource, ConfigError> {
    let format = match agent.trust_bundle_format.as_deref().map(str::trim) {
        None | Some("") | Some("pem") => BundleFormat::Pem,
        Some("spiffe") => BundleFormat::Spiffe,
        Some(other) => {
            return Err(doc.invalid_value(
                line_of("trust_bundle_format"),
                "agent.trust_bundle_format",
                format!("unknown bundle format {other:?} (use pem or spiffe)"),
            ));
        }
    };

    let path = overrides
        .trust_bundle_path
        .clone()
        .or_else(|| agent.trust_bundle_path.clone())
        .filter(|p| !p.as_os_str().is_empty());
    let url = overrides
        .trust_bundle_url
        .clone()
        .or_else(|| agent.trust_bundle_url.clone())
        .filter(|u| !u.trim().is_empty());
    let insecure = agent.insecure_bootstrap.unwrap_or(false);

    let line = line_of("trust_bundle_path");
    match (path, url, insecure) {
        (Some(path), None, false) => Ok(TrustBundleSource::Path { path, format }),
        (None, Some(url), false) => {
            let parsed = url::Url::parse(&url).map_err(|err| {
                doc.invalid_value(
                    line_of("trust_bundle_url"),
                    "agent.trust_bundle_url",
                    format!("invalid url: {err}"),
                )
            })?;
            let unix_socket = agent.trust_bundle_unix_socket.clone();
            let scheme_ok = match parsed.scheme() {
                "https" => unix_socket.is_none(),
                "http" => unix_socket.is_some(),
                _ => false,
            };
            if !scheme_ok {
                return Err(doc.invalid_value(
                    line_of("trust_bundle_url"),
                    "agent.trust_bundle_url",
                    "must be an https URL, or an http URL together with trust_bundle_unix_socket",
                ));
            }
            Ok(TrustBundleSource::Url {
                url: parsed,
                format,
                unix_socket,
            })
        }
        (None, None, true) => Ok(TrustBundleSource::InsecureBootstrap),
        (None, None, false) => Err(doc.invalid_value(
            line,
            "agent",
            "one of trust_bundle_path, trust_bundle_url or insecure_bootstrap must be set",
        )),
        _ => Err(doc.invalid_value(
            line,
            "agent",
            "only one of trust_bundle_path, trust_bundle_url and insecure_bootstrap may be set",
        )),
    }
}

fn join_token(
    doc: &ConfigDocument,
    agent: &AgentSection,
    overrides: &ConfigOverrides,
    line_of: &dyn Fn(&str) -> usize,
) -> Result<Option<JoinToken>, ConfigError> {
    let read_file = |path: &Path, key: &str, line: usize| -> Result<JoinToken, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            what: "join token file",
            path: path.to_owned(),
            source,
        })?;
        JoinToken::new(text.trim())
            .ok_or_else(|| doc.invalid_value(line, key, "the join token file is empty"))
    };

    if let Some(token) = &overrides.join_token {
        return JoinToken::new(token)
            .map(Some)
            .ok_or_else(|| doc.invalid_value(0, "-joinToken", "must not be empty"));
    }
    if let Some(path) = &overrides.join_token_file {
        return read_file(path, "-joinTokenFile", 0).map(Some);
    }
    match (&agent.join_token, &agent.join_token_file) {
        (Some(_), Some(_)) => Err(doc.invalid_value(
            line_of("join_token_file"),
            "agent",
            "set join_token or join_token_file, not both",
        )),
        (Some(token), None) => Ok(JoinToken::new(token)),
        (None, Some(path)) => {
            let line = line_of("join_token_file");
            read_file(path, "agent.join_token_file", line).map(Some)
        }
        (None, None) => Ok(None),
    }
}

fn check_refused_keys(
    doc: &ConfigDocument,
    agent: &AgentSection,
    line_of: &dyn Fn(&str) -> usize,
) -> Result<(), ConfigError> {
    if agent.trust_bundle_spiffe_workload_api.is_some() {
        return Err(doc.invalid_value(
            line_of("trust_bundle_spiffe_workload_api"),
            "agent.trust_bundle_spiffe_workload_api",
            "bootstrapping from another agent's Workload API is not supported",
        ));
    }
    match agent.rebootstrap_mode.as_deref().map(str::trim) {
        None | Some("") | Some("never") => Ok(()),
        Some(other) => Err(doc.invalid_value(
            line_of("rebootstrap_mode"),
            "agent.rebootstrap_mode",
            format!("rebootstrap mode {other:?} is not supported (only never)"),
        )),
    }
}

fn prometheus(
    doc: &ConfigDocument,
    section: Option<file::PrometheusSection>,
    line_of: &dyn Fn(&str) -> usize,
) -> Result<Option<PrometheusConfig>, ConfigError> {
    let Some(section) = section else {
        return Ok(None);
    };
    if section.tls.is_some() {
        return Err(doc.invalid_value(
            line_of("tls"),
            "telemetry.Prometheus.tls",
            "TLS on the metrics listener is not supported yet",
        ));
    }
    let port = section.port.filter(|p| *p != 0).ok_or_else(|| {
        doc.invalid_value(
            line_of("Prometheus"),
            "telemetry.Prometheus.port",
            "a port is required",
        )
    })?;
    Ok(Some(PrometheusConfig {
        host: section
            .host
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| "localhost".to_owned()),
        port,
    }))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "tpm_tests.rs"]
mod tpm_tests;
