//! A Lanyard server with the `tpm` attestor in this process, and the agent binary
//! configured for `NodeAttestor "tpm"`, for the TPM end-to-end tests.
//!
//! The server's log (this process's tracing, at debug) and every agent's log are
//! files in the test directory; when the test fails they are all printed, so a
//! rare failure can be read after the fact.
//!
//! The agent binary is a private copy taken when the server starts, checked to be
//! a build with the `tpm` feature. Cargo re-links the shared
//! `target/<profile>/lanyard-agent` whenever the crate is built with another
//! feature set (`cargo test -p lanyard-agent` without `--all-features`), so a
//! build running next to the test could otherwise swap in an agent that refuses
//! `NodeAttestor "tpm"` halfway through.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lanyard_agent::node::connection::ServerAddress;
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::agent::v1::{
    CreateJoinTokenRequest, DeleteAgentRequest, ListAgentsRequest,
};
use lanyard_proto::spire::api::server::bundle::v1::GetBundleRequest;
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::types;
use lanyard_server::config::{LdevidCaSource, ServerConfig, TpmAttestorConfig};
use lanyard_spiffe::TrustDomain;
use lanyard_store::{Store, StoreConfig};
use lanyard_testkit::swtpm::TpmManufacturer;
use lanyard_testkit::{ChildGuard, ShortTempDir, free_tcp_port};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const TD: &str = "example.org";

/// The server, its admin channel and its datastore.
pub(crate) struct TpmServer {
    pub(crate) dir: ShortTempDir,
    agent_binary: PathBuf,
    admin: Channel,
    agent_port: u16,
    store: Store,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

fn id(path: &str) -> types::Spiffeid {
    types::Spiffeid {
        trust_domain: TD.to_owned(),
        path: path.to_owned(),
    }
}

impl TpmServer {
    /// Serves join_token and tpm (trusting the swtpm manufacturer's CA).
    pub(crate) async fn start() -> Self {
        let dir = ShortTempDir::new().unwrap();
        log_to(&dir.join("server.log"));
        let agent_binary = private_tpm_agent_binary(&dir);
        let manufacturer = TpmManufacturer::shared();
        std::fs::write(dir.join("ek-root.pem"), manufacturer.root_pem().unwrap()).unwrap();
        std::fs::write(
            dir.join("ek-intermediate.pem"),
            manufacturer.intermediate_pem().unwrap(),
        )
        .unwrap();

        let admin_socket = dir.socket_path("api.sock").unwrap();
        let agent_port = free_tcp_port().unwrap();
        let server_dir = dir.join("server");
        let mut config = ServerConfig::embedded_default(TrustDomain::new(TD).unwrap(), &server_dir);
        config.socket_path = admin_socket.clone();
        config.bind_address = ([127, 0, 0, 1], agent_port).into();
        config.plugins.node_attestors.join_token = true;
        config.plugins.node_attestors.tpm = Some(TpmAttestorConfig {
            endorsement_ca_paths: vec![dir.join("ek-root.pem"), dir.join("ek-intermediate.pem")],
            ek_hash_path: None,
            ek_hashes: Vec::new(),
            ldevid_ca: LdevidCaSource::Generated {
                dir: server_dir.join("tpm"),
            },
            ldevid_ttl: lanyard_daemon::Duration::from_hours(24 * 365),
            agent_path_template: None,
            residency_check_period: None,
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(lanyard_server::run::serve(config, None, shutdown.clone()));
        lanyard_testkit::wait_for_unix_socket(&admin_socket, Duration::from_secs(60)).unwrap();
        let admin = lanyard_daemon::socket::connect_unix_channel(&admin_socket)
            .await
            .unwrap();
        let store = Store::open(&StoreConfig::sqlite_in(&server_dir))
            .await
            .unwrap();

        let server = Self {
            dir,
            agent_binary,
            admin,
            agent_port,
            store,
            shutdown,
            task,
        };
        server.write_bundle().await;
        server
    }

    pub(crate) fn agent_address(&self) -> ServerAddress {
        ServerAddress {
            host: "127.0.0.1".to_owned(),
            port: self.agent_port,
        }
    }

    /// A join token bound to `xname` and `node_type`, as `token generate
    /// -nodeAttribute xname=... -nodeAttribute type=...` makes.
    pub(crate) async fn token(&self, xname: &str, node_type: &str) -> String {
        let mut request = tonic::Request::new(CreateJoinTokenRequest {
            ttl: 600,
            ..CreateJoinTokenRequest::default()
        });
        for attr in [format!("xname={xname}"), format!("type={node_type}")] {
            request
                .metadata_mut()
                .append("lanyard-node-attribute", attr.parse().unwrap());
        }
        AgentClient::new(self.admin.clone())
            .create_join_token(request)
            .await
            .unwrap()
            .into_inner()
            .value
    }

    /// `Some` while `token` is stored and unused.
    pub(crate) async fn token_unused(&self, token: &str) -> Option<()> {
        self.store
            .peek_join_token(token, OffsetDateTime::now_utc())
            .await
            .ok()
            .map(drop)
    }

    /// A workload entry for the current uid under `parent`.
    pub(crate) async fn entry(&self, parent: &str, path: &str) {
        let entry = types::Entry {
            spiffe_id: Some(id(path)),
            parent_id: Some(id(parent)),
            selectors: vec![types::Selector {
                r#type: "unix".to_owned(),
                value: format!("uid:{}", rustix::process::geteuid().as_raw()),
            }],
            ..types::Entry::default()
        };
        let results = EntryClient::new(self.admin.clone())
            .batch_create_entry(BatchCreateEntryRequest {
                entries: vec![entry],
                output_mask: None,
            })
            .await
            .unwrap()
            .into_inner()
            .results;
        assert_eq!(results[0].status.as_ref().unwrap().code, 0, "{results:?}");
    }

    /// The `type:value` selectors of the agent at `path`.
    pub(crate) async fn agent_selectors(&self, path: &str) -> Vec<String> {
        let agents = AgentClient::new(self.admin.clone())
            .list_agents(ListAgentsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .agents;
        let agent = agents
            .iter()
            .find(|a| a.id.as_ref().is_some_and(|i| i.path == path))
            .unwrap_or_else(|| panic!("agent {path} among {agents:?}"));
        agent
            .selectors
            .iter()
            .map(|s| format!("{}:{}", s.r#type, s.value))
            .collect()
    }

    /// Evicts the agent at `path`.
    pub(crate) async fn evict(&self, path: &str) {
        AgentClient::new(self.admin.clone())
            .delete_agent(DeleteAgentRequest { id: Some(id(path)) })
            .await
            .unwrap();
    }

    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        (&mut self.task).await.unwrap().unwrap();
    }

    async fn write_bundle(&self) {
        let bundle = BundleClient::new(self.admin.clone())
            .get_bundle(GetBundleRequest::default())
            .await
            .unwrap()
            .into_inner();
        let mut pem = String::new();
        for authority in &bundle.x509_authorities {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&authority.asn1);
            let _ = writeln!(pem, "-----BEGIN CERTIFICATE-----");
            for line in b64.as_bytes().chunks(64) {
                let _ = writeln!(pem, "{}", std::str::from_utf8(line).unwrap());
            }
            let _ = writeln!(pem, "-----END CERTIFICATE-----");
        }
        std::fs::write(self.dir.join("bundle.pem"), pem).unwrap();
    }
}

impl Drop for TpmServer {
    /// On a failing test, prints the server's and every agent's log.
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_logs(self.dir.path());
        }
    }
}

/// A copy of the agent binary cargo built for this test, in `dir`.
///
/// # Panics
///
/// When the binary was built without the `tpm` feature (it does not link
/// libtss2): the shared binary was re-linked by another build since this test
/// was built.
fn private_tpm_agent_binary(dir: &ShortTempDir) -> PathBuf {
    let shared = Path::new(env!("CARGO_BIN_EXE_lanyard-agent"));
    let copy = dir.join("lanyard-agent");
    std::fs::copy(shared, &copy).unwrap();
    let image = std::fs::read(&copy).unwrap();
    assert!(
        image.windows(TSS_LIBRARY.len()).any(|w| w == TSS_LIBRARY),
        "{} does not link libtss2: it was built without the tpm feature, most likely \
         re-linked by a concurrent cargo build of lanyard-agent with other features; \
         run this test again with --all-features when no such build is running",
        shared.display()
    );
    copy
}

/// The ESAPI library every `tpm`-feature agent links (tss-esapi).
const TSS_LIBRARY: &[u8] = b"libtss2-esys";

/// Sends this process's tracing (the in-process server and attestation clients)
/// to `path`. One test per binary, so one global subscriber.
fn log_to(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,sqlx=warn,h2=info,hyper=info,tower=info,rustls=info",
        ))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Prints the `agent<n>.log` files (in start order) and `server.log` in `dir`.
fn print_logs(dir: &Path) {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for log in logs {
        eprintln!(
            "===== {} =====\n{}",
            log.file_name().unwrap_or_default().to_string_lossy(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

/// The `lanyard-agent` binary with `NodeAttestor "tpm"` and an in-memory agent key,
/// so every start attests.
pub(crate) struct AgentProcess {
    child: ChildGuard,
    binary: PathBuf,
    data_dir: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

static STARTS: AtomicUsize = AtomicUsize::new(0);

impl AgentProcess {
    pub(crate) fn start(server: &TpmServer, name: &str, tcti: &str, token: Option<&str>) -> Self {
        let data_dir = server.dir.join(format!("agent-{name}"));
        Self::spawn(server, data_dir, tcti, token)
    }

    pub(crate) fn restart(server: &TpmServer, _name: &str, data_dir: PathBuf, tcti: &str) -> Self {
        Self::spawn(server, data_dir, tcti, None)
    }

    fn spawn(server: &TpmServer, data_dir: PathBuf, tcti: &str, token: Option<&str>) -> Self {
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let socket = server.dir.socket_path(format!("w{n}.sock")).unwrap();
        let conf = server.dir.join(format!("agent{n}.conf"));
        let text = format!(
            "agent {{\n  trust_domain = \"{TD}\"\n  server_address = \"127.0.0.1\"\n  \
             server_port = {}\n  socket_path = \"{}\"\n  data_dir = \"{}\"\n  \
             trust_bundle_path = \"{}\"\n  log_level = \"DEBUG\"\n  experimental {{\n    \
             sync_interval = \"200ms\"\n  }}\n}}\nplugins {{\n  NodeAttestor \"tpm\" {{\n    \
             plugin_data {{\n      tcti = \"{tcti}\"\n    }}\n  }}\n  KeyManager \"memory\" {{\n    \
             plugin_data {{}}\n  }}\n  WorkloadAttestor \"unix\" {{\n    plugin_data {{}}\n  }}\n}}\n",
            server.agent_port,
            socket.display(),
            data_dir.display(),
            server.dir.join("bundle.pem").display(),
        );
        std::fs::write(&conf, text).unwrap();
        let log = server.dir.join(format!("agent{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(&server.agent_binary);
        command.arg("run").arg("-config").arg(&conf);
        if let Some(token) = token {
            command.arg("-joinToken").arg(token);
        }
        command
            .env("TSS2_LOG", "all+NONE")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        Self {
            child: ChildGuard::spawn(&mut command).unwrap(),
            binary: server.agent_binary.clone(),
            data_dir,
            socket,
            log,
        }
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the agent; returns its data directory for a restart.
    pub(crate) fn stop(self) -> PathBuf {
        self.child.terminate(Duration::from_secs(10)).unwrap();
        self.data_dir
    }

    /// Waits until the Workload API serves an SVID for `spiffe_id`; fails at once
    /// when the agent exits first.
    pub(crate) async fn wait_for_svid(&mut self, spiffe_id: &str, within: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the agent exited ({status}) before serving an svid for {spiffe_id} \
                     (agent log {}; all logs follow)",
                    self.log.display()
                );
            }
            let socket = self.socket.clone();
            let binary = self.binary.clone();
            let out = tokio::task::spawn_blocking(move || {
                let output = Command::new(&binary)
                    .args(["api", "fetch", "x509", "-socketPath"])
                    .arg(&socket)
                    .output()
                    .unwrap();
                output
                    .status
                    .success()
                    .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
            })
            .await
            .unwrap();
            if out.is_some_and(|o| o.contains(spiffe_id)) {
                return;
            }
            assert!(
                started.elapsed() < within,
                "no svid for {spiffe_id} within {within:?} (agent log {}; all logs follow)",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
