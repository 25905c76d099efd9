//! S5, job launch: attested nodes wait for their entries as an agent does (the
//! server's push stream when it offers one, otherwise SPIRE's `SyncAuthorizedEntries`
//! polled every sync interval from a random phase). At t0 the job's entries (one per
//! node) are created through the admin API; each node then fetches a JWT-SVID for its
//! entry. Measured: time from t0 until each node holds its JWT-SVID.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use lanyard_agent::node::connection::MAX_MESSAGE_SIZE;
use lanyard_proto::lanyard::agent::v1::WatchAuthorizedRequest;
use lanyard_proto::lanyard::agent::v1::agent_sync_client::AgentSyncClient;
use tonic::Code;
use tonic::transport::Channel;

use super::{AttestedNode, Harness, attest_fleet, summarize_errors};
use crate::client;
use crate::procstat;
use crate::report::{LatencyRow, ScenarioReport};
use crate::server::workload_entry;

/// How nodes learn of new entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
pub enum SyncMode {
    /// The push stream if the server offers it, else polling.
    Auto,
    /// `lanyard.agent.v1.AgentSync/WatchAuthorized`.
    Push,
    /// `SyncAuthorizedEntries` every sync interval.
    Poll,
}

/// S5 parameters.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct S5Args {
    /// Nodes in the job.
    #[arg(long, default_value_t = 10_000)]
    pub nodes: usize,
    /// How nodes learn of their entries.
    #[arg(long, value_enum, default_value = "auto")]
    pub sync: SyncMode,
    /// Poll interval, milliseconds (the agent's default `sync_interval` is 5 s).
    #[arg(long, default_value_t = 5000)]
    pub sync_interval_ms: u64,
    /// Entries per `BatchCreateEntry` call at t0.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

/// Runs S5.
pub async fn run(harness: &Harness, args: &S5Args) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport {
        name: "s5".to_owned(),
        parameters: serde_json::to_value(args)?,
        ..ScenarioReport::default()
    };
    let (server, _, target) = harness.start_server(harness.server.clone()).await?;
    let tokens = server.join_tokens(args.nodes, 32).await?;
    let nodes = attest_fleet(&target, tokens, 32).await?;
    let mode = match args.sync {
        SyncMode::Auto if offers_push(&nodes[0].channel).await => SyncMode::Push,
        SyncMode::Auto => SyncMode::Poll,
        other => other,
    };
    report
        .notes
        .push(format!("nodes learn of entries by {mode:?}"));
    let interval = Duration::from_millis(args.sync_interval_ms.max(1));

    let server_before = server.sample()?;
    let client_before = procstat::sample(None)?;
    let (t0_tx, t0_rx) = tokio::sync::watch::channel(None::<Instant>);
    let retries = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = nodes
        .iter()
        .map(|node| {
            let node = node.clone();
            let t0 = t0_rx.clone();
            let retries = Arc::clone(&retries);
            let deadline = Instant::now() + interval + harness.deadline;
            tokio::spawn(async move {
                let work = wait_and_fetch(node, mode, interval, t0, retries);
                tokio::time::timeout_at(deadline.into(), work)
                    .await
                    .unwrap_or_else(|_| Err("no jwt-svid before the deadline".to_owned()))
            })
        })
        .collect();
    // Let the fleet settle into its steady state (every poller has polled once).
    tokio::time::sleep(interval.min(Duration::from_secs(10))).await;

    let entries = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| workload_entry(&node.agent_path, &format!("/job/1/rank/{i}"), 2000))
        .collect();
    let t0 = Instant::now();
    let _ = t0_tx.send(Some(t0));
    server.create_entries(entries, args.batch, 2).await?;
    let created = t0.elapsed();

    let mut held = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(took) => held.push(took),
            Err(error) => errors.push(error),
        }
    }
    let wall = t0.elapsed();
    report.set_costs(
        wall,
        (server_before, server.sample()?),
        (client_before, procstat::sample(None)?),
    );
    report.errors = errors.len() as u64;
    report.retries = retries.load(Ordering::Relaxed);
    let last = held.iter().max().copied().unwrap_or_default();
    report.figure(
        "entries created (t0 -> last BatchCreateEntry answer)",
        created.as_secs_f64(),
        "s",
    );
    report.figure("all nodes hold a JWT-SVID (t100)", last.as_secs_f64(), "s");
    report.latencies.push(LatencyRow::from_samples(
        "t0 -> node holds its JWT-SVID",
        held,
    ));
    report.notes.push(format!(
        "Target: all {} nodes hold a JWT-SVID within 2 s of t0: {}.",
        args.nodes,
        if errors.is_empty() && last <= Duration::from_secs(2) {
            "met"
        } else {
            "missed"
        }
    ));
    report.notes.extend(summarize_errors(&errors, 5));
    Ok(report)
}

/// Whether the server answers the push stream (anything but `Unimplemented`).
async fn offers_push(channel: &Channel) -> bool {
    let mut client = AgentSyncClient::new(channel.clone());
    let request = WatchAuthorizedRequest { since_sequence: 0 };
    !matches!(client.watch_authorized(request).await, Err(s) if s.code() == Code::Unimplemented)
}

/// Waits for the node's entry, fetches a JWT-SVID for it, returns the time since t0.
async fn wait_and_fetch(
    node: AttestedNode,
    mode: SyncMode,
    interval: Duration,
    mut t0: tokio::sync::watch::Receiver<Option<Instant>>,
    retries: Arc<AtomicU64>,
) -> Result<Duration, String> {
    let entry_id = match mode {
        SyncMode::Push => watch_for_entry(&node.channel, &retries).await?,
        SyncMode::Auto | SyncMode::Poll => poll_for_entry(&node.channel, interval).await?,
    };
    client::new_jwt(node.channel.clone(), &entry_id, "storage")
        .await
        .map_err(|s| format!("jwt: {:?} {}", s.code(), s.message()))?;
    let Some(started) = *t0.borrow_and_update() else {
        return Err("an entry appeared before t0".to_owned());
    };
    Ok(started.elapsed())
}

async fn poll_for_entry(channel: &Channel, interval: Duration) -> Result<String, String> {
    // A random phase, as real agents booted at different times.
    let phase = interval.mul_f64(f64::from(client::random_u16()) / 65_536.0);
    tokio::time::sleep(phase).await;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let synced = client::sync_entries(channel.clone())
            .await
            .map_err(|s| format!("sync: {:?} {}", s.code(), s.message()))?;
        if let Some(id) = client::synced_entry_ids(&synced).into_iter().next() {
            return Ok(id);
        }
    }
}

/// Watches the push stream until an entry arrives; a stream that fails is opened
/// again at once, as the agent does (counted in `retries`).
async fn watch_for_entry(channel: &Channel, retries: &AtomicU64) -> Result<String, String> {
    loop {
        match watch_once(channel).await {
            Ok(id) => return Ok(id),
            Err(status) if client::is_transient(&status) => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(format!("watch: {:?} {}", status.code(), status.message())),
        }
    }
}

async fn watch_once(channel: &Channel) -> Result<String, tonic::Status> {
    let mut client =
        AgentSyncClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let mut stream = client
        .watch_authorized(WatchAuthorizedRequest { since_sequence: 0 })
        .await?
        .into_inner();
    loop {
        let message = stream
            .message()
            .await?
            .ok_or_else(|| tonic::Status::unavailable("the server ended the stream"))?;
        if let Some(entry) = message.upserted_entries.into_iter().next() {
            return Ok(entry.id);
        }
    }
}
