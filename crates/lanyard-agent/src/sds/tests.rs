//! SDS over a real socket, a real cache and certificates from a real CA.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use lanyard_proto::envoy::config::core::v3::data_source::Specifier;
use lanyard_proto::envoy::config::core::v3::{BuildVersion, Node, node::UserAgentVersionType};
use lanyard_proto::envoy::extensions::transport_sockets::tls::v3::{Secret, secret};
use lanyard_proto::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use lanyard_proto::envoy::service::secret::v3::secret_discovery_service_client::SecretDiscoveryServiceClient;
use lanyard_proto::envoy::r#type::v3::SemanticVersion;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::*;
use crate::testutil::{TestCa, td};
use crate::workload::testing::{Agent, entry, my_uid_selector};

const TIMEOUT: Duration = Duration::from_secs(10);

fn envoy(minor: u32) -> Node {
    Node {
        id: "envoy".into(),
        user_agent_name: "envoy".into(),
        user_agent_version_type: Some(UserAgentVersionType::UserAgentBuildVersion(BuildVersion {
            version: Some(SemanticVersion {
                major_number: 1,
                minor_number: minor,
                patch: 0,
            }),
            metadata: None,
        })),
        ..Node::default()
    }
}

fn request(names: &[&str], node: Option<Node>) -> DiscoveryRequest {
    DiscoveryRequest {
        resource_names: names.iter().map(|n| (*n).to_owned()).collect(),
        type_url: SECRET_TYPE_URL.into(),
        node,
        ..DiscoveryRequest::default()
    }
}

fn secrets(response: &DiscoveryResponse) -> Vec<Secret> {
    response
        .resources
        .iter()
        .map(|any| {
            assert_eq!(any.type_url, SECRET_TYPE_URL);
            Secret::decode(any.value.as_slice()).unwrap()
        })
        .collect()
}

async fn agent() -> Agent {
    let mut web = entry("a", "/web", &[&my_uid_selector()]);
    web.federates_with = vec![td("partner.org")];
    let agent = Agent::start(vec![web]).await;
    agent.cache.set_federated_bundles(BTreeMap::from([(
        td("partner.org"),
        TestCa::new("partner.org").bundle(),
    )]));
    agent
}

async fn fetch(agent: &Agent, request: DiscoveryRequest) -> Result<DiscoveryResponse, Status> {
    SecretDiscoveryServiceClient::new(agent.channel().await)
        .fetch_secrets(request)
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn default_is_the_first_svid_with_its_key_in_pem() {
    let agent = agent().await;

    let response = fetch(&agent, request(&["default"], None)).await.unwrap();

    let [secret] = secrets(&response).try_into().unwrap();
    assert_eq!(secret.name, "default");
    let Some(secret::Type::TlsCertificate(tls)) = secret.r#type else {
        panic!("not a tls certificate");
    };
    let chain = match tls.certificate_chain.unwrap().specifier.unwrap() {
        Specifier::InlineBytes(bytes) => String::from_utf8(bytes).unwrap(),
        other => panic!("{other:?}"),
    };
    let key = match tls.private_key.unwrap().specifier.unwrap() {
        Specifier::InlineBytes(bytes) => String::from_utf8(bytes).unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(chain.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(response.version_info.is_empty() && response.nonce.is_empty());
}

#[tokio::test]
async fn rootca_is_a_plain_ca_list_for_old_envoys_and_a_spiffe_validator_for_new_ones() {
    let agent = agent().await;

    let old = fetch(&agent, request(&["ROOTCA"], Some(envoy(17))))
        .await
        .unwrap();
    let new = fetch(&agent, request(&["ROOTCA"], Some(envoy(30))))
        .await
        .unwrap();

    let [old] = secrets(&old).try_into().unwrap();
    let Some(secret::Type::ValidationContext(old)) = old.r#type else {
        panic!("not a validation context");
    };
    assert!(old.trusted_ca.is_some() && old.custom_validator_config.is_none());
    let [new] = secrets(&new).try_into().unwrap();
    let Some(secret::Type::ValidationContext(new)) = new.r#type else {
        panic!("not a validation context");
    };
    let validator = new.custom_validator_config.unwrap();
    assert_eq!(validator.name, SPIFFE_VALIDATOR_NAME);
    let config = validator
        .typed_config
        .unwrap()
        .to_msg::<lanyard_proto::envoy::extensions::transport_sockets::tls::v3::SpiffeCertValidatorConfig>()
        .unwrap();
    let names: Vec<_> = config
        .trust_domains
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["example.org"]);
}

#[tokio::test]
async fn all_holds_every_bundle_sorted_and_trust_domain_ids_name_one() {
    let agent = agent().await;

    let all = fetch(&agent, request(&["ALL"], Some(envoy(20))))
        .await
        .unwrap();
    let partner = fetch(&agent, request(&["spiffe://partner.org"], None))
        .await
        .unwrap();
    let all_for_old_envoy = fetch(&agent, request(&["ALL"], Some(envoy(17)))).await;

    let [all] = secrets(&all).try_into().unwrap();
    let Some(secret::Type::ValidationContext(all)) = all.r#type else {
        panic!("not a validation context");
    };
    let config = all
        .custom_validator_config
        .unwrap()
        .typed_config
        .unwrap()
        .to_msg::<lanyard_proto::envoy::extensions::transport_sockets::tls::v3::SpiffeCertValidatorConfig>()
        .unwrap();
    let names: Vec<_> = config
        .trust_domains
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["example.org", "partner.org"]);
    let [partner] = secrets(&partner).try_into().unwrap();
    assert_eq!(partner.name, "spiffe://partner.org");
    assert_eq!(all_for_old_envoy.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn no_names_is_everything_and_an_unknown_name_is_refused() {
    let agent = agent().await;

    let everything = fetch(&agent, request(&[], None)).await.unwrap();
    let unknown = fetch(&agent, request(&["spiffe://example.org/db"], None)).await;

    let mut names: Vec<_> = secrets(&everything).into_iter().map(|s| s.name).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "spiffe://example.org",
            "spiffe://example.org/web",
            "spiffe://partner.org"
        ]
    );
    let status = unknown.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("not authorized"), "{status:?}");
}

#[tokio::test]
async fn streams_answer_requests_and_push_rotations_with_new_versions_and_nonces() {
    let agent = agent().await;
    let (requests, outgoing) = mpsc::channel(4);
    let mut responses = SecretDiscoveryServiceClient::new(agent.channel().await)
        .stream_secrets(ReceiverStream::new(outgoing))
        .await
        .unwrap()
        .into_inner();
    let mut next = async || {
        tokio::time::timeout(TIMEOUT, responses.next())
            .await
            .expect("a response within the timeout")
            .expect("stream open")
            .unwrap()
    };

    requests
        .send(request(&["default"], Some(envoy(20))))
        .await
        .unwrap();
    let first = next().await;
    let ack = DiscoveryRequest {
        version_info: first.version_info.clone(),
        response_nonce: first.nonce.clone(),
        ..request(&["default"], None)
    };
    requests.send(ack).await.unwrap();
    crate::cache::minter::mint_due(
        &agent.cache,
        lanyard_ca::KeyType::EcP256,
        std::time::SystemTime::now() + Duration::from_secs(3000),
    )
    .await
    .unwrap();
    let rotated = next().await;

    assert_eq!(first.version_info, "1");
    assert_eq!(first.nonce.len(), 8);
    assert_ne!(rotated.version_info, first.version_info);
    assert_ne!(rotated.nonce, first.nonce);
    assert_ne!(secrets(&rotated), secrets(&first));
    assert_eq!(secrets(&rotated)[0].name, "default");
}

#[tokio::test]
async fn delta_secrets_is_unimplemented() {
    let agent = agent().await;

    let status = SecretDiscoveryServiceClient::new(agent.channel().await)
        .delta_secrets(futures::stream::empty())
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unimplemented);
}

#[test]
fn node_metadata_can_turn_the_spiffe_validator_off() {
    let mut node = envoy(20);
    node.metadata = Some(prost_types::Struct {
        fields: [(
            DISABLE_VALIDATION_KEY.to_owned(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("true".into())),
            },
        )]
        .into(),
    });

    assert!(supports_spiffe_validator(&node));
    assert!(resources::disables_validation(&node));
    assert!(!supports_spiffe_validator(&Node::default()));
}
