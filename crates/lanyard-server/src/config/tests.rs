use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lanyard_ca::KeyType;
use lanyard_daemon::{ConfigDocument, ConfigFormat, Duration, LogFormat, LogLevel};
use lanyard_spiffe::{SpiffeId, TrustDomain};

use super::*;

/// SPIRE's own sample `conf/server/server.conf` layout, capitalised `ca_subject` keys included.
const SPIRE_SAMPLE: &str = r#"
server {
    bind_address = "127.0.0.1"
    bind_port = "8081"
    socket_path = "/tmp/spire-server/private/api.sock"
    trust_domain = "example.org"
    data_dir = "./.data"
    log_level = "DEBUG"
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

    UpstreamAuthority "disk" {
        plugin_data {
            key_file_path = "./conf/server/dummy_upstream_ca.key"
            cert_file_path = "./conf/server/dummy_upstream_ca.crt"
        }
    }
}
"#;

/// A `server_full.conf`-like file trimmed to the plugins Lanyard has.
const FULL_SAMPLE: &str = r#"
server {
    bind_address = "0.0.0.0"
    bind_port = 8081
    trust_domain = "example.org"
    data_dir = "/var/lib/spire/server"
    socket_path = "/run/spire/server/api.sock"
    log_level = "INFO"
    log_format = "json"
    log_file = "/var/log/spire-server.log"
    log_source_location = true
    admin_ids = ["spiffe://example.org/admin", "spiffe://other.org/ops"]
    agent_ttl = "2h"
    audit_log_enabled = true
    ca_key_type = "RSA-2048"
    jwt_key_type = "ec-p384"
    ca_ttl = "168h"
    ca_subject {
        country = ["DE"]
        organization = ["Example"]
        common_name = "example.org CA"
    }
    default_x509_svid_ttl = "4h"
    default_jwt_svid_ttl = "10m"
    jwt_issuer = "https://oidc.example.org"
    prune_attested_nodes_expired_for = "720h"
    profiling_enabled = false
    profiling_port = 1234
    ratelimit {
        attestation = false
        signing = true
    }
    experimental {
        cache_reload_interval = "10s"
        events_based_cache = true
        prune_events_older_than = "6h"
        event_timeout = "5m"
    }
    federation {
        bundle_endpoint {
            address = "0.0.0.0"
            port = 8443
            refresh_hint = "10m"
            profile "https_web" {
                serving_cert_file {
                    cert_file_path = "/etc/spire/bundle.crt"
                    key_file_path = "/etc/spire/bundle.key"
                }
            }
        }
        federates_with "domain1.test" {
            bundle_endpoint_url = "https://1.2.3.4:8443"
            bundle_endpoint_profile "https_spiffe" {
                endpoint_spiffe_id = "spiffe://domain1.test/spire/server"
            }
        }
        federates_with "domain2.test" {
            bundle_endpoint_url = "https://example.com"
            bundle_endpoint_profile "https_web" {}
        }
    }
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "postgres"
            connection_string = "postgres://spire:secret@db:5432/spire"
            ro_connection_string = "postgres://spire:secret@replica:5432/spire"
            max_open_conns = 50
            max_idle_conns = "10"
            conn_max_lifetime = "1h"
            disable_migration = false
        }
    }
    KeyManager "disk" {
        plugin_data {
            keys_path = "/var/lib/spire/server/keys.json"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    NodeAttestor "x509pop" {
        plugin_data {
            ca_bundle_path = "/etc/spire/x509pop-ca.pem"
            agent_path_template = "{{ .Subject.CommonName }}"
        }
    }
    NodeAttestor "disabled_one" {
        enabled = false
    }
}

health_checks {
    listener_enabled = true
    bind_address = "localhost"
    bind_port = "8080"
    live_path = "/live"
    ready_path = "/ready"
}

telemetry {
    Prometheus {
        port = 9988
    }
    EnableHostnameLabel = true
}
"#;

fn parse(text: &str) -> Result<ServerConfig, ServerConfigError> {
    let doc = ConfigDocument::parse(text, ConfigFormat::Hcl, "server.conf")?;
    ServerConfig::from_document(&doc, &ConfigOverrides::default())
}

fn error_text(text: &str) -> String {
    parse(text)
        .expect_err("config must be rejected")
        .to_string()
}

fn minimal(extra_server: &str, extra_top: &str) -> String {
    format!(
        "server {{\n    trust_domain = \"example.org\"\n    data_dir = \"/data\"\n{extra_server}}}\n{extra_top}"
    )
}

#[test]
fn spire_sample_loads_unchanged() {
    let config = parse(SPIRE_SAMPLE).expect("SPIRE sample loads");

    assert_eq!(config.trust_domain.as_str(), "example.org");
    assert_eq!(
        config.bind_address,
        "127.0.0.1:8081".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(
        config.socket_path,
        PathBuf::from("/tmp/spire-server/private/api.sock")
    );
    assert_eq!(config.log.level, LogLevel::Debug);
    assert_eq!(config.ca_subject.country, ["US"]);
    assert_eq!(config.ca_subject.organization, ["SPIFFE"]);
    assert_eq!(config.ca_subject.common_name, None);
    assert_eq!(
        config.plugins.datastore.database_type,
        DatabaseType::Sqlite3
    );
    assert_eq!(
        config.plugins.datastore.sqlite_path(),
        Some(PathBuf::from("./.data/datastore.sqlite3"))
    );
    assert_eq!(config.plugins.key_manager, KeyManagerConfig::Memory);
    assert!(config.plugins.node_attestors.join_token);
    assert_eq!(
        config.plugins.upstream_authority,
        Some(UpstreamAuthorityConfig::Disk {
            cert_file_path: PathBuf::from("./conf/server/dummy_upstream_ca.crt"),
            key_file_path: PathBuf::from("./conf/server/dummy_upstream_ca.key"),
            bundle_file_path: None,
        })
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn full_sample_loads_every_setting() {
    let config = parse(FULL_SAMPLE).expect("full sample loads");

    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(
        config.log.file,
        Some(PathBuf::from("/var/log/spire-server.log"))
    );
    assert_eq!(
        config.admin_ids,
        [
            SpiffeId::parse("spiffe://example.org/admin").expect("id"),
            SpiffeId::parse("spiffe://other.org/ops").expect("id"),
        ]
    );
    assert_eq!(config.ca_key_type, KeyType::Rsa2048);
    assert_eq!(config.jwt_key_type, KeyType::EcP384);
    assert_eq!(config.ca_ttl, Duration::from_hours(168));
    assert_eq!(config.default_x509_svid_ttl, Duration::from_hours(4));
    assert_eq!(config.default_jwt_svid_ttl, Duration::from_mins(10));
    assert_eq!(config.agent_ttl, Duration::from_hours(2));
    assert_eq!(
        config.ca_subject.common_name.as_deref(),
        Some("example.org CA")
    );
    assert_eq!(
        config.jwt_issuer.as_deref(),
        Some("https://oidc.example.org")
    );
    assert!(config.audit_log_enabled);
    assert!(!config.ratelimit.attestation && config.ratelimit.signing);
    assert_eq!(
        config.prune_attested_nodes_expired_for,
        Some(Duration::from_hours(720))
    );
    assert_eq!(
        config.experimental.cache_reload_interval,
        Duration::from_secs(10)
    );
    assert!(config.experimental.events_based_cache);
    assert_eq!(config.experimental.event_timeout, Duration::from_mins(5));

    let endpoint = config
        .federation
        .bundle_endpoint
        .as_ref()
        .expect("endpoint");
    assert_eq!(endpoint.address.port(), 8443);
    assert_eq!(endpoint.refresh_hint, Duration::from_mins(10));
    assert!(matches!(
        endpoint.profile,
        BundleEndpointProfile::HttpsWebServingCert { .. }
    ));
    let peer = &config.federation.federates_with[&TrustDomain::new("domain1.test").expect("td")];
    assert_eq!(
        peer.profile,
        BundleEndpointClientProfile::HttpsSpiffe {
            endpoint_spiffe_id: SpiffeId::parse("spiffe://domain1.test/spire/server").expect("id")
        }
    );
    assert_eq!(config.federation.federates_with.len(), 2);

    let datastore = &config.plugins.datastore;
    assert_eq!(datastore.database_type, DatabaseType::Postgres);
    assert_eq!(datastore.max_open_conns, Some(50));
    assert_eq!(datastore.max_idle_conns, Some(10));
    assert!(
        !format!("{datastore:?}").contains("secret"),
        "password leaked"
    );
    assert_eq!(
        config.plugins.key_manager,
        KeyManagerConfig::Disk {
            keys_path: PathBuf::from("/var/lib/spire/server/keys.json")
        }
    );
    let x509pop = config
        .plugins
        .node_attestors
        .x509pop
        .as_ref()
        .expect("x509pop");
    assert_eq!(x509pop.mode, X509PopMode::ExternalPki);
    assert_eq!(
        x509pop.ca_bundle_paths,
        [PathBuf::from("/etc/spire/x509pop-ca.pem")]
    );
    assert_eq!(x509pop.svid_prefix, "/spire-exchange");

    let health = config.health_checks.as_ref().expect("health");
    assert_eq!(
        (health.bind_address.as_str(), health.bind_port),
        ("localhost", 8080)
    );
    assert_eq!(
        config.prometheus,
        Some(PrometheusConfig {
            host: "localhost".to_owned(),
            port: 9988
        })
    );

    let warnings = config.warnings.join("\n");
    for key in [
        "log_source_location",
        "profiling_enabled",
        "profiling_port",
        "EnableHostnameLabel",
    ] {
        assert!(warnings.contains(key), "no warning for {key}: {warnings}");
    }
}

#[test]
fn trust_domain_and_data_dir_give_the_embedded_default() {
    let config = parse(&minimal("", "")).expect("loads");
    let expected = ServerConfig::embedded_default(
        TrustDomain::new("example.org").expect("td"),
        Path::new("/data"),
    );

    assert_eq!(
        config.bind_address,
        "0.0.0.0:8081".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(
        config.socket_path,
        PathBuf::from("/tmp/lanyard-server/private/api.sock")
    );
    assert_eq!(config.ca_ttl, Duration::from_hours(24));
    assert_eq!(config.default_x509_svid_ttl, Duration::from_hours(1));
    assert_eq!(config.default_jwt_svid_ttl, Duration::from_mins(5));
    assert_eq!(config.agent_ttl, Duration::from_hours(1));
    assert_eq!(config.ca_key_type, KeyType::EcP256);
    assert_eq!(config.ca_subject, CaSubjectConfig::default());
    assert_eq!(config.plugins, expected.plugins);
    assert_eq!(
        config.plugins.datastore.sqlite_path(),
        Some(PathBuf::from("/data/datastore.sqlite3"))
    );
    assert_eq!(
        config.plugins.key_manager,
        KeyManagerConfig::Disk {
            keys_path: PathBuf::from("/data/keys.json")
        }
    );
    assert!(config.plugins.node_attestors.join_token);
    assert!(config.warnings.is_empty());
}

#[test]
fn flags_override_the_file() {
    let doc =
        ConfigDocument::parse(SPIRE_SAMPLE, ConfigFormat::Hcl, "server.conf").expect("parses");
    let overrides = ConfigOverrides {
        socket_path: Some(PathBuf::from("/run/lanyard/api.sock")),
        trust_domain: Some("spiffe://hpc.example.org".to_owned()),
        bind_address: Some("::1".to_owned()),
        server_port: Some(9081),
        data_dir: Some(PathBuf::from("/srv/lanyard")),
        log_level: Some("warn".to_owned()),
        log_format: Some("JSON".to_owned()),
        log_file: Some(PathBuf::from("/tmp/l.log")),
    };
    let config = ServerConfig::from_document(&doc, &overrides).expect("loads");

    assert_eq!(config.trust_domain.as_str(), "hpc.example.org");
    assert_eq!(
        config.bind_address,
        "[::1]:9081".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(config.socket_path, PathBuf::from("/run/lanyard/api.sock"));
    assert_eq!(config.data_dir, PathBuf::from("/srv/lanyard"));
    assert_eq!(config.log.level, LogLevel::Warn);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.file, Some(PathBuf::from("/tmp/l.log")));
}

#[test]
fn flags_alone_are_enough() {
    let overrides = ConfigOverrides {
        trust_domain: Some("example.org".to_owned()),
        data_dir: Some(PathBuf::from("/data")),
        ..ConfigOverrides::default()
    };
    let config =
        ServerConfig::from_document(&ConfigDocument::empty("(none)"), &overrides).expect("loads");
    assert!(config.plugins.node_attestors.join_token);

    let err = ServerConfig::from_document(
        &ConfigDocument::empty("(none)"),
        &ConfigOverrides::default(),
    )
    .expect_err("no trust domain");
    assert!(err.to_string().contains("-trustDomain"), "{err}");
}

#[test]
fn bad_flags_name_the_flag() {
    let doc = ConfigDocument::parse(&minimal("", ""), ConfigFormat::Hcl, "s").expect("parses");
    for (overrides, flag) in [
        (
            ConfigOverrides {
                trust_domain: Some("Bad Domain".to_owned()),
                ..ConfigOverrides::default()
            },
            "-trustDomain",
        ),
        (
            ConfigOverrides {
                log_level: Some("loud".to_owned()),
                ..ConfigOverrides::default()
            },
            "-logLevel",
        ),
        (
            ConfigOverrides {
                bind_address: Some("no such host.invalid".to_owned()),
                ..ConfigOverrides::default()
            },
            "-bindAddress",
        ),
    ] {
        let err = ServerConfig::from_document(&doc, &overrides).expect_err("bad flag");
        assert!(err.to_string().contains(flag), "{err}");
    }
}

#[test]
fn unsupported_plugins_are_named() {
    let text = minimal(
        "",
        "plugins {\n    NodeAttestor \"aws_iid\" {\n        plugin_data {}\n    }\n}\n",
    );
    assert_eq!(
        error_text(&text),
        "server.conf:6: invalid value for `plugins.NodeAttestor.aws_iid`: NodeAttestor plugin \
         \"aws_iid\" is not supported (supported: join_token, x509pop, tpm)"
    );

    let text = minimal("", "plugins {\n    Notifier \"k8sbundle\" {}\n}\n");
    assert!(error_text(&text).contains("plugin type Notifier is not supported"));

    let text = minimal(
        "",
        "plugins {\n    KeyManager \"disk\" { plugin_cmd = \"/bin/km\" }\n}\n",
    );
    assert!(error_text(&text).contains("external plugin binaries are not supported"));

    let text = minimal(
        "",
        "plugins {\n KeyManager \"memory\" {}\n KeyManager \"disk\" { plugin_data { keys_path = \"k\" } }\n}\n",
    );
    assert!(error_text(&text).contains("only one KeyManager"));
}

#[test]
fn plugin_data_keys_are_checked_with_lines() {
    let text = minimal(
        "",
        "plugins {\n    KeyManager \"disk\" {\n        plugin_data {\n            key_path = \"x\"\n        }\n    }\n}\n",
    );
    assert_eq!(
        error_text(&text),
        "server.conf:8: unknown key `key_path` in `plugins.KeyManager.disk.plugin_data` \
         (did you mean `keys_path`?)"
    );

    let text = minimal(
        "",
        "plugins {\n DataStore \"sql\" { plugin_data { database_type = \"mysql\" connection_string = \"x\" } }\n}\n",
    );
    assert!(error_text(&text).contains("\"mysql\" is not supported"));
}

#[test]
fn x509pop_modes_are_checked() {
    let text = minimal("", "plugins {\n NodeAttestor \"x509pop\" {}\n}\n");
    assert!(error_text(&text).contains("ca_bundle_path or ca_bundle_paths is required"));

    let text = minimal(
        "",
        "plugins {\n NodeAttestor \"x509pop\" { plugin_data { mode = \"spiffe\" } }\n}\n",
    );
    let config = parse(&text).expect("spiffe mode needs no bundle");
    let x509pop = config.plugins.node_attestors.x509pop.expect("x509pop");
    assert_eq!(x509pop.mode, X509PopMode::Spiffe);
    assert!(!config.plugins.node_attestors.join_token);
}

#[test]
fn plugin_data_file_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("km.hcl");
    std::fs::write(&data, "keys_path = \"/k/keys.json\"\n").expect("write");
    let text = minimal(
        "",
        &format!(
            "plugins {{\n KeyManager \"disk\" {{ plugin_data_file = \"{}\" }}\n}}\n",
            data.display()
        ),
    );
    let config = parse(&text).expect("loads");
    assert_eq!(
        config.plugins.key_manager,
        KeyManagerConfig::Disk {
            keys_path: PathBuf::from("/k/keys.json")
        }
    );
}

#[test]
fn bad_values_are_reported_with_lines() {
    let cases = [
        (
            "    ca_key_type = \"ec-p521\"\n",
            "server.conf:4: invalid value for `server.ca_key_type`: unknown key type \"ec-p521\"",
        ),
        (
            "    ca_ttl = \"0s\"\n",
            "server.conf:4: invalid value for `server.ca_ttl`: must be greater than 0",
        ),
        (
            "    default_x509_svid_ttl = \"1 hour\"\n",
            "server.conf:4: invalid value for `server.default_x509_svid_ttl`",
        ),
        (
            "    bind_port = 80800\n",
            "server.conf:4: invalid value for `server.bind_port`",
        ),
        (
            "    admin_ids = [\"not-an-id\"]\n",
            "server.conf:4: invalid value for `server.admin_ids[0]`",
        ),
        ("    log_level = \"LOUD\"\n", "unknown log level"),
        (
            "    trust_domian = \"x\"\n",
            "(did you mean `trust_domain`?)",
        ),
    ];
    for (line, expected) in cases {
        let err = error_text(&minimal(line, ""));
        assert!(err.contains(expected), "{line:?}: {err}");
    }

    let err =
        error_text("server {\n    data_dir = \"/d\"\n    trust_domain = \"Not A Domain\"\n}\n");
    assert!(
        err.starts_with("server.conf:3: invalid value for `server.trust_domain`: trust domain"),
        "{err}"
    );
}

#[test]
fn security_relevant_settings_are_not_silently_dropped() {
    let text = minimal(
        "    experimental {\n        auth_opa_policy_engine {\n            local {}\n        }\n    }\n",
        "",
    );
    assert!(error_text(&text).contains("authorization policies are not supported"));

    let text = minimal(
        "    experimental {\n        require_pq_kem = true\n    }\n",
        "",
    );
    assert!(error_text(&text).contains("post-quantum"));

    let text = minimal(
        "",
        "telemetry {\n Prometheus {\n  port = 9988\n  tls {}\n }\n}\n",
    );
    assert!(error_text(&text).contains("tls"));
}

#[test]
fn federation_needs_https_and_a_profile() {
    let text = minimal(
        "    federation {\n        federates_with \"peer.org\" {\n            bundle_endpoint_url = \"http://peer\"\n            bundle_endpoint_profile \"https_web\" {}\n        }\n    }\n",
        "",
    );
    assert!(error_text(&text).contains("must be an https:// URL"));

    let text = minimal(
        "    federation {\n        federates_with \"peer.org\" {\n            bundle_endpoint_url = \"https://peer\"\n        }\n    }\n",
        "",
    );
    assert!(error_text(&text).contains("bundle_endpoint_profile"));
}

#[test]
fn long_svid_ttls_warn() {
    let text = minimal(
        "    ca_ttl = \"6h\"\n    default_x509_svid_ttl = \"2h\"\n",
        "",
    );
    let config = parse(&text).expect("loads");
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("default_x509_svid_ttl") && w.contains("1h")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn deprecated_spellings_still_work() {
    let text = minimal(
        "    registration_uds_path = \"/tmp/old.sock\"\n    default_svid_ttl = \"2h\"\n",
        "",
    );
    let config = parse(&text).expect("loads");
    assert_eq!(config.socket_path, PathBuf::from("/tmp/old.sock"));
    assert_eq!(config.default_x509_svid_ttl, Duration::from_hours(2));
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
}

#[test]
fn json_configs_load() {
    let json = r#"{
  "server": {"trust_domain": "example.org", "data_dir": "/data", "bind_port": "9000"},
  "plugins": {
    "DataStore": {"sql": {"plugin_data": {"database_type": "sqlite3", "connection_string": "/d/db.sqlite3"}}},
    "KeyManager": [{"memory": {"plugin_data": {}}}],
    "NodeAttestor": {"join_token": {}}
  }
}"#;
    let doc = ConfigDocument::parse(json, ConfigFormat::Json, "server.json").expect("parses");
    let config = ServerConfig::from_document(&doc, &ConfigOverrides::default()).expect("loads");
    assert_eq!(config.bind_address.port(), 9000);
    assert_eq!(config.plugins.key_manager, KeyManagerConfig::Memory);
}

#[test]
fn load_reads_the_file_and_expands_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.conf");
    std::fs::write(
        &path,
        "server {\n trust_domain = \"example.org\"\n data_dir = \"${HOME}/lanyard\"\n}\n",
    )
    .expect("write");

    let options = LoadOptions {
        config_path: Some(path),
        expand_env: true,
        overrides: ConfigOverrides::default(),
    };
    let config = ServerConfig::load(&options).expect("loads");
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(config.data_dir, PathBuf::from(format!("{home}/lanyard")));

    let without = LoadOptions {
        expand_env: false,
        ..options
    };
    let err = ServerConfig::load(&without).expect_err("interpolation without -expandEnv");
    assert!(err.to_string().contains("-expandEnv"), "{err}");
}

#[test]
fn trust_domain_may_be_a_spiffe_id_but_not_another_url() {
    let text = "server {\n    trust_domain = \"spiffe://x.test\"\n    data_dir = \"/data\"\n}\n";
    let config = parse(text).expect("spiffe:// trust domain loads");
    assert_eq!(config.trust_domain.as_str(), "x.test");

    let err = error_text(
        "server {\n    trust_domain = \"https://x.test\"\n    data_dir = \"/data\"\n}\n",
    );
    assert!(err.contains("https://"), "{err}");
    assert!(!err.contains("port"), "{err}");

    let doc = ConfigDocument::parse(&minimal("", ""), ConfigFormat::Hcl, "s").expect("parses");
    let overrides = ConfigOverrides {
        trust_domain: Some("https://x.test".to_owned()),
        ..ConfigOverrides::default()
    };
    let err = ServerConfig::from_document(&doc, &overrides)
        .expect_err("https flag")
        .to_string();
    assert!(
        err.contains("-trustDomain") && err.contains("https://"),
        "{err}"
    );
}
