//! The shape of `server.conf` as written, before defaults and cross-field checks.
//!
//! Field names are SPIRE's. Keys SPIRE documents but Lanyard does not act on are typed as
//! [`Ignored`] so that a SPIRE file still loads; the loader lists them as warnings. Keys that
//! would weaken security if silently dropped (an OPA authorization policy, a PQ-KEM
//! requirement) are kept so the loader can refuse them.

use std::path::PathBuf;
use std::str::FromStr;

use lanyard_ca::KeyType;
use lanyard_daemon::{Duration, LogFormat, LogLevel};
use lanyard_spiffe::{SpiffeId, TrustDomain};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// A key that is accepted for compatibility and otherwise ignored.
pub(crate) type Ignored = Option<IgnoredAny>;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) server: Option<ServerSection>,
    /// Walked separately (see `plugins.rs`) because each plugin has its own schema.
    #[serde(default, rename = "plugins")]
    pub(crate) _plugins: Ignored,
    #[serde(default)]
    pub(crate) health_checks: Option<HealthChecksSection>,
    #[serde(default)]
    pub(crate) telemetry: Option<TelemetrySection>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServerSection {
    #[serde(default, deserialize_with = "configured_trust_domain")]
    pub(crate) trust_domain: Option<TrustDomain>,
    pub(crate) bind_address: Option<String>,
    pub(crate) bind_port: Option<u16>,
    pub(crate) socket_path: Option<PathBuf>,
    /// SPIRE's pre-1.0 name for `socket_path`.
    pub(crate) registration_uds_path: Option<PathBuf>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) log_level: Option<LogLevel>,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) log_file: Option<PathBuf>,
    pub(crate) ca_key_type: Option<KeyTypeName>,
    pub(crate) jwt_key_type: Option<KeyTypeName>,
    pub(crate) ca_ttl: Option<Duration>,
    pub(crate) ca_subject: Option<CaSubjectSection>,
    pub(crate) default_x509_svid_ttl: Option<Duration>,
    pub(crate) default_jwt_svid_ttl: Option<Duration>,
    /// SPIRE's deprecated name for `default_x509_svid_ttl`.
    pub(crate) default_svid_ttl: Option<Duration>,
    pub(crate) agent_ttl: Option<Duration>,
    pub(crate) jwt_issuer: Option<String>,
    pub(crate) admin_ids: Option<Vec<SpiffeId>>,
    pub(crate) disable_jwt_svids: Option<bool>,
    pub(crate) audit_log_enabled: Option<bool>,
    pub(crate) ratelimit: Option<RateLimitSection>,
    pub(crate) prune_attested_nodes_expired_for: Option<Duration>,
    pub(crate) federation: Option<FederationSection>,
    pub(crate) experimental: Option<ExperimentalSection>,

    pub(crate) log_source_location: Ignored,
    pub(crate) profiling_enabled: Ignored,
    pub(crate) profiling_port: Ignored,
    pub(crate) profiling_freq: Ignored,
    pub(crate) profiling_names: Ignored,
    pub(crate) use_legacy_downstream_x509_ca_ttl: Ignored,
    pub(crate) wit_issuer: Ignored,
    pub(crate) wit_key_type: Ignored,
    pub(crate) proxy_protocol_trusted_cidrs: Ignored,
    pub(crate) prune_attested_nodes_batch_size: Ignored,
    pub(crate) prune_tofu_nodes: Option<bool>,
    pub(crate) max_attested_node_info_staleness: Ignored,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CaSubjectSection {
    #[serde(default)]
    pub(crate) country: Vec<String>,
    #[serde(default)]
    pub(crate) organization: Vec<String>,
    #[serde(default)]
    pub(crate) common_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RateLimitSection {
    pub(crate) attestation: Option<bool>,
    pub(crate) signing: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FederationSection {
    pub(crate) bundle_endpoint: Option<BundleEndpointSection>,
    #[serde(default)]
    pub(crate) federates_with: std::collections::BTreeMap<String, FederatesWithSection>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BundleEndpointSection {
    pub(crate) address: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) refresh_hint: Option<Duration>,
    /// The deprecated top-level ACME block; same as `profile "https_web" { acme {} }`.
    pub(crate) acme: Option<AcmeSection>,
    pub(crate) profile: Option<ServingProfileSection>,
}

#[derive(Debug, Deserialize)]
pub(crate) enum ServingProfileSection {
    #[serde(rename = "https_web")]
    HttpsWeb(HttpsWebServingSection),
    #[serde(rename = "https_spiffe")]
    HttpsSpiffe(EmptySection),
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HttpsWebServingSection {
    pub(crate) acme: Option<AcmeSection>,
    pub(crate) serving_cert_file: Option<ServingCertFileSection>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AcmeSection {
    pub(crate) directory_url: Option<String>,
    pub(crate) domain_name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) tos_accepted: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServingCertFileSection {
    pub(crate) cert_file_path: Option<PathBuf>,
    pub(crate) key_file_path: Option<PathBuf>,
    pub(crate) file_sync_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EmptySection {}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FederatesWithSection {
    pub(crate) bundle_endpoint_url: Option<String>,
    pub(crate) bundle_endpoint_profile: Option<ClientProfileSection>,
}

#[derive(Debug, Deserialize)]
pub(crate) enum ClientProfileSection {
    #[serde(rename = "https_web")]
    HttpsWeb(EmptySection),
    #[serde(rename = "https_spiffe")]
    HttpsSpiffe(HttpsSpiffeClientSection),
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HttpsSpiffeClientSection {
    pub(crate) endpoint_spiffe_id: Option<SpiffeId>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExperimentalSection {
    pub(crate) cache_reload_interval: Option<Duration>,
    pub(crate) events_based_cache: Option<bool>,
    pub(crate) full_cache_reload_interval: Option<Duration>,
    pub(crate) prune_events_older_than: Option<Duration>,
    pub(crate) event_timeout: Option<Duration>,
    pub(crate) sql_transaction_timeout: Option<Duration>,
    pub(crate) require_pq_kem: Option<bool>,
    pub(crate) auth_opa_policy_engine: Ignored,

    pub(crate) named_pipe_name: Ignored,
    pub(crate) feature_flags: Ignored,
    pub(crate) agent_spiffe_id_as_selector: Ignored,
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

/// A key type written as SPIRE accepts it (any case).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyTypeName(pub(crate) KeyType);

impl<'de> Deserialize<'de> for KeyTypeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        parse_key_type(&name)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `ec-p256`, `ec-p384`, `rsa-2048` or `rsa-4096`, ignoring case.
pub(crate) fn parse_key_type(name: &str) -> Result<KeyType, String> {
    KeyType::from_str(&name.trim().to_ascii_lowercase()).map_err(|_| {
        format!("unknown key type {name:?} (use ec-p256, ec-p384, rsa-2048 or rsa-4096)")
    })
}

/// The keys of `section` that were set but are ignored, by name.
pub(crate) fn ignored_server_keys(section: &ServerSection) -> Vec<&'static str> {
    let candidates = [
        ("log_source_location", &section.log_source_location),
        ("profiling_enabled", &section.profiling_enabled),
        ("profiling_port", &section.profiling_port),
        ("profiling_freq", &section.profiling_freq),
        ("profiling_names", &section.profiling_names),
        (
            "use_legacy_downstream_x509_ca_ttl",
            &section.use_legacy_downstream_x509_ca_ttl,
        ),
        ("wit_issuer", &section.wit_issuer),
        ("wit_key_type", &section.wit_key_type),
        (
            "proxy_protocol_trusted_cidrs",
            &section.proxy_protocol_trusted_cidrs,
        ),
        (
            "prune_attested_nodes_batch_size",
            &section.prune_attested_nodes_batch_size,
        ),
        (
            "max_attested_node_info_staleness",
            &section.max_attested_node_info_staleness,
        ),
    ];
    set_names(&candidates)
}

pub(crate) fn ignored_experimental_keys(section: &ExperimentalSection) -> Vec<&'static str> {
    let candidates = [
        ("named_pipe_name", &section.named_pipe_name),
        ("feature_flags", &section.feature_flags),
        (
            "agent_spiffe_id_as_selector",
            &section.agent_spiffe_id_as_selector,
        ),
    ];
    set_names(&candidates)
}

pub(crate) fn ignored_telemetry_keys(section: &TelemetrySection) -> Vec<&'static str> {
    let candidates = [
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
    ];
    set_names(&candidates)
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
