//! An entry created while the agent runs reaches its workloads within one second,
//! through the server's push stream alone: the agent's poll interval is a minute.
#![allow(clippy::unwrap_used, reason = "test code")]

mod cluster;

use std::time::Duration;

use cluster::workload::wait_for_svid;
use cluster::{AgentProcess, ServerProcess, agent_path};
use lanyard_testkit::ShortTempDir;

server_child_entry_point!();

/// Far longer than the test waits: only the push stream can deliver in time.
const SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// The bound for a new entry to reach the agent.
const DELIVERY: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_entries_are_pushed_to_the_agent_within_a_second() {
    let dir = ShortTempDir::new().unwrap();
    let server = ServerProcess::start(&dir, "");
    let token = server.join_token().await;
    let parent = agent_path(&token);
    server.create_entry(&parent, "/workload/first").await;
    let agent = AgentProcess::start(&dir, &server, &token, SYNC_INTERVAL);
    let log = || format!("{}\n{}", agent.log(), server.log());

    wait_for_svid(
        &agent.socket,
        "spiffe://example.org/workload/first",
        Duration::from_secs(60),
        log,
    )
    .await;

    // Several in a row, so one lucky poll cannot pass the test.
    for n in 0..3 {
        let path = format!("/workload/late-{n}");
        server.create_entry(&parent, &path).await;
        let took = wait_for_svid(
            &agent.socket,
            &format!("spiffe://example.org{path}"),
            Duration::from_secs(10),
            log,
        )
        .await;
        assert!(took < DELIVERY, "{path} took {took:?}\n{}", log());
    }
    assert!(
        agent.log().contains("push batch applied"),
        "the agent did not use the push stream:\n{}",
        agent.log()
    );
}
