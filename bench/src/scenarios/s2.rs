//! S2, registration scale: entries for a fleet of nodes created through the admin API
//! in batches, the server restarted on them (load and index time, memory per entry),
//! the fleet's nodes attested and following their entries while new ones are created
//! at a steady rate (propagation under churn, see `churn`), and one attested agent
//! receiving a very large authorized set through `SyncAuthorizedEntries`, then syncing
//! again with nothing changed.

mod churn;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Args;
use lanyard_agent::sync::paging::{HeldRevision, sync_authorized_entries};
use lanyard_agent::sync::poll::GrpcSyncStream;

use super::s5::SyncMode;
use super::{Harness, attest_fleet, summarize_errors};
use crate::procstat;
use crate::report::{LatencyRow, ScenarioReport, ThroughputRow};
use crate::server::workload_entry;

/// S2 parameters.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct S2Args {
    /// Entries for the fleet (parented to `entries / per_node` nodes).
    #[arg(long, default_value_t = 250_000)]
    pub entries: usize,
    /// Entries per node.
    #[arg(long, default_value_t = 25)]
    pub per_node: usize,
    /// Entries for the one attested agent that syncs them all.
    #[arg(long, default_value_t = 100_000)]
    pub agent_entries: usize,
    /// Entries per `BatchCreateEntry` call.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Nodes attested to follow their entries under churn (0: every node of the fleet).
    #[arg(long, default_value_t = 0)]
    pub churn_nodes: usize,
    /// Entries created per second during the churn window (one per call).
    #[arg(long, default_value_t = 100.0)]
    pub churn_rate: f64,
    /// Length of the churn window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub churn_seconds: f64,
    /// How the nodes follow their entries.
    #[arg(long, value_enum, default_value = "auto")]
    pub churn_sync: SyncMode,
    /// Poll interval with `--churn-sync poll`, milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub sync_interval_ms: u64,
}

/// Runs S2.
pub async fn run(harness: &Harness, args: &S2Args) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport {
        name: "s2".to_owned(),
        parameters: serde_json::to_value(args)?,
        ..ScenarioReport::default()
    };
    let (mut server, empty_start, target) = harness.start_server(harness.server.clone()).await?;
    let empty = server.sample()?;
    let client_before = procstat::sample(None)?;
    let started = Instant::now();

    // The nodes that will attest and follow their entries under churn own the
    // fleet's entries (the rest are parented to nodes that never attest).
    let nodes = args.entries.div_ceil(args.per_node.max(1));
    let churn_nodes = match args.churn_nodes {
        0 => nodes,
        n => n.min(nodes),
    };
    let tokens = server.join_tokens(churn_nodes, 32).await?;
    let parents: Vec<String> = (0..nodes)
        .map(|node| match tokens.get(node) {
            Some(token) => crate::server::join_token_agent_path(token),
            None => format!("/spire/agent/x509pop/node-{node}"),
        })
        .collect();

    // Creation through the admin API.
    let fleet_entries = (0..args.entries)
        .map(|i| {
            let node = i / args.per_node.max(1);
            workload_entry(
                &parents[node],
                &format!("/node-{node}/workload/{}", i % args.per_node.max(1)),
                1000 + i % args.per_node.max(1),
            )
        })
        .collect();
    let before = server.sample()?;
    let create_started = Instant::now();
    let (_, batch_latencies) = server.create_entries(fleet_entries, args.batch, 2).await?;
    let create_wall = create_started.elapsed();
    let created = server.sample()?;
    report.throughputs.push(ThroughputRow::new(
        "entries created (admin API, batched)",
        args.entries as u64,
        create_wall,
        created.cpu.saturating_sub(before.cpu),
        f64::NAN,
        harness.ceiling.cores,
    ));
    report.latencies.push(LatencyRow::from_samples(
        &format!("BatchCreateEntry ({} entries)", args.batch),
        batch_latencies,
    ));
    report.figure("nodes", nodes as f64, "");

    // Restart: load and index from the datastore.
    server.stop()?;
    let load = server.restart()?;
    let loaded = server.sample()?;
    let per_entry =
        loaded.rss_bytes.saturating_sub(empty.rss_bytes) as f64 / args.entries.max(1) as f64;
    report.figure(
        "start, empty datastore (spawn -> admin socket)",
        empty_start.as_secs_f64(),
        "s",
    );
    report.figure(
        &format!("start with {} entries (load + index)", args.entries),
        load.as_secs_f64(),
        "s",
    );
    report.figure("server RSS, empty", mib(empty.rss_bytes), "MiB");
    report.figure(
        "server RSS after restart with entries",
        mib(loaded.rss_bytes),
        "MiB",
    );
    report.figure(
        "server memory per entry (RSS delta / entries)",
        per_entry,
        "bytes",
    );
    report.figure("server CPU for the restart", loaded.cpu.as_secs_f64(), "s");

    run_churn(harness, args, &server, &target, tokens, &mut report).await?;

    // One agent, a very large authorized set.
    let token = server.join_tokens(1, 1).await?;
    let parent = crate::server::join_token_agent_path(&token[0]);
    let agent_entries = (0..args.agent_entries)
        .map(|i| workload_entry(&parent, &format!("/big/workload/{i}"), 1000 + i % 1000))
        .collect();
    server.create_entries(agent_entries, args.batch, 2).await?;
    let visible = Instant::now();
    let node = attest_fleet(&target, token, 1)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no agent attested"))?;
    // The entry cache follows the datastore asynchronously: wait until the agent sees
    // every entry (that wait is a propagation figure), then time a sync from nothing.
    let (_, warmups) = super::sync_until(
        &node.channel,
        args.agent_entries,
        visible + harness.deadline,
    )
    .await?;
    report.figure(
        "all the agent's entries visible to its sync after the last create",
        visible.elapsed().as_secs_f64(),
        "s",
    );
    report.figure("  syncs needed", f64::from(warmups), "");
    let before = server.sample()?;
    let sync_started = Instant::now();
    let mut stream = GrpcSyncStream::new(node.channel.clone());
    let outcome = sync_authorized_entries(&mut stream, &HashMap::new()).await?;
    drop(stream);
    let full_sync = sync_started.elapsed();
    let after_full = server.sample()?;
    let held: HashMap<String, HeldRevision> = match &outcome.update {
        lanyard_agent::cache::EntryUpdate::Full(entries)
        | lanyard_agent::cache::EntryUpdate::Delta {
            upserted: entries, ..
        } => entries
            .iter()
            .map(|e| {
                let revision = HeldRevision {
                    revision_number: e.revision_number,
                    created_at: e.created_at,
                };
                (e.id.clone(), revision)
            })
            .collect(),
    };
    if outcome.received != args.agent_entries {
        report.errors += 1;
        report.notes.push(format!(
            "the agent received {} of {} entries",
            outcome.received, args.agent_entries
        ));
    }
    let resync_started = Instant::now();
    let mut stream = GrpcSyncStream::new(node.channel.clone());
    let again = sync_authorized_entries(&mut stream, &held).await?;
    drop(stream);
    let resync = resync_started.elapsed();
    let after_resync = server.sample()?;
    if again.received != 0 {
        report.errors += 1;
        report.notes.push(format!(
            "a no-change sync fetched {} entries",
            again.received
        ));
    }
    report.figure(
        &format!("one agent, full sync of {} entries", args.agent_entries),
        full_sync.as_secs_f64(),
        "s",
    );
    report.figure(
        "  server CPU for it",
        after_full.cpu.saturating_sub(before.cpu).as_secs_f64(),
        "s",
    );
    report.figure("same agent, no-change sync", resync.as_secs_f64(), "s");
    report.figure(
        "  server CPU for it",
        after_resync
            .cpu
            .saturating_sub(after_full.cpu)
            .as_secs_f64(),
        "s",
    );

    // The restart began a new process: add both processes' CPU and take both peaks.
    let last = server.sample()?;
    report.set_costs(
        started.elapsed(),
        (empty, created),
        (client_before, procstat::sample(None)?),
    );
    report.server_cpu_s += last.cpu.as_secs_f64();
    report.server_peak_rss_bytes = report.server_peak_rss_bytes.max(last.peak_rss_bytes);
    report.notes.push(
        "Targets at 250,000 entries: load + index <= 1 s, <= 1 KB (1024 bytes) per entry, \
         one agent receives 100,000 entries with no message limit. The start time includes \
         process start, datastore open and CA preparation (see the empty start)."
            .to_owned(),
    );
    report.notes.push(
        "Target under churn: a new entry reaches its node's agent within 1 s at p99.".to_owned(),
    );
    Ok(report)
}

/// Attests the churn nodes, then measures propagation while entries are created.
async fn run_churn(
    harness: &Harness,
    args: &S2Args,
    server: &crate::server::BenchServer,
    target: &crate::client::Target,
    tokens: Vec<String>,
    report: &mut ScenarioReport,
) -> anyhow::Result<()> {
    let count = tokens.len();
    let attest_started = Instant::now();
    let nodes = attest_fleet(target, tokens, 32).await?;
    report.figure(
        &format!("{count} churn nodes attested (outside the window)"),
        attest_started.elapsed().as_secs_f64(),
        "s",
    );
    let mode = match args.churn_sync {
        SyncMode::Auto if churn::offers_push(&nodes[0].channel).await => SyncMode::Push,
        SyncMode::Auto => SyncMode::Poll,
        other => other,
    };
    let churn = churn::Churn {
        rate: args.churn_rate,
        seconds: args.churn_seconds,
        mode,
        interval: Duration::from_millis(args.sync_interval_ms.max(1)),
    };
    let before = server.sample()?;
    let outcome = churn::run(server, &nodes, &churn, harness.deadline).await?;
    let after = server.sample()?;
    drop(nodes);

    let created = outcome.creates.len() as u64;
    report.figure(
        &format!("churn: entries created (1 per call, {mode:?})"),
        created as f64,
        "",
    );
    report.figure(
        "churn: create rate achieved",
        created as f64 / outcome.create_wall.as_secs_f64().max(1e-9),
        "/s",
    );
    report.figure(
        "churn: server CPU in the window (incl. the wait for the last entries)",
        after.cpu.saturating_sub(before.cpu).as_secs_f64(),
        "s",
    );
    report.latencies.push(LatencyRow::from_samples(
        "churn: create call (1 entry)",
        outcome.creates,
    ));
    let (from_answer, from_request): (Vec<_>, Vec<_>) = outcome
        .samples
        .iter()
        .map(|s| (s.from_answer, s.from_request))
        .unzip();
    report.latencies.push(LatencyRow::from_samples(
        "churn: create answered -> node has the entry",
        from_answer,
    ));
    report.latencies.push(LatencyRow::from_samples(
        "churn: create sent -> node has the entry",
        from_request,
    ));
    report.retries += outcome.retries;
    if outcome.missing > 0 {
        report.errors += outcome.missing;
        report.notes.push(format!(
            "churn: {} entries never reached their node ({} creates failed)",
            outcome.missing, outcome.failed_creates
        ));
        report
            .notes
            .extend(summarize_errors(&outcome.create_errors, 3));
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
