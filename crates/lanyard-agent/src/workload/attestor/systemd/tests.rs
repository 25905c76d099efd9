use std::fs;

use super::*;

// Recorded /proc/<pid>/cgroup files.
const UNIFIED_SERVICE: &str = "0::/system.slice/slurmd.service\n";
const HYBRID_SERVICE: &str = "12:pids:/system.slice/munge.service\n\
    4:memory:/system.slice/munge.service\n\
    1:name=systemd:/system.slice/munge.service\n\
    0::/system.slice/munge.service\n";
const LEGACY_SERVICE: &str = "11:cpu,cpuacct:/system.slice/sshd.service\n\
    1:name=systemd:/system.slice/sshd.service\n";
const SERVICE_SUBGROUP: &str = "0::/system.slice/containerd.service/payload\n";
const SESSION: &str = "0::/user.slice/user-1000.slice/session-3.scope\n";
const USER_MANAGER_UNIT: &str =
    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/jupyter.service\n";
const SLURM_STEP: &str = "0::/system.slice/nid001_slurmstepd.scope/job_42/step_0/user/task_0\n";
const NO_SYSTEMD: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/0024\n0::/\n";
const SLICE_ONLY: &str = "0::/system.slice\n";

#[test]
fn the_unit_is_the_outermost_service_or_scope_of_the_cgroup() {
    assert_eq!(unit_of_cgroup_file(UNIFIED_SERVICE), Some("slurmd.service"));
    assert_eq!(unit_of_cgroup_file(HYBRID_SERVICE), Some("munge.service"));
    assert_eq!(unit_of_cgroup_file(LEGACY_SERVICE), Some("sshd.service"));
    assert_eq!(
        unit_of_cgroup_file(SERVICE_SUBGROUP),
        Some("containerd.service")
    );
    assert_eq!(unit_of_cgroup_file(SESSION), Some("session-3.scope"));
    assert_eq!(
        unit_of_cgroup_file(USER_MANAGER_UNIT),
        Some("user@1000.service")
    );
    assert_eq!(
        unit_of_cgroup_file(SLURM_STEP),
        Some("nid001_slurmstepd.scope")
    );
}

#[test]
fn a_process_outside_any_unit_has_none() {
    assert_eq!(unit_of_cgroup_file(NO_SYSTEMD), None);
    assert_eq!(unit_of_cgroup_file(SLICE_ONLY), None);
    assert_eq!(unit_of_cgroup_file(""), None);
    assert_eq!(unit_of_cgroup_file("0::/system.slice/.service\n"), None);
}

#[test]
fn templates_fall_back_to_the_template_unit() {
    assert_eq!(
        template_of("getty@tty1.service").as_deref(),
        Some("getty@.service")
    );
    assert_eq!(template_of("getty@.service"), None);
    assert_eq!(template_of("sshd.service"), None);
}

struct Fixture {
    _dir: tempfile::TempDir,
    proc: ProcFs,
    root: PathBuf,
}

fn fixture(pid: i32, cgroup: &str, unit_files: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let proc_dir = dir.path().join("proc");
    fs::create_dir_all(proc_dir.join(pid.to_string())).unwrap();
    fs::write(proc_dir.join(pid.to_string()).join("cgroup"), cgroup).unwrap();
    let root = dir.path().join("root");
    for file in unit_files {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "[Service]\nExecStart=/bin/true\n").unwrap();
    }
    Fixture {
        proc: ProcFs::at(&proc_dir),
        root,
        _dir: dir,
    }
}

fn caller(pid: i32) -> Caller {
    Caller {
        pid,
        uid: 0,
        gid: 0,
    }
}

fn strings(selectors: Vec<Selector>) -> Vec<String> {
    selectors.iter().map(ToString::to_string).collect()
}

#[test]
fn a_service_yields_its_id_and_fragment_path() {
    let fx = fixture(
        4242,
        UNIFIED_SERVICE,
        &["lib/systemd/system/slurmd.service"],
    );
    let attestor = SystemdAttestor::new(fx.proc.clone(), fx.root);

    assert_eq!(
        strings(attestor.attest(&caller(4242)).unwrap()),
        [
            "systemd:id:slurmd.service",
            "systemd:fragment_path:/lib/systemd/system/slurmd.service"
        ]
    );
}

#[test]
fn an_override_in_etc_wins_over_the_vendor_unit() {
    let fx = fixture(
        7,
        HYBRID_SERVICE,
        &[
            "usr/lib/systemd/system/munge.service",
            "etc/systemd/system/munge.service",
        ],
    );
    let attestor = SystemdAttestor::new(fx.proc.clone(), fx.root);

    assert_eq!(
        strings(attestor.attest(&caller(7)).unwrap()),
        [
            "systemd:id:munge.service",
            "systemd:fragment_path:/etc/systemd/system/munge.service"
        ]
    );
}

#[test]
fn an_instance_of_a_template_reports_the_template_file() {
    let fx = fixture(
        9,
        "0::/system.slice/system-getty.slice/getty@tty1.service\n",
        &["usr/lib/systemd/system/getty@.service"],
    );
    let attestor = SystemdAttestor::new(fx.proc.clone(), fx.root);

    assert_eq!(
        strings(attestor.attest(&caller(9)).unwrap()),
        [
            "systemd:id:getty@tty1.service",
            "systemd:fragment_path:/usr/lib/systemd/system/getty@.service"
        ]
    );
}

#[test]
fn a_transient_scope_without_a_file_has_only_its_id() {
    let fx = fixture(11, SLURM_STEP, &[]);
    let attestor = SystemdAttestor::new(fx.proc.clone(), fx.root);

    assert_eq!(
        strings(attestor.attest(&caller(11)).unwrap()),
        ["systemd:id:nid001_slurmstepd.scope"]
    );
}

#[test]
fn no_unit_means_no_selectors_and_a_missing_process_is_an_error() {
    let fx = fixture(12, NO_SYSTEMD, &[]);
    let attestor = SystemdAttestor::new(fx.proc.clone(), fx.root);

    assert!(attestor.attest(&caller(12)).unwrap().is_empty());
    let err = attestor.attest(&caller(13)).unwrap_err();
    assert!(err.contains("/proc/13/cgroup"), "{err}");
}
