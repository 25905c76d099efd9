use std::process::{Command, Stdio};

use super::*;

fn proc_root() -> &'static Path {
    Path::new(PROC_ROOT)
}

#[test]
fn start_time_is_read_after_the_last_parenthesis() {
    let stat = "4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                987654 1000 10 18446744073709551615";

    assert_eq!(parse_start_time(stat), Some(987_654));
    assert_eq!(parse_start_time("4242 (short) S 1"), None);
    assert_eq!(parse_start_time("no parenthesis"), None);
}

#[test]
fn a_live_process_stays_pinned() {
    let pin = ProcessPin::open(proc_root(), std::process::id() as i32).unwrap();

    pin.verify().unwrap();
    assert_eq!(pin.pid(), std::process::id() as i32);
}

#[test]
fn a_process_that_exits_loses_its_pin() {
    let mut child = Command::new("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let pin = ProcessPin::open(proc_root(), pid).unwrap();
    pin.verify().unwrap();

    child.kill().unwrap();
    child.wait().unwrap();

    assert!(matches!(pin.verify(), Err(PinError::Exited(p)) if p == pid));
}

#[test]
fn a_pid_reused_by_a_process_started_later_is_refused() {
    // Forcing the recorded start time to differ from the live one is what a pin of an
    // exited process looks like once a new process got its pid.
    let pin = ProcessPin::open(proc_root(), std::process::id() as i32).unwrap();
    let recorded = pin.start_time();
    let pin = pin.with_start_time(recorded.wrapping_sub(1));

    assert!(matches!(pin.verify(), Err(PinError::Replaced(_))));
}

#[test]
fn a_pid_without_a_process_cannot_be_pinned() {
    // Pids are bounded by pid_max (at most 2^22), so this one never exists.
    let err = ProcessPin::open(proc_root(), 999_999_999).unwrap_err();

    assert!(matches!(err, PinError::StartTime { .. }), "{err}");
}

#[tokio::test]
async fn peer_credentials_come_from_the_socket() {
    let (ours, _theirs) = UnixStream::pair().unwrap();

    let info = PeerInfo::from_stream(&ours, proc_root());
    let pinned = info.pinned().unwrap();

    assert_eq!(pinned.caller.pid, std::process::id() as i32);
    assert_eq!(pinned.caller.uid, rustix::process::geteuid().as_raw());
    assert_eq!(pinned.caller.gid, rustix::process::getegid().as_raw());
    pinned.pin.verify().unwrap();
}

#[test]
fn effective_ids_are_the_second_field_of_the_uid_and_gid_lines() {
    let status = "Name:\tx\nUid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\n";

    assert_eq!(effective_ids(status), Some((1001, 2001)));
    assert_eq!(effective_ids("Uid:\t1\t2\t3\t4\n"), None);
    assert_eq!(effective_ids("Uid:\tx\tx\nGid:\t1\t2\n"), None);
}

#[test]
fn a_pin_holds_only_for_the_credentials_the_caller_connected_with() {
    let pid = std::process::id() as i32;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();

    let pin = ProcessPin::open(proc_root(), pid)
        .unwrap()
        .bound_to_credentials(uid, gid)
        .unwrap();
    pin.verify().unwrap();

    // What a pid taken over by another user's process before `accept` looks like.
    for (other_uid, other_gid) in [(uid.wrapping_add(1), gid), (uid, gid.wrapping_add(1))] {
        let err = ProcessPin::open(proc_root(), pid)
            .unwrap()
            .bound_to_credentials(other_uid, other_gid)
            .unwrap_err();
        assert!(
            matches!(err, PinError::CredentialsChanged(p) if p == pid),
            "{err}"
        );
    }
}
