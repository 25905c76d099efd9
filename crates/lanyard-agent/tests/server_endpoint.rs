//! The real `lanyard-agent` binary against a real Lanyard server (run in this
//! process through `lanyard_server::run::serve`, over its TCP agent endpoint and
//! its admin socket): attest with a join token bound to node attributes, get an
//! SVID for a workload entry, pick up an entry created while running, and show
//! up in the agent list with the node's selectors.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::agent::v1::{CreateJoinTokenRequest, ListAgentsRequest};
use lanyard_proto::spire::api::server::bundle::v1::GetBundleRequest;
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::types;
use lanyard_server::config::ServerConfig;
use lanyard_spiffe::TrustDomain;
use lanyard_testkit::{ChildGuard, ShortTempDir, free_tcp_port};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The agent's sync interval in this test; an entry must arrive within it plus
/// the time to mint its SVID.
const SYNC_INTERVAL: Duration = Duration::from_millis(200);

fn id(path: &str) -> types::Spiffeid {
    types::Spiffeid {
        trust_domain: "example.org".to_owned(),
        path: path.to_owned(),
    }
}

fn workload_entry(parent: &str, path: &str) -> types::Entry {
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

async fn create_entry(admin: &Channel, entry: types::Entry) {
    let results = EntryClient::new(admin.clone())
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

/// `lanyard-agent api fetch x509` output, or `None` while it fails.
fn fetch(socket: &std::path::Path) -> Option<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_lanyard-agent"))
        .args(["api", "fetch", "x509", "-socketPath"])
        .arg(socket)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn wait_for_svid(
    socket: &std::path::Path,
    spiffe_id: &str,
    within: Duration,
    log: &std::path::Path,
) -> Duration {
    let started = Instant::now();
    loop {
        let socket = socket.to_owned();
        if let Some(out) = tokio::task::spawn_blocking(move || fetch(&socket))
            .await
            .unwrap()
            && out.contains(spiffe_id)
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "no svid for {spiffe_id} within {within:?}; agent log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_binary_attests_and_serves_its_entries() {
    let dir = ShortTempDir::new().unwrap();
    let admin_socket = dir.socket_path("api.sock").unwrap();
    let agent_port = free_tcp_port().unwrap();
    let mut config = ServerConfig::embedded_default(
        TrustDomain::new("example.org").unwrap(),
        &dir.join("server"),
    );
    config.socket_path = admin_socket.clone();
    config.bind_address = ([127, 0, 0, 1], agent_port).into();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(lanyard_server::run::serve(config, None, shutdown.clone()));
    lanyard_testkit::wait_for_unix_socket(&admin_socket, Duration::from_secs(60)).unwrap();
    let admin = lanyard_daemon::socket::connect_unix_channel(&admin_socket)
        .await
        .unwrap();

    let mut request = tonic::Request::new(CreateJoinTokenRequest {
        ttl: 600,
        ..CreateJoinTokenRequest::default()
    });
    request
        .metadata_mut()
        .append("lanyard-node-attribute", "type=compute".parse().unwrap());
    let token = AgentClient::new(admin.clone())
        .create_join_token(request)
        .await
        .unwrap()
        .into_inner()
        .value;
    let agent_path = format!("/spire/agent/join_token/{token}");
    create_entry(&admin, workload_entry(&agent_path, "/workload/first")).await;

    let bundle = BundleClient::new(admin.clone())
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
    std::fs::write(dir.join("bundle.pem"), pem).unwrap();

    let workload_socket = dir.socket_path("agent.sock").unwrap();
    let agent_conf = format!(
        "agent {{\n  trust_domain = \"example.org\"\n  server_address = \"127.0.0.1\"\n  \
         server_port = {agent_port}\n  socket_path = \"{}\"\n  data_dir = \"{}\"\n  \
         trust_bundle_path = \"{}\"\n  log_level = \"DEBUG\"\n  experimental {{\n    \
         sync_interval = \"{}ms\"\n  }}\n}}\nplugins {{\n  NodeAttestor \"join_token\" {{\n    \
         plugin_data {{}}\n  }}\n  KeyManager \"memory\" {{\n    plugin_data {{}}\n  }}\n  \
         WorkloadAttestor \"unix\" {{\n    plugin_data {{}}\n  }}\n}}\n",
        workload_socket.display(),
        dir.join("agent-data").display(),
        dir.join("bundle.pem").display(),
        SYNC_INTERVAL.as_millis(),
    );
    std::fs::write(dir.join("agent.conf"), agent_conf).unwrap();
    let log_path = dir.join("agent.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _agent = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_lanyard-agent"))
            .arg("run")
            .arg("-config")
            .arg(dir.join("agent.conf"))
            .arg("-joinToken")
            .arg(&token)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    )
    .unwrap();

    wait_for_svid(
        &workload_socket,
        "spiffe://example.org/workload/first",
        Duration::from_secs(60),
        &log_path,
    )
    .await;

    let agents = AgentClient::new(admin.clone())
        .list_agents(ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].id.as_ref().unwrap().path, agent_path);
    let selectors: Vec<String> = agents[0]
        .selectors
        .iter()
        .map(|s| format!("{}:{}", s.r#type, s.value))
        .collect();
    assert_eq!(selectors, ["node:type:compute"]);

    // An entry created while the agent runs reaches its workloads: within one
    // poll of the agent's sync plus the time to sign (no push stream yet).
    create_entry(&admin, workload_entry(&agent_path, "/workload/late")).await;
    let took = wait_for_svid(
        &workload_socket,
        "spiffe://example.org/workload/late",
        Duration::from_secs(10),
        &log_path,
    )
    .await;
    assert!(
        took < SYNC_INTERVAL + Duration::from_secs(1),
        "took {took:?}"
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
