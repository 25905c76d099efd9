//! The sync task against in-process servers on loopback: an `AgentSync` server the test
//! scripts stream by stream, and a SPIRE-like server without the push stream.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lanyard_proto::lanyard::agent::v1::WatchAuthorizedResponse;
use lanyard_spiffe::Bundle;
use tokio::net::TcpListener;
use tonic::Status;
use tonic::transport::{Endpoint, Server};

use super::push_peer::{PushServer, WAIT, serve};
use super::spire_peer::{self, SpirePeer};
use super::*;
use crate::cache::{EntryUpdate, GrpcSvidSigner};
use crate::config::KeyManagerConfig;
use crate::convert::Entry;
use crate::node::storage::AgentStore;
use crate::testutil::{TestCa, pb_bundle, pb_entry, td};

/// The sync task under test, on a plain HTTP/2 channel to `address`.
struct Agent {
    cache: Cache,
    keeper: BundleKeeper,
    health: HealthState,
    store: AgentStore,
    rejections: mpsc::Receiver<Rejection>,
    shutdown: CancellationToken,
    _channel: watch::Sender<Channel>,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(address: SocketAddr, initial: Bundle, interval: Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = AgentStore::new(dir.path(), &KeyManagerConfig::Memory);
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .expect("uri")
            .connect_lazy();
        let (channel_tx, channel_rx) = watch::channel(channel);
        let cache = Cache::new(
            td("example.org"),
            Arc::new(GrpcSvidSigner::new(channel_rx.clone())),
            100,
            100,
        );
        let keeper = BundleKeeper::new(initial, store.clone());
        let health = HealthState::new();
        health.set_agent_svid(SystemTime::now() + Duration::from_secs(3600));
        let (rejections_tx, rejections) = mpsc::channel(8);
        let shutdown = CancellationToken::new();
        let task = SyncTask {
            cache: cache.clone(),
            channel: channel_rx,
            keeper: keeper.clone(),
            health: health.clone(),
            rejections: rejections_tx,
            interval,
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        };
        tokio::spawn(task.run(shutdown.clone()));
        Self {
            cache,
            keeper,
            health,
            store,
            rejections,
            shutdown,
            _channel: channel_tx,
            _dir: dir,
        }
    }

    fn entry_ids(&self) -> Vec<String> {
        self.cache.entries().into_keys().collect()
    }

    fn federated(&self) -> Vec<String> {
        let bundles = self.cache.bundles();
        bundles.federated.keys().map(ToString::to_string).collect()
    }

    /// Waits until `check` holds, failing after [`WAIT`].
    async fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn batch(sequence: u64) -> WatchAuthorizedResponse {
    WatchAuthorizedResponse {
        sequence,
        ..Default::default()
    }
}

fn full_batch(ca: &TestCa, ids: &[&str], sequence: u64) -> WatchAuthorizedResponse {
    WatchAuthorizedResponse {
        full: true,
        upserted_entries: ids.iter().map(|id| pb_entry(id, 1)).collect(),
        bundle: Some(pb_bundle(ca, "example.org", 1)),
        ..batch(sequence)
    }
}

fn parsed(id: &str, uid: u32) -> Entry {
    Entry::from_proto(&pb_entry(id, uid)).expect("valid entry")
}

fn bundle_of(ca: &TestCa, sequence: u64) -> Bundle {
    let mut bundle = ca.bundle();
    bundle.set_sequence_number(sequence);
    bundle
}

#[tokio::test]
async fn a_full_batch_replaces_entries_bundle_and_federated_bundles() {
    let (old_ca, new_ca, peer) = (
        TestCa::new("example.org"),
        TestCa::new("example.org"),
        TestCa::new("peer.org"),
    );
    let mut server = PushServer::start("127.0.0.1:0").await;
    let agent = Agent::start(server.address, old_ca.bundle(), Duration::from_secs(3600));
    agent
        .cache
        .update_entries(EntryUpdate::Full(vec![parsed("stale", 1)]));
    agent.cache.set_federated_bundles(BTreeMap::from([(
        td("old.org"),
        TestCa::new("old.org").bundle(),
    )]));

    let stream = server.next_stream().await;
    assert_eq!(stream.since, 0, "a fresh agent asks for everything");
    assert!(!agent.health.is_ready(SystemTime::now()), "not synced yet");
    let mut full = full_batch(&new_ca, &["a", "b"], 4);
    full.federated_bundles = vec![pb_bundle(&peer, "peer.org", 1)];
    stream.send(full).await;

    agent
        .until("the full batch", |a| a.entry_ids() == ["a", "b"])
        .await;
    assert_eq!(agent.federated(), ["peer.org"]);
    let expected = bundle_of(&new_ca, 1);
    assert_eq!(agent.cache.bundles().own.as_deref(), Some(&expected));
    assert_eq!(*agent.keeper.current(), expected, "trust anchors follow");
    assert_eq!(
        agent.store.load_bundle(&td("example.org")).expect("read"),
        Some(expected),
        "the bundle is stored"
    );
    assert!(agent.health.is_ready(SystemTime::now()));
}

#[tokio::test]
async fn an_incremental_batch_upserts_and_removes() {
    let (ca, peer) = (TestCa::new("example.org"), TestCa::new("peer.org"));
    let mut server = PushServer::start("127.0.0.1:0").await;
    let agent = Agent::start(server.address, ca.bundle(), Duration::from_secs(3600));
    let stream = server.next_stream().await;
    stream.send(full_batch(&ca, &["a", "b"], 1)).await;
    agent
        .until("the full batch", |a| a.entry_ids() == ["a", "b"])
        .await;

    let mut delta = batch(2);
    delta.upserted_entries = vec![pb_entry("b", 2), pb_entry("c", 1)];
    delta.removed_entry_ids = vec!["a".into()];
    delta.federated_bundles = vec![pb_bundle(&peer, "peer.org", 1)];
    stream.send(delta).await;

    agent
        .until("the delta", |a| a.entry_ids() == ["b", "c"])
        .await;
    assert_eq!(*agent.cache.entries()["b"], parsed("b", 2), "b changed");
    assert_eq!(agent.federated(), ["peer.org"]);
    assert_eq!(
        agent.cache.bundles().own.as_deref(),
        Some(&bundle_of(&ca, 1)),
        "a batch without a bundle keeps the bundle"
    );

    let mut gone = batch(3);
    gone.removed_federated_trust_domains = vec!["peer.org".into()];
    stream.send(gone).await;
    agent
        .until("the federated removal", |a| a.federated().is_empty())
        .await;
    assert_eq!(agent.entry_ids(), ["b", "c"]);
}

#[tokio::test]
async fn a_batch_applies_only_after_its_last_message() {
    let ca = TestCa::new("example.org");
    let mut server = PushServer::start("127.0.0.1:0").await;
    let agent = Agent::start(server.address, ca.bundle(), Duration::from_secs(3600));
    let stream = server.next_stream().await;
    stream.send(full_batch(&ca, &["a"], 1)).await;
    agent
        .until("the full batch", |a| a.entry_ids() == ["a"])
        .await;

    // The first half of a batch, then the stream breaks: the agent has read the half
    // before it opens the next stream, and must not have applied it.
    let mut half = batch(0);
    half.more = true;
    half.removed_entry_ids = vec!["a".into()];
    half.upserted_entries = vec![pb_entry("half", 1)];
    stream.send(half).await;
    drop(stream);
    let stream = server.next_stream().await;
    assert_eq!(
        stream.since, 1,
        "the broken batch did not advance the position"
    );
    assert_eq!(
        agent.entry_ids(),
        ["a"],
        "nothing of the broken batch applied"
    );

    // A batch in three messages; later messages win within the batch.
    let mut first = batch(0);
    first.more = true;
    first.upserted_entries = vec![pb_entry("b", 1), pb_entry("c", 1)];
    let mut second = batch(0);
    second.more = true;
    second.removed_entry_ids = vec!["a".into(), "c".into()];
    let mut last = batch(5);
    last.upserted_entries = vec![pb_entry("d", 1)];
    stream.send(first).await;
    stream.send(second).await;
    stream.send(last).await;
    agent
        .until("the whole batch", |a| a.entry_ids() == ["b", "d"])
        .await;

    // A batch that cannot be applied is dropped whole; the agent asks again from the
    // last batch it applied.
    let mut bad = full_batch(&ca, &["x"], 6);
    bad.bundle = None;
    stream.send(bad).await;
    let stream = server.next_stream().await;
    assert_eq!(stream.since, 5);
    assert_eq!(agent.entry_ids(), ["b", "d"]);
}

#[tokio::test]
async fn a_reconnecting_agent_resumes_from_its_sequence_after_a_server_restart() {
    let ca = TestCa::new("example.org");
    let mut server = PushServer::start("127.0.0.1:0").await;
    let address = server.address;
    let agent = Agent::start(address, ca.bundle(), Duration::from_secs(3600));
    let stream = server.next_stream().await;
    stream.send(full_batch(&ca, &["a"], 7)).await;
    agent
        .until("the full batch", |a| a.entry_ids() == ["a"])
        .await;

    // The server ends the stream: the agent opens another from sequence 7.
    drop(stream);
    let stream = server.next_stream().await;
    assert_eq!(stream.since, 7);
    let mut delta = batch(9);
    delta.upserted_entries = vec![pb_entry("b", 1)];
    stream.send(delta).await;
    agent
        .until("the delta", |a| a.entry_ids() == ["a", "b"])
        .await;

    // The server goes away and comes back on the same address.
    drop(stream);
    server.stop().await;
    let mut server = PushServer::start(&address.to_string()).await;
    let stream = server.next_stream().await;
    assert_eq!(stream.since, 9, "the agent resumes where it stopped");
    let mut delta = batch(10);
    delta.removed_entry_ids = vec!["a".into()];
    stream.send(delta).await;
    agent
        .until("the delta after restart", |a| a.entry_ids() == ["b"])
        .await;
}

#[tokio::test]
async fn a_refusal_of_the_agent_reaches_the_node() {
    let ca = TestCa::new("example.org");
    let mut server = PushServer::start("127.0.0.1:0").await;
    let mut agent = Agent::start(server.address, ca.bundle(), Duration::from_secs(3600));
    let stream = server.next_stream().await;
    stream
        .responses
        .send(Err(Status::permission_denied("agent evicted")))
        .await
        .expect("stream open");
    let rejection = tokio::time::timeout(WAIT, agent.rejections.recv())
        .await
        .expect("a rejection in time");
    assert_eq!(rejection, Some(Rejection::NotAttested));
}

#[tokio::test]
async fn a_server_without_the_push_stream_is_polled() {
    let ca = TestCa::new("example.org");
    let peer = Arc::new(SpirePeer::default());
    *peer.entries.lock().expect("lock") = vec![pb_entry("a", 1)];
    *peer.bundle.lock().expect("lock") = pb_bundle(&ca, "example.org", 2);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (entry, bundle) = spire_peer::services(&peer);
    let stop = CancellationToken::new();
    let _server = serve(
        Server::builder().add_service(entry).add_service(bundle),
        listener,
        stop.clone(),
    );

    let agent = Agent::start(address, ca.bundle(), Duration::from_millis(20));
    agent
        .until("the first poll", |a| a.entry_ids() == ["a"])
        .await;
    assert_eq!(
        agent.cache.bundles().own.as_deref(),
        Some(&bundle_of(&ca, 2))
    );
    assert_eq!(*agent.keeper.current(), bundle_of(&ca, 2));
    assert!(agent.health.is_ready(SystemTime::now()));

    // Polling goes on: a new entry on the server arrives by the next round.
    peer.entries.lock().expect("lock").push(pb_entry("b", 1));
    agent
        .until("the next poll", |a| a.entry_ids() == ["a", "b"])
        .await;
    assert!(peer.syncs.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    stop.cancel();
}
