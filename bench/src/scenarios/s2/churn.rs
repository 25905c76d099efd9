//! S2 under churn: every attested node of the fleet follows its authorized entries
//! (the server's push stream, or `SyncAuthorizedEntries` polled), while new entries
//! for those nodes are created one per call at a fixed rate. Measured per entry: the
//! time from the create call (sent, and answered) until its node received it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lanyard_agent::cache::EntryUpdate;
use lanyard_agent::node::connection::MAX_MESSAGE_SIZE;
use lanyard_agent::sync::paging::SyncOutcome;
use lanyard_proto::lanyard::agent::v1::WatchAuthorizedRequest;
use lanyard_proto::lanyard::agent::v1::agent_sync_client::AgentSyncClient;
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::types;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::super::AttestedNode;
use super::super::s5::SyncMode;
use crate::client;
use crate::server::{BenchServer, workload_entry};

/// The SPIFFE ID path prefix of the entries created during the window.
const CHURN_PREFIX: &str = "/churn/";

/// How long after the last create answer the nodes may take to receive everything.
const GRACE: Duration = Duration::from_secs(15);

/// How the churn is driven.
pub(super) struct Churn {
    /// Entries created per second.
    pub(super) rate: f64,
    /// Length of the window, seconds.
    pub(super) seconds: f64,
    /// How nodes follow their entries (`Auto` already resolved).
    pub(super) mode: SyncMode,
    /// Poll interval.
    pub(super) interval: Duration,
}

/// One churn entry's timings.
pub(super) struct Sample {
    /// From sending the create call until the node received the entry.
    pub(super) from_request: Duration,
    /// From the create answer until the node received the entry (zero when the node
    /// had it before the answer arrived).
    pub(super) from_answer: Duration,
}

/// What the window measured.
#[derive(Default)]
pub(super) struct Outcome {
    /// Received entries.
    pub(super) samples: Vec<Sample>,
    /// Create call latencies.
    pub(super) creates: Vec<Duration>,
    /// Entries created but never received, and create calls that failed.
    pub(super) missing: u64,
    /// Create calls that failed.
    pub(super) failed_creates: u64,
    /// Why they failed.
    pub(super) create_errors: Vec<String>,
    /// From the first create sent to the last answer.
    pub(super) create_wall: Duration,
    /// Push streams reopened or polls repeated after a transient failure.
    pub(super) retries: u64,
}

/// When each churn entry was first received, by entry ID.
#[derive(Default)]
struct Seen {
    at: Mutex<HashMap<String, Instant>>,
    ready: AtomicUsize,
    ready_changed: Notify,
}

impl Seen {
    fn note(&self, entries: &[types::Entry]) {
        let now = Instant::now();
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            let churned = entry
                .spiffe_id
                .as_ref()
                .is_some_and(|id| id.path.starts_with(CHURN_PREFIX));
            if churned {
                at.entry(entry.id.clone()).or_insert(now);
            }
        }
    }

    fn note_synced(&self, outcome: &SyncOutcome) {
        let entries = match &outcome.update {
            EntryUpdate::Full(entries)
            | EntryUpdate::Delta {
                upserted: entries, ..
            } => entries,
        };
        let now = Instant::now();
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            if entry.spiffe_id.path().starts_with(CHURN_PREFIX) {
                at.entry(entry.id.clone()).or_insert(now);
            }
        }
    }

    fn mark_ready(&self) {
        self.ready.fetch_add(1, Ordering::Relaxed);
        self.ready_changed.notify_waiters();
    }

    fn get(&self, id: &str) -> Option<Instant> {
        self.at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .copied()
    }
}

/// Runs the window against `nodes`, which must already be attested.
pub(super) async fn run(
    server: &BenchServer,
    nodes: &[AttestedNode],
    churn: &Churn,
    deadline: Duration,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!nodes.is_empty(), "no nodes to churn entries for");
    let seen = Arc::new(Seen::default());
    let retries = Arc::new(AtomicU64::new(0));
    let followers: Vec<JoinHandle<()>> = nodes
        .iter()
        .map(|node| {
            let (channel, seen, retries) = (node.channel.clone(), seen.clone(), retries.clone());
            let (mode, interval) = (churn.mode, churn.interval);
            tokio::spawn(async move {
                match mode {
                    SyncMode::Poll => poll(channel, interval, &seen, &retries).await,
                    SyncMode::Auto | SyncMode::Push => watch(channel, &seen, &retries).await,
                }
            })
        })
        .collect();

    // Start once every node holds its first full set.
    let ready_by = Instant::now() + deadline;
    while seen.ready.load(Ordering::Relaxed) < nodes.len() {
        let waiting = seen.ready_changed.notified();
        if seen.ready.load(Ordering::Relaxed) >= nodes.len() {
            break;
        }
        if tokio::time::timeout_at(ready_by.into(), waiting)
            .await
            .is_err()
        {
            abort(followers);
            anyhow::bail!(
                "{} of {} nodes followed their entries before the deadline",
                seen.ready.load(Ordering::Relaxed),
                nodes.len()
            );
        }
    }

    let result = drive(server, nodes, churn, &seen).await;
    abort(followers);
    let mut outcome = result?;
    outcome.retries = retries.load(Ordering::Relaxed);
    Ok(outcome)
}

/// Creates the entries on schedule, then waits for the nodes to receive them.
async fn drive(
    server: &BenchServer,
    nodes: &[AttestedNode],
    churn: &Churn,
    seen: &Seen,
) -> anyhow::Result<Outcome> {
    let admin = server.admin().await?;
    let total = (churn.rate * churn.seconds).round().max(1.0) as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / churn.rate.max(1e-3)));
    let started = Instant::now();
    let mut calls = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let node = &nodes[i % nodes.len()];
        let entry = workload_entry(&node.agent_path, &format!("{CHURN_PREFIX}{i}"), 3000);
        // Open loop: a slow answer does not delay the next create.
        calls.push(tokio::spawn(create_one(admin.clone(), entry)));
    }

    let mut outcome = Outcome::default();
    let mut created = Vec::with_capacity(total);
    let mut last_answer = started;
    for call in calls {
        let (sent, answered, id) = call.await?;
        last_answer = last_answer.max(answered);
        outcome.creates.push(answered - sent);
        match id {
            Ok(id) => created.push((id, sent, answered)),
            Err(error) => {
                outcome.failed_creates += 1;
                outcome.create_errors.push(error);
            }
        }
    }
    outcome.create_wall = last_answer - started;

    let wait_until = Instant::now() + GRACE + churn.interval;
    while Instant::now() < wait_until && created.iter().any(|(id, ..)| seen.get(id).is_none()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (id, sent, answered) in created {
        match seen.get(&id) {
            Some(at) => outcome.samples.push(Sample {
                from_request: at.saturating_duration_since(sent),
                from_answer: at.saturating_duration_since(answered),
            }),
            None => outcome.missing += 1,
        }
    }
    outcome.missing += outcome.failed_creates;
    Ok(outcome)
}

/// One `BatchCreateEntry` with one entry: when it was sent, answered, and the new ID.
async fn create_one(
    admin: Channel,
    entry: types::Entry,
) -> (Instant, Instant, Result<String, String>) {
    let sent = Instant::now();
    let answer = EntryClient::new(admin)
        .batch_create_entry(BatchCreateEntryRequest {
            entries: vec![entry],
            output_mask: None,
        })
        .await;
    let answered = Instant::now();
    let id = match answer {
        Ok(answer) => match answer.into_inner().results.pop() {
            Some(r) if r.status.as_ref().is_some_and(|s| s.code == 0) => r
                .entry
                .map(|e| e.id)
                .ok_or_else(|| "no entry in the answer".to_owned()),
            Some(r) => Err(format!("refused: {:?}", r.status)),
            None => Err("empty answer".to_owned()),
        },
        Err(status) => Err(format!("{:?} {}", status.code(), status.message())),
    };
    (sent, answered, id)
}

/// Whether the server answers the push stream (anything but `Unimplemented`).
pub(super) async fn offers_push(channel: &Channel) -> bool {
    let mut client = AgentSyncClient::new(channel.clone());
    let request = WatchAuthorizedRequest { since_sequence: 0 };
    let answer = client.watch_authorized(request).await;
    !matches!(answer, Err(s) if s.code() == tonic::Code::Unimplemented)
}

fn abort(followers: Vec<JoinHandle<()>>) {
    for follower in followers {
        follower.abort();
    }
}

/// Follows the push stream, reopening it at once when it fails, as the agent does.
async fn watch(channel: Channel, seen: &Seen, retries: &AtomicU64) {
    let mut ready = false;
    loop {
        let status = watch_once(&channel, seen, &mut ready).await;
        if !client::is_transient(&status) && !ready {
            // The node never followed; the window start reports it.
            return;
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn watch_once(channel: &Channel, seen: &Seen, ready: &mut bool) -> tonic::Status {
    let mut client =
        AgentSyncClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let request = WatchAuthorizedRequest { since_sequence: 0 };
    let mut stream = match client.watch_authorized(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return status,
    };
    loop {
        match stream.message().await {
            Ok(Some(message)) => {
                seen.note(&message.upserted_entries);
                if !message.more && !*ready {
                    *ready = true;
                    seen.mark_ready();
                }
            }
            Ok(None) => return tonic::Status::unavailable("the server ended the stream"),
            Err(status) => return status,
        }
    }
}

/// Polls `SyncAuthorizedEntries` every `interval` from a random phase.
async fn poll(channel: Channel, interval: Duration, seen: &Seen, retries: &AtomicU64) {
    let mut ready = false;
    let phase = interval.mul_f64(f64::from(client::random_u16()) / 65_536.0);
    tokio::time::sleep(phase).await;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        match client::sync_entries(channel.clone()).await {
            Ok(outcome) => {
                seen.note_synced(&outcome);
                if !ready {
                    ready = true;
                    seen.mark_ready();
                }
            }
            Err(_) => {
                retries.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
