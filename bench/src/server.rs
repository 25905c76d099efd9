//! A real `lanyard-server` process in a temporary directory: its configuration, start
//! and restart (timed), its admin socket, and its costs from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use lanyard_agent::node::connection::ServerAddress;
use lanyard_agent::node::verifier::TrustAnchors;
use lanyard_proto::spire::api::server::agent::v1::CreateJoinTokenRequest;
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::bundle::v1::GetBundleRequest;
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::types;
use lanyard_spiffe::TrustDomain;
use lanyard_testkit::{ChildGuard, ShortTempDir, free_tcp_port};
use tonic::transport::Channel;

use crate::procstat::{self, ProcSample};

/// The trust domain the bench server serves.
pub const TRUST_DOMAIN: &str = "bench.example";

/// How long a start (including loading the datastore) may take.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a stop may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Largest admin message the bench accepts (entry lists).
const ADMIN_MESSAGE_LIMIT: usize = 256 * 1024 * 1024;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The `lanyard-server` binary.
    pub binary: PathBuf,
    /// `log_level` in the server block.
    pub log_level: String,
    /// Pin the server to the first N cores with `taskset` (all cores when `None`).
    pub cores: Option<usize>,
}

/// A running (or stopped) server process.
pub struct BenchServer {
    options: ServerOptions,
    dir: ShortTempDir,
    config: PathBuf,
    socket: PathBuf,
    agent_port: u16,
    child: Option<ChildGuard>,
    starts: usize,
}

impl BenchServer {
    /// Writes the configuration and starts the server; returns it with the time from
    /// spawn until its admin socket accepted a connection.
    pub fn start(options: ServerOptions) -> anyhow::Result<(Self, Duration)> {
        anyhow::ensure!(
            options.binary.is_file(),
            "no server binary at {} (build it with `cargo build --release -p lanyard-server` or pass --server-bin)",
            options.binary.display()
        );
        let dir = ShortTempDir::new()?;
        let socket = dir
            .socket_path("api.sock")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let config = dir.join("server.conf");
        let agent_port = free_tcp_port()?;
        // SPIRE's per-IP signing limit would throttle simulated agents that all share
        // 127.0.0.1; attestation admission (a slot per core) stays on.
        let text = format!(
            "server {{\n  trust_domain = \"{TRUST_DOMAIN}\"\n  data_dir = \"{}\"\n  \
             socket_path = \"{}\"\n  bind_address = \"127.0.0.1\"\n  bind_port = {agent_port}\n  \
             log_level = \"{}\"\n  ratelimit {{\n    signing = false\n  }}\n}}\n",
            dir.join("data").display(),
            socket.display(),
            options.log_level,
        );
        std::fs::write(&config, text)?;
        let mut server = Self {
            options,
            dir,
            config,
            socket,
            agent_port,
            child: None,
            starts: 0,
        };
        let took = server.spawn()?;
        Ok((server, took))
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.take() {
            let status = child.terminate(STOP_GRACE)?;
            anyhow::ensure!(status.success(), "server exited with {status}");
        }
        Ok(())
    }

    /// Starts it again on the same data; returns the time until its admin socket
    /// accepted a connection (datastore load and indexing included).
    pub fn restart(&mut self) -> anyhow::Result<Duration> {
        anyhow::ensure!(self.child.is_none(), "stop the server first");
        self.spawn()
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildGuard::id)
    }

    /// Its CPU and memory counters now.
    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        let pid = self.pid().context("server is not running")?;
        procstat::sample(Some(pid))
    }

    /// Where agents connect.
    pub fn agent_address(&self) -> ServerAddress {
        ServerAddress {
            host: "127.0.0.1".to_owned(),
            port: self.agent_port,
        }
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> anyhow::Result<TrustDomain> {
        Ok(TrustDomain::new(TRUST_DOMAIN)?)
    }

    /// A new connection to the admin socket.
    pub async fn admin(&self) -> anyhow::Result<Channel> {
        Ok(lanyard_daemon::socket::connect_unix_channel(&self.socket).await?)
    }

    /// The trust bundle, as agents would read it from `trust_bundle_path`.
    pub async fn trust_anchors(&self) -> anyhow::Result<TrustAnchors> {
        let bundle = BundleClient::new(self.admin().await?)
            .max_decoding_message_size(ADMIN_MESSAGE_LIMIT)
            .get_bundle(GetBundleRequest::default())
            .await?
            .into_inner();
        let bundle = lanyard_agent::convert::bundle_from_proto(&bundle)?;
        Ok(TrustAnchors::new(bundle))
    }

    /// Creates `count` join tokens, `parallel` calls at a time.
    pub async fn join_tokens(&self, count: usize, parallel: usize) -> anyhow::Result<Vec<String>> {
        use futures::StreamExt as _;
        let admin = self.admin().await?;
        let calls = (0..count).map(|_| {
            let mut client = AgentClient::new(admin.clone());
            async move {
                let response = client
                    .create_join_token(CreateJoinTokenRequest {
                        ttl: 3600,
                        ..CreateJoinTokenRequest::default()
                    })
                    .await?;
                Ok::<_, tonic::Status>(response.into_inner().value)
            }
        });
        let tokens: Vec<Result<String, tonic::Status>> = futures::stream::iter(calls)
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
        Ok(tokens.into_iter().collect::<Result<_, _>>()?)
    }

    /// Creates `entries` in batches of `batch`, `parallel` batches at a time; returns
    /// the new entry IDs in order and the latency of every batch call.
    pub async fn create_entries(
        &self,
        entries: Vec<types::Entry>,
        batch: usize,
        parallel: usize,
    ) -> anyhow::Result<(Vec<String>, Vec<Duration>)> {
        use futures::StreamExt as _;
        let admin = self.admin().await?;
        let chunks: Vec<Vec<types::Entry>> = entries
            .chunks(batch.max(1))
            .map(<[types::Entry]>::to_vec)
            .collect();
        let calls = chunks.into_iter().map(|chunk| {
            let mut client =
                EntryClient::new(admin.clone()).max_decoding_message_size(ADMIN_MESSAGE_LIMIT);
            async move {
                let started = Instant::now();
                let results = client
                    .batch_create_entry(BatchCreateEntryRequest {
                        entries: chunk,
                        output_mask: None,
                    })
                    .await?
                    .into_inner()
                    .results;
                Ok::<_, anyhow::Error>((results, started.elapsed()))
            }
        });
        let answers: Vec<anyhow::Result<_>> = futures::stream::iter(calls)
            .buffered(parallel.max(1))
            .collect()
            .await;
        let mut ids = Vec::with_capacity(entries.len());
        let mut latencies = Vec::new();
        for answer in answers {
            let (results, took) = answer?;
            latencies.push(took);
            for result in results {
                let code = result.status.as_ref().map_or(-1, |s| s.code);
                anyhow::ensure!(code == 0, "entry creation failed: {:?}", result.status);
                ids.push(result.entry.map(|e| e.id).unwrap_or_default());
            }
        }
        Ok((ids, latencies))
    }

    /// The directory holding config, data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) -> anyhow::Result<Duration> {
        let log = std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts)))?;
        self.starts += 1;
        let mut command = match self.options.cores {
            Some(cores) => {
                let mut command = Command::new("taskset");
                command
                    .arg("-c")
                    .arg(format!("0-{}", cores.max(1) - 1))
                    .arg(&self.options.binary);
                command
            }
            None => Command::new(&self.options.binary),
        };
        command
            .arg("run")
            .arg("-config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        let mut child = ChildGuard::spawn(&mut command)?;
        child
            .wait_for_unix_socket(&self.socket, START_TIMEOUT)
            .map_err(|e| {
                anyhow::anyhow!("server did not start: {e}; log in {}", self.dir().display())
            })?;
        let took = started.elapsed();
        self.child = Some(child);
        Ok(took)
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `spiffe://<td><path>` in protobuf form.
pub fn spiffe_id(path: &str) -> types::Spiffeid {
    types::Spiffeid {
        trust_domain: TRUST_DOMAIN.to_owned(),
        path: path.to_owned(),
    }
}

/// The path of the agent ID a join token attests to.
pub fn join_token_agent_path(token: &str) -> String {
    format!("/spire/agent/join_token/{token}")
}

/// A workload entry under `parent_path` with one unix selector.
pub fn workload_entry(parent_path: &str, path: &str, uid: usize) -> types::Entry {
    types::Entry {
        spiffe_id: Some(spiffe_id(path)),
        parent_id: Some(spiffe_id(parent_path)),
        selectors: vec![types::Selector {
            r#type: "unix".to_owned(),
            value: format!("uid:{uid}"),
        }],
        ..types::Entry::default()
    }
}
