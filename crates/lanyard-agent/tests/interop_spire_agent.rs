//! SPIRE's own agent (`spire-agent` v1.13.3, built by `scripts/setup-deps go`)
//! against our server: it attests with a join token, syncs its authorized entries
//! and serves their X509-SVIDs, which `spire-agent api fetch x509` reads back.
#![allow(clippy::unwrap_used, reason = "test code")]

mod cluster;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::{ServerProcess, TD, agent_path};
use lanyard_testkit::{ChildGuard, ShortTempDir, interop_program};

server_child_entry_point!();

const WORKLOAD: &str = "spiffe://example.org/workload/spire-agent";

const LATE: &str = "spiffe://example.org/workload/spire-agent-late";

/// `spire-agent api fetch <args> -socketPath <socket>` output, or `None` while it
/// fails.
fn fetch(spire_agent: &Path, args: &[&str], socket: &Path) -> Option<String> {
    let output = Command::new(spire_agent)
        .args(["api", "fetch"])
        .args(args)
        .arg("-socketPath")
        .arg(socket)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spire_agent_attests_and_serves_svids_for_its_entries() {
    let Some(spire_agent) = interop_program("spire-agent") else {
        return;
    };
    let dir = ShortTempDir::new().unwrap();
    let server = ServerProcess::start(&dir, "");
    let token = server.join_token().await;
    server
        .create_entry(&agent_path(&token), "/workload/spire-agent")
        .await;

    std::fs::write(dir.join("bundle.pem"), server.bundle_pem()).unwrap();
    let socket = dir.socket_path("spire-agent.sock").unwrap();
    let config = dir.join("spire-agent.conf");
    std::fs::write(
        &config,
        format!(
            "agent {{\n  trust_domain = \"{TD}\"\n  server_address = \"127.0.0.1\"\n  \
             server_port = \"{}\"\n  socket_path = \"{}\"\n  data_dir = \"{}\"\n  \
             trust_bundle_path = \"{}\"\n  join_token = \"{token}\"\n  log_level = \"DEBUG\"\n}}\n\
             plugins {{\n  NodeAttestor \"join_token\" {{\n    plugin_data {{}}\n  }}\n  \
             KeyManager \"memory\" {{\n    plugin_data {{}}\n  }}\n  \
             WorkloadAttestor \"unix\" {{\n    plugin_data {{}}\n  }}\n}}\n",
            server.agent_port,
            socket.display(),
            dir.join("spire-agent-data").display(),
            dir.join("bundle.pem").display(),
        ),
    )
    .unwrap();
    let log_path = dir.join("spire-agent.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let _agent = ChildGuard::spawn(
        Command::new(&spire_agent)
            .arg("run")
            .arg("-config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file),
    )
    .unwrap();
    let log = || {
        format!(
            "spire-agent:\n{}\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default(),
            server.log()
        )
    };

    let wait_for = |args: &'static [&'static str], wanted: &'static str, within: Duration| {
        let (program, path) = (spire_agent.clone(), socket.clone());
        async move {
            let deadline = Instant::now() + within;
            loop {
                let (program, path) = (program.clone(), path.clone());
                let fetched = tokio::task::spawn_blocking(move || fetch(&program, args, &path))
                    .await
                    .unwrap();
                if let Some(output) = fetched.filter(|out| out.contains(wanted)) {
                    return Some(output);
                }
                if Instant::now() > deadline {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    let output = wait_for(&["x509"], WORKLOAD, Duration::from_secs(90))
        .await
        .unwrap_or_else(|| panic!("no x509-svid from spire-agent\n{}", log()));
    assert!(output.contains("Received 1 svid"), "{output}");

    // JWT-SVIDs are minted on demand through NewJWTSVID.
    let output = wait_for(
        &["jwt", "-audience", "interop"],
        WORKLOAD,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|| panic!("no jwt-svid from spire-agent\n{}", log()));
    assert!(output.contains("token("), "{output}");

    // An entry created while it runs arrives with its next SyncAuthorizedEntries.
    server
        .create_entry(&agent_path(&token), "/workload/spire-agent-late")
        .await;
    wait_for(&["x509"], LATE, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("the late entry did not arrive\n{}", log()));

    let agent_log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!agent_log.contains("level=error"), "{}", log());

    // It attested as the node the token names.
    let agents = server_agents(&server).await;
    assert_eq!(agents, [format!("spiffe://{TD}{}", agent_path(&token))]);
}

async fn server_agents(server: &ServerProcess) -> Vec<String> {
    use lanyard_proto::spire::api::server::agent::v1::ListAgentsRequest;
    use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
    AgentClient::new(server.admin().await)
        .list_agents(ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agents
        .into_iter()
        .map(|a| {
            let id = a.id.unwrap();
            format!("spiffe://{}{}", id.trust_domain, id.path)
        })
        .collect()
}
