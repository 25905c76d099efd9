//! What an attested agent may do on the agent endpoint: read its authorized
//! entries (directly and through node aliases), get SVIDs for them, renew its
//! own SVID; and how a banned or evicted agent is turned away.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use lanyard_agent::node::server_api;
use lanyard_agent::node::status::reason;
use lanyard_agent::sync::paging::sync_authorized_entries;
use lanyard_agent::sync::poll::GrpcSyncStream;
use lanyard_proto::spire::api::server::agent::v1::{BanAgentRequest, DeleteAgentRequest};
use lanyard_proto::spire::api::server::entry::v1::GetAuthorizedEntriesRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use lanyard_proto::spire::api::server::svid::v1::{
    BatchNewX509svidRequest, NewJwtsvidRequest, NewX509svidParams,
};
use lanyard_proto::spire::api::types;
use lanyard_proto::spire::api::types::permission_denied_details::Reason;
use tonic::Code;
use tonic::transport::Channel;

use crate::common::agent::{Agent, attest_with_token, bundle, channel, join_token};
use crate::common::fixtures::{create_all, csr, id, selectors};
use crate::common::{Options, TestServer};

fn entry_under(parent: &str, path: &str) -> types::Entry {
    types::Entry {
        spiffe_id: Some(id(path)),
        parent_id: Some(id(parent)),
        selectors: selectors(&["unix:uid:1000"]),
        dns_names: vec!["svc.example.org".to_owned()],
        ..types::Entry::default()
    }
}

async fn authorized(channel: Channel) -> Result<BTreeSet<String>, tonic::Status> {
    let entries = EntryClient::new(channel)
        .get_authorized_entries(GetAuthorizedEntriesRequest::default())
        .await?
        .into_inner()
        .entries;
    Ok(entries
        .into_iter()
        .map(|e| e.spiffe_id.map(|i| i.path).unwrap_or_default())
        .collect())
}

async fn attested(server: &TestServer, attributes: &[&str]) -> Agent {
    let token = join_token(server, attributes).await;
    attest_with_token(server, &token).await.unwrap()
}

#[tokio::test]
async fn agents_get_their_entries_and_svids_for_them_only() {
    let server = TestServer::start(&Options::default());
    let agent = attested(&server, &["type=compute"]).await;
    let other = attested(&server, &["type=login"]).await;
    let agent_path = agent.id().path().to_owned();
    let other_path = other.id().path().to_owned();

    let ids = create_all(
        &server,
        vec![
            entry_under(&agent_path, "/workload/a"),
            entry_under("/workload/a", "/workload/a/nested"),
            entry_under(&other_path, "/workload/other"),
            // A node alias for compute nodes and an entry under it.
            types::Entry {
                selectors: selectors(&["node:type:compute"]),
                ..entry_under("/spire/server", "/alias/compute")
            },
            entry_under("/alias/compute", "/workload/on-compute"),
        ],
    )
    .await;
    let channel = channel(&server, Some(&agent)).await;

    let expected: BTreeSet<String> = ["/workload/a", "/workload/a/nested", "/workload/on-compute"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    // The cache follows the change log: wait for it, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = authorized(channel.clone()).await.unwrap();
        if got == expected {
            break;
        }
        assert!(Instant::now() < deadline, "authorized entries: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The agent's own paged sync client sees the same set.
    let mut stream = GrpcSyncStream::new(channel.clone());
    let outcome = sync_authorized_entries(&mut stream, &Default::default())
        .await
        .unwrap();
    assert!(outcome.full);
    assert_eq!(outcome.received, 3);

    let mut svids = SvidClient::new(channel.clone());
    let results = svids
        .batch_new_x509svid(BatchNewX509svidRequest {
            params: vec![
                NewX509svidParams {
                    entry_id: ids[0].clone(),
                    csr: csr(&[], &[]),
                },
                NewX509svidParams {
                    entry_id: ids[4].clone(),
                    csr: csr(
                        &["spiffe://example.org/workload/on-compute"],
                        &["svc.example.org"],
                    ),
                },
                NewX509svidParams {
                    entry_id: ids[2].clone(),
                    csr: csr(&[], &[]),
                },
                NewX509svidParams {
                    entry_id: ids[0].clone(),
                    csr: csr(&["spiffe://example.org/not/the/entry"], &[]),
                },
                NewX509svidParams {
                    entry_id: ids[0].clone(),
                    csr: csr(&[], &["evil.example.org"]),
                },
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let codes: Vec<i32> = results
        .iter()
        .map(|r| r.status.as_ref().unwrap().code)
        .collect();
    assert_eq!(
        codes,
        [
            Code::Ok as i32,
            Code::Ok as i32,
            Code::NotFound as i32,
            Code::InvalidArgument as i32,
            Code::InvalidArgument as i32,
        ]
    );
    let set =
        crate::common::fixtures::bundle_set(&crate::common::fixtures::own_bundle(&server).await);
    let chain: Vec<_> = results[0]
        .svid
        .as_ref()
        .unwrap()
        .cert_chain
        .iter()
        .map(|c| c.clone().into())
        .collect();
    let signed = lanyard_spiffe::verify_x509_svid(&chain, &set, SystemTime::now()).unwrap();
    assert_eq!(signed.path(), "/workload/a");

    let jwt = svids
        .new_jwtsvid(NewJwtsvidRequest {
            entry_id: ids[1].clone(),
            audience: vec!["api".to_owned()],
        })
        .await
        .unwrap()
        .into_inner()
        .svid
        .unwrap();
    assert_eq!(jwt.id.unwrap().path, "/workload/a/nested");
    let refused = svids
        .new_jwtsvid(NewJwtsvidRequest {
            entry_id: ids[2].clone(),
            audience: vec!["api".to_owned()],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    // An entry created now reaches the agent within a second.
    let started = Instant::now();
    create_all(&server, vec![entry_under(&agent_path, "/workload/late")]).await;
    loop {
        let got = authorized(channel.clone()).await.unwrap();
        if got.contains("/workload/late") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "entry did not arrive in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn renewed_svid_replaces_the_old_one_on_first_use() {
    let server = TestServer::start(&Options::default());
    let agent = attested(&server, &[]).await;
    let old = channel(&server, Some(&agent)).await;

    let key =
        lanyard_agent::keys::PrivateKey::generate(lanyard_agent::node::AGENT_KEY_TYPE).unwrap();
    let chain = server_api::renew_agent(old.clone(), key.csr_der().unwrap())
        .await
        .unwrap();
    let renewed = Agent {
        chain,
        key,
        reattestable: false,
    };
    assert_eq!(renewed.id(), agent.id());
    lanyard_spiffe::x509::verify_x509_svid_with_bundle(
        &renewed.chain,
        &bundle(&server).await,
        SystemTime::now(),
    )
    .unwrap();

    // The old SVID still works until the new one is used...
    authorized(old.clone()).await.unwrap();
    authorized(channel(&server, Some(&renewed)).await)
        .await
        .unwrap();
    // ...and then no longer.
    let stale = authorized(channel(&server, Some(&agent)).await)
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::PermissionDenied);
    assert_eq!(reason(&stale), Some(Reason::AgentNotActive));
}

#[tokio::test]
async fn banned_and_evicted_agents_are_refused_at_once() {
    let server = TestServer::start(&Options::default());
    let banned = attested(&server, &[]).await;
    let evicted = attested(&server, &[]).await;
    let banned_channel = channel(&server, Some(&banned)).await;
    let evicted_channel = channel(&server, Some(&evicted)).await;
    authorized(banned_channel.clone()).await.unwrap();
    authorized(evicted_channel.clone()).await.unwrap();

    let mut agents = server.agents().await;
    agents
        .ban_agent(BanAgentRequest {
            id: Some(id(banned.id().path())),
        })
        .await
        .unwrap();
    agents
        .delete_agent(DeleteAgentRequest {
            id: Some(id(evicted.id().path())),
        })
        .await
        .unwrap();

    let status = authorized(banned_channel).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), Some(Reason::AgentBanned));
    let status = authorized(evicted_channel).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), Some(Reason::AgentNotAttested));

    // Without a client certificate there is no agent to serve.
    let anonymous = authorized(channel(&server, None).await).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::PermissionDenied);
}
