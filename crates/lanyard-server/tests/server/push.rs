//! `lanyard.agent.v1.AgentSync/WatchAuthorized` on the real server: the first batch
//! is the authorized set, then one batch per committed change that concerns the
//! agent; a reconnect from the last sequence gets only what it missed; an evicted
//! or banned agent's stream ends with `PermissionDenied`.

use std::collections::BTreeSet;
use std::time::Duration;

use lanyard_agent::node::status::reason;
use lanyard_proto::lanyard::agent::v1::agent_sync_client::AgentSyncClient;
use lanyard_proto::lanyard::agent::v1::{WatchAuthorizedRequest, WatchAuthorizedResponse};
use lanyard_proto::spire::api::server::agent::v1::{BanAgentRequest, DeleteAgentRequest};
use lanyard_proto::spire::api::server::entry::v1::BatchDeleteEntryRequest;
use lanyard_proto::spire::api::types;
use lanyard_proto::spire::api::types::permission_denied_details::Reason;
use tonic::Code;
use tonic::Streaming;

use crate::common::agent::{Agent, attest_with_token, channel, join_token};
use crate::common::fixtures::{create_all, id, selectors};
use crate::common::{Options, TestServer};

/// How long a batch may take to arrive.
const WAIT: Duration = Duration::from_secs(10);

/// One whole batch, merged.
#[derive(Debug, Default)]
struct Batch {
    full: bool,
    upserted: BTreeSet<String>,
    removed: BTreeSet<String>,
    bundle: bool,
    sequence: u64,
}

fn entry_under(parent: &str, path: &str) -> types::Entry {
    types::Entry {
        spiffe_id: Some(id(path)),
        parent_id: Some(id(parent)),
        selectors: selectors(&["unix:uid:1000"]),
        ..types::Entry::default()
    }
}

async fn attested(server: &TestServer) -> Agent {
    let token = join_token(server, &[]).await;
    attest_with_token(server, &token).await.unwrap()
}

async fn watch(
    server: &TestServer,
    agent: &Agent,
    since: u64,
) -> Streaming<WatchAuthorizedResponse> {
    AgentSyncClient::new(channel(server, Some(agent)).await)
        .watch_authorized(WatchAuthorizedRequest {
            since_sequence: since,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The next batch on `stream`, with a deadline.
async fn next_batch(stream: &mut Streaming<WatchAuthorizedResponse>) -> Batch {
    let mut batch = Batch::default();
    let mut first = true;
    loop {
        let message = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("a batch within the deadline")
            .unwrap()
            .expect("the stream stays open");
        if first {
            batch.full = message.full;
            first = false;
        }
        batch.upserted.extend(
            message
                .upserted_entries
                .iter()
                .map(|e| e.spiffe_id.as_ref().unwrap().path.clone()),
        );
        batch.removed.extend(message.removed_entry_ids);
        batch.bundle |= message.bundle.is_some();
        if !message.more {
            batch.sequence = message.sequence;
            return batch;
        }
    }
}

/// The status `stream` ends with, with a deadline.
async fn end_status(stream: &mut Streaming<WatchAuthorizedResponse>) -> tonic::Status {
    loop {
        match tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("the stream ends")
        {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => return status,
        }
    }
}

fn paths(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn agents_are_pushed_their_changes_and_resume_from_their_sequence() {
    let server = TestServer::start(&Options::default());
    let agent = attested(&server).await;
    let other = attested(&server).await;
    let agent_path = agent.id().path().to_owned();
    let other_path = other.id().path().to_owned();
    create_all(&server, vec![entry_under(&agent_path, "/w/first")]).await;

    // The first batch is the whole set (once the cache has the entry).
    let mut stream = watch(&server, &agent, 0).await;
    let mut batch = next_batch(&mut stream).await;
    assert!(batch.full && batch.bundle, "{batch:?}");
    if batch.upserted.is_empty() {
        batch = next_batch(&mut stream).await;
    }
    assert_eq!(batch.upserted, paths(&["/w/first"]));

    // Another agent's entry is not pushed; the next batch holds only our own.
    create_all(&server, vec![entry_under(&other_path, "/w/other")]).await;
    let ids = create_all(
        &server,
        vec![
            entry_under(&agent_path, "/w/second"),
            entry_under("/w/second", "/w/second/nested"),
        ],
    )
    .await;
    let mut upserted = BTreeSet::new();
    while upserted.len() < 2 {
        let batch = next_batch(&mut stream).await;
        assert!(!batch.full && !batch.bundle, "{batch:?}");
        upserted.extend(batch.upserted);
    }
    assert_eq!(upserted, paths(&["/w/second", "/w/second/nested"]));
    let sequence = {
        // Removing the parent removes the nested entry from the set as well.
        server
            .entries()
            .await
            .batch_delete_entry(BatchDeleteEntryRequest {
                ids: vec![ids[0].clone()],
            })
            .await
            .unwrap();
        let batch = next_batch(&mut stream).await;
        assert_eq!(
            batch.removed,
            BTreeSet::from([ids[0].clone(), ids[1].clone()])
        );
        batch.sequence
    };
    drop(stream);

    // Reconnecting from the last sequence: only what changed meanwhile.
    create_all(&server, vec![entry_under(&agent_path, "/w/while-away")]).await;
    let mut resumed = watch(&server, &agent, sequence).await;
    let mut batch = next_batch(&mut resumed).await;
    assert!(!batch.full, "{batch:?}");
    if batch.upserted.is_empty() {
        batch = next_batch(&mut resumed).await;
    }
    assert_eq!(batch.upserted, paths(&["/w/while-away"]));

    // A sequence the server cannot place gets the full set.
    let mut unknown = watch(&server, &agent, sequence + 1_000_000).await;
    let batch = next_batch(&mut unknown).await;
    assert!(batch.full && batch.bundle, "{batch:?}");
    assert_eq!(batch.upserted, paths(&["/w/first", "/w/while-away"]));
}

#[tokio::test]
async fn evicted_and_banned_agents_lose_their_open_streams() {
    let server = TestServer::start(&Options::default());
    let evicted = attested(&server).await;
    let banned = attested(&server).await;
    let mut evicted_stream = watch(&server, &evicted, 0).await;
    let mut banned_stream = watch(&server, &banned, 0).await;
    assert!(next_batch(&mut evicted_stream).await.full);
    assert!(next_batch(&mut banned_stream).await.full);

    server
        .agents()
        .await
        .delete_agent(DeleteAgentRequest {
            id: Some(id(evicted.id().path())),
        })
        .await
        .unwrap();
    let status = end_status(&mut evicted_stream).await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::AgentNotAttested));

    server
        .agents()
        .await
        .ban_agent(BanAgentRequest {
            id: Some(id(banned.id().path())),
        })
        .await
        .unwrap();
    let status = end_status(&mut banned_stream).await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::AgentBanned));

    // And cannot open a new one.
    let refused = AgentSyncClient::new(channel(&server, Some(&banned)).await)
        .watch_authorized(WatchAuthorizedRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}
