//! S3, Workload API: many workloads on one real agent. Each opens its own connection to
//! the agent's socket and a `FetchX509SVID` stream (the time to its first message is the
//! cached X.509 fetch), then calls `FetchJWTSVID` twice for an audience of its own: the
//! first call needs the server (a miss), the second comes from the agent's cache (a hit).
//! All workloads run in this process, so they share one uid and one pid; workload
//! attestation is paid per call but always finds the same process.

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
    /// Held so every stream stays open until the scenario ends.
    _stream: tonic::Streaming<lanyard_proto::workload::X509svidResponse>,
    client: SpiffeWorkloadApiClient<Channel>,
    audience: String,
}

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
    let (steady_jwt, steady_x509, steady_errors) =
        steady_state(&agent.socket, &timings, args.steady_seconds).await;
    errors.extend(steady_errors);
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
            "steady state: FetchJWTSVID hit, {} workloads at 1/s",
            timings.len()
        ),
        steady_jwt,
    ));
    report.latencies.push(LatencyRow::from_samples(
        "steady state: new FetchX509SVID stream -> first message (cached)",
        steady_x509,
    ));
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
         RSS <= 64 MB. The burst rows start every workload at once, so they include queueing \
         behind each other; the steady-state rows compare with the targets. Not measured yet: rotation fan-out to all streams (TODO(#7))."
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
    let jwt_miss = fetch_jwt(&mut client, &audience).await?;
    let jwt_hit = fetch_jwt(&mut client, &audience).await?;
    Ok(Timings {
        x509_first,
        jwt_miss,
        jwt_hit,
        _stream: stream,
        client,
        audience,
    })
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
                out.push(fetch_jwt(&mut client, &audience).await);
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

async fn fetch_jwt(
    client: &mut SpiffeWorkloadApiClient<Channel>,
    audience: &str,
) -> Result<Duration, String> {
    let started = Instant::now();
    let response = client
        .fetch_jwtsvid(with_header(JwtsvidRequest {
            audience: vec![audience.to_owned()],
            spiffe_id: String::new(),
        }))
        .await
        .map_err(|s| format!("jwt: {:?} {}", s.code(), s.message()))?
        .into_inner();
    if response.svids.is_empty() {
        return Err("jwt: no svid".to_owned());
    }
    Ok(started.elapsed())
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
