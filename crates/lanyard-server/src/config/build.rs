//! From file, flags and defaults to a checked [`ServerConfig`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use lanyard_ca::KeyType;
use lanyard_daemon::socket::DEFAULT_SERVER_SOCKET_PATH;
use lanyard_daemon::{ConfigDocument, ConfigError, Duration, LogFormat, LogLevel, LogSettings};
use lanyard_spiffe::TrustDomain;

use super::federation::federation_config;
use super::file::{
    self, ExperimentalSection, FileConfig, HealthChecksSection, ServerSection, TelemetrySection,
    parse_trust_domain,
};
use super::plugins::{find_folded, load_plugins};
use super::{
    CaSubjectConfig, ExperimentalConfig, FederationConfig, HealthChecksConfig, PluginsConfig,
    PrometheusConfig, RateLimitConfig, ServerConfig,
};

/// Read when `-config` is not given (SPIRE's default path); a missing file is not an error.
pub const DEFAULT_CONFIG_PATH: &str = "conf/server/server.conf";

pub(crate) const DEFAULT_BIND_ADDRESS: &str = "0.0.0.0";
const DEFAULT_BIND_PORT: u16 = 8081;
const DEFAULT_CA_TTL: Duration = Duration::from_hours(24);
const DEFAULT_X509_SVID_TTL: Duration = Duration::from_hours(1);
const DEFAULT_JWT_SVID_TTL: Duration = Duration::from_mins(5);
const MAX_SVID_TTL: Duration = Duration::from_hours(24 * 7);

/// Why the server configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// A problem in the file (with its line).
    #[error(transparent)]
    File(#[from] ConfigError),
    /// A command-line flag has a bad value.
    #[error("invalid value for -{flag}: {message}")]
    Flag {
        /// The flag name without the dash.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A required setting is set nowhere.
    #[error("{0}")]
    Missing(String),
}

/// Command-line flags that override the file (`run` and `validate`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOverrides {
    /// `-socketPath`.
    pub socket_path: Option<PathBuf>,
    /// `-trustDomain`.
    pub trust_domain: Option<String>,
    /// `-bindAddress`.
    pub bind_address: Option<String>,
    /// `-serverPort`.
    pub server_port: Option<u16>,
    /// `-dataDir`.
    pub data_dir: Option<PathBuf>,
    /// `-logLevel`.
    pub log_level: Option<String>,
    /// `-logFormat`.
    pub log_format: Option<String>,
    /// `-logFile`.
    pub log_file: Option<PathBuf>,
}

/// What `run` and `validate` were asked to load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `-config`; `None` reads [`DEFAULT_CONFIG_PATH`] when it exists.
    pub config_path: Option<PathBuf>,
    /// `-expandEnv`.
    pub expand_env: bool,
    /// The other flags.
    pub overrides: ConfigOverrides,
}

pub(crate) fn load(options: &LoadOptions) -> Result<ServerConfig, ServerConfigError> {
    let doc = match &options.config_path {
        Some(path) => ConfigDocument::load(path, options.expand_env)?,
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            ConfigDocument::load(Path::new(DEFAULT_CONFIG_PATH), options.expand_env)?
        }
        None => ConfigDocument::empty("(no config file)"),
    };
    from_document(&doc, &options.overrides)
}

pub(crate) fn embedded_default(trust_domain: TrustDomain, data_dir: &Path) -> ServerConfig {
    ServerConfig {
        trust_domain,
        bind_address: SocketAddr::from(([0, 0, 0, 0], DEFAULT_BIND_PORT)),
        socket_path: PathBuf::from(DEFAULT_SERVER_SOCKET_PATH),
        data_dir: data_dir.to_owned(),
        log: LogSettings::default(),
        ca_key_type: KeyType::EcP256,
        jwt_key_type: KeyType::EcP256,
        ca_ttl: DEFAULT_CA_TTL,
        ca_subject: CaSubjectConfig::default(),
        default_x509_svid_ttl: DEFAULT_X509_SVID_TTL,
        default_jwt_svid_ttl: DEFAULT_JWT_SVID_TTL,
        agent_ttl: DEFAULT_X509_SVID_TTL,
        jwt_issuer: None,
        admin_ids: Vec::new(),
        disable_jwt_svids: false,
        audit_log_enabled: false,
        ratelimit: RateLimitConfig {
            attestation: true,
            signing: true,
        },
        prune_attested_nodes_expired_for: None,
        prune_tofu_nodes: false,
        federation: FederationConfig::default(),
        experimental: ExperimentalConfig::default(),
        plugins: PluginsConfig::embedded_default(data_dir),
        health_checks: None,
        prometheus: None,
        warnings: Vec::new(),
    }
}

pub(crate) fn from_document(
    doc: &ConfigDocument,
    overrides: &ConfigOverrides,
) -> Result<ServerConfig, ServerConfigError> {
    let file: FileConfig = doc.deserialize()?;
    let server = file.server.unwrap_or_default();
    let check = Checker { doc };
    let mut warnings = Vec::new();

    let trust_domain = match &overrides.trust_domain {
        Some(td) => parse_trust_domain(td).map_err(|err| flag("trustDomain", err))?,
        None => server.trust_domain.clone().ok_or_else(|| {
            ServerConfigError::Missing(
                "trust_domain is required: set it in the server block or pass -trustDomain"
                    .to_owned(),
            )
        })?,
    };
    let data_dir = overrides
        .data_dir
        .clone()
        .or_else(|| server.data_dir.clone())
        .ok_or_else(|| {
            ServerConfigError::Missing(
                "data_dir is required: set it in the server block or pass -dataDir".to_owned(),
            )
        })?;

    let mut config = embedded_default(trust_domain, &data_dir);
    config.bind_address = bind_address(&check, &server, overrides)?;
    config.socket_path = socket_path(&server, overrides, &mut warnings);
    config.log = log_settings(&server, overrides)?;
    apply_keys_and_ttls(&check, &server, &mut config, &mut warnings)?;

    config.jwt_issuer = server.jwt_issuer.clone().filter(|s| !s.is_empty());
    config.admin_ids = server.admin_ids.clone().unwrap_or_default();
    config.disable_jwt_svids = server.disable_jwt_svids.unwrap_or(false);
    config.audit_log_enabled = server.audit_log_enabled.unwrap_or(false);
    if let Some(ratelimit) = &server.ratelimit {
        config.ratelimit.attestation = ratelimit.attestation.unwrap_or(true);
        config.ratelimit.signing = ratelimit.signing.unwrap_or(true);
    }
    config.prune_attested_nodes_expired_for = server
        .prune_attested_nodes_expired_for
        .filter(|d| !d.is_zero());
    config.prune_tofu_nodes = server.prune_tofu_nodes.unwrap_or(false);

    if let Some(federation) = &server.federation {
        config.federation = federation_config(&check, federation)?;
    }
    if let Some(experimental) = &server.experimental {
        config.experimental = experimental_config(&check, experimental, &mut warnings)?;
        warnings.extend(ignored(
            "server.experimental",
            file::ignored_experimental_keys(experimental),
        ));
    }
    config.plugins = load_plugins(doc, &data_dir)?;
    config.health_checks = health_checks(&check, file.health_checks.as_ref())?;
    config.prometheus = prometheus(&check, file.telemetry.as_ref(), &mut warnings)?;

    warnings.extend(ignored("server", file::ignored_server_keys(&server)));
    warnings.extend(ttl_warnings(&config));
    config.warnings = warnings;
    Ok(config)
}

/// Finds lines for checks made after deserializing.
pub(crate) struct Checker<'a> {
    pub(crate) doc: &'a ConfigDocument,
}

impl Checker<'_> {
    pub(crate) fn line(&self, path: &[&str]) -> usize {
        let mut node = self.doc.root();
        let mut line = 0;
        for key in path {
            let Some(entry) = find_folded(node, key) else {
                return line;
            };
            line = entry.line();
            node = entry.value();
        }
        line
    }

    pub(crate) fn invalid(&self, path: &[&str], message: impl Into<String>) -> ServerConfigError {
        self.doc
            .invalid_value(self.line(path), &path.join("."), message)
            .into()
    }
}

fn flag(flag: &'static str, err: impl std::fmt::Display) -> ServerConfigError {
    ServerConfigError::Flag {
        flag,
        message: err.to_string(),
    }
}

fn ignored<'a>(section: &'a str, keys: Vec<&'static str>) -> impl Iterator<Item = String> + 'a {
    keys.into_iter()
        .map(move |key| format!("{section}.{key} is accepted for compatibility and ignored"))
}

fn bind_address(
    check: &Checker<'_>,
    server: &ServerSection,
    overrides: &ConfigOverrides,
) -> Result<SocketAddr, ServerConfigError> {
    let port = overrides
        .server_port
        .or(server.bind_port)
        .unwrap_or(DEFAULT_BIND_PORT);
    let (host, from_flag) = match (&overrides.bind_address, &server.bind_address) {
        (Some(host), _) => (host.as_str(), true),
        (None, Some(host)) => (host.as_str(), false),
        (None, None) => (DEFAULT_BIND_ADDRESS, false),
    };

    resolve(host, port).map_err(|message| {
        if from_flag {
            flag("bindAddress", message)
        } else {
            check.invalid(&["server", "bind_address"], message)
        }
    })
}

/// An IP literal (IPv6 with or without brackets) or a name resolved now, as SPIRE does.
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (bare, port)
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {host:?}: {err}"))?
        .next()
        .ok_or_else(|| format!("{host:?} resolves to no address"))
}

fn socket_path(
    server: &ServerSection,
    overrides: &ConfigOverrides,
    warnings: &mut Vec<String>,
) -> PathBuf {
    if let Some(path) = &overrides.socket_path {
        return path.clone();
    }
    if let Some(path) = &server.socket_path {
        return path.clone();
    }
    if let Some(path) = &server.registration_uds_path {
        warnings.push("server.registration_uds_path is deprecated; use socket_path".to_owned());
        return path.clone();
    }
    PathBuf::from(DEFAULT_SERVER_SOCKET_PATH)
}

fn log_settings(
    server: &ServerSection,
    overrides: &ConfigOverrides,
) -> Result<LogSettings, ServerConfigError> {
    let level = match &overrides.log_level {
        Some(level) => level
            .parse::<LogLevel>()
            .map_err(|err| flag("logLevel", err))?,
        None => server.log_level.unwrap_or_default(),
    };
    let format = match &overrides.log_format {
        Some(format) => format
            .parse::<LogFormat>()
            .map_err(|err| flag("logFormat", err))?,
        None => server.log_format.unwrap_or_default(),
    };
    let file = overrides
        .log_file
        .clone()
        .or_else(|| server.log_file.clone())
        .filter(|path| !path.as_os_str().is_empty());
    Ok(LogSettings {
        level,
        format,
        file,
    })
}

fn apply_keys_and_ttls(
    check: &Checker<'_>,
    server: &ServerSection,
    config: &mut ServerConfig,
    warnings: &mut Vec<String>,
) -> Result<(), ServerConfigError> {
    config.ca_key_type = server.ca_key_type.map_or(KeyType::EcP256, |k| k.0);
    config.jwt_key_type = server.jwt_key_type.map_or(config.ca_key_type, |k| k.0);

    let positive = |value: Option<Duration>, key: &str, default: Duration| match value {
        Some(d) if d.is_zero() => Err(check.invalid(&["server", key], "must be greater than 0")),
        Some(d) => Ok(d),
        None => Ok(default),
    };
    config.ca_ttl = positive(server.ca_ttl, "ca_ttl", DEFAULT_CA_TTL)?;

    if server.default_svid_ttl.is_some() {
        warnings
            .push("server.default_svid_ttl is deprecated; use default_x509_svid_ttl".to_owned());
    }
    let x509_ttl = match (server.default_x509_svid_ttl, server.default_svid_ttl) {
        (Some(ttl), _) => Some(ttl),
        (None, legacy) => legacy,
    };
    config.default_x509_svid_ttl =
        positive(x509_ttl, "default_x509_svid_ttl", DEFAULT_X509_SVID_TTL)?;
    config.default_jwt_svid_ttl = positive(
        server.default_jwt_svid_ttl,
        "default_jwt_svid_ttl",
        DEFAULT_JWT_SVID_TTL,
    )?;
    config.agent_ttl = positive(server.agent_ttl, "agent_ttl", config.default_x509_svid_ttl)?;

    if let Some(subject) = &server.ca_subject {
        let configured = CaSubjectConfig {
            country: subject.country.clone(),
            organization: subject.organization.clone(),
            common_name: subject.common_name.clone().filter(|cn| !cn.is_empty()),
        };
        if configured.country.is_empty()
            && configured.organization.is_empty()
            && configured.common_name.is_none()
        {
            warnings.push("server.ca_subject is set but empty; the default is used".to_owned());
        } else {
            config.ca_subject = configured;
        }
    }
    Ok(())
}

/// SPIRE's startup warning: SVIDs longer than rotation allows get cut short.
fn ttl_warnings(config: &ServerConfig) -> Vec<String> {
    let max = std::cmp::min(Duration::from(config.ca_ttl.as_std() / 6), MAX_SVID_TTL);
    [
        ("default_x509_svid_ttl", config.default_x509_svid_ttl),
        ("default_jwt_svid_ttl", config.default_jwt_svid_ttl),
    ]
    .into_iter()
    .filter(|(_, ttl)| *ttl > max)
    .map(|(name, ttl)| {
        format!(
            "{name} ({ttl}) is longer than CA rotation allows with ca_ttl {}; \
             SVIDs may be issued with shorter lifetimes (keep it at {max} or less)",
            config.ca_ttl
        )
    })
    .collect()
}

fn experimental_config(
    check: &Checker<'_>,
    section: &ExperimentalSection,
    warnings: &mut Vec<String>,
) -> Result<ExperimentalConfig, ServerConfigError> {
    let path = |key| ["server", "experimental", key];
    if section.auth_opa_policy_engine.is_some() {
        return Err(check.invalid(
            &path("auth_opa_policy_engine"),
            "authorization policies are not supported; remove the block \
             (the default policy is SPIRE's: local, admin, agent and downstream callers)",
        ));
    }
    if section.require_pq_kem == Some(true) {
        return Err(check.invalid(
            &path("require_pq_kem"),
            "post-quantum key exchange is not supported yet",
        ));
    }
    if section.event_timeout.is_some() && section.sql_transaction_timeout.is_some() {
        return Err(check.invalid(
            &path("sql_transaction_timeout"),
            "both sql_transaction_timeout and event_timeout are set; keep event_timeout",
        ));
    }
    if section.sql_transaction_timeout.is_some() {
        warnings.push(
            "server.experimental.sql_transaction_timeout is deprecated; use event_timeout"
                .to_owned(),
        );
    }

    let defaults = ExperimentalConfig::default();
    Ok(ExperimentalConfig {
        cache_reload_interval: section
            .cache_reload_interval
            .unwrap_or(defaults.cache_reload_interval),
        events_based_cache: section.events_based_cache.unwrap_or(false),
        full_cache_reload_interval: section
            .full_cache_reload_interval
            .unwrap_or(defaults.full_cache_reload_interval),
        prune_events_older_than: section
            .prune_events_older_than
            .unwrap_or(defaults.prune_events_older_than),
        event_timeout: section
            .event_timeout
            .or(section.sql_transaction_timeout)
            .unwrap_or(defaults.event_timeout),
    })
}

fn health_checks(
    check: &Checker<'_>,
    section: Option<&HealthChecksSection>,
) -> Result<Option<HealthChecksConfig>, ServerConfigError> {
    let Some(section) = section.filter(|s| s.listener_enabled == Some(true)) else {
        return Ok(None);
    };
    let path_setting = |value: &Option<String>, key: &str, default: &str| {
        let value = value.clone().unwrap_or_else(|| default.to_owned());
        if value.starts_with('/') {
            Ok(value)
        } else {
            Err(check.invalid(&["health_checks", key], "must start with '/'"))
        }
    };
    Ok(Some(HealthChecksConfig {
        bind_address: section
            .bind_address
            .clone()
            .unwrap_or_else(|| "localhost".to_owned()),
        bind_port: section.bind_port.unwrap_or(80),
        live_path: path_setting(&section.live_path, "live_path", "/live")?,
        ready_path: path_setting(&section.ready_path, "ready_path", "/ready")?,
    }))
}

fn prometheus(
    check: &Checker<'_>,
    telemetry: Option<&TelemetrySection>,
    warnings: &mut Vec<String>,
) -> Result<Option<PrometheusConfig>, ServerConfigError> {
    let Some(telemetry) = telemetry else {
        return Ok(None);
    };
    warnings.extend(ignored(
        "telemetry",
        file::ignored_telemetry_keys(telemetry),
    ));
    let Some(prometheus) = &telemetry.prometheus else {
        return Ok(None);
    };

    let path = ["telemetry", "Prometheus"];
    if prometheus.tls.is_some() {
        return Err(check.invalid(&path, "tls for the metrics endpoint is not supported yet"));
    }
    let port = prometheus
        .port
        .ok_or_else(|| check.invalid(&path, "port must be set"))?;
    Ok(Some(PrometheusConfig {
        host: prometheus
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned()),
        port,
    }))
}
