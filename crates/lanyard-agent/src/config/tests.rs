use std::io::Write as _;

use lanyard_daemon::ConfigFormat;

use super::*;

/// SPIRE's sample `agent.conf` with the plugins Lanyard supports.
const SPIRE_AGENT_CONF: &str = r#"
agent {
    data_dir = "./.data"
    log_level = "DEBUG"
    server_address = "127.0.0.1"
    server_port = "8081"
    socket_path ="/tmp/spire-agent/public/api.sock"
    trust_bundle_path = "./conf/agent/dummy_root_ca.crt"
    trust_domain = "example.org"
}

plugins {
    NodeAttestor "join_token" {
        plugin_data {
        }
    }
    KeyManager "disk" {
        plugin_data {
            directory = "./.data"
        }
    }
    WorkloadAttestor "unix" {
        plugin_data {
        }
    }
}
"#;

fn load(text: &str, overrides: &ConfigOverrides) -> Result<LoadedConfig, ConfigError> {
    let doc = ConfigDocument::parse(text, ConfigFormat::Hcl, "agent.conf")?;
    AgentConfig::from_document(&doc, overrides)
}

fn load_ok(text: &str) -> LoadedConfig {
    load(text, &ConfigOverrides::default()).expect("config loads")
}

fn load_err(text: &str) -> String {
    load(text, &ConfigOverrides::default())
        .expect_err("config must be refused")
        .to_string()
}

fn minimal(extra_agent: &str, plugins: &str) -> String {
    format!(
        "agent {{\n  trust_domain = \"example.org\"\n  server_address = \"server\"\n  \
         trust_bundle_path = \"/b.pem\"\n{extra_agent}\n}}\n{plugins}"
    )
}

#[test]
fn spire_sample_loads_unchanged() {
    let loaded = load_ok(SPIRE_AGENT_CONF);
    let config = &loaded.config;

    assert_eq!(config.trust_domain.as_str(), "example.org");
    assert_eq!(config.server_address, "127.0.0.1");
    assert_eq!(config.server_port, 8081);
    assert_eq!(
        config.socket_path,
        Path::new("/tmp/spire-agent/public/api.sock")
    );
    assert_eq!(config.data_dir, Path::new("./.data"));
    assert_eq!(config.log.level, LogLevel::Debug);
    assert_eq!(
        config.trust_bundle,
        TrustBundleSource::Path {
            path: PathBuf::from("./conf/agent/dummy_root_ca.crt"),
            format: BundleFormat::Pem
        }
    );
    assert_eq!(config.plugins.node_attestor, NodeAttestorConfig::JoinToken);
    assert_eq!(
        config.plugins.key_manager,
        KeyManagerConfig::Disk {
            directory: PathBuf::from("./.data")
        }
    );
    assert_eq!(
        config.plugins.unix_attestor,
        Some(UnixAttestorConfig::default())
    );
    assert_eq!(config.plugins.systemd_attestor, None);
    assert_eq!(config.sync_interval, DEFAULT_SYNC_INTERVAL);
    assert_eq!(config.workload_x509_svid_key_type, KeyType::EcP256);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        config.server_id().as_str(),
        "spiffe://example.org/spire/server"
    );
}

#[test]
fn defaults_apply_without_plugins_section() {
    let config = load_ok(&minimal("", "")).config;

    assert_eq!(config.server_port, DEFAULT_SERVER_PORT);
    assert_eq!(config.socket_path, Path::new(DEFAULT_SOCKET_PATH));
    assert_eq!(config.data_dir, Path::new("."));
    assert_eq!(config.x509_svid_cache_max_size, 1000);
    assert_eq!(config.jwt_svid_cache_max_size, 1000);
    assert!(!config.allow_unauthenticated_verifiers);
    assert_eq!(config.sds.default_svid_name, "default");
    assert_eq!(config.sds.default_bundle_name, "ROOTCA");
    assert_eq!(config.sds.default_all_bundles_name, "ALL");
    assert!(!config.health_checks.listener_enabled);
    assert_eq!(config.health_checks.live_path, "/live");
    assert_eq!(config.prometheus, None);
    assert_eq!(config.plugins, PluginsConfig::defaults(Path::new(".")));
}

#[test]
fn every_documented_agent_key_is_read() {
    let text = minimal(
        r#"
  server_port = 9091
  admin_socket_path = "/run/agent/admin.sock"
  log_format = "json"
  log_file = "/var/log/agent.log"
  trust_bundle_format = "spiffe"
  join_token = "abc123"
  workload_x509_svid_key_type = "rsa-2048"
  x509_svid_cache_max_size = 50
  jwt_svid_cache_max_size = 20
  allow_unauthenticated_verifiers = true
  allowed_foreign_jwt_claims = ["email"]
  sds {
    default_svid_name = "svid"
    default_bundle_name = "roots"
    default_all_bundles_name = "everything"
    disable_spiffe_cert_validation = true
  }
  experimental {
    sync_interval = "2s"
    use_sync_authorized_entries = true
  }"#,
        r#"
plugins {
  NodeAttestor "x509pop" {
    plugin_data {
      private_key_path = "/etc/node/key.pem"
      certificate_path = "/etc/node/cert.pem"
      intermediates_path = "/etc/node/chain.pem"
    }
  }
  KeyManager "memory" {
    plugin_data = {}
  }
  WorkloadAttestor "unix" {
    plugin_data {
      discover_workload_path = true
      workload_size_limit = -1
    }
  }
  WorkloadAttestor "systemd" {
    plugin_data {}
  }
}
health_checks {
  listener_enabled = true
  bind_address = "0.0.0.0"
  bind_port = "8080"
  live_path = "alive"
}
telemetry {
  Prometheus {
    port = 9988
  }
}
"#,
    );
    let loaded = load_ok(&text);
    let config = loaded.config;

    assert_eq!(config.server_port, 9091);
    assert_eq!(
        config.admin_socket_path,
        Some(PathBuf::from("/run/agent/admin.sock"))
    );
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.file, Some(PathBuf::from("/var/log/agent.log")));
    assert!(matches!(
        config.trust_bundle,
        TrustBundleSource::Path {
            format: BundleFormat::Spiffe,
            ..
        }
    ));
    assert_eq!(
        config.join_token.as_ref().map(JoinToken::expose_secret),
        Some("abc123")
    );
    assert_eq!(config.workload_x509_svid_key_type, KeyType::Rsa2048);
    assert_eq!(config.x509_svid_cache_max_size, 50);
    assert_eq!(config.jwt_svid_cache_max_size, 20);
    assert!(config.allow_unauthenticated_verifiers);
    assert_eq!(config.allowed_foreign_jwt_claims, ["email"]);
    assert_eq!(config.sds.default_svid_name, "svid");
    assert_eq!(config.sds.default_bundle_name, "roots");
    assert_eq!(config.sds.default_all_bundles_name, "everything");
    assert!(config.sds.disable_spiffe_cert_validation);
    assert_eq!(config.sync_interval, Duration::from_secs(2));
    assert_eq!(
        config.plugins.node_attestor,
        NodeAttestorConfig::X509Pop(X509PopAttestorConfig {
            private_key_path: "/etc/node/key.pem".into(),
            certificate_path: "/etc/node/cert.pem".into(),
            intermediates_path: Some("/etc/node/chain.pem".into()),
        })
    );
    assert_eq!(config.plugins.key_manager, KeyManagerConfig::Memory);
    assert_eq!(
        config.plugins.unix_attestor,
        Some(UnixAttestorConfig {
            discover_workload_path: true,
            workload_size_limit: WorkloadSizeLimit::NeverHash,
        })
    );
    assert_eq!(
        config.plugins.systemd_attestor,
        Some(SystemdAttestorConfig {})
    );
    assert!(config.health_checks.listener_enabled);
    assert_eq!(config.health_checks.bind_address, "0.0.0.0");
    assert_eq!(config.health_checks.bind_port, 8080);
    assert_eq!(config.health_checks.live_path, "/alive");
    assert_eq!(config.health_checks.ready_path, "/ready");
    assert_eq!(
        config.prometheus,
        Some(PrometheusConfig {
            host: "localhost".into(),
            port: 9988
        })
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("admin_socket_path"));
}

#[test]
fn flags_override_the_file() {
    let overrides = ConfigOverrides {
        join_token: Some("from-flag".into()),
        server_address: Some("10.0.0.1".into()),
        server_port: Some(7000),
        socket_path: Some("/run/lanyard/api.sock".into()),
        trust_domain: Some("spiffe://other.org".into()),
        data_dir: Some("/var/lib/lanyard".into()),
        log_level: Some("warn".into()),
        allow_unauthenticated_verifiers: true,
        ..ConfigOverrides::default()
    };
    let config = load(SPIRE_AGENT_CONF, &overrides).expect("loads").config;

    assert_eq!(
        config.join_token.as_ref().map(JoinToken::expose_secret),
        Some("from-flag")
    );
    assert_eq!(config.server_address, "10.0.0.1");
    assert_eq!(config.server_port, 7000);
    assert_eq!(config.socket_path, Path::new("/run/lanyard/api.sock"));
    assert_eq!(config.trust_domain.as_str(), "other.org");
    assert_eq!(config.data_dir, Path::new("/var/lib/lanyard"));
    assert_eq!(config.log.level, LogLevel::Warn);
    assert!(config.allow_unauthenticated_verifiers);
}

#[test]
fn trust_bundle_flag_conflicting_with_insecure_bootstrap_is_refused() {
    let text =
        "agent {\n trust_domain = \"td\"\n server_address = \"s\"\n insecure_bootstrap = true\n}\n";
    assert!(matches!(
        load_ok(text).config.trust_bundle,
        TrustBundleSource::InsecureBootstrap
    ));

    let overrides = ConfigOverrides {
        trust_bundle_path: Some("/b.pem".into()),
        ..ConfigOverrides::default()
    };
    let err = load(text, &overrides).expect_err("conflict").to_string();
    assert!(err.contains("only one of"), "{err}");
}

#[test]
fn trust_bundle_url_rules() {
    let base = "agent {\n trust_domain = \"td\"\n server_address = \"s\"\n";
    let ok = load_ok(&format!(
        "{base} trust_bundle_url = \"https://x.example/b\"\n}}\n"
    ));
    assert!(matches!(
        ok.config.trust_bundle,
        TrustBundleSource::Url {
            unix_socket: None,
            ..
        }
    ));

    let err = load_err(&format!(
        "{base} trust_bundle_url = \"http://x.example/b\"\n}}\n"
    ));
    assert!(err.contains("https"), "{err}");

    let ok = load_ok(&format!(
        "{base} trust_bundle_url = \"http://localhost/b\"\n trust_bundle_unix_socket = \"/run/b.sock\"\n}}\n"
    ));
    assert!(matches!(
        ok.config.trust_bundle,
        TrustBundleSource::Url {
            unix_socket: Some(_),
            ..
        }
    ));
}

#[test]
fn missing_trust_source_is_refused() {
    let err = load_err("agent {\n trust_domain = \"td\"\n server_address = \"s\"\n}\n");
    assert!(err.contains("one of trust_bundle_path"), "{err}");
}

#[test]
fn missing_required_keys_are_named() {
    let err = load_err("agent {\n server_address = \"s\"\n insecure_bootstrap = true\n}\n");
    assert!(err.contains("trust_domain"), "{err}");
    let err = load_err("agent {\n trust_domain = \"td\"\n insecure_bootstrap = true\n}\n");
    assert!(err.contains("server_address"), "{err}");
}

#[test]
fn unknown_key_is_reported_with_its_line() {
    let err = load_err(&minimal("  trust_bundel_format = \"pem\"", ""));
    assert!(err.contains("agent.conf:5"), "{err}");
    assert!(err.contains("trust_bundel_format"), "{err}");
    assert!(err.contains("did you mean"), "{err}");
}

#[test]
fn unknown_plugin_data_key_is_reported_with_its_line() {
    let err = load_err(&minimal(
        "",
        "plugins {\n  NodeAttestor \"join_token\" {}\n  KeyManager \"disk\" {\n    plugin_data {\n      dirctory = \"/x\"\n    }\n  }\n}\n",
    ));
    assert!(err.contains("agent.conf:11"), "{err}");
    assert!(err.contains("dirctory"), "{err}");
}

#[test]
fn unsupported_plugins_are_refused_by_name() {
    let err = load_err(&minimal(
        "",
        "plugins {\n  NodeAttestor \"join_token\" {}\n  KeyManager \"memory\" {}\n  WorkloadAttestor \"k8s\" {\n    plugin_data { kubelet_read_only_port = 10255 }\n  }\n}\n",
    ));
    assert!(err.contains("agent.conf:10"), "{err}");
    assert!(err.contains("\"k8s\" is not supported"), "{err}");
    assert!(err.contains("unix, systemd"), "{err}");
}

#[test]
fn two_node_attestors_are_refused() {
    let err = load_err(&minimal(
        "",
        "plugins {\n  NodeAttestor \"join_token\" {}\n  NodeAttestor \"x509pop\" {\n    plugin_data {\n      private_key_path = \"k\"\n      certificate_path = \"c\"\n    }\n  }\n  KeyManager \"memory\" {}\n}\n",
    ));
    assert!(err.contains("only one NodeAttestor"), "{err}");
}

#[test]
fn plugins_section_needs_node_attestor_and_key_manager() {
    let err = load_err(&minimal("", "plugins {\n  KeyManager \"memory\" {}\n}\n"));
    assert!(
        err.contains("NodeAttestor plugin must be configured"),
        "{err}"
    );
    let err = load_err(&minimal(
        "",
        "plugins {\n  NodeAttestor \"join_token\" {}\n}\n",
    ));
    assert!(
        err.contains("KeyManager plugin must be configured"),
        "{err}"
    );
}

#[test]
fn external_plugin_binaries_are_refused() {
    let err = load_err(&minimal(
        "",
        "plugins {\n  NodeAttestor \"join_token\" {\n    plugin_cmd = \"/usr/bin/x\"\n  }\n  KeyManager \"memory\" {}\n}\n",
    ));
    assert!(err.contains("external plugin binaries"), "{err}");
}

#[test]
fn ignored_keys_load_with_warnings() {
    let loaded = load_ok(&minimal(
        "  availability_target = \"24h\"\n  experimental {\n    named_pipe_name = \"x\"\n  }",
        "telemetry {\n  Statsd = [{ address = \"localhost:8125\" }]\n}\n",
    ));
    let warnings = loaded.warnings.join("\n");
    assert!(warnings.contains("availability_target"), "{warnings}");
    assert!(warnings.contains("named_pipe_name"), "{warnings}");
    assert!(warnings.contains("Statsd"), "{warnings}");
}

#[test]
fn refused_keys_say_why() {
    let err = load_err(&minimal("  rebootstrap_mode = \"auto\"", ""));
    assert!(err.contains("rebootstrap mode"), "{err}");
    let err = load_err(&minimal(
        "  experimental {\n    require_pq_kem = true\n  }",
        "",
    ));
    assert!(err.contains("post-quantum"), "{err}");
    let err = load_err(&minimal("  workload_x509_svid_key_type = \"ed25519\"", ""));
    assert!(err.contains("unknown key type"), "{err}");
}

#[test]
fn join_token_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    let mut file = std::fs::File::create(&path).expect("create");
    writeln!(file, "  tok-from-file  ").expect("write");

    let text = minimal(
        &format!("  join_token_file = {:?}", path.display().to_string()),
        "",
    );
    let config = load_ok(&text).config;
    assert_eq!(
        config.join_token.as_ref().map(JoinToken::expose_secret),
        Some("tok-from-file")
    );

    let err = load_err(&minimal(
        &format!(
            "  join_token = \"x\"\n  join_token_file = {:?}",
            path.display().to_string()
        ),
        "",
    ));
    assert!(err.contains("not both"), "{err}");
}

#[test]
fn a_missing_join_token_file_is_named_as_such() {
    let missing = "/nonexistent/tok";
    let overrides = ConfigOverrides {
        join_token_file: Some(missing.into()),
        ..ConfigOverrides::default()
    };
    let err = load(&minimal("", ""), &overrides)
        .expect_err("missing flag file")
        .to_string();
    assert!(
        err.starts_with(&format!("cannot read join token file {missing}: ")),
        "{err}"
    );

    let err = load_err(&minimal(&format!("  join_token_file = {missing:?}"), ""));
    assert!(
        err.starts_with(&format!("cannot read join token file {missing}: ")),
        "{err}"
    );
}

#[test]
fn join_token_debug_is_redacted() {
    let token = JoinToken::new("super-secret").expect("non-empty");
    assert!(!format!("{token:?}").contains("super-secret"));
    assert!(JoinToken::new("   ").is_none());
}

#[test]
fn workload_size_limit_follows_spire() {
    assert_eq!(
        WorkloadSizeLimit::from_spire(0),
        WorkloadSizeLimit::Unlimited
    );
    assert_eq!(
        WorkloadSizeLimit::from_spire(4096),
        WorkloadSizeLimit::Bytes(4096)
    );
    assert_eq!(
        WorkloadSizeLimit::from_spire(-1),
        WorkloadSizeLimit::NeverHash
    );
}

#[test]
fn json_config_loads() {
    let json = r#"{
        "agent": {"trust_domain": "example.org", "server_address": "s", "insecure_bootstrap": true},
        "plugins": {
            "NodeAttestor": [{"join_token": {"plugin_data": {}}}],
            "KeyManager": [{"memory": {"plugin_data": {}}}]
        }
    }"#;
    let doc = ConfigDocument::parse(json, ConfigFormat::Json, "agent.json").expect("json");
    let config = AgentConfig::from_document(&doc, &ConfigOverrides::default())
        .expect("loads")
        .config;
    assert_eq!(config.plugins.key_manager, KeyManagerConfig::Memory);
    assert_eq!(config.plugins.unix_attestor, None);
}

#[test]
fn trust_domain_may_be_a_spiffe_id_but_not_another_url() {
    let with_domain = |td: &str| {
        format!(
            "agent {{\n  trust_domain = \"{td}\"\n  server_address = \"server\"\n  \
             trust_bundle_path = \"/b.pem\"\n}}\n"
        )
    };
    let config = load_ok(&with_domain("spiffe://x.test")).config;
    assert_eq!(config.trust_domain.as_str(), "x.test");

    let err = load_err(&with_domain("https://x.test"));
    assert!(err.contains("https://"), "{err}");
    assert!(!err.contains("port"), "{err}");

    let overrides = ConfigOverrides {
        trust_domain: Some("https://x.test".to_owned()),
        ..ConfigOverrides::default()
    };
    let err = load(&with_domain("x.test"), &overrides)
        .expect_err("https flag")
        .to_string();
    assert!(
        err.contains("-trustDomain") && err.contains("https://"),
        "{err}"
    );
}
