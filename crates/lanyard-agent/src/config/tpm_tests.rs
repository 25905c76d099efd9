//! `NodeAttestor "tpm"` plugin_data on the agent: `tcti`, `xname`, `node_type`
//! and `key_algorithm` with good values, and each bad value refused naming its
//! key.

use lanyard_daemon::ConfigFormat;

use super::*;

/// An agent config whose node attestor is `tpm` with `plugin_data` (one key per
/// line, from line 9 on).
fn with_tpm(plugin_data: &str) -> String {
    format!(
        "agent {{\n  trust_domain = \"example.org\"\n  server_address = \"server\"\n  \
         trust_bundle_path = \"/b.pem\"\n}}\nplugins {{\n  NodeAttestor \"tpm\" {{\n    \
         plugin_data {{\n{plugin_data}    }}\n  }}\n  KeyManager \"memory\" {{}}\n}}\n"
    )
}

fn load(plugin_data: &str) -> Result<LoadedConfig, ConfigError> {
    let doc = ConfigDocument::parse(&with_tpm(plugin_data), ConfigFormat::Hcl, "agent.conf")?;
    AgentConfig::from_document(&doc, &ConfigOverrides::default())
}

fn tpm(plugin_data: &str) -> TpmAttestorConfig {
    let loaded = load(plugin_data).expect("tpm settings load");
    match loaded.config.plugins.node_attestor {
        NodeAttestorConfig::Tpm(tpm) => tpm,
        other => panic!("tpm attestor expected, got {other:?}"),
    }
}

fn refused(plugin_data: &str) -> String {
    load(plugin_data)
        .expect_err("tpm settings must be refused")
        .to_string()
}

#[test]
fn every_key_is_read() {
    let config = tpm("tcti = \"swtpm:host=127.0.0.1,port=2321\"\n\
         xname = \"x1000c0s0b0n0\"\n\
         node_type = \"compute\"\n\
         key_algorithm = \"rsa\"\n");
    assert_eq!(
        config,
        TpmAttestorConfig {
            tcti: "swtpm:host=127.0.0.1,port=2321".to_owned(),
            xname: Some("x1000c0s0b0n0".to_owned()),
            node_type: Some("compute".to_owned()),
            rsa_keys: true,
        }
    );
}

#[test]
fn defaults_use_the_kernel_resource_manager_and_ecc_keys() {
    let expected = TpmAttestorConfig {
        tcti: "device:/dev/tpmrm0".to_owned(),
        xname: None,
        node_type: None,
        rsa_keys: false,
    };
    assert_eq!(tpm(""), expected);
    assert_eq!(
        tpm("tcti = \"  \"\nxname = \"\"\nnode_type = \"\"\n"),
        expected,
        "empty values mean the defaults"
    );
}

#[test]
fn key_algorithm_spellings() {
    for (spelling, rsa) in [
        ("ecc", false),
        ("ecc_p256", false),
        ("p256", false),
        ("rsa", true),
        ("rsa_2048", true),
        ("rsa2048", true),
    ] {
        let config = tpm(&format!("key_algorithm = \"{spelling}\"\n"));
        assert_eq!(config.rsa_keys, rsa, "{spelling}");
    }
}

#[test]
fn bad_values_name_their_key_and_line() {
    // key_algorithm is checked after decoding and reports the plugin's line (7);
    // type errors report the key's own line (9).
    let cases = [
        (
            "key_algorithm = \"ed25519\"\n",
            7,
            "key_algorithm",
            "unknown key algorithm \"ed25519\" (use ecc or rsa)",
        ),
        ("tcti = [\"device\"]\n", 9, "tcti", "expected a string"),
        ("xname = [\"x1\"]\n", 9, "xname", "expected a string"),
        (
            "node_type = { a = 1 }\n",
            9,
            "node_type",
            "expected a string",
        ),
    ];
    for (line, number, key, why) in cases {
        let err = refused(line);
        let expected = format!(
            "agent.conf:{number}: invalid value for `plugins.NodeAttestor.tpm.plugin_data.{key}`"
        );
        assert!(
            err.starts_with(&expected) && err.contains(why),
            "{line:?} must be refused as {expected}: {why}, got: {err}"
        );
    }
}

#[test]
fn unknown_keys_are_refused_with_a_suggestion() {
    let err = refused("tcti = \"device:/dev/tpmrm0\"\nxnames = \"x1000c0s0b0n0\"\n");
    assert!(
        err.starts_with("agent.conf:10:")
            && err.contains("unknown key `xnames`")
            && err.contains("did you mean `xname`?"),
        "{err}"
    );
}

/// The xname grammar and the node type are checked when the attestor is built
/// from the settings, before any TPM is opened.
#[cfg(feature = "tpm")]
#[test]
fn xname_and_node_type_are_checked_by_their_grammar() {
    use crate::node::tpm_attestor::tpm_attestor;

    let dir = tempfile::tempdir().expect("tempdir");
    for xname in [
        "x1000c0s0b0n0",
        "x1000c0s0b0",
        "x3000c0r15b0",
        "x1001c2s0b0n1",
    ] {
        let config = tpm(&format!("xname = \"{xname}\"\nnode_type = \"compute\"\n"));
        tpm_attestor(&config, dir.path(), None).unwrap_or_else(|err| panic!("{xname}: {err}"));
    }
    for xname in [
        "node01",
        "x1000c0s0b0n",
        "X1000C0S0B0N0",
        "x1000c0s0b0n0 ",
        "c0s0b0n0",
    ] {
        let config = tpm(&format!("xname = \"{xname}\"\n"));
        let err = tpm_attestor(&config, dir.path(), None)
            .expect_err(xname)
            .to_string();
        assert!(
            err.starts_with("tpm xname is invalid: "),
            "{xname:?}: {err}"
        );
    }
    for node_type in ["Compute Node", "compute/gpu"] {
        let config = tpm(&format!("node_type = \"{node_type}\"\n"));
        let err = tpm_attestor(&config, dir.path(), None)
            .expect_err(node_type)
            .to_string();
        assert!(
            err.starts_with("tpm node_type is invalid: "),
            "{node_type:?}: {err}"
        );
    }
}
