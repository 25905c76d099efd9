//! The secrets of one SDS response, resolved from the requested names and the
//! workload's snapshot.
//!
//! Names: a SPIFFE ID of the workload gives its `TlsCertificate`; the configured default
//! SVID name (`default`) gives the first SVID's; a trust domain ID (`spiffe://td`) gives
//! that bundle's validation context; the default bundle name (`ROOTCA`) gives the own
//! trust domain's; the all-bundles name (`ALL`) gives one context with every bundle the
//! workload may use. No names asks for everything the workload holds. A name that
//! resolves to nothing fails the request.
//!
//! Validation contexts use Envoy's SPIFFE certificate validator when the Envoy is
//! 1.18 or newer and validation is not disabled (by configuration or the node metadata
//! key `disable_spiffe_cert_validation`), and a plain `trusted_ca` otherwise.

use std::collections::BTreeSet;

use base64::Engine as _;
use lanyard_proto::envoy::config::core::v3::data_source::Specifier;
use lanyard_proto::envoy::config::core::v3::node::UserAgentVersionType;
use lanyard_proto::envoy::config::core::v3::{DataSource, Node, TypedExtensionConfig};
use lanyard_proto::envoy::extensions::transport_sockets::tls::v3::spiffe_cert_validator_config::TrustDomain as ValidatorTrustDomain;
use lanyard_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, SpiffeCertValidatorConfig, TlsCertificate, secret,
};
use lanyard_spiffe::Bundle;
use lanyard_spiffe::bundle::certificates_to_pem;
use prost_types::value::Kind;

use crate::cache::{WorkloadIdentity, WorkloadSnapshot};
use crate::config::SdsConfig;
use crate::workload::WorkloadError;

/// Name of Envoy's SPIFFE certificate validator extension.
pub const SPIFFE_VALIDATOR_NAME: &str = "envoy.tls.cert_validator.spiffe";

/// Node metadata key with which one Envoy opts out of the SPIFFE validator.
pub const DISABLE_VALIDATION_KEY: &str = "disable_spiffe_cert_validation";

/// The secrets for `names` (empty: everything) from `snapshot`.
pub fn resolve_secrets(
    config: &SdsConfig,
    names: &[String],
    node: Option<&Node>,
    snapshot: &WorkloadSnapshot,
) -> Result<Vec<Secret>, WorkloadError> {
    let mut wanted: BTreeSet<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.is_empty())
        .collect();
    let everything = wanted.is_empty();
    let spiffe_validator = !config.disable_spiffe_cert_validation
        && node.is_some_and(|node| supports_spiffe_validator(node) && !disables_validation(node));

    let identities = crate::workload::responses::served_identities(snapshot);
    let bundles = crate::workload::responses::bundles_for(snapshot, true)?;
    let own = bundles.first().copied().ok_or(WorkloadError::NoBundle)?;
    let mut secrets = Vec::new();

    for bundle in &bundles {
        let id = bundle.trust_domain().id().to_string();
        if everything || wanted.remove(id.as_str()) {
            secrets.push(validation_secret(&id, &[bundle], spiffe_validator));
        }
    }
    if wanted.remove(config.default_bundle_name.as_str()) {
        secrets.push(validation_secret(
            &config.default_bundle_name,
            &[own],
            spiffe_validator,
        ));
    }
    if wanted.remove(config.default_all_bundles_name.as_str()) {
        if !spiffe_validator {
            return Err(WorkloadError::InvalidRequest(format!(
                "{} needs the spiffe certificate validator (envoy 1.18 or newer, validation enabled)",
                config.default_all_bundles_name
            )));
        }
        let mut sorted = bundles.clone();
        sorted.sort_by(|a, b| a.trust_domain().as_str().cmp(b.trust_domain().as_str()));
        secrets.push(validation_secret(
            &config.default_all_bundles_name,
            &sorted,
            true,
        ));
    }

    for (index, identity) in identities.iter().enumerate() {
        let id = identity.spiffe_id().to_string();
        if everything || wanted.remove(id.as_str()) {
            secrets.push(certificate_secret(&id, identity));
        }
        if index == 0 && wanted.remove(config.default_svid_name.as_str()) {
            secrets.push(certificate_secret(&config.default_svid_name, identity));
        }
    }

    if !wanted.is_empty() {
        let names: Vec<_> = wanted.into_iter().collect();
        return Err(WorkloadError::InvalidRequest(format!(
            "workload is not authorized for the requested identities {names:?}"
        )));
    }
    Ok(secrets)
}

/// Whether the Envoy that sent `node` understands the SPIFFE validator (1.18+).
pub fn supports_spiffe_validator(node: &Node) -> bool {
    let Some(UserAgentVersionType::UserAgentBuildVersion(build)) = &node.user_agent_version_type
    else {
        return false;
    };
    build
        .version
        .as_ref()
        .is_some_and(|v| (v.major_number == 1 && v.minor_number > 17) || v.major_number > 1)
}

pub(crate) fn disables_validation(node: &Node) -> bool {
    let Some(metadata) = &node.metadata else {
        return false;
    };
    match metadata
        .fields
        .get(DISABLE_VALIDATION_KEY)
        .and_then(|v| v.kind.as_ref())
    {
        Some(Kind::BoolValue(value)) => *value,
        Some(Kind::StringValue(value)) => {
            lanyard_daemon::flags::parse_go_bool(value).unwrap_or(false)
        }
        _ => false,
    }
}

fn certificate_secret(name: &str, identity: &WorkloadIdentity) -> Secret {
    Secret {
        name: name.to_owned(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: Some(inline(
                certificates_to_pem(&identity.svid.chain).into_bytes(),
            )),
            private_key: Some(inline(pkcs8_pem(identity.svid.key.pkcs8_der()))),
            ..TlsCertificate::default()
        })),
    }
}

fn validation_secret(name: &str, bundles: &[&Bundle], spiffe_validator: bool) -> Secret {
    let context = if spiffe_validator {
        let config = SpiffeCertValidatorConfig {
            trust_domains: bundles
                .iter()
                .map(|bundle| ValidatorTrustDomain {
                    name: bundle.trust_domain().as_str().to_owned(),
                    trust_bundle: Some(inline(bundle.x509_authorities_to_pem().into_bytes())),
                })
                .collect(),
        };
        CertificateValidationContext {
            custom_validator_config: Some(TypedExtensionConfig {
                name: SPIFFE_VALIDATOR_NAME.to_owned(),
                typed_config: Some(
                    prost_types::Any::from_msg(&config)
                        .expect("encoding a protobuf message into a Vec cannot fail"),
                ),
            }),
            ..CertificateValidationContext::default()
        }
    } else {
        let pem: String = bundles
            .iter()
            .map(|b| b.x509_authorities_to_pem())
            .collect();
        CertificateValidationContext {
            trusted_ca: Some(inline(pem.into_bytes())),
            ..CertificateValidationContext::default()
        }
    };
    Secret {
        name: name.to_owned(),
        r#type: Some(secret::Type::ValidationContext(context)),
    }
}

fn inline(bytes: Vec<u8>) -> DataSource {
    DataSource {
        specifier: Some(Specifier::InlineBytes(bytes)),
    }
}

/// PEM `PRIVATE KEY` (PKCS#8), 64 columns.
pub fn pkcs8_pem(der: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem.into_bytes()
}
