//! A server and agents as separate processes on loopback, for fault and interop tests.
//!
//! The agent is the real `lanyard-agent` binary. Cargo builds only this crate's
//! binaries for its tests, so the server runs as this test binary re-executed into
//! the server's own command line (`lanyard_server::cli`, exactly what the
//! `lanyard-server` binary's `main` runs): a real process with its own runtime,
//! datastore and sockets, which the test can SIGKILL and start again. Each test file
//! declares the ignored entry point with [`server_child_entry_point!`].

#![allow(dead_code, reason = "each test file uses a different part")]

pub(crate) mod workload;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use lanyard_proto::spire::api::server::agent::v1::CreateJoinTokenRequest;
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::types;
use lanyard_testkit::{ChildGuard, ShortTempDir, free_tcp_port};
use tonic::transport::Channel;

/// The trust domain of every test server.
pub(crate) const TD: &str = "example.org";

/// How long a process may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The server command line the re-executed test binary runs, one argument a line.
const SERVER_ARGS_VAR: &str = "LANYARD_TEST_SERVER_ARGS";

/// Where the re-executed server command writes its output.
const SERVER_OUT_VAR: &str = "LANYARD_TEST_SERVER_OUT";

/// Declares `server_child`, the ignored test through which this test binary runs the
/// server's command line in a child process.
#[macro_export]
macro_rules! server_child_entry_point {
    () => {
        #[test]
        #[ignore = "entry point of the server child process, run by the other tests"]
        fn server_child() {
            cluster::run_server_child();
        }
    };
}

/// Runs the server command line named by the environment (in the child process).
pub(crate) fn run_server_child() {
    let args = std::env::var(SERVER_ARGS_VAR).expect("started by a test as the server child");
    let out = std::env::var_os(SERVER_OUT_VAR).expect("an output file");
    let cli =
        lanyard_server::cli::Cli::parse_args(std::iter::once("lanyard-server").chain(args.lines()))
            .unwrap();
    let mut out = std::fs::File::create(out).unwrap();
    lanyard_server::cli::execute(cli.command, &mut out).unwrap();
}

/// `lanyard-server` with `args`, run to completion; its standard output.
pub(crate) fn server_command(dir: &Path, args: &[&str]) -> String {
    let out = dir.join(format!("server-command-{}.out", std::process::id()));
    let status = server_process(args, &out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(status.success(), "lanyard-server {args:?} failed: {text}");
    text
}

fn server_process(args: &[&str], out: &Path) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "server_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SERVER_ARGS_VAR, args.join("\n"))
        .env(SERVER_OUT_VAR, out);
    command
}

/// A server process with its configuration, data directory and logs in `dir`.
pub(crate) struct ServerProcess {
    dir: PathBuf,
    /// The admin socket.
    pub(crate) socket: PathBuf,
    /// The agent endpoint's port.
    pub(crate) agent_port: u16,
    config: PathBuf,
    child: Option<ChildGuard>,
    starts: usize,
}

impl ServerProcess {
    /// Writes a configuration (with `server_extra` lines in the `server { }` block)
    /// and starts the server; returns once the admin socket accepts connections.
    pub(crate) fn start(dir: &ShortTempDir, server_extra: &str) -> Self {
        let socket = dir.socket_path("api.sock").unwrap();
        let agent_port = free_tcp_port().unwrap();
        let config = dir.join("server.conf");
        std::fs::write(
            &config,
            format!(
                "server {{\n  trust_domain = \"{TD}\"\n  data_dir = \"{}\"\n  \
                 socket_path = \"{}\"\n  bind_address = \"127.0.0.1\"\n  \
                 bind_port = {agent_port}\n  log_level = \"DEBUG\"\n{server_extra}\n}}\n",
                dir.join("server-data").display(),
                socket.display(),
            ),
        )
        .unwrap();
        let mut server = Self {
            dir: dir.path().to_owned(),
            socket,
            agent_port,
            config,
            child: None,
            starts: 0,
        };
        server.spawn();
        server
    }

    /// SIGKILL: no chance to clean up.
    pub(crate) fn kill(&mut self) {
        drop(self.child.take().expect("server is running"));
    }

    /// Starts the server again with the same configuration and data.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "kill the server first");
        self.spawn();
    }

    /// Everything the server logged (all runs).
    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        for run in 0..self.starts {
            let path = self.dir.join(format!("server-{run}.log"));
            let _ = writeln!(text, "--- server run {run}");
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        text
    }

    /// A channel to the admin socket.
    pub(crate) async fn admin(&self) -> Channel {
        lanyard_daemon::socket::connect_unix_channel(&self.socket)
            .await
            .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", self.log()))
    }

    /// A join token for one agent.
    pub(crate) async fn join_token(&self) -> String {
        AgentClient::new(self.admin().await)
            .create_join_token(CreateJoinTokenRequest {
                ttl: 600,
                ..CreateJoinTokenRequest::default()
            })
            .await
            .unwrap()
            .into_inner()
            .value
    }

    /// Creates an entry for this test's uid at `path` under `parent`; its ID.
    pub(crate) async fn create_entry(&self, parent: &str, path: &str) -> String {
        let results = EntryClient::new(self.admin().await)
            .batch_create_entry(BatchCreateEntryRequest {
                entries: vec![uid_entry(parent, path)],
                output_mask: None,
            })
            .await
            .unwrap()
            .into_inner()
            .results;
        let result = &results[0];
        assert_eq!(result.status.as_ref().unwrap().code, 0, "{results:?}");
        result.entry.as_ref().unwrap().id.clone()
    }

    /// The trust bundle as `lanyard-server bundle show` prints it (PEM).
    pub(crate) fn bundle_pem(&self) -> String {
        let socket = self.socket.to_str().unwrap();
        server_command(&self.dir, &["bundle", "show", "-socketPath", socket])
    }

    fn spawn(&mut self) {
        let log_path = self.dir.join(format!("server-{}.log", self.starts));
        let log = std::fs::File::create(&log_path).unwrap();
        self.starts += 1;
        let config = self.config.to_str().unwrap().to_owned();
        let mut command = server_process(&["run", "-config", &config], &log_path);
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = ChildGuard::spawn(&mut command).unwrap();
        if let Err(error) = child.wait_for_unix_socket(&self.socket, START_TIMEOUT) {
            panic!("server did not start: {error}\n{}", self.log());
        }
        self.child = Some(child);
    }
}

/// The `lanyard-agent run` process with its configuration and data in `dir`.
pub(crate) struct AgentProcess {
    /// The Workload API socket.
    pub(crate) socket: PathBuf,
    log: PathBuf,
    _child: ChildGuard,
}

impl AgentProcess {
    /// Starts an agent for `server` that attests with `token`, trusts `bundle_pem`
    /// and polls every `sync_interval` when the server offers no push stream.
    pub(crate) fn start(
        dir: &ShortTempDir,
        server: &ServerProcess,
        token: &str,
        sync_interval: Duration,
    ) -> Self {
        std::fs::write(dir.join("bundle.pem"), server.bundle_pem()).unwrap();
        let socket = dir.socket_path("agent.sock").unwrap();
        let config = dir.join("agent.conf");
        std::fs::write(
            &config,
            format!(
                "agent {{\n  trust_domain = \"{TD}\"\n  server_address = \"127.0.0.1\"\n  \
                 server_port = {}\n  socket_path = \"{}\"\n  data_dir = \"{}\"\n  \
                 trust_bundle_path = \"{}\"\n  log_level = \"DEBUG\"\n  experimental {{\n    \
                 sync_interval = \"{}s\"\n  }}\n}}\nplugins {{\n  NodeAttestor \"join_token\" \
                 {{\n    plugin_data {{}}\n  }}\n  KeyManager \"memory\" {{\n    plugin_data {{}}\n  \
                 }}\n  WorkloadAttestor \"unix\" {{\n    plugin_data {{}}\n  }}\n}}\n",
                server.agent_port,
                socket.display(),
                dir.join("agent-data").display(),
                dir.join("bundle.pem").display(),
                sync_interval.as_secs(),
            ),
        )
        .unwrap();
        let log = dir.join("agent.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = ChildGuard::spawn(
            Command::new(env!("CARGO_BIN_EXE_lanyard-agent"))
                .arg("run")
                .arg("-config")
                .arg(&config)
                .arg("-joinToken")
                .arg(token)
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file),
        )
        .unwrap();
        Self {
            socket,
            log,
            _child: child,
        }
    }

    /// Everything the agent logged.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `spiffe://example.org/spire/agent/join_token/<token>`'s path.
pub(crate) fn agent_path(token: &str) -> String {
    format!("/spire/agent/join_token/{token}")
}

/// An entry at `path` under `parent`, selected by this process's uid.
pub(crate) fn uid_entry(parent: &str, path: &str) -> types::Entry {
    let id = |path: &str| types::Spiffeid {
        trust_domain: TD.to_owned(),
        path: path.to_owned(),
    };
    types::Entry {
        spiffe_id: Some(id(path)),
        parent_id: Some(id(parent)),
        selectors: vec![types::Selector {
            r#type: "unix".to_owned(),
            value: format!("uid:{}", rustix::process::geteuid().as_raw()),
        }],
        ..types::Entry::default()
    }
}
