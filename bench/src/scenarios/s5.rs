//! S5, job launch: attested nodes wait for their entries as an agent does (the
//! server's push stream when it offers one, otherwise SPIRE's `SyncAuthorizedEntries`
//! polled every sync interval from a random phase). At t0 the job's entries (one per
//! node) are created through the admin API; each node then fetches a JWT-SVID for its
//! entry. Measured: time from t0 until each node holds its JWT-SVID.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use lanyard_agent::node::connection::MAX_MESSAGE_SIZE;
use lanyard_proto::lanyard::agent::v1::WatchAuthorizedRequest;
use lanyard_proto::lanyard::agent::v1::agent_sync_client::AgentSyncClient;
use tokio::sync::{Semaphore, SemaphorePermit};
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
    /// Start the job this many milliseconds after the nodes start watching instead of
    /// once every push stream has delivered its first batch.
    #[arg(long)]
    pub settle_ms: Option<u64>,
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

    let (t0_tx, t0_rx) = tokio::sync::watch::channel(None::<Instant>);
    let faults = Arc::new(Faults::default());
    let settle_started = Instant::now();
    let tasks: Vec<_> = nodes
        .iter()
        .map(|node| {
            let node = node.clone();
            let t0 = t0_rx.clone();
            let faults = Arc::clone(&faults);
            let deadline = Instant::now() + SETTLE_LIMIT + interval + harness.deadline;
            tokio::spawn(async move {
                let work = wait_and_fetch(node, mode, interval, t0, faults);
                tokio::time::timeout_at(deadline.into(), work)
                    .await
                    .unwrap_or_else(|_| Err("no jwt-svid before the deadline".to_owned()))
            })
        })
        .collect();
    // The fleet's steady state before t0: every push stream has delivered its first
    // batch (every poller has polled once).
    let settled = match (mode, args.settle_ms) {
        (_, Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            faults.settled.load(Ordering::Relaxed)
        }
        (SyncMode::Push, None) => faults.wait_settled(args.nodes, SETTLE_LIMIT).await,
        (SyncMode::Auto | SyncMode::Poll, None) => {
            tokio::time::sleep(interval.min(Duration::from_secs(10))).await;
            args.nodes
        }
    };
    report.figure(
        "fleet settled (streams open with their first batch) before t0",
        settle_started.elapsed().as_secs_f64(),
        "s",
    );
    report.notes.push(format!(
        "{settled} of {} nodes had their stream open at t0",
        args.nodes
    ));

    let entries = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| workload_entry(&node.agent_path, &format!("/job/1/rank/{i}"), 2000))
        .collect();
    let server_before = server.sample()?;
    let client_before = procstat::sample(None)?;
    let t0 = Instant::now();
    let _ = t0_tx.send(Some(t0));
    faults.start_job();
    server.create_entries(entries, args.batch, 2).await?;
    let created = t0.elapsed();

    let mut seen = Vec::new();
    let mut held = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(times) => {
                seen.push(times.seen);
                held.push(times.held);
            }
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
    report.retries = faults.during_job.load(Ordering::Relaxed);
    let last = held.iter().max().copied().unwrap_or_default();
    let last_seen = seen.iter().max().copied().unwrap_or_default();
    report.figure(
        "entries created (t0 -> last BatchCreateEntry answer)",
        created.as_secs_f64(),
        "s",
    );
    report.figure(
        "all nodes saw their entry (t0 -> last entry received)",
        last_seen.as_secs_f64(),
        "s",
    );
    report.figure("all nodes hold a JWT-SVID (t100)", last.as_secs_f64(), "s");
    report.figure(
        "stream failures before t0 (reopened)",
        faults.before_job.load(Ordering::Relaxed) as f64,
        "",
    );
    report.figure(
        "stream failures after t0 (reopened)",
        faults.during_job.load(Ordering::Relaxed) as f64,
        "",
    );
    report.latencies.push(LatencyRow::from_samples(
        "t0 -> node receives its entry",
        seen.clone(),
    ));
    let fetch: Vec<Duration> = held.iter().zip(&seen).map(|(h, s)| *h - *s).collect();
    report.latencies.push(LatencyRow::from_samples(
        "entry received -> JWT-SVID held",
        fetch,
    ));
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
    report.notes.extend(faults.summary(5));
    report.notes.extend(summarize_errors(&errors, 5));
    Ok(report)
}

/// Longest wait for the fleet's streams to open before t0.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// Nodes opening their first stream at once. Real nodes do not all boot in the same
/// second; 10,000 TLS handshakes at once outlast the agent's 10 s connect timeout,
/// and every timed-out handshake is thrown away and started again.
const CONNECT_RAMP: usize = 128;

/// Stream failures, counted before and after t0, and the fleet's settling.
struct Faults {
    ramp: Semaphore,
    job_started: AtomicBool,
    before_job: AtomicU64,
    during_job: AtomicU64,
    settled: AtomicUsize,
    messages: Mutex<BTreeMap<String, u64>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            ramp: Semaphore::new(CONNECT_RAMP),
            job_started: AtomicBool::default(),
            before_job: AtomicU64::default(),
            during_job: AtomicU64::default(),
            settled: AtomicUsize::default(),
            messages: Mutex::default(),
        }
    }
}

impl Faults {
    fn start_job(&self) {
        self.job_started.store(true, Ordering::Relaxed);
    }

    fn record(&self, status: &tonic::Status) {
        let during = self.job_started.load(Ordering::Relaxed);
        let counter = if during {
            &self.during_job
        } else {
            &self.before_job
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let key = format!(
            "{} {}",
            if during { "after t0:" } else { "before t0:" },
            describe(status)
        );
        if let Ok(mut messages) = self.messages.lock() {
            *messages.entry(key).or_default() += 1;
        }
    }

    fn mark_settled(&self) {
        self.settled.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until `nodes` streams delivered their first batch or `limit` passed;
    /// returns how many did.
    async fn wait_settled(&self, nodes: usize, limit: Duration) -> usize {
        let until = Instant::now() + limit;
        loop {
            let settled = self.settled.load(Ordering::Relaxed);
            if settled >= nodes || Instant::now() >= until {
                return settled;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn summary(&self, limit: usize) -> Vec<String> {
        let Ok(messages) = self.messages.lock() else {
            return Vec::new();
        };
        let mut sorted: Vec<(&String, &u64)> = messages.iter().collect();
        sorted.sort_by_key(|&(_, n)| std::cmp::Reverse(*n));
        sorted
            .into_iter()
            .take(limit)
            .map(|(message, n)| format!("stream failure, {n} x {message}"))
            .collect()
    }
}

/// A status with the chain of errors behind it (the transport's reason).
fn describe(status: &tonic::Status) -> String {
    let mut text = format!("{:?} {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        text.push_str(": ");
        text.push_str(&error.to_string());
        source = error.source();
    }
    text
}

/// Whether the server answers the push stream (anything but `Unimplemented`).
async fn offers_push(channel: &Channel) -> bool {
    let mut client = AgentSyncClient::new(channel.clone());
    let request = WatchAuthorizedRequest { since_sequence: 0 };
    !matches!(client.watch_authorized(request).await, Err(s) if s.code() == Code::Unimplemented)
}

/// When, after t0, a node received its entry and held its JWT-SVID.
struct NodeTimes {
    seen: Duration,
    held: Duration,
}

/// Waits for the node's entry, fetches a JWT-SVID for it, returns the times since t0.
async fn wait_and_fetch(
    node: AttestedNode,
    mode: SyncMode,
    interval: Duration,
    mut t0: tokio::sync::watch::Receiver<Option<Instant>>,
    faults: Arc<Faults>,
) -> Result<NodeTimes, String> {
    let entry_id = match mode {
        SyncMode::Push => watch_for_entry(&node.channel, &faults).await?,
        SyncMode::Auto | SyncMode::Poll => poll_for_entry(&node.channel, interval).await?,
    };
    let Some(started) = *t0.borrow_and_update() else {
        return Err("an entry appeared before t0".to_owned());
    };
    let seen = started.elapsed();
    client::new_jwt(node.channel.clone(), &entry_id, "storage")
        .await
        .map_err(|s| format!("jwt: {:?} {}", s.code(), s.message()))?;
    Ok(NodeTimes {
        seen,
        held: started.elapsed(),
    })
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
/// again at once, as the agent does (counted in `faults`).
async fn watch_for_entry(channel: &Channel, faults: &Faults) -> Result<String, String> {
    // Held until the first stream delivered its first batch.
    let mut ramp = faults.ramp.acquire().await.ok();
    let mut settled = false;
    loop {
        match watch_once(channel, faults, &mut settled, &mut ramp).await {
            Ok(id) => return Ok(id),
            Err(status) if client::is_transient(&status) => {
                faults.record(&status);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(format!("watch: {:?} {}", status.code(), status.message())),
        }
    }
}

async fn watch_once(
    channel: &Channel,
    faults: &Faults,
    settled: &mut bool,
    ramp: &mut Option<SemaphorePermit<'_>>,
) -> Result<String, tonic::Status> {
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
        if !message.more && !*settled {
            *settled = true;
            *ramp = None;
            faults.mark_settled();
        }
    }
}
