//! Starting the real `lanyard-server` binary in a temporary directory and talking
//! to it over its admin socket.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_proto::spire::api::server::debug::v1::debug_client::DebugClient;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::server::localauthority::v1::local_authority_client::LocalAuthorityClient;
use lanyard_proto::spire::api::server::logger::v1::logger_client::LoggerClient;
use lanyard_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use lanyard_testkit::{ChildGuard, ShortTempDir, free_tcp_port};
use tonic::transport::Channel;

pub(crate) mod agent;
pub(crate) mod fixtures;

/// The trust domain every test server serves.
pub(crate) const TRUST_DOMAIN: &str = "example.org";

/// How long a server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server may take to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// What to run the server with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// PostgreSQL URL; SQLite in the data dir when `None`.
    pub(crate) postgres_url: Option<String>,
    /// Serve `/live` and `/ready`.
    pub(crate) health_checks: bool,
    /// Serve Prometheus `/metrics`.
    pub(crate) metrics: bool,
    /// Extra lines for the `server { }` block.
    pub(crate) server_extra: String,
    /// Extra top-level configuration (e.g. a `plugins { }` block).
    pub(crate) top_level: String,
}

/// A `lanyard-server` process with its own directory, socket and data dir.
pub(crate) struct TestServer {
    dir: ShortTempDir,
    /// The admin socket.
    pub(crate) socket: PathBuf,
    config: PathBuf,
    child: Option<ChildGuard>,
    /// The health-check port, when enabled.
    pub(crate) health_port: Option<u16>,
    /// The metrics port, when enabled.
    pub(crate) metrics_port: Option<u16>,
    /// The agent endpoint's port.
    pub(crate) agent_port: u16,
    starts: usize,
}

impl TestServer {
    /// Writes a configuration and starts the server; returns once the admin
    /// socket accepts connections.
    pub(crate) fn start(options: &Options) -> Self {
        let dir = ShortTempDir::new().unwrap();
        let socket = dir.socket_path("api.sock").unwrap();
        let config = dir.join("server.conf");
        let health_port = options.health_checks.then(|| free_tcp_port().unwrap());
        let metrics_port = options.metrics.then(|| free_tcp_port().unwrap());
        let agent_port = free_tcp_port().unwrap();

        let text = config_text(
            &dir,
            &socket,
            options,
            agent_port,
            health_port,
            metrics_port,
        );
        std::fs::write(&config, text).unwrap();

        let mut server = Self {
            dir,
            socket,
            config,
            child: None,
            health_port,
            metrics_port,
            agent_port,
            starts: 0,
        };
        server.spawn();
        server
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Everything the server logged so far (all runs).
    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        for run in 0..self.starts {
            let path = self.dir.join(format!("server-{run}.log"));
            let _ = writeln!(text, "--- {}", path.display());
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        text
    }

    /// A channel to the admin socket.
    pub(crate) async fn channel(&self) -> Channel {
        lanyard_daemon::socket::connect_unix_channel(&self.socket)
            .await
            .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", self.log()))
    }

    pub(crate) async fn entries(&self) -> EntryClient<Channel> {
        EntryClient::new(self.channel().await)
    }

    pub(crate) async fn bundles(&self) -> BundleClient<Channel> {
        BundleClient::new(self.channel().await)
    }

    pub(crate) async fn agents(&self) -> AgentClient<Channel> {
        AgentClient::new(self.channel().await)
    }

    pub(crate) async fn svids(&self) -> SvidClient<Channel> {
        SvidClient::new(self.channel().await)
    }

    pub(crate) async fn authorities(&self) -> LocalAuthorityClient<Channel> {
        LocalAuthorityClient::new(self.channel().await)
    }

    pub(crate) async fn debug(&self) -> DebugClient<Channel> {
        DebugClient::new(self.channel().await)
    }

    pub(crate) async fn logger(&self) -> LoggerClient<Channel> {
        LoggerClient::new(self.channel().await)
    }

    /// SIGTERM; the server must exit cleanly and remove its socket. The wait
    /// runs off the test's runtime so open client connections keep working
    /// while the server drains them.
    pub(crate) async fn stop(&mut self) {
        let child = self.child.take().expect("server is running");
        let status: ExitStatus = tokio::task::spawn_blocking(move || child.terminate(STOP_GRACE))
            .await
            .unwrap()
            .unwrap();
        assert!(
            status.success(),
            "server did not exit cleanly: {status}\n{}",
            self.log()
        );
        assert!(!self.socket.exists(), "the admin socket was left behind");
        let log = self.log();
        assert!(log.contains("server stopped"), "no shutdown record:\n{log}");
        assert!(
            !log.contains("shutdown timed out"),
            "shutdown did not drain:\n{log}"
        );
    }

    /// SIGKILL, no chance to clean up.
    pub(crate) fn kill(&mut self) {
        drop(self.child.take().expect("server is running"));
    }

    /// Starts the server again with the same configuration and data.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        self.spawn();
    }

    /// `GET path` on the health-check listener: status code and body.
    pub(crate) fn get_health(&self, path: &str) -> (u16, String) {
        http_get(self.health_port.expect("health checks enabled"), path)
    }

    /// `GET /metrics`: status code and body.
    pub(crate) fn get_metrics(&self) -> (u16, String) {
        http_get(self.metrics_port.expect("metrics enabled"), "/metrics")
    }

    fn spawn(&mut self) {
        let log =
            std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts))).unwrap();
        self.starts += 1;
        let mut command = Command::new(env!("CARGO_BIN_EXE_lanyard-server"));
        command
            .arg("run")
            .arg("-config")
            .arg(&self.config)
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

fn config_text(
    dir: &ShortTempDir,
    socket: &std::path::Path,
    options: &Options,
    agent_port: u16,
    health_port: Option<u16>,
    metrics_port: Option<u16>,
) -> String {
    let mut text = format!(
        "server {{\n  trust_domain = \"{TRUST_DOMAIN}\"\n  data_dir = \"{}\"\n  \
         socket_path = \"{}\"\n  bind_address = \"127.0.0.1\"\n  bind_port = {agent_port}\n  \
         log_level = \"DEBUG\"\n{}\n}}\n",
        dir.join("data").display(),
        socket.display(),
        options.server_extra,
    );
    if let Some(url) = &options.postgres_url {
        let _ = write!(
            text,
            "plugins {{\n  DataStore \"sql\" {{\n    plugin_data {{\n      \
             database_type = \"postgres\"\n      connection_string = \"{url}\"\n    }}\n  }}\n  \
             KeyManager \"disk\" {{\n    plugin_data {{\n      keys_path = \"{}\"\n    }}\n  }}\n}}\n",
            dir.join("data/keys.json").display()
        );
    }
    text.push_str(&options.top_level);
    if let Some(port) = health_port {
        let _ = write!(
            text,
            "health_checks {{\n  listener_enabled = true\n  bind_address = \"127.0.0.1\"\n  \
             bind_port = \"{port}\"\n}}\n"
        );
    }
    if let Some(port) = metrics_port {
        let _ = write!(
            text,
            "telemetry {{\n  Prometheus {{\n    host = \"127.0.0.1\"\n    port = {port}\n  }}\n}}\n"
        );
    }
    text
}

/// A minimal HTTP/1.1 GET; returns the status code and the body.
///
/// The HTTP listeners start beside the admin socket, not before it, so the
/// port is waited for first.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    lanyard_testkit::wait_for_tcp(address, START_TIMEOUT).unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();

    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
