//! S4, issuance per core: attested agents on persistent mTLS connections call
//! `BatchNewX509SVID` (a batch of CSRs) and then `NewJWTSVID` in a closed loop, once
//! per server core count asked for (the server pinned with `taskset`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::{AttestedNode, Harness, attest_fleet, generate_csrs, summarize_errors, sync_until};
use crate::client;
use crate::procstat;
use crate::report::{LatencyRow, ScenarioReport, ThroughputRow};
use crate::server::workload_entry;

/// S4 parameters.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct S4Args {
    /// Agents, each with one persistent connection.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// CSRs per `BatchNewX509SVID` call (and entries per agent).
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Calls each agent keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// Measured seconds per phase (X.509, then JWT).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Server core counts to run with, e.g. `1,2`.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub server_cores: Vec<usize>,
}

/// What one phase of calls produced.
struct Phase {
    latencies: Vec<Duration>,
    issued: u64,
    errors: Vec<String>,
    wall: Duration,
    server_cpu: Duration,
}

/// Runs S4.
pub async fn run(harness: &Harness, args: &S4Args) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport {
        name: "s4".to_owned(),
        parameters: serde_json::to_value(args)?,
        ..ScenarioReport::default()
    };
    let csrs = Arc::new(generate_csrs(1024).await?);
    let ceiling = harness.ceiling;
    let client_before = procstat::sample(None)?;
    let mut server_cpu_total = Duration::ZERO;
    let mut wall_total = Duration::ZERO;
    let mut all_errors = Vec::new();
    for &cores in &args.server_cores {
        let mut options = harness.server.clone();
        options.cores = Some(cores.clamp(1, ceiling.cores));
        let (server, _, target) = harness.start_server(options).await?;
        let tokens = server.join_tokens(args.agents, 32).await?;
        let entries = tokens
            .iter()
            .flat_map(|token| {
                let parent = crate::server::join_token_agent_path(token);
                (0..args.batch)
                    .map(move |i| workload_entry(&parent, &format!("/s4/{token}/{i}"), 1000 + i))
            })
            .collect();
        server.create_entries(entries, 1000, 2).await?;
        let nodes = attest_fleet(&target, tokens, 16).await?;
        let mut fleet = Vec::with_capacity(nodes.len());
        let deadline = Instant::now() + harness.deadline;
        for node in nodes {
            let (ids, _) = sync_until(&node.channel, args.batch.max(1), deadline).await?;
            fleet.push((node, Arc::new(ids)));
        }

        let label = format!("{cores} server core{}", if cores == 1 { "" } else { "s" });
        let pool = Arc::clone(&csrs);
        let x509 = phase(&server, &fleet, args, move |channel, ids| {
            let csrs = Arc::clone(&pool);
            async move {
                client::batch_new_x509(channel, &ids, &csrs)
                    .await
                    .map(|(ok, _)| ok)
            }
        })
        .await?;
        let jwt = phase(&server, &fleet, args, |channel, ids| async move {
            client::new_jwt(channel, &ids[0], "bench").await.map(|_| 1)
        })
        .await?;
        report.server_peak_rss_bytes = report
            .server_peak_rss_bytes
            .max(server.sample()?.peak_rss_bytes);
        for (name, result, per_core) in [
            ("X.509-SVIDs from CSRs", &x509, ceiling.x509_from_csr_per_s),
            ("JWT-SVIDs", &jwt, ceiling.jwt_per_s),
        ] {
            report.throughputs.push(ThroughputRow::new(
                &format!("{name}, {label}"),
                result.issued,
                result.wall,
                result.server_cpu,
                per_core,
                cores,
            ));
            server_cpu_total += result.server_cpu;
            wall_total += result.wall;
            all_errors.extend(result.errors.iter().cloned());
        }
        report.latencies.push(LatencyRow::from_samples(
            &format!("BatchNewX509SVID ({} CSRs), {label}", args.batch),
            x509.latencies,
        ));
        report.latencies.push(LatencyRow::from_samples(
            &format!("NewJWTSVID, {label}"),
            jwt.latencies,
        ));
    }
    let client_after = procstat::sample(None)?;
    report.wall_s = wall_total.as_secs_f64();
    report.server_cpu_s = server_cpu_total.as_secs_f64();
    report.client_cpu_s = client_after
        .cpu
        .saturating_sub(client_before.cpu)
        .as_secs_f64();
    report.client_peak_rss_bytes = client_after.peak_rss_bytes;
    report.errors = all_errors.len() as u64;
    report.notes.push(
        "Target: >= 70% of the ceiling per core (ratio per core >= 0.70: X.509 = CSR verify + \
         sign, JWT = sign), near-linear from 1 to 2 cores. Client and server share the cores; \
         with 1 server core the client runs beside it."
            .to_owned(),
    );
    report.notes.extend(summarize_errors(&all_errors, 5));
    Ok(report)
}

/// Runs `call` in a closed loop from every agent for `args.seconds`.
async fn phase<F, Fut>(
    server: &crate::server::BenchServer,
    fleet: &[(AttestedNode, Arc<Vec<String>>)],
    args: &S4Args,
    call: F,
) -> anyhow::Result<Phase>
where
    F: Fn(tonic::transport::Channel, Arc<Vec<String>>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64, tonic::Status>> + Send,
{
    let issued = Arc::new(AtomicU64::new(0));
    let before = server.sample()?;
    let started = Instant::now();
    let stop_at = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for (node, ids) in fleet {
        for _ in 0..args.inflight.max(1) {
            let (channel, ids, call, issued) = (
                node.channel.clone(),
                Arc::clone(ids),
                call.clone(),
                Arc::clone(&issued),
            );
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = Vec::new();
                while Instant::now() < stop_at {
                    let sent = Instant::now();
                    match call(channel.clone(), Arc::clone(&ids)).await {
                        Ok(n) => {
                            latencies.push(sent.elapsed());
                            issued.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(status) => {
                            errors.push(format!("{:?} {}", status.code(), status.message()))
                        }
                    }
                }
                (latencies, errors)
            }));
        }
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    let wall = started.elapsed();
    let after = server.sample()?;
    Ok(Phase {
        latencies,
        issued: issued.load(Ordering::Relaxed),
        errors,
        wall,
        server_cpu: after.cpu.saturating_sub(before.cpu),
    })
}
