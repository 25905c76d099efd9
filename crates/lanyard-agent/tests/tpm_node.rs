//! The `tpm` node attestor end to end: a real Lanyard server (in this process,
//! over its TCP agent endpoint and admin socket) with the `tpm` attestor, the real
//! `lanyard-agent` binary on a per-test swtpm, and the agent's own attestation
//! client code over real TLS sessions for the refusals.
//!
//! Enrollment with a token bound to an xname, restart and re-attestation without
//! one, an SVID for a workload on that node; a second node with a distinct TPM;
//! the same EK under a second xname refused; an LDevID proof made for one TLS
//! session refused on another. With `TPM_TESTS_REQUIRED=1` a missing swtpm fails.
#![cfg(feature = "tpm")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod tpm_support;

use std::sync::Arc;
use std::time::Duration;

use lanyard_agent::keys::PrivateKey;
use lanyard_agent::node::connection::{ServerTrust, client_tls_config, connect_bound};
use lanyard_agent::node::server_api::{CallError, attest_agent_bound};
use lanyard_attest::AgentAttestor;
use lanyard_attest::join_token::JoinToken;
use lanyard_attest::tpm::agent::{TpmAgent, TpmAgentConfig};
use lanyard_ca::KeyType;
use lanyard_spiffe::SpiffeId;
use lanyard_testkit::swtpm::{TpmManufacturer, require_swtpm, shared_image};

use tpm_support::{AgentProcess, TpmServer};

const NODE_A: &str = "x1000c0s0b0n0";
const NODE_B: &str = "x1000c0s1b0n0";
const NODE_C: &str = "x1001c2s0b0n1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpm_nodes_enroll_reattest_and_serve_workloads() {
    if !require_swtpm() {
        return;
    }
    let server = TpmServer::start().await;
    let tpm_a = shared_image().start().unwrap();

    // Enrollment: a token bound to the xname and type, consumed at the end.
    let token = server.token(NODE_A, "compute").await;
    let parent = format!("/spire/agent/tpm/{NODE_A}");
    server.entry(&parent, "/workload/on-a").await;
    let mut agent = AgentProcess::start(&server, "a", &tpm_a.tcti(), Some(&token));
    agent
        .wait_for_svid(
            "spiffe://example.org/workload/on-a",
            Duration::from_secs(90),
        )
        .await;
    let selectors = server.agent_selectors(&parent).await;
    for expected in [
        format!("node:xname:{NODE_A}"),
        "node:type:compute".to_owned(),
        "node:cabinet:x1000".to_owned(),
        "node:chassis:x1000c0".to_owned(),
        "tpm:manufacturer:id:00001014".to_owned(),
    ] {
        assert!(selectors.contains(&expected), "{expected} in {selectors:?}");
    }
    let ek_a = ek_selector(&selectors);
    assert!(agent.data_dir().join("tpm/ldevid-chain.pem").is_file());
    assert!(
        server.token_unused(&token).await.is_none(),
        "the enrollment consumed its token"
    );

    // Restart without a token (memory key manager: the agent must attest again).
    let data_dir = agent.stop();
    server.evict(&parent).await;
    let mut agent = AgentProcess::restart(&server, "a", data_dir, &tpm_a.tcti());
    agent
        .wait_for_svid(
            "spiffe://example.org/workload/on-a",
            Duration::from_secs(90),
        )
        .await;
    assert_eq!(ek_selector(&server.agent_selectors(&parent).await), ek_a);
    let data_dir = agent.stop();

    // A second node with its own TPM.
    let image_b = TpmManufacturer::shared().manufacture().unwrap();
    let tpm_b = image_b.start().unwrap();
    let token_b = server.token(NODE_B, "storage").await;
    let parent_b = format!("/spire/agent/tpm/{NODE_B}");
    server.entry(&parent_b, "/workload/on-b").await;
    let mut agent_b = AgentProcess::start(&server, "b", &tpm_b.tcti(), Some(&token_b));
    agent_b
        .wait_for_svid(
            "spiffe://example.org/workload/on-b",
            Duration::from_secs(90),
        )
        .await;
    let selectors_b = server.agent_selectors(&parent_b).await;
    assert!(selectors_b.contains(&"node:type:storage".to_owned()));
    assert_ne!(
        ek_selector(&selectors_b),
        ek_a,
        "distinct TPMs, distinct EKs"
    );
    drop(agent_b);

    // The same TPM (a copy of A's state: same EK) under another xname is refused,
    // and the token stays unused.
    let tpm_a_clone = shared_image().start().unwrap();
    let token_c = server.token(NODE_C, "compute").await;
    let clone_dir = server.dir.join("agent-c");
    let mut config = TpmAgentConfig::new(tpm_a_clone.tcti(), &clone_dir);
    config.join_token = Some(JoinToken::new(&token_c).unwrap());
    let err = attest_over_tls(&server, Arc::new(TpmAgent::new(config)), Binding::Own)
        .await
        .unwrap_err();
    assert_denied(&err, "another xname");
    assert!(server.token_unused(&token_c).await.is_some());

    // Node A's LDevID proof bound to one TLS session is refused on another,
    // and accepted on its own.
    let node_a = Arc::new(TpmAgent::new(TpmAgentConfig::new(tpm_a.tcti(), &data_dir)));
    let err = attest_over_tls(&server, node_a.clone(), Binding::OtherSession)
        .await
        .unwrap_err();
    assert_denied(&err, "replayed on another session");
    let id = attest_over_tls(&server, node_a, Binding::Own)
        .await
        .unwrap();
    assert_eq!(id.path(), parent);

    server.stop().await;
}

fn ek_selector(selectors: &[String]) -> String {
    selectors
        .iter()
        .find(|s| s.starts_with("tpm:ek_sha256:"))
        .cloned()
        .expect("an ek selector")
}

fn assert_denied(err: &CallError, what: &str) {
    match err {
        CallError::Status(status) => assert_eq!(
            status.code(),
            tonic::Code::PermissionDenied,
            "{what}: {status:?}"
        ),
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

enum Binding {
    /// The proof is bound to the session it travels on.
    Own,
    /// The proof is made for one TLS session and sent on another.
    OtherSession,
}

/// Runs `AttestAgent` with `attestor` over a fresh TLS session to the server's
/// agent endpoint; returns the agent ID the server issued.
async fn attest_over_tls(
    server: &TpmServer,
    attestor: Arc<dyn AgentAttestor>,
    binding: Binding,
) -> Result<SpiffeId, CallError> {
    let server_id = SpiffeId::parse("spiffe://example.org/spire/server").unwrap();
    let tls = client_tls_config(&ServerTrust::InsecureBootstrap, &server_id, None).unwrap();
    let (channel, own) = connect_bound(&server.agent_address(), tls.clone())
        .await
        .unwrap();
    let proof_binding = match binding {
        Binding::Own => own,
        Binding::OtherSession => {
            let (_other_channel, other) =
                connect_bound(&server.agent_address(), tls).await.unwrap();
            assert_ne!(other, own, "two sessions, two exporter values");
            other
        }
    };
    let key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let issued = attest_agent_bound(
        channel,
        Some(proof_binding),
        attestor,
        key.csr_der().unwrap(),
    )
    .await?;
    let leaf = x509_parser::parse_x509_certificate(&issued.chain[0])
        .unwrap()
        .1;
    let uri = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .find_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        })
        .unwrap();
    Ok(SpiffeId::parse(&uri).unwrap())
}
