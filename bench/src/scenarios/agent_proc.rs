//! A real `lanyard-agent` process for the agent-side scenarios: configured like an
//! operator would (trust bundle file, join token), attested to the bench server, and
//! ready once it serves a workload SVID on its Workload API socket.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lanyard_proto::spire::api::server::bundle::v1::GetBundleRequest;
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_testkit::ChildGuard;

use super::Harness;
use crate::server::{BenchServer, TRUST_DOMAIN, join_token_agent_path, workload_entry};

/// A running agent.
pub struct AgentProcess {
    /// The process (killed when dropped).
    pub child: ChildGuard,
    /// Its Workload API socket.
    pub socket: PathBuf,
    /// From spawn until it served the first workload SVID.
    pub ready: Duration,
    /// The IDs of the entries made for it; the first matches this process.
    pub entry_ids: Vec<String>,
}

/// The agent binary: `explicit`, or `lanyard-agent` next to the server binary.
pub fn agent_binary(harness: &Harness, explicit: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let path = explicit
        .cloned()
        .unwrap_or_else(|| harness.server.binary.with_file_name("lanyard-agent"));
    anyhow::ensure!(
        path.is_file(),
        "no agent binary at {} (build it with `cargo build --release -p lanyard-agent` \
         or pass --agent-bin)",
        path.display()
    );
    Ok(path)
}

/// Creates a join token and `entries` entries for the agent (the first one matching
/// this process's uid, so the bench can fetch it), starts the agent and waits until it
/// serves that SVID.
pub async fn start_agent(
    server: &BenchServer,
    agent_bin: &Path,
    entries: usize,
    deadline: Duration,
) -> anyhow::Result<AgentProcess> {
    let token = server.join_tokens(1, 1).await?.remove(0);
    let parent = join_token_agent_path(&token);
    let uid = rustix::process::geteuid().as_raw() as usize;
    let entries = (0..entries.max(1))
        .map(|i| {
            let uid = if i == 0 { uid } else { 100_000 + i };
            workload_entry(&parent, &format!("/agent/workload/{i}"), uid)
        })
        .collect();
    let (entry_ids, _) = server.create_entries(entries, 1000, 1).await?;

    let dir = server.dir().to_owned();
    write_bundle(server, &dir.join("bundle.pem")).await?;
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
    let child = ChildGuard::spawn(
        Command::new(agent_bin)
            .arg("run")
            .arg("-config")
            .arg(dir.join("agent.conf"))
            .arg("-joinToken")
            .arg(&token)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log),
    )?;
    let ready = wait_for_svid(agent_bin, &socket, started + deadline).await?;
    Ok(AgentProcess {
        child,
        socket,
        ready,
        entry_ids,
    })
}

/// Writes the server's X.509 authorities as PEM, as an operator would hand them to agents.
async fn write_bundle(server: &BenchServer, path: &Path) -> anyhow::Result<()> {
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
