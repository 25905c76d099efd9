use tokio::net::UnixStream;

use super::*;
use crate::config::{UnixAttestorConfig, WorkloadSizeLimit};
use crate::workload::peer::PeerInfo;

struct Fixed(&'static str, Result<Vec<&'static str>, &'static str>);

impl WorkloadAttestor for Fixed {
    fn name(&self) -> &'static str {
        self.0
    }

    fn attest(&self, _: &Caller) -> Result<Vec<Selector>, String> {
        match &self.1 {
            Ok(list) => Ok(list.iter().map(|s| Selector::parse(s).unwrap()).collect()),
            Err(reason) => Err((*reason).to_owned()),
        }
    }
}

async fn own_peer() -> (PeerInfo, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    (PeerInfo::from_stream(&ours, Path::new("/proc")), theirs)
}

fn strings(set: &SelectorSet) -> Vec<String> {
    set.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn selectors_of_all_attestors_are_unioned() {
    let (peer, _keep) = own_peer().await;
    let attestation = WorkloadAttestation::new(vec![
        Arc::new(Fixed("a", Ok(vec!["unix:uid:7", "x:shared"]))),
        Arc::new(Fixed("b", Ok(vec!["x:shared", "y:only-b"]))),
    ]);

    let selectors = attestation.attest(peer.pinned().unwrap()).await.unwrap();

    assert_eq!(strings(&selectors), ["unix:uid:7", "x:shared", "y:only-b"]);
}

#[tokio::test]
async fn one_failing_attestor_fails_the_attestation() {
    let (peer, _keep) = own_peer().await;
    let attestation = WorkloadAttestation::new(vec![
        Arc::new(Fixed("a", Ok(vec!["unix:uid:7"]))),
        Arc::new(Fixed("broken", Err("no dbus"))),
    ]);

    let err = attestation
        .attest(peer.pinned().unwrap())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, AttestationError::Attestor { attestor: "broken", reason } if reason == "no dbus"),
        "{err}"
    );
}

#[tokio::test]
async fn the_live_unix_attestor_reports_the_callers_credentials_and_executable() {
    let (peer, _keep) = own_peer().await;
    let config = UnixAttestorConfig {
        discover_workload_path: true,
        workload_size_limit: WorkloadSizeLimit::Unlimited,
    };
    let attestation =
        WorkloadAttestation::new(vec![Arc::new(UnixAttestor::new(config, ProcFs::live()))]);

    let selectors = strings(&attestation.attest(peer.pinned().unwrap()).await.unwrap());

    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    assert!(
        selectors.contains(&format!("unix:uid:{uid}")),
        "{selectors:?}"
    );
    assert!(
        selectors.contains(&format!("unix:gid:{gid}")),
        "{selectors:?}"
    );
    if uid == 0 {
        assert!(
            selectors.contains(&"unix:user:root".to_owned()),
            "{selectors:?}"
        );
        assert!(
            selectors.contains(&"unix:group:root".to_owned()),
            "{selectors:?}"
        );
    }
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    assert!(
        selectors.contains(&format!("unix:path:{}", exe.display())),
        "{selectors:?}"
    );
    assert!(
        selectors
            .iter()
            .any(|s| s.starts_with("unix:sha256:") && s.len() == 12 + 64),
        "{selectors:?}"
    );
}

#[tokio::test]
async fn an_executable_above_the_size_limit_fails_attestation() {
    let (peer, _keep) = own_peer().await;
    let config = UnixAttestorConfig {
        discover_workload_path: true,
        workload_size_limit: WorkloadSizeLimit::Bytes(16),
    };
    let attestation =
        WorkloadAttestation::new(vec![Arc::new(UnixAttestor::new(config, ProcFs::live()))]);

    let err = attestation
        .attest(peer.pinned().unwrap())
        .await
        .unwrap_err();

    assert!(err.to_string().contains("workload_size_limit"), "{err}");
}

#[tokio::test]
async fn a_never_hash_limit_reports_the_path_only() {
    let (peer, _keep) = own_peer().await;
    let config = UnixAttestorConfig {
        discover_workload_path: true,
        workload_size_limit: WorkloadSizeLimit::NeverHash,
    };
    let attestation =
        WorkloadAttestation::new(vec![Arc::new(UnixAttestor::new(config, ProcFs::live()))]);

    let selectors = strings(&attestation.attest(peer.pinned().unwrap()).await.unwrap());

    assert!(selectors.iter().any(|s| s.starts_with("unix:path:")));
    assert!(!selectors.iter().any(|s| s.starts_with("unix:sha256:")));
}

#[tokio::test]
async fn a_caller_whose_pid_changed_hands_during_attestation_is_refused() {
    let pid = std::process::id() as i32;
    let pin = crate::workload::peer::ProcessPin::open(Path::new("/proc"), pid).unwrap();
    let stale = pin.start_time().wrapping_sub(1);
    let pinned = PinnedCaller {
        caller: Caller {
            pid,
            uid: 0,
            gid: 0,
        },
        pin: pin.with_start_time(stale),
    };
    let attestation = WorkloadAttestation::new(vec![Arc::new(Fixed("a", Ok(vec!["unix:uid:0"])))]);

    let err = attestation.attest(&pinned).await.unwrap_err();

    assert!(
        matches!(err, AttestationError::Pin(PinError::Replaced(p)) if p == pid),
        "{err}"
    );
}
