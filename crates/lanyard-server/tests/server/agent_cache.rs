//! The agent path served from the entry cache: no datastore read in steady
//! state, and bans, evictions and renewals still take effect on the next request.

use std::time::{Duration, Instant};

use lanyard_agent::node::server_api;
use lanyard_agent::node::status::reason;
use lanyard_proto::spire::api::server::agent::v1::{BanAgentRequest, DeleteAgentRequest};
use lanyard_proto::spire::api::server::entry::v1::GetAuthorizedEntriesRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::server::svid::v1::NewJwtsvidRequest;
use lanyard_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use lanyard_proto::spire::api::types::permission_denied_details::Reason;
use tonic::Code;
use tonic::transport::Channel;

use crate::common::agent::{Agent, attest_with_token, channel, join_token};
use crate::common::fixtures::{create_all, entry};
use crate::common::{Options, TestServer};

const NODE_READS: &str = "lanyard_server_datastore_node_reads_total";

/// Node records the agent path has read from the datastore so far.
fn node_reads(server: &TestServer) -> u64 {
    let (status, text) = server.get_metrics();
    assert_eq!(status, 200);
    text.lines()
        .find_map(|line| line.strip_prefix(NODE_READS)?.strip_prefix(' '))
        .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
}

/// One round of steady-state agent calls: the authorized entries, then a
/// JWT-SVID for `entry_id`.
async fn agent_round(channel: &Channel, entry_id: &str) -> Result<(), tonic::Status> {
    EntryClient::new(channel.clone())
        .get_authorized_entries(GetAuthorizedEntriesRequest::default())
        .await?;
    SvidClient::new(channel.clone())
        .new_jwtsvid(NewJwtsvidRequest {
            entry_id: entry_id.to_owned(),
            audience: vec!["api".to_owned()],
        })
        .await?;
    Ok(())
}

/// Waits (with a deadline) until a round of calls by every agent succeeds
/// without reading a node from the datastore (the entries just created must
/// reach the cache first), then checks that ten more rounds read none either.
async fn assert_steady_state_reads_nothing(server: &TestServer, calls: &[(Channel, String)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = node_reads(server);
        let mut outcome = Ok(());
        for (channel, entry_id) in calls {
            outcome = outcome.and(agent_round(channel, entry_id).await);
        }
        if outcome.is_ok() && node_reads(server) == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agent calls keep failing or reading the datastore: {outcome:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = node_reads(server);
    for _ in 0..10 {
        for (channel, entry_id) in calls {
            agent_round(channel, entry_id).await.unwrap();
        }
    }
    assert_eq!(node_reads(server), before, "steady-state calls read nodes");
}

async fn attested_with_entry(server: &TestServer, path: &str) -> (Agent, Channel, String) {
    let token = join_token(server, &[]).await;
    let agent = attest_with_token(server, &token).await.unwrap();
    let ids = create_all(
        server,
        vec![lanyard_proto::spire::api::types::Entry {
            parent_id: Some(crate::common::fixtures::id(agent.id().path())),
            ..entry(path, "unix:uid:1000")
        }],
    )
    .await;
    let channel = channel(server, Some(&agent)).await;
    (agent, channel, ids[0].clone())
}

#[tokio::test]
async fn agent_calls_are_served_from_memory_and_revocations_apply_at_once() {
    let server = TestServer::start(&Options {
        metrics: true,
        ..Options::default()
    });
    let (banned, banned_channel, banned_entry) = attested_with_entry(&server, "/w/banned").await;
    let (evicted, evicted_channel, evicted_entry) =
        attested_with_entry(&server, "/w/evicted").await;
    let (_, kept_channel, kept_entry) = attested_with_entry(&server, "/w/kept").await;
    let calls = [
        (banned_channel.clone(), banned_entry.clone()),
        (evicted_channel.clone(), evicted_entry.clone()),
        (kept_channel.clone(), kept_entry.clone()),
    ];
    assert_steady_state_reads_nothing(&server, &calls).await;

    // Refused on the very next request after the admin call returns.
    let mut agents = server.agents().await;
    agents
        .ban_agent(BanAgentRequest {
            id: Some(crate::common::fixtures::id(banned.id().path())),
        })
        .await
        .unwrap();
    let status = agent_round(&banned_channel, &banned_entry)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), Some(Reason::AgentBanned));

    let reads_before_evict = node_reads(&server);
    agents
        .delete_agent(DeleteAgentRequest {
            id: Some(crate::common::fixtures::id(evicted.id().path())),
        })
        .await
        .unwrap();
    let status = agent_round(&evicted_channel, &evicted_entry)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), Some(Reason::AgentNotAttested));
    assert!(
        node_reads(&server) > reads_before_evict,
        "a refusal is confirmed against the datastore"
    );

    // Still refused once the cache has caught up; the other agent is unaffected.
    for _ in 0..3 {
        let status = agent_round(&banned_channel, &banned_entry)
            .await
            .unwrap_err();
        assert_eq!(reason(&status), Some(Reason::AgentBanned));
        let status = agent_round(&evicted_channel, &evicted_entry)
            .await
            .unwrap_err();
        assert_eq!(reason(&status), Some(Reason::AgentNotAttested));
        agent_round(&kept_channel, &kept_entry).await.unwrap();
    }
}

#[tokio::test]
async fn a_renewed_svid_is_accepted_and_then_served_from_memory() {
    let server = TestServer::start(&Options {
        metrics: true,
        ..Options::default()
    });
    let (agent, old_channel, entry_id) = attested_with_entry(&server, "/w/renewing").await;
    assert_steady_state_reads_nothing(&server, &[(old_channel.clone(), entry_id.clone())]).await;

    let key =
        lanyard_agent::keys::PrivateKey::generate(lanyard_agent::node::AGENT_KEY_TYPE).unwrap();
    let chain = server_api::renew_agent(old_channel.clone(), key.csr_der().unwrap())
        .await
        .unwrap();
    let renewed = Agent {
        chain,
        key,
        reattestable: false,
    };
    let renewed_channel = channel(&server, Some(&renewed)).await;
    agent_round(&renewed_channel, &entry_id).await.unwrap();

    let stale = agent_round(&channel(&server, Some(&agent)).await, &entry_id)
        .await
        .unwrap_err();
    assert_eq!(reason(&stale), Some(Reason::AgentNotActive));
    assert_steady_state_reads_nothing(&server, &[(renewed_channel, entry_id)]).await;
}
