//! Agent idle cost (OS noise on a compute node): a real `lanyard-agent` process attests
//! with a join token, receives its node's entries and mints their SVIDs, then nothing
//! changes for a while. Measured over that window, from `/proc`: the agent's CPU time,
//! its voluntary context switches (wake-ups, all threads) and its memory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::Args;
use lanyard_proto::spire::api::server::bundle::v1::GetBundleRequest;
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_testkit::ChildGuard;

use super::Harness;
use crate::procstat;
use crate::report::{LatencyRow, ScenarioReport};
use crate::server::{TRUST_DOMAIN, join_token_agent_path, workload_entry};

/// The agent RSS the plan allows.
const RSS_TARGET_BYTES: u64 = 32 << 20;

/// Idle-agent parameters.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct IdleArgs {
    /// Entries for the agent's node.
    #[arg(long, default_value_t = 25)]
    pub entries: usize,
    /// Length of the idle window, seconds.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// The lanyard-agent binary (default: next to this binary).
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,
}

/// Runs the idle-agent scenario.
pub async fn run(harness: &Harness, args: &IdleArgs) -> anyhow::Result<ScenarioReport> {
    let mut report = ScenarioReport {
        name: "idle".to_owned(),
        parameters: serde_json::to_value(args)?,
        ..ScenarioReport::default()
    };
    let agent_bin = match &args.agent_bin {
        Some(path) => path.clone(),
        None => harness.server.binary.with_file_name("lanyard-agent"),
    };
    anyhow::ensure!(
        agent_bin.is_file(),
        "no agent binary at {} (build it with `cargo build --release -p lanyard-agent` or pass --agent-bin)",
        agent_bin.display()
    );
    let (server, _, _) = harness.start_server(harness.server.clone()).await?;
    let token = server.join_tokens(1, 1).await?.remove(0);
    let parent = join_token_agent_path(&token);
    let uid = rustix::process::geteuid().as_raw() as usize;
    let entries = (0..args.entries.max(1))
        // The first entry matches the bench's own uid, so a fetch shows the agent is ready.
        .map(|i| {
            workload_entry(
                &parent,
                &format!("/idle/workload/{i}"),
                if i == 0 { uid } else { 100_000 + i },
            )
        })
        .collect();
    server.create_entries(entries, 1000, 1).await?;

    let dir = server.dir().to_owned();
    write_bundle(&server, &dir.join("bundle.pem")).await?;
    let socket = dir.join("agent.sock");
    let conf = format!(
        "agent {{\n  trust_domain = \"{TRUST_DOMAIN}\"\n  server_address = \"127.0.0.1\"\n  \
         server_port = {}\n  socket_path = \"{}\"\n  data_dir = \"{}\"\n  \
         trust_bundle_path = \"{}\"\n}}\nplugins {{\n  NodeAttestor \"join_token\" {{\n    \
         plugin_data {{}}\n  }}\n  KeyManager \"memory\" {{\n    plugin_data {{}}\n  }}\n  \
         WorkloadAttestor \"unix\" {{\n    plugin_data {{}}\n  }}\n}}\n",
        server.agent_address().port,
        socket.display(),
        dir.join("agent-data").display(),
        dir.join("bundle.pem").display(),
    );
    std::fs::write(dir.join("agent.conf"), conf)?;
    let log = std::fs::File::create(dir.join("agent.log"))?;
    let started = Instant::now();
    let agent = ChildGuard::spawn(
        Command::new(&agent_bin)
            .arg("run")
            .arg("-config")
            .arg(dir.join("agent.conf"))
            .arg("-joinToken")
            .arg(&token)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log),
    )?;
    let pid = agent.id();
    let ready = wait_for_svid(&agent_bin, &socket, started + harness.deadline).await?;
    report.latencies.push(LatencyRow::from_samples(
        "agent start -> first workload SVID",
        vec![ready],
    ));

    // Let start-up work (pre-minting, first syncs) finish before the window opens.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (agent_before, server_before) = (procstat::sample(Some(pid))?, server.sample()?);
    let client_before = procstat::sample(None)?;
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds.max(0.1))).await;
    let wall = window.elapsed();
    let (agent_after, server_after) = (procstat::sample(Some(pid))?, server.sample()?);
    report.set_costs(
        wall,
        (server_before, server_after),
        (client_before, procstat::sample(None)?),
    );
    drop(agent);

    let cpu = agent_after
        .cpu
        .saturating_sub(agent_before.cpu)
        .as_secs_f64();
    let wakeups = agent_after
        .voluntary_switches
        .saturating_sub(agent_before.voluntary_switches);
    let wall_s = wall.as_secs_f64();
    report.figure("agent CPU in the window", cpu, "s");
    report.figure("agent CPU share of one core", cpu * 100.0 / wall_s, "%");
    report.figure("agent voluntary context switches", wakeups as f64, "");
    report.figure("  per second", wakeups as f64 / wall_s, "/s");
    report.figure("agent RSS", agent_after.rss_bytes as f64 / 1048576.0, "MiB");
    report.figure(
        "agent peak RSS",
        agent_after.peak_rss_bytes as f64 / 1048576.0,
        "MiB",
    );
    report.notes.push(format!(
        "Targets: agent CPU <= 0.1% of a core ({}), RSS <= 32 MB ({}), no periodic wake-ups \
         beyond renewals (the wake-up count above; /proc gives no cause, so the count is \
         reported as measured). The clock resolution of /proc CPU time is 10 ms.",
        verdict(cpu * 100.0 / wall_s <= 0.1),
        verdict(agent_after.rss_bytes <= RSS_TARGET_BYTES),
    ));
    Ok(report)
}

/// Writes the server's X.509 authorities as PEM, as an operator would hand them to agents.
async fn write_bundle(server: &crate::server::BenchServer, path: &Path) -> anyhow::Result<()> {
    let bundle = BundleClient::new(server.admin().await?)
        .get_bundle(GetBundleRequest::default())
        .await?
        .into_inner();
    let mut pem = String::new();
    for authority in &bundle.x509_authorities {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&authority.asn1);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            let _ = writeln!(pem, "{}", String::from_utf8_lossy(line));
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    std::fs::write(path, pem)?;
    Ok(())
}

/// Polls `lanyard-agent api fetch x509` until it succeeds; returns the time it took.
async fn wait_for_svid(
    agent_bin: &Path,
    socket: &Path,
    deadline: Instant,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let output = tokio::process::Command::new(agent_bin)
            .args(["api", "fetch", "x509", "-socketPath"])
            .arg(socket)
            .output()
            .await?;
        if output.status.success() {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agent served no SVID before the deadline"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}
