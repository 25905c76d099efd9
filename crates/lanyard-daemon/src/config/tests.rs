use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::Duration;

#[derive(Debug, Deserialize, PartialEq)]
struct File {
    server: Server,
    #[serde(default)]
    plugins: BTreeMap<String, BTreeMap<String, Plugin>>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Server {
    trust_domain: String,
    #[serde(default)]
    bind_port: Option<u16>,
    #[serde(default)]
    ca_ttl: Option<Duration>,
    #[serde(default)]
    ca_subject: Option<Subject>,
    #[serde(default)]
    admin_ids: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Subject {
    #[serde(default)]
    country: Vec<String>,
    #[serde(default)]
    organization: Vec<String>,
    #[serde(default)]
    common_name: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Plugin {
    #[serde(default)]
    plugin_data: BTreeMap<String, String>,
}

const SPIRE_STYLE: &str = r#"
server {
    bind_port = "8081"
    trust_domain = "example.org"
    ca_ttl = "1h30m"
    ca_subject = {
        Country = ["US"],
        Organization = ["SPIFFE"],
        CommonName = "",
    }
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "./.data/datastore.sqlite3"
        }
    }

    NodeAttestor "join_token" {
        plugin_data {
        }
    }

    KeyManager "memory" {
        plugin_data = {}
    }
}
"#;

fn parse_hcl(text: &str) -> ConfigDocument {
    ConfigDocument::parse(text, ConfigFormat::Hcl, "server.conf").expect("valid HCL")
}

#[test]
fn spire_style_hcl_decodes() {
    let file: File = parse_hcl(SPIRE_STYLE).deserialize().expect("decodes");

    assert_eq!(file.server.trust_domain, "example.org");
    assert_eq!(file.server.bind_port, Some(8081));
    assert_eq!(file.server.ca_ttl, Some(Duration::from_secs(5400)));
    let subject = file.server.ca_subject.expect("ca_subject set");
    assert_eq!(subject.country, ["US"]);
    assert_eq!(subject.organization, ["SPIFFE"]);
    assert_eq!(
        file.plugins["DataStore"]["sql"].plugin_data["database_type"],
        "sqlite3"
    );
    assert!(
        file.plugins["NodeAttestor"]["join_token"]
            .plugin_data
            .is_empty()
    );
    assert!(file.plugins["KeyManager"]["memory"].plugin_data.is_empty());
}

#[test]
fn ports_may_be_numbers() {
    let file: File = parse_hcl("server {\n trust_domain = \"td\"\n bind_port = 8081\n}")
        .deserialize()
        .expect("decodes");
    assert_eq!(file.server.bind_port, Some(8081));
}

#[test]
fn unknown_key_names_key_line_and_suggestion() {
    let text = "server {\n    trust_domain = \"td\"\n    bind_prot = 8081\n}\n";
    let err = parse_hcl(text).deserialize::<File>().expect_err("typo");

    let ConfigError::UnknownKey {
        location,
        key,
        section,
        suggestion,
    } = &err
    else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(location.line, 3);
    assert_eq!(key, "bind_prot");
    assert_eq!(section, "server");
    assert_eq!(suggestion.as_deref(), Some("bind_port"));
    assert_eq!(
        err.to_string(),
        "server.conf:3: unknown key `bind_prot` in `server` (did you mean `bind_port`?)"
    );
}

#[test]
fn unknown_top_level_block_is_reported() {
    let text = "server {\n trust_domain = \"td\"\n}\n\nsevrer_extra {\n}\n";
    let err = parse_hcl(text).deserialize::<File>().expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "server.conf:5: unknown key `sevrer_extra` in the top level"
    );
}

#[test]
fn unknown_key_in_nested_block_has_its_own_line() {
    let text = "server {\n trust_domain = \"td\"\n ca_subject {\n  country = [\"US\"]\n  contry = [\"x\"]\n }\n}\n";
    let err = parse_hcl(text).deserialize::<File>().expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "server.conf:5: unknown key `contry` in `server.ca_subject` (did you mean `country`?)"
    );
}

#[test]
fn bad_values_name_key_and_line() {
    let text = "server {\n trust_domain = \"td\"\n\n ca_ttl = \"1 fortnight\"\n}\n";
    let err = parse_hcl(text).deserialize::<File>().expect_err("bad ttl");
    let ConfigError::InvalidValue { location, key, .. } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!((location.line, key.as_str()), (4, "server.ca_ttl"));

    let text = "server {\n trust_domain = \"td\"\n bind_port = 70000\n}\n";
    let err = parse_hcl(text)
        .deserialize::<File>()
        .expect_err("port range");
    assert!(
        err.to_string()
            .starts_with("server.conf:3: invalid value for `server.bind_port`"),
        "{err}"
    );
}

#[test]
fn missing_key_names_the_section() {
    let err = parse_hcl("server {\n bind_port = 1\n}\n")
        .deserialize::<File>()
        .expect_err("missing trust_domain");
    assert_eq!(
        err.to_string(),
        "server.conf:1: missing required key `trust_domain` in `server`"
    );
}

#[test]
fn duplicate_attributes_are_errors() {
    let text = "server {\n trust_domain = \"a\"\n trust_domain = \"b\"\n}\n";
    let err = ConfigDocument::parse(text, ConfigFormat::Hcl, "s.conf").expect_err("duplicate");
    assert_eq!(err.location().map(|l| l.line), Some(3), "{err}");
    assert!(err.to_string().contains("redefined attribute"), "{err}");

    let text = "server {\n trust_domain = \"a\"\n}\nserver {\n trust_domain = \"b\"\n}\n";
    let err = ConfigDocument::parse(text, ConfigFormat::Hcl, "s.conf").expect_err("duplicate");
    assert_eq!(
        err.to_string(),
        "s.conf:5: duplicate key `trust_domain` (first set on line 2)"
    );
}

#[test]
fn repeated_labelled_blocks_merge() {
    let text = r#"
server { trust_domain = "td" }
plugins {
    NodeAttestor "join_token" {}
}
plugins {
    NodeAttestor "x509pop" { plugin_data { mode = "spiffe" } }
}
"#;
    let file: File = parse_hcl(text).deserialize().expect("decodes");
    let attestors: Vec<&String> = file.plugins["NodeAttestor"].keys().collect();
    assert_eq!(attestors, ["join_token", "x509pop"]);
}

#[test]
fn syntax_errors_have_a_line() {
    let err = ConfigDocument::parse("server {\n trust_domain = \n}\n", ConfigFormat::Hcl, "s")
        .expect_err("syntax");
    let location = err.location().expect("located");
    assert!(location.line >= 2, "{err}");
    assert!(err.to_string().contains("syntax error"), "{err}");
}

#[test]
fn interpolation_is_rejected_with_a_hint() {
    let err = ConfigDocument::parse(
        "server {\n trust_domain = \"${TD}\"\n}\n",
        ConfigFormat::Hcl,
        "s",
    )
    .expect_err("interpolation");
    assert!(err.to_string().contains("-expandEnv"), "{err}");
    assert_eq!(err.location().map(|l| l.line), Some(2));
}

#[test]
fn expression_values_are_rejected() {
    let err = ConfigDocument::parse("server {\n bind_port = 1 + 2\n}\n", ConfigFormat::Hcl, "s")
        .expect_err("expression");
    assert!(err.to_string().contains("only literal values"), "{err}");
}

#[test]
fn json_has_the_same_shape_and_lines() {
    let json = r#"{
  "server": {
    "trust_domain": "example.org",
    "bind_port": 8081,
    "admin_ids": ["spiffe://example.org/admin"]
  },
  "plugins": {
    "DataStore": [{"sql": {"plugin_data": {"database_type": "sqlite3"}}}],
    "KeyManager": {"memory": {}}
  }
}"#;
    assert_eq!(ConfigFormat::detect(None, json), ConfigFormat::Json);
    let doc = ConfigDocument::parse(json, ConfigFormat::Json, "server.json").expect("valid");
    let file: File = doc.deserialize().expect("decodes");
    assert_eq!(file.server.admin_ids, ["spiffe://example.org/admin"]);
    assert_eq!(
        file.plugins["DataStore"]["sql"].plugin_data["database_type"],
        "sqlite3"
    );

    let bad = json.replace("\"bind_port\"", "\"bind_prt\"");
    let doc = ConfigDocument::parse(&bad, ConfigFormat::Json, "server.json").expect("valid");
    let err = doc.deserialize::<File>().expect_err("typo");
    assert_eq!(err.location().map(|l| l.line), Some(4));
}

#[test]
fn json_with_surrounding_whitespace_is_read() {
    for text in [
        "{\"server\": {\"trust_domain\": \"x.test\"}}\n",
        "{\n  \"server\": {\n    \"trust_domain\": \"x.test\"\n  }\n}\n\n",
        "\n  {\"server\": {\"trust_domain\": \"x.test\"}}  \r\n",
    ] {
        assert_eq!(ConfigFormat::detect(None, text), ConfigFormat::Json);
        let doc = ConfigDocument::parse(text, ConfigFormat::Json, "server.json")
            .unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert!(doc.root().entries().is_some(), "{text:?}");
    }

    let misspelled = "\n\n{\n  \"server\": {\n    \"trust_domian\": \"x.test\"\n  }\n}\n";
    let doc = ConfigDocument::parse(misspelled, ConfigFormat::Json, "server.json").expect("valid");
    let err = doc.deserialize::<File>().expect_err("unknown key");
    assert!(err.to_string().starts_with("server.json:5:"), "{err}");
}

#[test]
fn json_must_be_an_object() {
    let err = ConfigDocument::parse("[1]", ConfigFormat::Json, "x.json").expect_err("array");
    assert!(err.to_string().contains("must be an object"), "{err}");
}

#[test]
fn subtrees_deserialize_with_their_path() {
    let doc = parse_hcl(SPIRE_STYLE);
    let plugins = doc.root().get("plugins").expect("plugins present");
    let sql = plugins
        .value()
        .get("DataStore")
        .and_then(|e| e.value().get("sql"))
        .expect("sql plugin");

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only the error matters")]
    struct Sql {
        plugin_data: SqlData,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only the error matters")]
    struct SqlData {
        database_type: String,
    }

    let err = doc
        .deserialize_node::<Sql>(sql.value(), "plugins.DataStore.sql")
        .expect_err("connection_string is not a field");
    assert_eq!(
        err.to_string(),
        "server.conf:17: unknown key `connection_string` in `plugins.DataStore.sql.plugin_data`"
    );
}

#[test]
fn load_reads_files_and_expands_env_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.conf");
    std::fs::write(&path, "server {\n trust_domain = \"$HOME\"\n}\n").expect("write");

    let plain = ConfigDocument::load(&path, false).expect("loads");
    let file: File = plain.deserialize().expect("decodes");
    assert_eq!(file.server.trust_domain, "$HOME");

    let expanded = ConfigDocument::load(&path, true).expect("loads");
    let file: File = expanded.deserialize().expect("decodes");
    assert_eq!(
        file.server.trust_domain,
        std::env::var("HOME").unwrap_or_default()
    );

    let err = ConfigDocument::load(&dir.path().join("nope.conf"), false).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }));
}

#[test]
fn hcl1_layouts_parse_with_exact_lines() {
    let text = r#"server { trust_domain = "td", bind_port = 8081,
    ca_subject { country = ["US"], organization = ["SPIFFE"], common_name = "" }
}
plugins { NodeAttestor "join_token" { plugin_data {} } KeyManager "memory" { plugin_data = {} } }
plugins {
    DataStore "sql" { plugin_data { database_type = "sqlite3" } }
}
"#;
    let doc = parse_hcl(text);
    let file: File = doc.deserialize().expect("decodes");
    assert_eq!(file.server.bind_port, Some(8081));
    assert_eq!(
        file.server.ca_subject.map(|s| s.organization),
        Some(vec!["SPIFFE".to_owned()])
    );
    assert_eq!(file.plugins.len(), 3);

    let bad = text.replace("database_type", "database_typo");
    let doc = parse_hcl(&bad);
    let sql = doc
        .root()
        .get("plugins")
        .and_then(|p| p.value().get("DataStore"));
    assert_eq!(sql.map(ConfigEntry::line), Some(6));

    let broken = text.replace("common_name = \"\"", "common_name = ");
    let err = ConfigDocument::parse(&broken, ConfigFormat::Hcl, "s").expect_err("syntax");
    assert_eq!(err.location().map(|l| l.line), Some(2), "{err}");
}
