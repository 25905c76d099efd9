//! S3, Workload API: many workloads on one real agent. Each opens its own connection to
//! the agent's socket and a `FetchX509SVID` stream (the time to its first message is the
//! cached X.509 fetch), then calls `FetchJWTSVID` twice for an audience of its own: the
//! first call needs the server (a miss), the second comes from the agent's cache (a hit).
//! All workloads run in this process, so they share one uid and one pid; workload
//! attestation is paid per call but always finds the same process.
//!
//! Then every workload asks at once for a JWT-SVID with one audience they share (a
//! miss the agent can serve with one server call), the steady state runs, and last the
//! rotation fan-out is measured ([`rotation`]).

mod rotation;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use lanyard_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use lanyard_proto::workload::{JwtsvidRequest, X509svidRequest};
use tonic::transport::Channel;

use super::agent_proc::{agent_binary, start_agent};
use super::{Harness, summarize_errors};
use crate::procstat;
use crate::report::{LatencyRow, ScenarioReport};

/// S3 parameters.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct S3Args {
    /// Concurrent workloads.
    #[arg(long, default_value_t = 1000)]
    pub workloads: usize,
    /// Seconds of steady state after the burst: every workload fetches its JWT-SVID
    /// once a second while a probe opens fresh X.509 streams one after another.
    #[arg(long, default_value_t = 5.0)]
    pub steady_seconds: f64,
    /// The lanyard-agent binary (default: next to the server binary).
    #[arg(long)]
    pub agent_bin: Option<std::path::PathBuf>,
}

/// What one workload saw.
struct Timings {
    x509_first: Duration,
    jwt_miss: Duration,
    jwt_hit: Duration,
    /// Held open until the rotation measurement, which reads it.
    stream: Option<rotation::HeldStream>,
    client: SpiffeWorkloadApiClient<Channel>,
    audience: String,
}

/// The audience every workload asks for at once after the burst.
const SHARED_AUDIENCE: &str = "bench-shared";

/// Runs S3.
pub async fn run(harness: &Harness, args: &S3Args) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport {
        name: "s3".to_owned(),
        parameters: serde_json::to_value(args)?,
        ..ScenarioReport::default()
    };
    let agent_bin = agent_binary(harness, args.agent_bin.as_ref())?;
    let (server, _, _) = harness.start_server(harness.server.clone()).await?;
    let agent = start_agent(&server, &agent_bin, 1, harness.deadline).await?;
    let pid = agent.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (agent_before, server_before) = (procstat::sample(Some(pid))?, server.sample()?);
    let client_before = procstat::sample(None)?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.workloads)
        .map(|i| {
            let socket = agent.socket.clone();
            tokio::spawn(async move { workload(&socket, i).await })
        })
        .collect();
    let mut timings = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(t) => timings.push(t),
            Err(error) => errors.push(error),
        }
    }
    let (shared_miss, shared_tokens, shared_errors) = shared_miss(&timings).await;
    errors.extend(shared_errors);
    let sleeper = SleepProbe::start();
    let (steady_jwt, steady_x509, steady_errors) =
        steady_state(&agent.socket, &timings, args.steady_seconds).await;
    let overshoot = sleeper.stop();
    errors.extend(steady_errors);
    let entry_id = agent
        .entry_ids
        .first()
        .ok_or_else(|| anyhow::anyhow!("the agent has no entry"))?;
    let streams = timings.iter_mut().filter_map(|t| t.stream.take()).collect();
    // An agent that never re-mints would otherwise hold the run for the whole deadline.
    let patience = harness.deadline.min(Duration::from_secs(30));
    let rotated = rotation::measure(server.admin().await?, entry_id, streams, patience).await?;
    errors.extend(rotated.errors.iter().cloned());
    let wall = started.elapsed();
    let agent_after = procstat::sample(Some(pid))?;
    report.set_costs(
        wall,
        (server_before, server.sample()?),
        (client_before, procstat::sample(None)?),
    );
    report.errors = errors.len() as u64;
    report.latencies.push(LatencyRow::from_samples(
        "FetchX509SVID, connect -> first message (cached)",
        timings.iter().map(|t| t.x509_first).collect(),
    ));
    report.latencies.push(LatencyRow::from_samples(
        "FetchJWTSVID, new audience (miss: server round trip)",
        timings.iter().map(|t| t.jwt_miss).collect(),
    ));
    report.latencies.push(LatencyRow::from_samples(
        "FetchJWTSVID, same audience again (hit)",
        timings.iter().map(|t| t.jwt_hit).collect(),
    ));
    report.latencies.push(LatencyRow::from_samples(
        &format!(
            "FetchJWTSVID, one audience for all {}, all at once (miss)",
            timings.len()
        ),
        shared_miss,
    ));
    report.latencies.push(LatencyRow::from_samples(
        &format!(
            "steady state: FetchJWTSVID hit, {} workloads at 1/s",
            timings.len()
        ),
        steady_jwt,
    ));
    report.latencies.push(LatencyRow::from_samples(
        "steady state: new FetchX509SVID stream -> first message (cached)",
        steady_x509,
    ));
    report.latencies.push(LatencyRow::from_samples(
        "steady state: 1 ms sleep of an idle bench thread, overshoot (scheduler noise)",
        overshoot,
    ));
    report.latencies.push(LatencyRow::from_samples(
        "rotation: entry update -> new X.509-SVID on each stream",
        rotated.arrivals.clone(),
    ));
    report.figure(
        &format!(
            "rotation fan-out, first to last of {} streams",
            rotated.arrivals.len()
        ),
        rotated.fan_out().as_secs_f64() * 1000.0,
        "ms",
    );
    report.figure(
        "rotation, entry update -> last stream",
        rotated
            .arrivals
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0,
        "ms",
    );
    report.figure(
        "rotation, entry update answered by the server",
        rotated.update_answered.as_secs_f64() * 1000.0,
        "ms",
    );
    report.figure(
        "distinct JWT-SVIDs for the shared audience (server calls)",
        shared_tokens as f64,
        "",
    );
    report.figure(
        "agent CPU",
        agent_after
            .cpu
            .saturating_sub(agent_before.cpu)
            .as_secs_f64(),
        "s",
    );
    report.figure(
        &format!("agent RSS with {} open streams", timings.len()),
        agent_after.rss_bytes as f64 / 1_048_576.0,
        "MiB",
    );
    report.figure(
        "agent peak RSS",
        agent_after.peak_rss_bytes as f64 / 1_048_576.0,
        "MiB",
    );
    report.notes.push(
        "Targets: cached X.509 p99 <= 1 ms, JWT hit p99 <= 1 ms, JWT miss p99 <= 5 ms, agent \
         RSS <= 64 MB, rotation pushed to every stream <= 100 ms. The burst rows start every \
         workload at once, so they include queueing behind each other; the steady-state rows \
         compare with the targets. The new-audience misses are one server call per workload \
         (a distinct audience each); the shared-audience misses need one call in all, and \
         the distinct tokens returned count the calls made (ECDSA signatures differ per \
         call). Rotation is triggered by a new x509_svid_ttl on the workloads' entry; the \
         trigger -> stream times include the server's entry propagation and the re-mint."
            .to_owned(),
    );
    report.notes.extend(summarize_errors(&errors, 5));
    drop(agent.child);
    Ok(report)
}

async fn workload(socket: &std::path::Path, index: usize) -> Result<Timings, String> {
    let started = Instant::now();
    let channel = lanyard_daemon::socket::connect_unix_channel(socket)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = SpiffeWorkloadApiClient::new(channel);
    let mut stream = client
        .fetch_x509svid(with_header(X509svidRequest {}))
        .await
        .map_err(|s| format!("x509: {:?} {}", s.code(), s.message()))?
        .into_inner();
    let first = stream
        .message()
        .await
        .map_err(|s| format!("x509: {:?} {}", s.code(), s.message()))?
        .ok_or_else(|| "x509: stream ended".to_owned())?;
    if first.svids.is_empty() {
        return Err("x509: no svid".to_owned());
    }
    let x509_first = started.elapsed();
    let audience = format!("bench-{index}");
    let (jwt_miss, _) = fetch_jwt(&mut client, &audience).await?;
    let (jwt_hit, _) = fetch_jwt(&mut client, &audience).await?;
    let svid = first.svids[0].x509_svid.clone();
    Ok(Timings {
        x509_first,
        jwt_miss,
        jwt_hit,
        stream: Some(rotation::HeldStream { stream, svid }),
        client,
        audience,
    })
}

/// Every workload asks for a JWT-SVID for [`SHARED_AUDIENCE`] at the same moment;
/// returns the latencies, how many distinct tokens came back, and the errors.
async fn shared_miss(workloads: &[Timings]) -> (Vec<Duration>, usize, Vec<String>) {
    let barrier = Arc::new(tokio::sync::Barrier::new(workloads.len()));
    let tasks: Vec<_> = workloads
        .iter()
        .map(|w| {
            let (mut client, barrier) = (w.client.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                fetch_jwt(&mut client, SHARED_AUDIENCE).await
            })
        })
        .collect();
    let (mut took, mut tokens, mut errors) = (Vec::new(), HashSet::new(), Vec::new());
    for task in tasks {
        match task.await {
            Ok(Ok((latency, token))) => {
                took.push(latency);
                tokens.insert(token);
            }
            Ok(Err(error)) => errors.push(error),
            Err(error) => errors.push(format!("jwt task: {error}")),
        }
    }
    (took, tokens.len(), errors)
}

/// A thread of this process that only sleeps 1 ms at a time and records by how much
/// each sleep overran: what the machine's scheduler adds to any latency measured here,
/// agent or bench, while it is shared with other work.
struct SleepProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Duration>>,
}

impl SleepProbe {
    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut overshoot = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                overshoot.push(started.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            overshoot
        });
        Self { stop, thread }
    }

    fn stop(self) -> Vec<Duration> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Every workload fetches its JWT-SVID once a second (random phase) for `seconds`
/// while one probe opens fresh X.509 streams back to back; returns both latency sets
/// and the errors.
async fn steady_state(
    socket: &std::path::Path,
    workloads: &[Timings],
    seconds: f64,
) -> (Vec<Duration>, Vec<Duration>, Vec<String>) {
    let stop_at = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    let mut tasks = Vec::new();
    for w in workloads {
        let (mut client, audience) = (w.client.clone(), w.audience.clone());
        tasks.push(tokio::spawn(async move {
            let phase = Duration::from_millis(u64::from(crate::client::random_u16()) % 1000);
            tokio::time::sleep(phase).await;
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            let mut out = Vec::new();
            while Instant::now() < stop_at {
                ticker.tick().await;
                out.push(
                    fetch_jwt(&mut client, &audience)
                        .await
                        .map(|(took, _)| took),
                );
            }
            out
        }));
    }
    let probe_socket = socket.to_owned();
    let probe = tokio::spawn(async move {
        let mut out = Vec::new();
        while Instant::now() < stop_at {
            out.push(first_x509(&probe_socket).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        out
    });
    let (mut jwt, mut x509, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        for result in task.await.unwrap_or_default() {
            match result {
                Ok(took) => jwt.push(took),
                Err(error) => errors.push(error),
            }
        }
    }
    for result in probe.await.unwrap_or_default() {
        match result {
            Ok(took) => x509.push(took),
            Err(error) => errors.push(error),
        }
    }
    (jwt, x509, errors)
}

/// Time from connecting to the first `FetchX509SVID` message on a fresh connection.
async fn first_x509(socket: &std::path::Path) -> Result<Duration, String> {
    let started = Instant::now();
    let channel = lanyard_daemon::socket::connect_unix_channel(socket)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut stream = SpiffeWorkloadApiClient::new(channel)
        .fetch_x509svid(with_header(X509svidRequest {}))
        .await
        .map_err(|s| format!("x509: {:?} {}", s.code(), s.message()))?
        .into_inner();
    stream
        .message()
        .await
        .map_err(|s| format!("x509: {:?} {}", s.code(), s.message()))?
        .ok_or_else(|| "x509: stream ended".to_owned())?;
    Ok(started.elapsed())
}

/// One `FetchJWTSVID`: how long it took and the first token.
async fn fetch_jwt(
    client: &mut SpiffeWorkloadApiClient<Channel>,
    audience: &str,
) -> Result<(Duration, String), String> {
    let started = Instant::now();
    let response = client
        .fetch_jwtsvid(with_header(JwtsvidRequest {
            audience: vec![audience.to_owned()],
            spiffe_id: String::new(),
        }))
        .await
        .map_err(|s| format!("jwt: {:?} {}", s.code(), s.message()))?
        .into_inner();
    let took = started.elapsed();
    let svid = response
        .svids
        .into_iter()
        .next()
        .ok_or_else(|| "jwt: no svid".to_owned())?;
    Ok((took, svid.svid))
}

/// A request with the header every Workload API call must carry.
fn with_header<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "workload.spiffe.io",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    request
}
