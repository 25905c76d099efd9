//! The `plugins { Type "name" { plugin_data { ... } } }` section.
//!
//! Lanyard's "plugins" are built in; the section only picks one of them per type and
//! passes its `plugin_data`. Each supported plugin has its own schema, so unknown keys inside
//! `plugin_data` are reported with their line like everywhere else.

use std::path::{Path, PathBuf};

use lanyard_daemon::config::{ConfigEntry, ConfigNode};
use lanyard_daemon::{ConfigDocument, ConfigError, ConfigFormat, Duration};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::file::Ignored;
use super::{
    DataStoreConfig, DatabaseType, KeyManagerConfig, LdevidCaSource, NodeAttestorsConfig,
    PluginsConfig, TpmAttestorConfig, UpstreamAuthorityConfig, X509PopConfig, X509PopMode,
};

/// File names inside `data_dir` used by the embedded defaults.
pub const DEFAULT_SQLITE_FILE: &str = "datastore.sqlite3";
/// See [`DEFAULT_SQLITE_FILE`].
pub const DEFAULT_KEYS_FILE: &str = "keys.json";

const DEFAULT_SVID_PREFIX: &str = "/spire-exchange";
const DEFAULT_LDEVID_TTL: Duration = Duration::from_hours(5 * 365 * 24);

/// Reads the plugins section of `doc` (absent: the embedded defaults under `data_dir`).
pub(crate) fn load_plugins(
    doc: &ConfigDocument,
    data_dir: &Path,
) -> Result<PluginsConfig, ConfigError> {
    let mut plugins = PluginsConfig::embedded_default(data_dir);
    let Some(section) = find_folded(doc.root(), "plugins") else {
        return Ok(plugins);
    };

    // Listing the section replaces the default attestor set with what is listed.
    plugins.node_attestors = NodeAttestorsConfig::default();
    let mut seen = Seen::default();

    for type_entry in section.value().map_entries() {
        for plugin in type_entry.value().map_entries() {
            let path = format!("plugins.{}.{}", type_entry.key(), plugin.key());
            let Some(data) = plugin_data(doc, plugin, &path)? else {
                continue;
            };
            let at = PluginAt {
                type_entry,
                plugin,
                path: &path,
                data_dir,
            };
            apply_plugin(doc, &mut plugins, &mut seen, &at, &data)?;
        }
    }

    Ok(plugins)
}

#[derive(Default)]
struct Seen {
    datastore: Option<usize>,
    key_manager: Option<usize>,
    upstream_authority: Option<usize>,
}

/// Where a plugin block is: its type and name entries, its key path, and the
/// server's `data_dir` (for plugins that keep state).
struct PluginAt<'a> {
    type_entry: &'a ConfigEntry,
    plugin: &'a ConfigEntry,
    path: &'a str,
    data_dir: &'a Path,
}

fn apply_plugin(
    doc: &ConfigDocument,
    plugins: &mut PluginsConfig,
    seen: &mut Seen,
    at: &PluginAt<'_>,
    data: &PluginData,
) -> Result<(), ConfigError> {
    let PluginAt {
        type_entry,
        plugin,
        path,
        data_dir,
    } = *at;
    let kind = type_entry.key();
    let name = plugin.key();
    let line = plugin.line();
    let only_one = |slot: &mut Option<usize>| match slot.replace(line) {
        Some(first) => Err(doc.invalid_value(
            line,
            path,
            format!("only one {kind} may be configured (another is on line {first})"),
        )),
        None => Ok(()),
    };

    match (kind, name) {
        ("DataStore", "sql") => {
            only_one(&mut seen.datastore)?;
            plugins.datastore = datastore(doc, data, path)?;
        }
        ("KeyManager", "disk") => {
            only_one(&mut seen.key_manager)?;
            let disk: DiskKeyManagerData = data.deserialize(doc, path)?;
            plugins.key_manager = KeyManagerConfig::Disk {
                keys_path: disk.keys_path,
            };
        }
        ("KeyManager", "memory") => {
            only_one(&mut seen.key_manager)?;
            let _: EmptyData = data.deserialize(doc, path)?;
            plugins.key_manager = KeyManagerConfig::Memory;
        }
        ("NodeAttestor", "join_token") => {
            let _: EmptyData = data.deserialize(doc, path)?;
            plugins.node_attestors.join_token = true;
        }
        ("NodeAttestor", "x509pop") => {
            plugins.node_attestors.x509pop = Some(x509pop(doc, data, path, line)?);
        }
        ("NodeAttestor", "tpm") => {
            let raw: TpmData = data.deserialize(doc, path)?;
            plugins.node_attestors.tpm = Some(tpm(doc, raw, data_dir, path, line)?);
        }
        ("UpstreamAuthority", "disk") => {
            only_one(&mut seen.upstream_authority)?;
            let disk: DiskUpstreamData = data.deserialize(doc, path)?;
            plugins.upstream_authority = Some(UpstreamAuthorityConfig::Disk {
                cert_file_path: disk.cert_file_path,
                key_file_path: disk.key_file_path,
                bundle_file_path: disk.bundle_file_path,
            });
        }
        _ => return Err(unsupported(doc, kind, name, type_entry.line(), line)),
    }
    Ok(())
}

fn unsupported(
    doc: &ConfigDocument,
    kind: &str,
    name: &str,
    type_line: usize,
    line: usize,
) -> ConfigError {
    let supported = match kind {
        "DataStore" => "sql",
        "KeyManager" => "disk, memory",
        "NodeAttestor" => "join_token, x509pop, tpm",
        "UpstreamAuthority" => "disk",
        "Notifier" | "BundlePublisher" | "CredentialComposer" | "NodeResolver" | "UpstreamCA"
        | "SVIDStore" => {
            return doc.invalid_value(
                type_line,
                &format!("plugins.{kind}"),
                format!("plugin type {kind} is not supported by Lanyard"),
            );
        }
        _ => {
            return doc.invalid_value(
                type_line,
                &format!("plugins.{kind}"),
                format!(
                    "unknown plugin type {kind} \
                     (supported: DataStore, KeyManager, NodeAttestor, UpstreamAuthority)"
                ),
            );
        }
    };
    doc.invalid_value(
        line,
        &format!("plugins.{kind}.{name}"),
        format!("{kind} plugin \"{name}\" is not supported (supported: {supported})"),
    )
}

fn datastore(
    doc: &ConfigDocument,
    data: &PluginData,
    path: &str,
) -> Result<DataStoreConfig, ConfigError> {
    let sql: SqlData = data.deserialize(doc, path)?;
    let key = format!("{path}.plugin_data.database_type");
    let database_type = match sql.database_type.to_ascii_lowercase().as_str() {
        "sqlite3" | "sqlite" => DatabaseType::Sqlite3,
        "postgres" | "postgresql" => DatabaseType::Postgres,
        other => {
            return Err(doc.invalid_value(
                data.line,
                &key,
                format!("database type {other:?} is not supported (use sqlite3 or postgres)"),
            ));
        }
    };
    if sql.connection_string.trim().is_empty() {
        return Err(doc.invalid_value(
            data.line,
            &format!("{path}.plugin_data.connection_string"),
            "connection_string must not be empty",
        ));
    }

    Ok(DataStoreConfig {
        database_type,
        connection_string: sql.connection_string,
        ro_connection_string: sql.ro_connection_string.filter(|s| !s.is_empty()),
        max_open_conns: sql.max_open_conns,
        max_idle_conns: sql.max_idle_conns,
        conn_max_lifetime: sql.conn_max_lifetime,
        disable_migration: sql.disable_migration.unwrap_or(false),
    })
}

fn x509pop(
    doc: &ConfigDocument,
    data: &PluginData,
    path: &str,
    line: usize,
) -> Result<X509PopConfig, ConfigError> {
    let raw: X509PopData = data.deserialize(doc, path)?;
    let mode = match raw.mode.as_deref().unwrap_or("external_pki") {
        "external_pki" => X509PopMode::ExternalPki,
        "spiffe" => X509PopMode::Spiffe,
        other => {
            return Err(doc.invalid_value(
                line,
                &format!("{path}.plugin_data.mode"),
                format!("unknown mode {other:?} (use external_pki or spiffe)"),
            ));
        }
    };

    let mut ca_bundle_paths = raw.ca_bundle_paths;
    ca_bundle_paths.extend(raw.ca_bundle_path);
    match mode {
        X509PopMode::ExternalPki if ca_bundle_paths.is_empty() => {
            return Err(doc.invalid_value(
                line,
                &format!("{path}.plugin_data"),
                "ca_bundle_path or ca_bundle_paths is required in external_pki mode",
            ));
        }
        X509PopMode::Spiffe if !ca_bundle_paths.is_empty() => {
            return Err(doc.invalid_value(
                line,
                &format!("{path}.plugin_data"),
                "ca_bundle_path(s) cannot be used in spiffe mode (the trust bundle is used)",
            ));
        }
        _ => {}
    }

    Ok(X509PopConfig {
        mode,
        ca_bundle_paths,
        svid_prefix: raw
            .svid_prefix
            .unwrap_or_else(|| DEFAULT_SVID_PREFIX.to_owned()),
        agent_path_template: raw.agent_path_template.filter(|t| !t.is_empty()),
    })
}

fn tpm(
    doc: &ConfigDocument,
    raw: TpmData,
    data_dir: &Path,
    path: &str,
    line: usize,
) -> Result<TpmAttestorConfig, ConfigError> {
    if raw.endorsement_ca_path.is_empty() && raw.ek_hash_path.is_none() && raw.ek_hashes.is_empty()
    {
        return Err(doc.invalid_value(
            line,
            &format!("{path}.plugin_data"),
            "endorsement_ca_path, ek_hash_path or ek_hashes is required: no TPM could enroll",
        ));
    }
    let ldevid_ca = match (raw.ldevid_ca_cert_path, raw.ldevid_ca_key_path) {
        (Some(cert_path), Some(key_path)) => LdevidCaSource::Files {
            cert_path,
            key_path,
        },
        (None, None) => LdevidCaSource::Generated {
            dir: data_dir.join("tpm"),
        },
        _ => {
            return Err(doc.invalid_value(
                line,
                &format!("{path}.plugin_data"),
                "set both ldevid_ca_cert_path and ldevid_ca_key_path, or neither",
            ));
        }
    };
    Ok(TpmAttestorConfig {
        endorsement_ca_paths: raw.endorsement_ca_path,
        ek_hash_path: raw.ek_hash_path,
        ek_hashes: raw.ek_hashes,
        ldevid_ca,
        ldevid_ttl: raw.ldevid_ttl.unwrap_or(DEFAULT_LDEVID_TTL),
        agent_path_template: raw.agent_path_template.filter(|t| !t.is_empty()),
        residency_check_period: raw.residency_check_period,
    })
}

/// A plugin's settings: the `plugin_data` subtree, or the document in `plugin_data_file`.
struct PluginData {
    /// The `plugin_data_file` document, when the settings come from one.
    doc: Option<ConfigDocument>,
    node: ConfigNode,
    line: usize,
}

impl PluginData {
    fn deserialize<T: DeserializeOwned>(
        &self,
        doc: &ConfigDocument,
        path: &str,
    ) -> Result<T, ConfigError> {
        match &self.doc {
            Some(file) => file.deserialize_node(&self.node, ""),
            None => doc.deserialize_node(&self.node, &format!("{path}.plugin_data")),
        }
    }
}

#[derive(Deserialize)]
struct PluginBlock {
    plugin_cmd: Option<String>,
    #[serde(rename = "plugin_checksum")]
    _plugin_checksum: Ignored,
    #[serde(rename = "plugin_args")]
    _plugin_args: Ignored,
    enabled: Option<bool>,
    /// Read separately so its keys are checked against the plugin's own schema.
    #[serde(rename = "plugin_data")]
    _plugin_data: Ignored,
    plugin_data_file: Option<PathBuf>,
}

/// Reads the common plugin keys; `None` when the plugin is disabled.
fn plugin_data(
    doc: &ConfigDocument,
    plugin: &ConfigEntry,
    path: &str,
) -> Result<Option<PluginData>, ConfigError> {
    let block: PluginBlock = doc.deserialize_node(plugin.value(), path)?;
    if block.enabled == Some(false) {
        return Ok(None);
    }
    if block.plugin_cmd.is_some_and(|cmd| !cmd.is_empty()) {
        return Err(doc.invalid_value(
            plugin.line(),
            &format!("{path}.plugin_cmd"),
            "external plugin binaries are not supported; Lanyard's plugins are built in",
        ));
    }

    let inline = find_folded(plugin.value(), "plugin_data");
    match (block.plugin_data_file, inline) {
        (Some(_), Some(entry)) => Err(doc.invalid_value(
            entry.line(),
            path,
            "set plugin_data or plugin_data_file, not both",
        )),
        (Some(file), None) => {
            let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
                path: file.clone(),
                source,
            })?;
            let format = ConfigFormat::detect(Some(&file), &text);
            let data_doc = ConfigDocument::parse(&text, format, &file.display().to_string())?;
            Ok(Some(PluginData {
                node: data_doc.root().clone(),
                doc: Some(data_doc),
                line: 1,
            }))
        }
        (None, Some(entry)) => Ok(Some(PluginData {
            doc: None,
            node: entry.value().clone(),
            line: entry.line(),
        })),
        (None, None) => Ok(Some(PluginData {
            doc: None,
            node: ConfigDocument::empty(path).root().clone(),
            line: plugin.line(),
        })),
    }
}

/// The entry of a map whose key matches `key` ignoring case and underscores.
pub(crate) fn find_folded<'a>(node: &'a ConfigNode, key: &str) -> Option<&'a ConfigEntry> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = fold(key);
    node.entries()?
        .iter()
        .find(|entry| fold(entry.key()) == wanted)
}

#[derive(Deserialize)]
struct EmptyData {}

#[derive(Deserialize)]
struct DiskKeyManagerData {
    keys_path: PathBuf,
}

#[derive(Deserialize)]
struct SqlData {
    database_type: String,
    connection_string: String,
    ro_connection_string: Option<String>,
    max_open_conns: Option<u32>,
    max_idle_conns: Option<u32>,
    conn_max_lifetime: Option<Duration>,
    disable_migration: Option<bool>,
    #[serde(rename = "log_sql")]
    _log_sql: Ignored,
    #[serde(rename = "root_ca_path")]
    _root_ca_path: Ignored,
    #[serde(rename = "client_cert_path")]
    _client_cert_path: Ignored,
    #[serde(rename = "client_key_path")]
    _client_key_path: Ignored,
}

#[derive(Deserialize)]
struct X509PopData {
    mode: Option<String>,
    ca_bundle_path: Option<PathBuf>,
    #[serde(default)]
    ca_bundle_paths: Vec<PathBuf>,
    svid_prefix: Option<String>,
    agent_path_template: Option<String>,
}

#[derive(Deserialize)]
struct TpmData {
    #[serde(default)]
    endorsement_ca_path: Vec<PathBuf>,
    ek_hash_path: Option<PathBuf>,
    #[serde(default)]
    ek_hashes: Vec<String>,
    ldevid_ca_cert_path: Option<PathBuf>,
    ldevid_ca_key_path: Option<PathBuf>,
    ldevid_ttl: Option<Duration>,
    agent_path_template: Option<String>,
    residency_check_period: Option<Duration>,
}

#[derive(Deserialize)]
struct DiskUpstreamData {
    cert_file_path: PathBuf,
    key_file_path: PathBuf,
    bundle_file_path: Option<PathBuf>,
}
