//! The shape of `agent.conf` as written, before defaults and cross-field checks.
//!
//! Field names are SPIRE's. Keys SPIRE documents but Lanyard does not act on are typed as
//! [`Ignored`] so a SPIRE file still loads; the loader reports them as warnings. Keys whose
//! silent loss would change where trust comes from or weaken a check are kept so the loader
//! can refuse them with a clear message.

use std::path::PathBuf;

use lanyard_daemon::{Duration, LogFormat, LogLevel};
use lanyard_spiffe::TrustDomain;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// A key accepted for compatibility and otherwise ignored.
pub(crate) type Ignored = Option<IgnoredAny>;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) agent: Option<AgentSection>,
    /// Walked separately (see `plugins.rs`): each plugin has its own schema.
    #[serde(default, rename = "plugins")]
    pub(crate) _plugins: Ignored,
    #[serde(default)]
    pub(crate) health_checks: Option<HealthChecksSection>,
    #[serde(default)]
    pub(crate) telemetry: Option<TelemetrySection>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AgentSection {
    #[serde(default, deserialize_with = "configured_trust_domain")]
    pub(crate) trust_domain: Option<TrustDomain>,
    pub(crate) server_address: Option<String>,
    pub(crate) server_port: Option<u16>,
    pub(crate) socket_path: Option<PathBuf>,
    pub(crate) admin_socket_path: Option<PathBuf>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) log_level: Option<LogLevel>,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) log_file: Option<PathBuf>,
    pub(crate) trust_bundle_path: Option<PathBuf>,
    pub(crate) trust_bundle_url: Option<String>,
    pub(crate) trust_bundle_unix_socket: Option<PathBuf>,
    pub(crate) trust_bundle_format: Option<String>,
    pub(crate) insecure_bootstrap: Option<bool>,
    pub(crate) join_token: Option<String>,
    pub(crate) join_token_file: Option<PathBuf>,
    pub(crate) workload_x509_svid_key_type: Option<String>,
    pub(crate) x509_svid_cache_max_size: Option<u32>,
    pub(crate) jwt_svid_cache_max_size: Option<u32>,
    pub(crate) allow_unauthenticated_verifiers: Option<bool>,
    pub(crate) allowed_foreign_jwt_claims: Option<Vec<String>>,
    pub(crate) disable_workload_api: Option<bool>,
    pub(crate) disable_sds_api: Option<bool>,
    pub(crate) authorized_delegates: Option<Vec<String>>,
    pub(crate) sds: Option<SdsSection>,
    pub(crate) experimental: Option<ExperimentalSection>,

    /// Refused: fetching the bootstrap bundle from another agent is not supported.
    pub(crate) trust_bundle_spiffe_workload_api: Option<IgnoredAny>,
    /// Accepted only as `never` (the default); anything else is refused.
    pub(crate) rebootstrap_mode: Option<String>,

    pub(crate) rebootstrap_delay: Ignored,
    pub(crate) availability_target: Ignored,
    pub(crate) log_source_location: Ignored,
    pub(crate) log_selectors: Ignored,
    pub(crate) profiling_enabled: Ignored,
    pub(crate) profiling_port: Ignored,
    pub(crate) profiling_freq: Ignored,
    pub(crate) profiling_names: Ignored,
    pub(crate) retry_bootstrap: Ignored,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SdsSection {
    pub(crate) default_svid_name: Option<String>,
    pub(crate) default_bundle_name: Option<String>,
    pub(crate) default_all_bundles_name: Option<String>,
    pub(crate) disable_spiffe_cert_validation: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExperimentalSection {
    pub(crate) sync_interval: Option<Duration>,
    pub(crate) use_sync_authorized_entries: Option<bool>,
    pub(crate) require_pq_kem: Option<bool>,

    pub(crate) jwt_svid_cache_hit_timeout: Ignored,
    pub(crate) named_pipe_name: Ignored,
    pub(crate) ratelimit: Ignored,
    pub(crate) broker: Ignored,
    pub(crate) x509_svid_cache_max_size: Ignored,
    pub(crate) disable_lru_cache: Ignored,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HealthChecksSection {
    pub(crate) listener_enabled: Option<bool>,
    pub(crate) bind_address: Option<String>,
    pub(crate) bind_port: Option<u16>,
    pub(crate) live_path: Option<String>,
    pub(crate) ready_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TelemetrySection {
    #[serde(rename = "Prometheus")]
    pub(crate) prometheus: Option<PrometheusSection>,

    #[serde(rename = "DogStatsd")]
    pub(crate) dog_statsd: Ignored,
    #[serde(rename = "Statsd")]
    pub(crate) statsd: Ignored,
    #[serde(rename = "M3")]
    pub(crate) m3: Ignored,
    #[serde(rename = "InMem")]
    pub(crate) in_mem: Ignored,
    #[serde(rename = "MetricPrefix")]
    pub(crate) metric_prefix: Ignored,
    #[serde(rename = "EnableTrustDomainLabel")]
    pub(crate) enable_trust_domain_label: Ignored,
    #[serde(rename = "EnableHostnameLabel")]
    pub(crate) enable_hostname_label: Ignored,
    #[serde(rename = "AllowedPrefixes")]
    pub(crate) allowed_prefixes: Ignored,
    #[serde(rename = "BlockedPrefixes")]
    pub(crate) blocked_prefixes: Ignored,
    #[serde(rename = "AllowedLabels")]
    pub(crate) allowed_labels: Ignored,
    #[serde(rename = "BlockedLabels")]
    pub(crate) blocked_labels: Ignored,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PrometheusSection {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) tls: Ignored,
}

/// The names of the keys of `section` that were set but are ignored.
pub(crate) fn ignored_agent_keys(section: &AgentSection) -> Vec<&'static str> {
    set_names(&[
        ("rebootstrap_delay", &section.rebootstrap_delay),
        ("availability_target", &section.availability_target),
        ("log_source_location", &section.log_source_location),
        ("log_selectors", &section.log_selectors),
        ("profiling_enabled", &section.profiling_enabled),
        ("profiling_port", &section.profiling_port),
        ("profiling_freq", &section.profiling_freq),
        ("profiling_names", &section.profiling_names),
        ("retry_bootstrap", &section.retry_bootstrap),
    ])
}

/// See [`ignored_agent_keys`].
pub(crate) fn ignored_experimental_keys(section: &ExperimentalSection) -> Vec<&'static str> {
    set_names(&[
        (
            "jwt_svid_cache_hit_timeout",
            &section.jwt_svid_cache_hit_timeout,
        ),
        ("named_pipe_name", &section.named_pipe_name),
        ("ratelimit", &section.ratelimit),
        ("broker", &section.broker),
        (
            "x509_svid_cache_max_size",
            &section.x509_svid_cache_max_size,
        ),
        ("disable_lru_cache", &section.disable_lru_cache),
    ])
}

/// See [`ignored_agent_keys`].
pub(crate) fn ignored_telemetry_keys(section: &TelemetrySection) -> Vec<&'static str> {
    set_names(&[
        ("DogStatsd", &section.dog_statsd),
        ("Statsd", &section.statsd),
        ("M3", &section.m3),
        ("InMem", &section.in_mem),
        ("MetricPrefix", &section.metric_prefix),
        ("EnableTrustDomainLabel", &section.enable_trust_domain_label),
        ("EnableHostnameLabel", &section.enable_hostname_label),
        ("AllowedPrefixes", &section.allowed_prefixes),
        ("BlockedPrefixes", &section.blocked_prefixes),
        ("AllowedLabels", &section.allowed_labels),
        ("BlockedLabels", &section.blocked_labels),
    ])
}

fn set_names(candidates: &[(&'static str, &Ignored)]) -> Vec<&'static str> {
    candidates
        .iter()
        .filter(|(_, value)| value.is_some())
        .map(|(name, _)| *name)
        .collect()
}

/// A trust domain as SPIRE takes it in a file or a flag: `example.org` or
/// `spiffe://example.org`.
pub(crate) fn parse_trust_domain(value: &str) -> Result<TrustDomain, String> {
    lanyard_daemon::trust_domain::check_trust_domain_scheme(value)?;
    TrustDomain::from_name_or_id(value).map_err(|err| err.to_string())
}

fn configured_trust_domain<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TrustDomain>, D::Error> {
    let value = String::deserialize(deserializer)?;
    parse_trust_domain(&value)
        .map(Some)
        .map_err(serde::de::Error::custom)
}
