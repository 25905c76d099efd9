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

/// Set in the child process of the tests below: the socket it connects to.
const CONNECT_TO_VAR: &str = "LANYARD_TEST_WORKLOAD_CONNECT_TO";

/// Not a test of its own: the body of the workload process the tests below start by
/// running this test binary again. It connects, then waits until its stdin closes.
#[test]
#[ignore = "run as the child process of the caller-exit tests"]
fn child_connects_and_waits() {
    let Some(path) = std::env::var_os(CONNECT_TO_VAR) else {
        return;
    };
    let _stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0_u8; 1]);
}

/// Another process connected to a socket of ours: the child and the accepted stream.
async fn connected_child() -> (std::process::Child, UnixStream, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "workload::attestor::tests::child_connects_and_waits",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CONNECT_TO_VAR, &socket)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (stream, _) = tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept())
        .await
        .expect("the child connected")
        .unwrap();
    (child, stream, dir)
}

/// An attestor that makes its caller exit (and be reaped) while it attests.
struct EndsTheCaller(std::sync::Mutex<Option<std::process::Child>>);

impl WorkloadAttestor for EndsTheCaller {
    fn name(&self) -> &'static str {
        "ends-the-caller"
    }

    fn attest(&self, _: &Caller) -> Result<Vec<Selector>, String> {
        if let Some(mut child) = self.0.lock().unwrap().take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        Ok(vec![Selector::parse("unix:uid:0").unwrap()])
    }
}

#[tokio::test]
async fn a_caller_that_exits_while_attested_gets_no_selectors() {
    let (child, stream, _dir) = connected_child().await;
    let pid = child.id() as i32;
    let peer = PeerInfo::from_stream(&stream, Path::new("/proc"));
    let pinned = peer.pinned().unwrap();
    assert_eq!(pinned.caller.pid, pid, "the child is the caller");
    let attestation = WorkloadAttestation::new(vec![
        Arc::new(EndsTheCaller(std::sync::Mutex::new(Some(child)))),
        Arc::new(Fixed("a", Ok(vec!["unix:uid:0"]))),
    ]);

    let err = attestation.attest(pinned).await.unwrap_err();

    // Every attestor succeeded: only the pin check stands between the exited caller
    // and selectors that would pick an identity.
    assert!(
        matches!(err, AttestationError::Pin(PinError::Exited(p)) if p == pid),
        "{err}"
    );
}

#[tokio::test]
async fn a_caller_that_exited_before_attestation_gets_no_selectors() {
    let (mut child, stream, _dir) = connected_child().await;
    let pid = child.id() as i32;
    let peer = PeerInfo::from_stream(&stream, Path::new("/proc"));
    drop(child.stdin.take());
    child.wait().unwrap();
    let attestation = WorkloadAttestation::new(vec![Arc::new(Fixed("a", Ok(vec!["unix:uid:0"])))]);

    let err = attestation
        .attest(peer.pinned().unwrap())
        .await
        .unwrap_err();

    assert!(
        matches!(err, AttestationError::Pin(PinError::Exited(p)) if p == pid),
        "{err}"
    );
}

/// A `/proc/<pid>` of a fixture tree: `status` with `groups`, and `exe` linking to a
/// file holding `abc`.
fn fixture_process(root: &Path, pid: i32, groups: &str) -> PathBuf {
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("status"),
        format!("Name:\tworker\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t{groups}\n"),
    )
    .unwrap();
    let exe = root.join("worker");
    std::fs::write(&exe, b"abc").unwrap();
    std::os::unix::fs::symlink(&exe, dir.join("exe")).unwrap();
    exe
}

#[test]
fn the_unix_attestor_reports_ids_names_groups_path_and_digest() {
    let root = tempfile::tempdir().unwrap();
    // 4294967293 names no group on any sane system: its gid is reported without a name.
    let exe = fixture_process(root.path(), 77, "0 4294967293");
    let caller = Caller {
        pid: 77,
        uid: 0,
        gid: 0,
    };
    let attestor = |discover_workload_path, workload_size_limit| {
        UnixAttestor::new(
            UnixAttestorConfig {
                discover_workload_path,
                workload_size_limit,
            },
            ProcFs::at(root.path()),
        )
    };
    let strings = |selectors: Vec<Selector>| -> Vec<String> {
        selectors.iter().map(ToString::to_string).collect()
    };

    let without_path = strings(
        attestor(false, WorkloadSizeLimit::Unlimited)
            .attest(&caller)
            .unwrap(),
    );
    assert_eq!(
        without_path,
        [
            "unix:uid:0",
            "unix:user:root",
            "unix:gid:0",
            "unix:group:root",
            "unix:supplementary_gid:0",
            "unix:supplementary_group:root",
            "unix:supplementary_gid:4294967293",
        ]
    );

    let with_path = strings(
        attestor(true, WorkloadSizeLimit::Bytes(3))
            .attest(&caller)
            .unwrap(),
    );
    assert_eq!(with_path[..7], without_path[..]);
    assert_eq!(
        with_path[7..],
        [
            format!("unix:path:{}", exe.display()),
            "unix:sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                .to_owned(),
        ]
    );

    let too_big = attestor(true, WorkloadSizeLimit::Bytes(2))
        .attest(&caller)
        .unwrap_err();
    assert!(too_big.contains("workload_size_limit"), "{too_big}");

    let never_hashed = strings(
        attestor(true, WorkloadSizeLimit::NeverHash)
            .attest(&caller)
            .unwrap(),
    );
    assert_eq!(never_hashed[7..], [format!("unix:path:{}", exe.display())]);
}
