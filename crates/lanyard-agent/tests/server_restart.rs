//! The server is killed (SIGKILL) and started again under a running agent: the agent
//! recovers on its own, and its workloads hold a valid SVID at every moment.
#![allow(clippy::unwrap_used, reason = "test code")]

mod cluster;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster::workload::{fetch_x509, verify_response, wait_for_svid};
use cluster::{AgentProcess, ServerProcess, agent_path};
use lanyard_testkit::ShortTempDir;

server_child_entry_point!();

/// Long enough that only the push stream delivers new entries in this test.
const SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// Short SVIDs, so the agent renews across the outage.
const SVID_TTL: &str = "default_x509_svid_ttl = \"20s\"";

const FIRST: &str = "spiffe://example.org/workload/first";

/// Fetches an SVID over and over until stopped; every answer must hold a verified
/// SVID for [`FIRST`]. Returns how many answers came and the first failure.
struct Watcher {
    stop: Arc<AtomicBool>,
    answers: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Option<String>>,
}

impl Watcher {
    fn start(socket: std::path::PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let stop = stop.clone();
            let answers = answers.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = match fetch_x509(&socket).await {
                        Ok(response) => response,
                        Err(status) => return Some(format!("fetch failed: {status:?}")),
                    };
                    match verify_response(&response) {
                        Ok(received) if received.iter().any(|r| r.spiffe_id == FIRST) => {}
                        Ok(_) => return Some(format!("no svid for {FIRST}")),
                        Err(error) => return Some(error),
                    }
                    answers.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                None
            }
        });
        Self {
            stop,
            answers,
            task,
        }
    }

    fn answers(&self) -> usize {
        self.answers.load(Ordering::Relaxed)
    }

    /// Stops; the first failure, if any.
    async fn finish(self) -> Option<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Waits until `condition` holds, failing with `log()` after `within`.
async fn wait_until(
    what: &str,
    within: Duration,
    log: impl Fn() -> String,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn leaf_of(received: &[cluster::workload::Received]) -> Vec<u8> {
    received
        .iter()
        .find(|r| r.spiffe_id == FIRST)
        .unwrap()
        .leaf
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_recovers_from_a_killed_server_and_workloads_keep_valid_svids() {
    let dir = ShortTempDir::new().unwrap();
    let mut server = ServerProcess::start(&dir, SVID_TTL);
    let token = server.join_token().await;
    let parent = agent_path(&token);
    server.create_entry(&parent, "/workload/first").await;
    let agent = AgentProcess::start(&dir, &server, &token, SYNC_INTERVAL);
    wait_for_svid(&agent.socket, FIRST, Duration::from_secs(60), || {
        agent.log()
    })
    .await;

    let watcher = Watcher::start(agent.socket.clone());
    let before = leaf_of(&verify_response(&fetch_x509(&agent.socket).await.unwrap()).unwrap());
    let failures_before = agent.log().matches("sync failed; retrying").count();

    server.kill();
    // The agent notices (its push stream breaks) while workloads keep being served.
    let log = || agent.log();
    wait_until(
        "the agent sees the outage",
        Duration::from_secs(30),
        log,
        || agent.log().matches("sync failed; retrying").count() > failures_before,
    )
    .await;
    let answered = watcher.answers();
    wait_until(
        "workloads are served during the outage",
        Duration::from_secs(10),
        log,
        || watcher.answers() > answered + 5,
    )
    .await;

    server.restart();
    let log = || format!("{}\n{}", agent.log(), server.log());
    // Recovered on its own: the push stream is back (polling is a minute away)...
    server
        .create_entry(&parent, "/workload/after-restart")
        .await;
    wait_for_svid(
        &agent.socket,
        "spiffe://example.org/workload/after-restart",
        Duration::from_secs(30),
        log,
    )
    .await;
    // ...and the workload's SVID is renewed by the restarted server.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let now = leaf_of(&verify_response(&fetch_x509(&agent.socket).await.unwrap()).unwrap());
        if now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the svid was not renewed\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let answers = watcher.answers();
    let failure = watcher.finish().await;
    assert_eq!(failure, None, "after {answers} good answers\n{}", log());
    assert!(answers > 10, "only {answers} answers");
}
