//! The `plugins { Type "name" { plugin_data { ... } } }` section of `agent.conf`.
//!
//! Lanyard's plugins are built in; the section picks one per type and passes its
//! `plugin_data`, which is checked against that plugin's own schema so an unknown key is
//! reported with its line like everywhere else.

use std::path::{Path, PathBuf};

use lanyard_daemon::config::{ConfigEntry, ConfigNode};
use lanyard_daemon::{ConfigDocument, ConfigError, ConfigFormat};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::file::Ignored;
use super::{
    KeyManagerConfig, NodeAttestorConfig, PluginsConfig, SystemdAttestorConfig, TpmAttestorConfig,
    UnixAttestorConfig, WorkloadSizeLimit, X509PopAttestorConfig,
};

/// Reads the plugins section of `doc`; when it is absent, the defaults are a join token
/// node attestor, a disk key manager in `data_dir` and the `unix` workload attestor.
pub(crate) fn load_plugins(
    doc: &ConfigDocument,
    data_dir: &Path,
) -> Result<PluginsConfig, ConfigError> {
    let Some(section) = find_folded(doc.root(), "plugins") else {
        return Ok(PluginsConfig::defaults(data_dir));
    };

    let mut node_attestor = None;
    let mut key_manager = None;
    let mut unix = None;
    let mut systemd = None;

    for type_entry in section.value().map_entries() {
        for plugin in type_entry.value().map_entries() {
            let path = format!("plugins.{}.{}", type_entry.key(), plugin.key());
            let Some(data) = plugin_data(doc, plugin, &path)? else {
                continue;
            };
            let line = plugin.line();
            match (type_entry.key(), plugin.key()) {
                ("NodeAttestor", "join_token") => {
                    let _: EmptyData = data.deserialize(doc, &path)?;
                    only_one(
                        doc,
                        &mut node_attestor,
                        NodeAttestorConfig::JoinToken,
                        line,
                        &path,
                    )?;
                }
                ("NodeAttestor", "x509pop") => {
                    let raw: X509PopData = data.deserialize(doc, &path)?;
                    let config = x509pop(doc, raw, line, &path)?;
                    only_one(doc, &mut node_attestor, config, line, &path)?;
                }
                ("NodeAttestor", "tpm") => {
                    let raw: TpmData = data.deserialize(doc, &path)?;
                    let config = tpm(doc, raw, line, &path)?;
                    only_one(doc, &mut node_attestor, config, line, &path)?;
                }
                ("KeyManager", "disk") => {
                    let raw: DiskKeyManagerData = data.deserialize(doc, &path)?;
                    let config = KeyManagerConfig::Disk {
                        directory: raw.directory,
                    };
                    only_one(doc, &mut key_manager, config, line, &path)?;
                }
                ("KeyManager", "memory") => {
                    let _: EmptyData = data.deserialize(doc, &path)?;
                    only_one(doc, &mut key_manager, KeyManagerConfig::Memory, line, &path)?;
                }
                ("WorkloadAttestor", "unix") => {
                    let raw: UnixData = data.deserialize(doc, &path)?;
                    unix = Some(UnixAttestorConfig {
                        discover_workload_path: raw.discover_workload_path.unwrap_or(false),
                        workload_size_limit: WorkloadSizeLimit::from_spire(
                            raw.workload_size_limit.unwrap_or(0),
                        ),
                    });
                }
                ("WorkloadAttestor", "systemd") => {
                    let _: EmptyData = data.deserialize(doc, &path)?;
                    systemd = Some(SystemdAttestorConfig {});
                }
                (kind, name) => return Err(unsupported(doc, kind, name, type_entry.line(), line)),
            }
        }
    }

    let line = section.line();
    let node_attestor = node_attestor.map(|(value, _)| value).ok_or_else(|| {
        doc.invalid_value(line, "plugins", "a NodeAttestor plugin must be configured")
    })?;
    let key_manager = key_manager.map(|(value, _)| value).ok_or_else(|| {
        doc.invalid_value(line, "plugins", "a KeyManager plugin must be configured")
    })?;
    Ok(PluginsConfig {
        node_attestor,
        key_manager,
        unix_attestor: unix,
        systemd_attestor: systemd,
    })
}

/// The entry of a map whose key matches `key` ignoring ASCII case and underscores.
pub(crate) fn find_folded<'a>(node: &'a ConfigNode, key: &str) -> Option<&'a ConfigEntry> {
    let wanted = fold(key);
    node.entries()?
        .iter()
        .find(|entry| fold(entry.key()) == wanted)
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn only_one<T>(
    doc: &ConfigDocument,
    slot: &mut Option<(T, usize)>,
    value: T,
    line: usize,
    path: &str,
) -> Result<(), ConfigError> {
    if let Some((_, first)) = slot {
        let kind = path.split('.').nth(1).unwrap_or("plugin");
        return Err(doc.invalid_value(
            line,
            path,
            format!("only one {kind} may be configured (another is on line {first})"),
        ));
    }
    *slot = Some((value, line));
    Ok(())
}

fn x509pop(
    doc: &ConfigDocument,
    raw: X509PopData,
    line: usize,
    path: &str,
) -> Result<NodeAttestorConfig, ConfigError> {
    if raw.spiffe_endpoint_socket.is_some() {
        return Err(doc.invalid_value(
            line,
            &format!("{path}.plugin_data.spiffe_endpoint_socket"),
            "reading the x509pop certificate from a Workload API is not supported; \
             set private_key_path and certificate_path",
        ));
    }
    let missing = |key: &str| {
        doc.invalid_value(
            line,
            &format!("{path}.plugin_data.{key}"),
            format!("{key} is required"),
        )
    };
    Ok(NodeAttestorConfig::X509Pop(X509PopAttestorConfig {
        private_key_path: raw
            .private_key_path
            .ok_or_else(|| missing("private_key_path"))?,
        certificate_path: raw
            .certificate_path
            .ok_or_else(|| missing("certificate_path"))?,
        intermediates_path: raw.intermediates_path,
    }))
}

/// The TPM the agent uses unless `tcti` says otherwise: the kernel resource manager.
const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

fn tpm(
    doc: &ConfigDocument,
    raw: TpmData,
    line: usize,
    path: &str,
) -> Result<NodeAttestorConfig, ConfigError> {
    let rsa_keys = match raw.key_algorithm.as_deref().unwrap_or("ecc") {
        "ecc" | "ecc_p256" | "p256" => false,
        "rsa" | "rsa_2048" | "rsa2048" => true,
        other => {
            return Err(doc.invalid_value(
                line,
                &format!("{path}.plugin_data.key_algorithm"),
                format!("unknown key algorithm {other:?} (use ecc or rsa)"),
            ));
        }
    };
    let tcti = raw
        .tcti
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TCTI.to_owned());
    Ok(NodeAttestorConfig::Tpm(TpmAttestorConfig {
        tcti,
        xname: raw.xname.filter(|x| !x.is_empty()),
        node_type: raw.node_type.filter(|t| !t.is_empty()),
        rsa_keys,
    }))
}

fn unsupported(
    doc: &ConfigDocument,
    kind: &str,
    name: &str,
    type_line: usize,
    line: usize,
) -> ConfigError {
    let supported = match kind {
        "NodeAttestor" => "join_token, x509pop, tpm",
        "KeyManager" => "disk, memory",
        "WorkloadAttestor" => "unix, systemd",
        "SVIDStore" => {
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
                     (supported: NodeAttestor, KeyManager, WorkloadAttestor)"
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

/// A plugin's settings: the `plugin_data` subtree, or the document in `plugin_data_file`.
struct PluginData {
    file: Option<ConfigDocument>,
    node: ConfigNode,
}

impl PluginData {
    fn deserialize<T: DeserializeOwned>(
        &self,
        doc: &ConfigDocument,
        path: &str,
    ) -> Result<T, ConfigError> {
        match &self.file {
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
    /// Read separately, against the plugin's own schema.
    #[serde(rename = "plugin_data")]
    _plugin_data: Ignored,
    plugin_data_file: Option<PathBuf>,
}

/// Reads the keys common to every plugin block; `None` when the plugin is disabled.
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
            let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::ReadFile {
                what: "plugin data file",
                path: file.clone(),
                source,
            })?;
            let format = ConfigFormat::detect(Some(&file), &text);
            let data_doc = ConfigDocument::parse(&text, format, &file.display().to_string())?;
            Ok(Some(PluginData {
                node: data_doc.root().clone(),
                file: Some(data_doc),
            }))
        }
        (None, Some(entry)) => Ok(Some(PluginData {
            file: None,
            node: entry.value().clone(),
        })),
        (None, None) => Ok(Some(PluginData {
            file: None,
            node: ConfigDocument::empty(path).root().clone(),
        })),
    }
}

#[derive(Deserialize)]
struct EmptyData {}

#[derive(Deserialize)]
struct DiskKeyManagerData {
    directory: PathBuf,
}

#[derive(Deserialize)]
struct X509PopData {
    private_key_path: Option<PathBuf>,
    certificate_path: Option<PathBuf>,
    intermediates_path: Option<PathBuf>,
    spiffe_endpoint_socket: Option<String>,
}

#[derive(Deserialize)]
struct TpmData {
    tcti: Option<String>,
    xname: Option<String>,
    node_type: Option<String>,
    key_algorithm: Option<String>,
}

#[derive(Deserialize)]
struct UnixData {
    discover_workload_path: Option<bool>,
    workload_size_limit: Option<i64>,
}
