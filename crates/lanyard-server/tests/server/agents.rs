//! Join tokens and the agent records over the admin socket.

use lanyard_proto::spire::api::server::agent::v1::{
    CountAgentsRequest, CreateJoinTokenRequest, GetAgentRequest, ListAgentsRequest,
};
use lanyard_proto::spire::api::server::entry::v1::{ListEntriesRequest, list_entries_request};
use lanyard_proto::spire::api::types;
use tonic::Code;

use crate::common::fixtures::{count, id};
use crate::common::{Options, TestServer};

/// A token with an alias: a fresh UUID, the default TTL, and the alias entry
/// SPIRE creates (parent = the token's agent ID, selector `spiffe_id`).
pub(crate) async fn join_token_with_alias(server: &TestServer) {
    let mut agents = server.agents().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = agents
        .create_join_token(CreateJoinTokenRequest {
            ttl: 0,
            token: String::new(),
            agent_id: Some(id("/node/x1000c0s0b0n0")),
        })
        .await
        .unwrap()
        .into_inner();
    uuid::Uuid::parse_str(&token.value).expect("token is a UUID");
    assert!(
        (now + 590..=now + 610).contains(&token.expires_at),
        "default ttl is 600 s"
    );

    let agent_path = format!("/spire/agent/join_token/{}", token.value);
    let aliases = server
        .entries()
        .await
        .list_entries(ListEntriesRequest {
            filter: Some(list_entries_request::Filter {
                by_parent_id: Some(id(&agent_path)),
                ..Default::default()
            }),
            ..ListEntriesRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].spiffe_id, Some(id("/node/x1000c0s0b0n0")));
    assert_eq!(aliases[0].selectors.len(), 1);
    assert_eq!(aliases[0].selectors[0].r#type, "spiffe_id");
    assert_eq!(
        aliases[0].selectors[0].value,
        format!("spiffe://example.org{agent_path}")
    );

    let second = agents
        .create_join_token(CreateJoinTokenRequest {
            ttl: 60,
            ..CreateJoinTokenRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(second.value, token.value);
}

/// Bad token requests create neither a token nor an entry.
pub(crate) async fn bad_token_requests(server: &TestServer) {
    let before = count(server).await;
    let mut agents = server.agents().await;
    let bad = [
        CreateJoinTokenRequest {
            ttl: -1,
            ..CreateJoinTokenRequest::default()
        },
        CreateJoinTokenRequest {
            agent_id: Some(types::Spiffeid {
                trust_domain: "other.org".to_owned(),
                path: "/node".to_owned(),
            }),
            ..CreateJoinTokenRequest::default()
        },
        CreateJoinTokenRequest {
            agent_id: Some(id("/spire/agent/x")),
            ..CreateJoinTokenRequest::default()
        },
        CreateJoinTokenRequest {
            token: "has/slash".to_owned(),
            ..CreateJoinTokenRequest::default()
        },
    ];
    for request in bad {
        let status = agents.create_join_token(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    }
    assert_eq!(count(server).await, before);
}

#[tokio::test]
async fn join_tokens_and_agent_records() {
    let server = TestServer::start(&Options::default());
    join_token_with_alias(&server).await;
    bad_token_requests(&server).await;

    let mut agents = server.agents().await;
    let listed = agents
        .list_agents(ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.agents.is_empty());
    let counted = agents
        .count_agents(CountAgentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counted.count, 0);

    let missing = agents
        .get_agent(GetAgentRequest {
            id: Some(id("/spire/agent/join_token/nobody")),
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let malformed = agents
        .get_agent(GetAgentRequest {
            id: None,
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
}
