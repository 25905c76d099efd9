//! S1, boot storm: every agent starts at the same instant, attests with its join token,
//! receives its agent SVID, syncs its entries over mTLS and asks for its workloads'
//! X.509-SVIDs in one `BatchNewX509SVID` call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use super::{Harness, generate_csrs, generate_keys, summarize_errors};
use crate::client::{self, AgentKeys, Target};
use crate::procstat;
use crate::report::{LatencyRow, ScenarioReport, ThroughputRow};
use crate::server::{join_token_agent_path, workload_entry};

/// The server RSS the plan allows at 10,000 agents.
const RSS_TARGET_BYTES: u64 = 1 << 30;

/// How long an agent whose sync missed some of its entries waits before syncing again.
const RESYNC_DELAY: Duration = Duration::from_millis(100);

/// S1 parameters.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct S1Args {
    /// Agents arriving at t=0.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// Workload entries (and X.509-SVIDs) per node.
    #[arg(long, default_value_t = 12)]
    pub workloads_per_node: usize,
}

/// What one agent saw.
#[derive(Default)]
struct Outcome {
    attested: Option<Duration>,
    ready: Option<Duration>,
    svids: u64,
    refused: u64,
    retries: u64,
    stale_syncs: u64,
    error: Option<String>,
}

/// Runs S1.
pub async fn run(harness: &Harness, args: &S1Args) -> anyhow::Result<ScenarioReport> {
    let (server, _, target) = harness.start_server(harness.server.clone()).await?;
    let mut report = ScenarioReport {
        name: "s1".to_owned(),
        parameters: serde_json::to_value(args)?,
        ..ScenarioReport::default()
    };

    let setup = Instant::now();
    let tokens = server.join_tokens(args.agents, 32).await?;
    let entries = tokens
        .iter()
        .flat_map(|token| {
            let parent = join_token_agent_path(token);
            (0..args.workloads_per_node).map(move |i| {
                workload_entry(&parent, &format!("/node/{token}/workload/{i}"), 1000 + i)
            })
        })
        .collect();
    server.create_entries(entries, 1000, 2).await?;
    let keys = generate_keys(args.agents).await?;
    let csrs =
        Arc::new(generate_csrs((args.agents * args.workloads_per_node).clamp(1, 1024)).await?);
    report.figure(
        "setup (tokens, entries, keys)",
        setup.elapsed().as_secs_f64(),
        "s",
    );

    let server_before = server.sample()?;
    let client_before = procstat::sample(None)?;
    let t0 = Instant::now();
    let deadline = t0 + harness.deadline;
    let tasks: Vec<_> = tokens
        .into_iter()
        .zip(keys)
        .map(|(token, keys)| {
            let target = target.clone();
            let csrs = Arc::clone(&csrs);
            let expected = args.workloads_per_node;
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                let work = boot(
                    &target,
                    &token,
                    keys,
                    &csrs,
                    expected,
                    t0,
                    deadline,
                    &mut outcome,
                );
                if let Err(error) = tokio::time::timeout_at(deadline.into(), work)
                    .await
                    .unwrap_or_else(|_| Err("no result before the deadline".to_owned()))
                {
                    outcome.error = Some(error);
                }
                outcome
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await?);
    }
    let wall = t0.elapsed();
    report.set_costs(
        wall,
        (server_before, server.sample()?),
        (client_before, procstat::sample(None)?),
    );
    summarize(harness, args, &outcomes, &mut report);
    Ok(report)
}

#[expect(clippy::too_many_arguments, reason = "one agent's whole boot")]
async fn boot(
    target: &Target,
    token: &str,
    keys: AgentKeys,
    csrs: &[Vec<u8>],
    expected: usize,
    t0: Instant,
    deadline: Instant,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let (chain, retries) = client::with_retries(deadline, || {
        let channel = target.bootstrap_channel();
        let csr = keys.csr.clone();
        async move {
            let channel = channel.map_err(|e| tonic::Status::internal(e.to_string()))?;
            client::attest_join_token(channel, token, csr).await
        }
    })
    .await;
    outcome.retries += retries;
    let chain = chain.map_err(|s| format!("attest: {:?} {}", s.code(), s.message()))?;
    outcome.attested = Some(t0.elapsed());

    let channel = target
        .mtls_channel(&chain, &keys.key)
        .map_err(|e| e.to_string())?;
    // Entries created before t0 should all be in the first sync; when some are
    // missing the agent syncs again (a real agent would wait for its sync interval).
    let ids = loop {
        let (synced, retries) =
            client::with_retries(deadline, || client::sync_entries(channel.clone())).await;
        outcome.retries += retries;
        let synced = synced.map_err(|s| format!("sync: {:?} {}", s.code(), s.message()))?;
        let ids = client::synced_entry_ids(&synced);
        if ids.len() == expected {
            break ids;
        }
        if ids.len() > expected || Instant::now() + RESYNC_DELAY > deadline {
            return Err(format!(
                "sync: {} entries ({} unusable), expected {expected}",
                ids.len(),
                synced.skipped
            ));
        }
        outcome.stale_syncs += 1;
        tokio::time::sleep(RESYNC_DELAY).await;
    };
    let (issued, retries) = client::with_retries(deadline, || {
        client::batch_new_x509(channel.clone(), &ids, csrs)
    })
    .await;
    outcome.retries += retries;
    let (svids, refused) =
        issued.map_err(|s| format!("batch x509: {:?} {}", s.code(), s.message()))?;
    outcome.svids = svids;
    outcome.refused = refused;
    if refused > 0 {
        return Err("batch x509: items refused".to_owned());
    }
    outcome.ready = Some(t0.elapsed());
    Ok(())
}

fn summarize(harness: &Harness, args: &S1Args, outcomes: &[Outcome], report: &mut ScenarioReport) {
    let attested: Vec<Duration> = outcomes.iter().filter_map(|o| o.attested).collect();
    let ready: Vec<Duration> = outcomes.iter().filter_map(|o| o.ready).collect();
    let errors: Vec<String> = outcomes.iter().filter_map(|o| o.error.clone()).collect();
    let svids: u64 = outcomes.iter().map(|o| o.svids).sum();
    report.errors = errors.len() as u64 + outcomes.iter().map(|o| o.refused).sum::<u64>();
    report.retries = outcomes.iter().map(|o| o.retries).sum();

    let all_attested = attested.iter().max().copied().unwrap_or_default();
    let all_ready = ready.iter().max().copied().unwrap_or_default();
    let ceiling = &harness.ceiling;
    let server_cpu = Duration::from_secs_f64(report.server_cpu_s);
    report.throughputs.push(ThroughputRow::new(
        "attestations (agent SVIDs) until the last one",
        attested.len() as u64,
        all_attested,
        server_cpu,
        ceiling.x509_from_csr_per_s,
        ceiling.cores,
    ));
    report.throughputs.push(ThroughputRow::new(
        "X.509-SVIDs (agent + workload), whole storm",
        svids + attested.len() as u64,
        report_wall(report),
        server_cpu,
        ceiling.x509_from_csr_per_s,
        ceiling.cores,
    ));
    report.latencies.push(LatencyRow::from_samples(
        "t0 -> agent SVID (attestation)",
        attested,
    ));
    report.latencies.push(LatencyRow::from_samples(
        &format!(
            "t0 -> node ready ({} workload SVIDs)",
            args.workloads_per_node
        ),
        ready,
    ));
    let stale: u64 = outcomes.iter().map(|o| o.stale_syncs).sum();
    let stale_agents = outcomes.iter().filter(|o| o.stale_syncs > 0).count();
    report.figure(
        "agents whose first sync lacked entries created before t0",
        stale_agents as f64,
        "",
    );
    report.figure("syncs repeated for missing entries", stale as f64, "");
    report.figure("all agents attested", all_attested.as_secs_f64(), "s");
    report.figure("all workload SVIDs delivered", all_ready.as_secs_f64(), "s");
    report.figure(
        "server CPU per agent (all steps)",
        report.server_cpu_s * 1e3 / args.agents.max(1) as f64,
        "ms",
    );
    report.notes.push(format!(
        "Targets at 10,000 agents: all attested <= 10 s ({}), p99 attestation <= 5 s, \
         server RSS <= 1 GB ({}), workload SVIDs <= 25 s, no failures.",
        verdict(all_attested <= Duration::from_secs(10)),
        verdict(report.server_peak_rss_bytes <= RSS_TARGET_BYTES),
    ));
    report.notes.extend(summarize_errors(&errors, 5));
}

fn report_wall(report: &ScenarioReport) -> Duration {
    Duration::from_secs_f64(report.wall_s)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}
