//! x509pop configuration: what is refused when the daemons load it.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use lanyard_attest::ConfigError;
use lanyard_attest::template::TemplateError;
use lanyard_attest::x509pop::{
    X509PopAgent, X509PopAgentConfig, X509PopMode, X509PopServer, X509PopServerConfig,
};

fn server_err(config: &X509PopServerConfig) -> ConfigError {
    X509PopServer::new(td(), config).err().unwrap()
}

#[test]
fn server_settings_are_checked() {
    let files = Files::new();
    let root = root("root");
    let good = files.server_config(&[&root]);
    X509PopServer::new(td(), &good).unwrap();

    assert!(matches!(
        server_err(&X509PopServerConfig::default()),
        ConfigError::MissingCaBundle
    ));
    let spiffe_with_bundle = X509PopServerConfig {
        mode: X509PopMode::Spiffe,
        ..good.clone()
    };
    assert!(matches!(
        server_err(&spiffe_with_bundle),
        ConfigError::CaBundleInSpiffeMode
    ));

    let small_rsa = X509PopServerConfig {
        max_rsa_key_size: 1024,
        ..good.clone()
    };
    assert!(matches!(
        server_err(&small_rsa),
        ConfigError::MaxRsaKeySizeTooSmall(1024)
    ));

    let bad_prefix = X509PopServerConfig {
        mode: X509PopMode::Spiffe,
        ca_bundle_paths: Vec::new(),
        svid_prefix: Some("/spire exchange".to_owned()),
        ..good.clone()
    };
    assert!(matches!(
        server_err(&bad_prefix),
        ConfigError::BadSvidPrefix(_)
    ));

    for (template, want) in [
        (
            "/{{ .Nope }}",
            TemplateError::UnknownField("Nope".to_owned()),
        ),
        (
            "/{{ .SVIDPathTrimmed }}",
            TemplateError::UnavailableField {
                field: "SVIDPathTrimmed".to_owned(),
                reason: "only in spiffe mode",
            },
        ),
    ] {
        let config = X509PopServerConfig {
            agent_path_template: Some(template.to_owned()),
            ..good.clone()
        };
        match server_err(&config) {
            ConfigError::Template(got) => assert_eq!(got, want, "{template}"),
            other => panic!("{template}: {other:?}"),
        }
    }
}

#[test]
fn modes_parse_by_spire_name() {
    assert_eq!(
        "external_pki".parse::<X509PopMode>().unwrap(),
        X509PopMode::ExternalPki
    );
    assert_eq!("".parse::<X509PopMode>().unwrap(), X509PopMode::ExternalPki);
    assert_eq!(
        "spiffe".parse::<X509PopMode>().unwrap(),
        X509PopMode::Spiffe
    );
    assert!(matches!(
        "SPIFFE".parse::<X509PopMode>(),
        Err(ConfigError::UnknownMode(_))
    ));
    assert_eq!(X509PopMode::Spiffe.as_str(), "spiffe");
}

#[test]
fn ca_bundle_files_are_checked() {
    let files = Files::new();
    let config = |path| X509PopServerConfig {
        ca_bundle_paths: vec![path],
        ..X509PopServerConfig::default()
    };

    let missing = files.dir.path().join("absent.pem");
    assert!(matches!(
        server_err(&config(missing)),
        ConfigError::Read { .. }
    ));
    let empty = files.write("empty.pem", "no pem here\n");
    assert!(matches!(
        server_err(&config(empty)),
        ConfigError::NoCertificates { .. }
    ));
    let junk = files.write(
        "junk.pem",
        "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(
        server_err(&config(junk)),
        ConfigError::BadCertificate { index: 0, .. }
    ));
}

#[test]
fn agent_files_are_checked() {
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let good = files.agent_config(&node, &[]);
    X509PopAgent::new(good.clone()).unwrap();

    let other_key = files.write("other.pem", &key(KeyAlg::EcP256).serialize_pem());
    let wrong_key = X509PopAgentConfig {
        private_key_path: other_key,
        ..good.clone()
    };
    assert!(matches!(
        X509PopAgent::new(wrong_key),
        Err(ConfigError::KeyMismatch { .. })
    ));

    let rsa_key = files.write("rsa.pem", &key(KeyAlg::Rsa2048).serialize_pem());
    let wrong_type = X509PopAgentConfig {
        private_key_path: rsa_key,
        ..good.clone()
    };
    assert!(matches!(
        X509PopAgent::new(wrong_type),
        Err(ConfigError::KeyMismatch { .. })
    ));

    let no_key = X509PopAgentConfig {
        private_key_path: files.write("nokey.pem", &root.pem()),
        ..good.clone()
    };
    assert!(matches!(
        X509PopAgent::new(no_key),
        Err(ConfigError::UnsupportedPrivateKey { .. })
    ));

    let no_cert = X509PopAgentConfig {
        certificate_path: files.dir.path().join("absent.pem"),
        ..good
    };
    assert!(matches!(
        X509PopAgent::new(no_cert),
        Err(ConfigError::Read {
            setting: "certificate_path",
            ..
        })
    ));
}
