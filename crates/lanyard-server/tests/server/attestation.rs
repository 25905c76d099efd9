//! Node attestation on the agent endpoint: join tokens (single use, bound node
//! attributes, refusals that change nothing) and x509pop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lanyard_agent::node::server_api::CallError;
use lanyard_attest::x509pop::{X509PopAgent, X509PopAgentConfig};
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::agent::v1::{
    AgentX509svidParams, AttestAgentRequest, CountAgentsRequest, CreateJoinTokenRequest,
    ListAgentsRequest, attest_agent_request,
};
use lanyard_proto::spire::api::types::AttestationData;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tonic::Code;

use crate::common::agent::{attest_with, attest_with_token, bundle, channel, code, join_token};
use crate::common::{Options, TestServer};

async fn agent_count(server: &TestServer) -> i32 {
    server
        .agents()
        .await
        .count_agents(CountAgentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .count
}

#[tokio::test]
async fn join_token_attests_once_with_its_node_attributes() {
    let server = TestServer::start(&Options::default());
    let token = join_token(&server, &["xname=x1000c0s0b0n0", "type=compute"]).await;

    let agent = attest_with_token(&server, &token).await.unwrap();
    let id = agent.id();
    assert_eq!(
        id.as_str(),
        format!("spiffe://example.org/spire/agent/join_token/{token}")
    );
    assert!(!agent.reattestable);
    let verified = lanyard_spiffe::x509::verify_x509_svid_with_bundle(
        &agent.chain,
        &bundle(&server).await,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(verified, id);

    let agents = server
        .agents()
        .await
        .list_agents(ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].attestation_type, "join_token");
    let mut selectors: Vec<String> = agents[0]
        .selectors
        .iter()
        .map(|s| format!("{}:{}", s.r#type, s.value))
        .collect();
    selectors.sort();
    assert_eq!(selectors, ["node:type:compute", "node:xname:x1000c0s0b0n0"]);

    let reused = attest_with_token(&server, &token).await.err().unwrap();
    assert_eq!(code(&reused), Code::PermissionDenied);
    assert!(
        matches!(&reused, CallError::Status(s) if s.message().contains("already been used")),
        "{reused}"
    );
    assert_eq!(agent_count(&server).await, 1);
}

#[tokio::test]
async fn bad_tokens_are_refused_and_change_nothing() {
    let server = TestServer::start(&Options::default());

    let unknown = attest_with_token(&server, "no-such-token")
        .await
        .err()
        .unwrap();
    assert_eq!(code(&unknown), Code::PermissionDenied);

    let expiring = server
        .agents()
        .await
        .create_join_token(CreateJoinTokenRequest {
            ttl: 1,
            ..CreateJoinTokenRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Wait until the clock has passed the token's expiry (a condition, not a delay).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while time::OffsetDateTime::now_utc().unix_timestamp() <= expiring.expires_at {
        assert!(
            std::time::Instant::now() < deadline,
            "clock did not advance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expired = attest_with_token(&server, &expiring.value)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&expired), Code::PermissionDenied);
    assert!(matches!(&expired, CallError::Status(s) if s.message().contains("expired")));

    let mut raw = AgentClient::new(channel(&server, None).await);
    let csr = crate::common::fixtures::csr(&[], &[]);
    let attempts = [
        (
            "join_token",
            b"bad/token".to_vec(),
            csr.clone(),
            Code::InvalidArgument,
        ),
        ("join_token", Vec::new(), csr.clone(), Code::InvalidArgument),
        (
            "no_such_attestor",
            b"x".to_vec(),
            csr.clone(),
            Code::InvalidArgument,
        ),
        (
            "join_token",
            b"some-token".to_vec(),
            Vec::new(),
            Code::InvalidArgument,
        ),
    ];
    for (kind, payload, csr, expected) in attempts {
        let request = AttestAgentRequest {
            step: Some(attest_agent_request::Step::Params(
                attest_agent_request::Params {
                    data: Some(AttestationData {
                        r#type: kind.to_owned(),
                        payload,
                    }),
                    params: Some(AgentX509svidParams { csr }),
                },
            )),
        };
        let outcome = match raw.attest_agent(futures::stream::iter([request])).await {
            Ok(response) => response.into_inner().message().await.map(|_| ()),
            Err(status) => Err(status),
        };
        let status = outcome.expect_err("refused");
        assert_eq!(status.code(), expected, "{kind}: {status:?}");
    }

    // A token a malformed CSR was sent with is spent, but no node appears.
    let token = join_token(&server, &[]).await;
    let request = AttestAgentRequest {
        step: Some(attest_agent_request::Step::Params(
            attest_agent_request::Params {
                data: Some(AttestationData {
                    r#type: "join_token".to_owned(),
                    payload: token.into_bytes(),
                }),
                params: Some(AgentX509svidParams {
                    csr: b"not a csr".to_vec(),
                }),
            },
        )),
    };
    let status = match raw.attest_agent(futures::stream::iter([request])).await {
        Ok(response) => response.into_inner().message().await.map(|_| ()),
        Err(status) => Err(status),
    }
    .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(agent_count(&server).await, 0);
    let log = server.log();
    assert!(
        log.contains("node attestation refused"),
        "attempts are logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_admits_exactly_one_of_a_thousand_concurrent_agents() {
    let server = TestServer::start(&Options::default());
    let token = join_token(&server, &[]).await;
    let channel = channel(&server, None).await;

    let attempts = (0..1000).map(|_| {
        let channel = channel.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let attestor = Arc::new(lanyard_attest::join_token::JoinTokenAgent::new(
                lanyard_attest::join_token::JoinToken::new(&token).unwrap(),
            ));
            attest_with(channel, attestor).await
        })
    });
    let mut admitted = 0;
    let mut denied = 0;
    for attempt in futures::future::join_all(attempts).await {
        match attempt.unwrap() {
            Ok(_) => admitted += 1,
            Err(error) if code(&error) == Code::PermissionDenied => denied += 1,
            Err(error) => panic!("unexpected failure: {error}"),
        }
    }
    assert_eq!((admitted, denied), (1, 999));
    assert_eq!(agent_count(&server).await, 1);
}

/// A CA and a leaf it signed, as PEM files in `dir`; returns (ca, cert, key) paths.
fn x509pop_pki(dir: &std::path::Path, name: &str) -> [std::path::PathBuf; 3] {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} ca"));
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "node-7");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let paths = [
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}-leaf.pem")),
        dir.join(format!("{name}-leaf.key")),
    ];
    std::fs::write(&paths[0], ca_cert.pem()).unwrap();
    std::fs::write(&paths[1], leaf.pem()).unwrap();
    std::fs::write(&paths[2], leaf_key.serialize_pem()).unwrap();
    paths
}

#[tokio::test]
async fn x509pop_attests_with_a_chain_to_its_ca_and_refuses_others() {
    let pki = tempfile::tempdir().unwrap();
    let [ca, cert, key] = x509pop_pki(pki.path(), "trusted");
    let [_, rogue_cert, rogue_key] = x509pop_pki(pki.path(), "rogue");
    let server = TestServer::start(&Options {
        top_level: format!(
            "plugins {{\n  NodeAttestor \"join_token\" {{\n    plugin_data {{}}\n  }}\n  \
             NodeAttestor \"x509pop\" {{\n    plugin_data {{\n      ca_bundle_path = \"{}\"\n    \
             }}\n  }}\n}}\n",
            ca.display()
        ),
        ..Options::default()
    });

    let attestor = Arc::new(
        X509PopAgent::new(X509PopAgentConfig {
            private_key_path: key,
            certificate_path: cert,
            intermediates_path: None,
        })
        .unwrap(),
    );
    let agent = attest_with(channel(&server, None).await, attestor.clone())
        .await
        .unwrap();
    assert!(agent.reattestable);
    assert!(agent.id().path().starts_with("/spire/agent/x509pop/"));

    // Re-attestation of a re-attestable node keeps one record.
    let again = attest_with(channel(&server, Some(&agent)).await, attestor)
        .await
        .unwrap();
    assert_eq!(again.id(), agent.id());

    let rogue = Arc::new(
        X509PopAgent::new(X509PopAgentConfig {
            private_key_path: rogue_key,
            certificate_path: rogue_cert,
            intermediates_path: None,
        })
        .unwrap(),
    );
    let refused = attest_with(channel(&server, None).await, rogue)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&refused), Code::PermissionDenied, "{refused}");

    let agents = server
        .agents()
        .await
        .list_agents(ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].attestation_type, "x509pop");
    assert!(
        agents[0]
            .selectors
            .iter()
            .any(|s| s.r#type == "x509pop" && s.value == "subject:cn:node-7"),
        "{:?}",
        agents[0].selectors
    );
}
