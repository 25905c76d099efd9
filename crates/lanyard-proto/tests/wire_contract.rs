//! Pins field numbers, type URLs and RPC shapes to the published contracts by
//! checking encoded bytes, so that an edited `.proto` cannot drift silently.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeSet;

use lanyard_proto::envoy::config::core::v3::{BuildVersion, DataSource, Node, data_source, node};
use lanyard_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, SpiffeCertValidatorConfig, TlsCertificate, secret,
    spiffe_cert_validator_config,
};
use lanyard_proto::envoy::service::discovery::v3::DiscoveryRequest;
use lanyard_proto::envoy::r#type::v3::SemanticVersion;
use lanyard_proto::spire::api::server::agent::v1::{AttestAgentRequest, attest_agent_request};
use lanyard_proto::spire::api::server::entry::v1::SyncAuthorizedEntriesResponse;
use lanyard_proto::spire::api::types::{Agent, Bundle, Entry, Spiffeid};
use lanyard_proto::workload::{Jwtsvid, X509BundlesResponse, X509svid, X509svidResponse};
use prost::{Message, Name};
use prost_types::FileDescriptorSet;

#[test]
fn workload_x509_svid_uses_fields_one_to_five() {
    let svid = X509svid {
        spiffe_id: "a".into(),
        x509_svid: vec![0xb1],
        x509_svid_key: vec![0xb2],
        bundle: vec![0xb3],
        hint: "h".into(),
    };

    assert_eq!(
        svid.encode_to_vec(),
        [
            0x0a, 1, b'a', // 1: spiffe_id
            0x12, 1, 0xb1, // 2: x509_svid
            0x1a, 1, 0xb2, // 3: x509_svid_key
            0x22, 1, 0xb3, // 4: bundle
            0x2a, 1, b'h', // 5: hint
        ]
    );
}

#[test]
fn workload_x509_svid_response_keeps_svids_crl_and_federated_bundles_apart() {
    let response = X509svidResponse {
        svids: vec![X509svid::default()],
        crl: vec![vec![0xc1]],
        federated_bundles: [("k".to_string(), vec![0xd1])].into(),
    };

    assert_eq!(
        response.encode_to_vec(),
        [
            0x0a, 0, // 1: svids (one empty message)
            0x12, 1, 0xc1, // 2: crl
            0x1a, 6, 0x0a, 1, b'k', 0x12, 1, 0xd1, // 3: federated_bundles entry
        ]
    );
}

#[test]
fn workload_bundle_and_jwt_messages_use_published_numbers() {
    let bundles = X509BundlesResponse {
        crl: vec![vec![0xc1]],
        bundles: [("k".to_string(), vec![0xd1])].into(),
    };
    assert_eq!(
        bundles.encode_to_vec(),
        [0x0a, 1, 0xc1, 0x12, 6, 0x0a, 1, b'k', 0x12, 1, 0xd1]
    );

    let jwt = Jwtsvid {
        spiffe_id: String::new(),
        svid: "t".into(),
        hint: "h".into(),
    };
    assert_eq!(jwt.encode_to_vec(), [0x12, 1, b't', 0x1a, 1, b'h']);
}

#[test]
fn spire_entry_late_fields_use_published_numbers() {
    let entry = Entry {
        revision_number: 1,
        jwt_svid_ttl: 2,
        hint: "h".into(),
        created_at: 3,
        ..Entry::default()
    };

    assert_eq!(
        entry.encode_to_vec(),
        [
            0x58, 1, // 11: revision_number
            0x68, 2, // 13: jwt_svid_ttl
            0x72, 1, b'h', // 14: hint
            0x78, 3, // 15: created_at
        ]
    );
}

#[test]
fn spire_entry_ids_are_split_spiffe_ids() {
    let entry = Entry {
        id: "e".into(),
        spiffe_id: Some(Spiffeid {
            trust_domain: "t".into(),
            path: "/p".into(),
        }),
        ..Entry::default()
    };

    assert_eq!(
        entry.encode_to_vec(),
        [0x0a, 1, b'e', 0x12, 7, 0x0a, 1, b't', 0x12, 2, b'/', b'p']
    );
}

#[test]
fn spire_agent_and_bundle_use_published_numbers() {
    let agent = Agent {
        banned: true,
        can_reattest: true,
        ..Agent::default()
    };
    assert_eq!(agent.encode_to_vec(), [0x30, 1, 0x38, 1]);

    let bundle = Bundle {
        trust_domain: "t".into(),
        refresh_hint: 1,
        sequence_number: 2,
        ..Bundle::default()
    };
    assert_eq!(bundle.encode_to_vec(), [0x0a, 1, b't', 0x20, 1, 0x28, 2]);
}

#[test]
fn spire_attestation_and_sync_stream_messages_use_published_numbers() {
    let answer = AttestAgentRequest {
        step: Some(attest_agent_request::Step::ChallengeResponse(vec![0xee])),
    };
    assert_eq!(answer.encode_to_vec(), [0x12, 1, 0xee]);

    let page = SyncAuthorizedEntriesResponse {
        more: true,
        ..SyncAuthorizedEntriesResponse::default()
    };
    assert_eq!(page.encode_to_vec(), [0x18, 1]);
}

#[test]
fn discovery_request_uses_published_numbers() {
    let request = DiscoveryRequest {
        version_info: "v".into(),
        resource_names: vec!["default".into()],
        type_url: "u".into(),
        response_nonce: "n".into(),
        ..DiscoveryRequest::default()
    };

    let mut expected = vec![0x0a, 1, b'v', 0x1a, 7];
    expected.extend_from_slice(b"default");
    expected.extend_from_slice(&[0x22, 1, b'u', 0x2a, 1, b'n']);
    assert_eq!(request.encode_to_vec(), expected);
}

#[test]
fn envoy_node_build_version_is_field_eight() {
    let node = Node {
        user_agent_version_type: Some(node::UserAgentVersionType::UserAgentBuildVersion(
            BuildVersion {
                version: Some(SemanticVersion {
                    major_number: 1,
                    minor_number: 18,
                    patch: 0,
                }),
                metadata: None,
            },
        )),
        ..Node::default()
    };

    assert_eq!(node.encode_to_vec(), [0x42, 6, 0x0a, 4, 0x08, 1, 0x10, 18]);
}

#[test]
fn envoy_secret_variants_use_published_numbers() {
    let certificate = Secret {
        name: "d".into(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: Some(inline_bytes(b"c")),
            private_key: Some(inline_bytes(b"k")),
            ..TlsCertificate::default()
        })),
    };
    assert_eq!(
        certificate.encode_to_vec(),
        [
            0x0a, 1, b'd', // 1: name
            0x12, 10, // 2: tls_certificate
            0x0a, 3, 0x12, 1, b'c', // 1: certificate_chain.inline_bytes
            0x12, 3, 0x12, 1, b'k', // 2: private_key.inline_bytes
        ]
    );

    let validation = Secret {
        name: String::new(),
        r#type: Some(secret::Type::ValidationContext(
            CertificateValidationContext {
                trusted_ca: Some(inline_bytes(b"r")),
                ..CertificateValidationContext::default()
            },
        )),
    };
    assert_eq!(
        validation.encode_to_vec(),
        [0x22, 5, 0x0a, 3, 0x12, 1, b'r']
    );
}

#[test]
fn envoy_spiffe_validator_config_uses_published_numbers() {
    let config = SpiffeCertValidatorConfig {
        trust_domains: vec![spiffe_cert_validator_config::TrustDomain {
            name: "t".into(),
            trust_bundle: Some(inline_bytes(b"b")),
        }],
    };
    assert_eq!(
        config.encode_to_vec(),
        [0x0a, 8, 0x0a, 1, b't', 0x12, 3, 0x12, 1, b'b']
    );

    let context = CertificateValidationContext {
        custom_validator_config: Some(
            lanyard_proto::envoy::config::core::v3::TypedExtensionConfig {
                name: "n".into(),
                typed_config: None,
            },
        ),
        ..CertificateValidationContext::default()
    };
    assert_eq!(context.encode_to_vec(), [0x62, 3, 0x0a, 1, b'n']);
}

#[test]
fn any_type_urls_are_the_published_ones() {
    assert_eq!(
        Secret::type_url(),
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
    );
    assert_eq!(
        SpiffeCertValidatorConfig::type_url(),
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig"
    );
    assert_eq!(
        lanyard_proto::spire::api::types::PermissionDeniedDetails::type_url(),
        "type.googleapis.com/spire.api.types.PermissionDeniedDetails"
    );
}

#[test]
fn descriptor_set_declares_every_service_with_its_streaming_shape() {
    let set = FileDescriptorSet::decode(lanyard_proto::FILE_DESCRIPTOR_SET).unwrap();
    let methods: BTreeSet<String> = set
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service.iter().flat_map(move |service| {
                let prefix = if package.is_empty() {
                    service.name().to_owned()
                } else {
                    format!("{package}.{}", service.name())
                };
                service.method.iter().map(move |method| {
                    format!(
                        "{prefix}/{}{}{}",
                        method.name(),
                        if method.client_streaming() {
                            " client-stream"
                        } else {
                            ""
                        },
                        if method.server_streaming() {
                            " server-stream"
                        } else {
                            ""
                        },
                    )
                })
            })
        })
        .collect();

    for expected in [
        "SpiffeWorkloadAPI/FetchX509SVID server-stream",
        "SpiffeWorkloadAPI/FetchX509Bundles server-stream",
        "SpiffeWorkloadAPI/FetchJWTSVID",
        "SpiffeWorkloadAPI/FetchJWTBundles server-stream",
        "SpiffeWorkloadAPI/ValidateJWTSVID",
        "SpiffeWorkloadAPI/FetchWITSVID server-stream",
        "SpiffeWorkloadAPI/FetchWITBundles server-stream",
        "envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets client-stream server-stream",
        "envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets client-stream server-stream",
        "envoy.service.secret.v3.SecretDiscoveryService/FetchSecrets",
        "spire.api.server.agent.v1.Agent/AttestAgent client-stream server-stream",
        "spire.api.server.agent.v1.Agent/RenewAgent",
        "spire.api.server.entry.v1.Entry/SyncAuthorizedEntries client-stream server-stream",
        "spire.api.server.entry.v1.Entry/GetAuthorizedEntries",
        "spire.api.server.bundle.v1.Bundle/GetBundle",
        "spire.api.server.svid.v1.SVID/BatchNewX509SVID",
        "spire.api.server.trustdomain.v1.TrustDomain/RefreshBundle",
        "spire.api.server.localauthority.v1.LocalAuthority/TaintX509UpstreamAuthority",
        "spire.api.server.debug.v1.Debug/GetInfo",
        "spire.api.server.logger.v1.Logger/SetLogLevel",
        "lanyard.agent.v1.AgentSync/WatchAuthorized server-stream",
    ] {
        assert!(
            methods.contains(expected),
            "missing {expected}; have {methods:#?}"
        );
    }
    assert_eq!(methods.len(), 7 + 3 + 9 + 10 + 8 + 5 + 6 + 12 + 1 + 3 + 1);
}

fn inline_bytes(bytes: &[u8]) -> DataSource {
    DataSource {
        specifier: Some(data_source::Specifier::InlineBytes(bytes.to_vec())),
    }
}
