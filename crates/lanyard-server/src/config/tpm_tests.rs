//! `NodeAttestor "tpm"` plugin_data on the server: every key read with a good
//! value, and each bad value refused with an error that names the key (and its
//! line).

use std::path::PathBuf;

use lanyard_daemon::{ConfigDocument, ConfigFormat, Duration};

use super::*;

fn parse(text: &str) -> Result<ServerConfig, ServerConfigError> {
    let doc = ConfigDocument::parse(text, ConfigFormat::Hcl, "server.conf")?;
    ServerConfig::from_document(&doc, &ConfigOverrides::default())
}

/// A server config whose only plugin is `NodeAttestor "tpm"` with `plugin_data`
/// (one key per line, from line 6 on).
fn with_tpm(plugin_data: &str) -> String {
    format!(
        "server {{\n    trust_domain = \"example.org\"\n    data_dir = \"/data\"\n}}\n\
         plugins {{ NodeAttestor \"tpm\" {{ plugin_data {{\n{plugin_data}}} }} }}\n"
    )
}

fn tpm(plugin_data: &str) -> TpmAttestorConfig {
    parse(&with_tpm(plugin_data))
        .expect("tpm settings load")
        .plugins
        .node_attestors
        .tpm
        .expect("tpm attestor configured")
}

fn refused(plugin_data: &str) -> String {
    parse(&with_tpm(plugin_data))
        .expect_err("tpm settings must be refused")
        .to_string()
}

const EK_HASH: &str = "4c0d3e8b0f8c5e1a3b6d7f9e2a1c4b8d6e0f2a3b5c7d9e1f0a2b4c6d8e0f1a3b";

#[test]
fn every_key_is_read() {
    let config = tpm(&format!(
        "endorsement_ca_path = [\"/etc/lanyard/ek/root.pem\", \"/etc/lanyard/ek/int.pem\"]\n\
         ek_hash_path = \"/etc/lanyard/ek-hashes\"\n\
         ek_hashes = [\"{EK_HASH}\"]\n\
         ldevid_ca_cert_path = \"/etc/lanyard/ldevid-ca.pem\"\n\
         ldevid_ca_key_path = \"/etc/lanyard/ldevid-ca.key\"\n\
         ldevid_ttl = \"8760h\"\n\
         agent_path_template = \"/tpm/{{{{ .Xname }}}}\"\n\
         residency_check_period = \"720h\"\n"
    ));
    assert_eq!(
        config,
        TpmAttestorConfig {
            endorsement_ca_paths: vec![
                PathBuf::from("/etc/lanyard/ek/root.pem"),
                PathBuf::from("/etc/lanyard/ek/int.pem"),
            ],
            ek_hash_path: Some(PathBuf::from("/etc/lanyard/ek-hashes")),
            ek_hashes: vec![EK_HASH.to_owned()],
            ldevid_ca: LdevidCaSource::Files {
                cert_path: PathBuf::from("/etc/lanyard/ldevid-ca.pem"),
                key_path: PathBuf::from("/etc/lanyard/ldevid-ca.key"),
            },
            ldevid_ttl: Duration::from_hours(8760),
            agent_path_template: Some("/tpm/{{ .Xname }}".to_owned()),
            residency_check_period: Some(Duration::from_hours(720)),
        }
    );
}

#[test]
fn defaults_generate_the_ldevid_ca_in_the_data_dir() {
    let config = tpm("endorsement_ca_path = [\"/ek/root.pem\"]\n");
    assert_eq!(
        config.ldevid_ca,
        LdevidCaSource::Generated {
            dir: PathBuf::from("/data/tpm")
        }
    );
    assert_eq!(config.ldevid_ttl, Duration::from_hours(5 * 365 * 24));
    assert_eq!(config.agent_path_template, None);
    assert_eq!(config.residency_check_period, None);
    assert!(config.ek_hash_path.is_none() && config.ek_hashes.is_empty());
}

#[test]
fn an_ek_hash_allow_list_alone_is_enough() {
    let config = tpm(&format!("ek_hashes = [\"{EK_HASH}\"]\n"));
    assert!(config.endorsement_ca_paths.is_empty());
    assert_eq!(config.ek_hashes, vec![EK_HASH.to_owned()]);

    let config = tpm("ek_hash_path = \"/etc/lanyard/ek-hashes\"\n");
    assert_eq!(
        config.ek_hash_path,
        Some(PathBuf::from("/etc/lanyard/ek-hashes"))
    );
}

#[test]
fn an_empty_agent_path_template_means_the_default() {
    let config = tpm("ek_hash_path = \"/h\"\nagent_path_template = \"\"\n");
    assert_eq!(config.agent_path_template, None);
}

#[test]
fn no_way_to_trust_an_ek_is_refused() {
    let err = refused("ldevid_ttl = \"24h\"\n");
    assert!(
        err.contains("`plugins.NodeAttestor.tpm.plugin_data`")
            && err.contains("endorsement_ca_path, ek_hash_path or ek_hashes is required"),
        "{err}"
    );
    let err = refused("endorsement_ca_path = []\nek_hashes = []\n");
    assert!(err.contains("ek_hashes is required"), "{err}");
}

#[test]
fn half_an_ldevid_ca_is_refused() {
    for key in ["ldevid_ca_cert_path", "ldevid_ca_key_path"] {
        let err = refused(&format!("ek_hash_path = \"/h\"\n{key} = \"/ca\"\n"));
        assert!(
            err.contains("set both ldevid_ca_cert_path and ldevid_ca_key_path, or neither"),
            "{key}: {err}"
        );
    }
}

#[test]
fn bad_values_name_their_key_and_line() {
    let cases = [
        (
            "ek_hash_path = [\"/a\", \"/b\"]\n",
            "ek_hash_path",
            "expected a string",
        ),
        (
            "ldevid_ttl = \"a year\"\n",
            "ldevid_ttl",
            "invalid duration \"a year\"",
        ),
        (
            "ldevid_ttl = \"-5h\"\n",
            "ldevid_ttl",
            "negative duration \"-5h\"",
        ),
        (
            "agent_path_template = [\"/a\"]\n",
            "agent_path_template",
            "expected a string, found a list",
        ),
        (
            "residency_check_period = \"monthly\"\n",
            "residency_check_period",
            "invalid duration \"monthly\"",
        ),
    ];
    for (line, key, why) in cases {
        let err = refused(&format!("ek_hashes = [\"{EK_HASH}\"]\n{line}"));
        let expected = format!(
            "server.conf:7: invalid value for `plugins.NodeAttestor.tpm.plugin_data.{key}`"
        );
        assert!(
            err.starts_with(&expected) && err.contains(why),
            "{line:?} must be refused as {expected}: {why}, got: {err}"
        );
    }
}

/// What the file cannot say on its own (file contents, hash syntax, template
/// syntax) is checked when the server builds the attestor, still naming the key.
#[tokio::test]
async fn bad_files_hashes_and_templates_name_their_key_when_the_attestor_is_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            format!("ek_hashes = [\"{}\"]\n", &EK_HASH[..40]),
            "tpm ek_hashes is invalid",
        ),
        (
            "ek_hashes = [\"not-hex\"]\n".to_owned(),
            "tpm ek_hashes is invalid",
        ),
        (
            format!("endorsement_ca_path = [\"{}\"]\n", missing.display()),
            "endorsement_ca_path",
        ),
        (
            format!("endorsement_ca_path = [\"{}\"]\n", not_pem.display()),
            "endorsement_ca_path",
        ),
        (
            format!(
                "ek_hash_path = \"{}\"\n",
                dir.path().join("no-such-dir").display()
            ),
            "ek_hash_path",
        ),
        (
            format!(
                "ek_hashes = [\"{EK_HASH}\"]\nagent_path_template = \"/tpm/{{{{ .Nope }}}}\"\n"
            ),
            "tpm agent_path_template is invalid",
        ),
    ];
    for (plugin_data, expected) in cases {
        let err = build(dir.path(), &plugin_data)
            .await
            .expect_err(&plugin_data);
        let text = error_chain(&err);
        assert!(text.contains(expected), "{plugin_data:?}: {text}");
    }

    let good =
        format!("ek_hashes = [\"{EK_HASH}\"]\nagent_path_template = \"/tpm/{{{{ .Xname }}}}\"\n");
    build(dir.path(), &good).await.expect("good settings build");
}

/// Builds the server's attestors from `plugin_data` with `data_dir` as the data
/// directory (where the generated LDevID CA goes).
async fn build(data_dir: &Path, plugin_data: &str) -> Result<(), lanyard_attest::ConfigError> {
    let text = with_tpm(plugin_data).replace("/data", &data_dir.display().to_string());
    let config = parse(&text).expect("the file itself is valid");
    let store = lanyard_store::Store::open(&lanyard_store::StoreConfig::sqlite_in(data_dir))
        .await
        .expect("store");
    crate::api::build_attestors(
        &config.trust_domain,
        &config.plugins.node_attestors,
        std::sync::Arc::new(store),
    )
    .map(drop)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[test]
fn unknown_keys_are_refused_with_a_suggestion() {
    let err = refused("ek_hash_path = \"/h\"\nendorsement_ca_paths = [\"/r.pem\"]\n");
    assert!(
        err.starts_with("server.conf:7:")
            && err.contains("unknown key `endorsement_ca_paths`")
            && err.contains("`plugins.NodeAttestor.tpm.plugin_data`")
            && err.contains("did you mean `endorsement_ca_path`?"),
        "{err}"
    );
}
