//! The server's CA rotates while an agent runs (a one-minute CA lifetime, the
//! shortest allowed: the next authority is prepared and published at 30 s and takes
//! over at 50 s). No SVID a
//! workload receives ever fails verification against the bundle the agent sends
//! with it, and the new root reaches the workload before any SVID it signed.
#![allow(clippy::unwrap_used, reason = "test code")]

mod cluster;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::workload::{Received, fetch_x509, verify_response, wait_for_svid, watch_x509};
use cluster::{AgentProcess, ServerProcess, agent_path};
use lanyard_proto::workload::X509svidResponse;
use lanyard_spiffe::x509::split_der_chain;
use lanyard_testkit::ShortTempDir;

server_child_entry_point!();

/// A CA lifetime that rotates within the test, and SVIDs short enough for it
/// (at most a sixth of it, or they get cut short at the old authority's expiry).
const SERVER_EXTRA: &str = "ca_ttl = \"1m\"\ndefault_x509_svid_ttl = \"10s\"";

const SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// Rotation takes 50 s plus the 5 s rotation tick; leave room for a slow machine.
const ROTATION_DEADLINE: Duration = Duration::from_secs(120);

const WORKLOAD: &str = "spiffe://example.org/workload/rotating";

/// Every answer a workload got: the roots in its bundle and what signed its SVID.
#[derive(Default)]
struct Seen {
    answers: Vec<(BTreeSet<Vec<u8>>, Vec<u8>)>,
    failure: Option<String>,
}

impl Seen {
    fn record(&mut self, response: &X509svidResponse) {
        if self.failure.is_some() {
            return;
        }
        match verify_response(response) {
            Ok(received) => match received.iter().find(|r| r.spiffe_id == WORKLOAD) {
                Some(Received { root, .. }) => {
                    let svid = &response.svids[0];
                    let roots = split_der_chain(&svid.bundle)
                        .unwrap()
                        .iter()
                        .map(|c| c.to_vec())
                        .collect();
                    self.answers.push((roots, root.to_vec()));
                }
                None => self.failure = Some(format!("no svid for {WORKLOAD}")),
            },
            Err(error) => self.failure = Some(error),
        }
    }

    /// The distinct roots that signed SVIDs, in the order they first did.
    fn signers(&self) -> Vec<Vec<u8>> {
        let mut signers: Vec<Vec<u8>> = Vec::new();
        for (_, signer) in &self.answers {
            if !signers.contains(signer) {
                signers.push(signer.clone());
            }
        }
        signers
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_never_hold_an_svid_their_bundle_cannot_verify_across_a_ca_rotation() {
    let dir = ShortTempDir::new().unwrap();
    let server = ServerProcess::start(&dir, SERVER_EXTRA);
    let token = server.join_token().await;
    server
        .create_entry(&agent_path(&token), "/workload/rotating")
        .await;
    let agent = AgentProcess::start(&dir, &server, &token, SYNC_INTERVAL);
    let log = || format!("{}\n{}", agent.log(), server.log());
    wait_for_svid(&agent.socket, WORKLOAD, Duration::from_secs(60), log).await;

    // A long-lived stream (updates as the agent pushes them) and fresh calls.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let streamed = tokio::spawn({
        let seen = seen.clone();
        let mut stream = watch_x509(&agent.socket).await.unwrap();
        async move {
            while let Ok(Some(response)) = stream.message().await {
                seen.lock().unwrap().record(&response);
            }
        }
    });

    let deadline = Instant::now() + ROTATION_DEADLINE;
    loop {
        match fetch_x509(&agent.socket).await {
            Ok(response) => seen.lock().unwrap().record(&response),
            Err(status) => seen.lock().unwrap().failure = Some(format!("fetch: {status:?}")),
        }
        {
            let seen = seen.lock().unwrap();
            assert_eq!(
                seen.failure,
                None,
                "after {} answers\n{}",
                seen.answers.len(),
                log()
            );
            // Done once the new authority has signed a few SVIDs (renewed by then).
            let signers = seen.signers();
            let by_new = signers.get(1).map_or(0, |new| {
                seen.answers
                    .iter()
                    .filter(|(_, signer)| signer == new)
                    .count()
            });
            if by_new >= 20 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no rotation within {ROTATION_DEADLINE:?}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    streamed.abort();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.failure, None, "{}", log());
    let signers = seen.signers();
    let (old, new) = (&signers[0], &signers[1]);
    let first_by_new = seen
        .answers
        .iter()
        .position(|(_, signer)| signer == new)
        .unwrap();
    assert!(
        seen.answers[..first_by_new]
            .iter()
            .any(|(roots, signer)| signer == old && roots.contains(new)),
        "the new root was not in the bundle before it signed"
    );
}
