//! go-spiffe v2 (the Go library SPIFFE workloads use) against the agent's public socket.
//!
//! The probe in `interop/go-spiffe` is built with `go build` (module download through
//! the Go module proxy, cached by Go). Without a Go toolchain the tests are skipped,
//! or fail when `LANYARD_REQUIRE_INTEROP=1`.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::{Options, TestAgent, entry, interop_dir, my_uid_selector, run_ok};
use lanyard_testkit::ChildGuard;
use serde_json::Value;

/// The probe binary, built once per test run; `None` when skipped.
fn probe() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = std::env::var_os("GO").map_or_else(|| PathBuf::from("go"), PathBuf::from);
            if Command::new(&go).arg("version").output().is_err() {
                lanyard_testkit::require::skip_or_fail(
                    lanyard_testkit::require::REQUIRE_INTEROP_VAR,
                    "the go command is not installed (needed to build the go-spiffe probe)",
                );
                return None;
            }
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-spiffe-probe");
            run_ok(
                Command::new(&go)
                    .args(["build", "-o"])
                    .arg(&out)
                    .arg(".")
                    .current_dir(interop_dir().join("go-spiffe")),
            );
            Some(out)
        })
        .clone()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("{err}: {text}"))
}

#[test]
fn go_spiffe_fetches_x509_jwt_and_bundles_and_validates() {
    let Some(probe) = probe() else { return };
    let mut web = entry("web", "/web", &[&my_uid_selector()]);
    web.hint = "frontend".into();
    web.created_at = 1;
    let mut api = entry("api", "/api", &[&my_uid_selector()]);
    api.created_at = 2;
    let agent = TestAgent::start(vec![api, web], Options::default());

    let out = json(&run_ok(Command::new(&probe).args([
        "fetch",
        "-addr",
        &agent.endpoint(),
        "-audience",
        "svc",
    ])));

    assert_eq!(out["default_svid"], "spiffe://example.org/web");
    assert_eq!(
        out["svids"],
        serde_json::json!(["spiffe://example.org/web", "spiffe://example.org/api"])
    );
    assert_eq!(out["hints"], serde_json::json!(["frontend", ""]));
    assert_eq!(
        out["x509_bundles"],
        serde_json::json!(["spiffe://example.org"])
    );
    assert_eq!(
        out["jwt_bundles"],
        serde_json::json!(["spiffe://example.org"])
    );
    assert_eq!(
        out["jwt_subjects"],
        serde_json::json!(["spiffe://example.org/web", "spiffe://example.org/api"])
    );
    assert_eq!(out["validated_by_api"], "spiffe://example.org/web");
    assert_eq!(out["validated_locally"], "spiffe://example.org/web");
}

#[test]
fn go_spiffe_sees_permission_denied_without_an_identity() {
    let Some(probe) = probe() else { return };
    let agent = TestAgent::start(
        vec![entry("db", "/db", &["unix:uid:4000000000"])],
        Options::default(),
    );

    let output = Command::new(&probe)
        .args(["fetch", "-addr", &agent.endpoint(), "-timeout", "3s"])
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PermissionDenied") && stderr.contains("no identity issued"),
        "{stderr}"
    );
}

#[test]
fn two_go_workloads_talk_mtls_each_authorizing_the_other() {
    let Some(probe) = probe() else { return };
    let agent_options = Options {
        discover_workload_path: true,
        ..Options::default()
    };
    let agent = TestAgent::start(Vec::new(), agent_options);
    let server_bin = agent.shared_dir().join("server-workload");
    let client_bin = agent.shared_dir().join("client-workload");
    std::fs::copy(&probe, &server_bin).unwrap();
    std::fs::copy(&probe, &client_bin).unwrap();
    agent.set_entries(vec![
        entry(
            "server",
            "/server",
            &[&format!("unix:path:{}", server_bin.display())],
        ),
        entry(
            "client",
            "/client",
            &[&format!("unix:path:{}", client_bin.display())],
        ),
    ]);

    let mut server = ChildGuard::spawn(
        Command::new(&server_bin)
            .args([
                "serve",
                "-addr",
                &agent.endpoint(),
                "-peer",
                "spiffe://example.org/client",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    )
    .unwrap();
    let mut lines = BufReader::new(server.child_mut().stdout.take().unwrap()).lines();
    let listening = json(&lines.next().unwrap().unwrap());
    let address = listening["listening"].as_str().unwrap().to_owned();

    let client = json(&run_ok(Command::new(&client_bin).args([
        "dial",
        "-addr",
        &agent.endpoint(),
        "-connect",
        &address,
        "-peer",
        "spiffe://example.org/server",
    ])));
    let served = json(&lines.next().unwrap().unwrap());

    assert_eq!(client["peer"], "spiffe://example.org/server");
    assert_eq!(client["message"], "hello spiffe://example.org/client");
    assert_eq!(served["peer"], "spiffe://example.org/client");
    assert_eq!(served["message"], "hello from go-spiffe");
    assert!(server.wait().unwrap().success());
}

#[test]
fn a_go_client_refuses_a_server_with_another_identity() {
    let Some(probe) = probe() else { return };
    let agent_options = Options {
        discover_workload_path: true,
        ..Options::default()
    };
    let agent = TestAgent::start(Vec::new(), agent_options);
    let server_bin = agent.shared_dir().join("server-workload");
    let client_bin = agent.shared_dir().join("client-workload");
    std::fs::copy(&probe, &server_bin).unwrap();
    std::fs::copy(&probe, &client_bin).unwrap();
    agent.set_entries(vec![
        entry(
            "server",
            "/impostor",
            &[&format!("unix:path:{}", server_bin.display())],
        ),
        entry(
            "client",
            "/client",
            &[&format!("unix:path:{}", client_bin.display())],
        ),
    ]);

    let mut server = ChildGuard::spawn(
        Command::new(&server_bin)
            .args([
                "serve",
                "-addr",
                &agent.endpoint(),
                "-peer",
                "spiffe://example.org/client",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    let mut lines = BufReader::new(server.child_mut().stdout.take().unwrap()).lines();
    let address = json(&lines.next().unwrap().unwrap())["listening"]
        .as_str()
        .unwrap()
        .to_owned();

    let output = Command::new(&client_bin)
        .args([
            "dial",
            "-addr",
            &agent.endpoint(),
            "-connect",
            &address,
            "-peer",
            "spiffe://example.org/server",
            "-timeout",
            "5s",
        ])
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("spiffe://example.org/impostor"), "{stderr}");
}
