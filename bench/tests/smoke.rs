//! Every scenario at a tiny scale against the real server entry point (debug build):
//! the harness must run to completion, report zero errors and write a well-formed
//! report. No timing is asserted; benchmarks are not tests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::Path;
use std::process::Command;

fn run_scenario(out: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_lanyard-bench"))
        .arg("--server-bin")
        .arg(env!("CARGO_BIN_EXE_lanyard-bench-server"))
        .arg("--out")
        .arg(out)
        .args([
            "--ceiling-rounds",
            "1",
            "--ceiling-ms",
            "20",
            "--deadline-s",
            "120",
        ])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("| wall s |"), "no table printed:\n{stdout}");

    let name = args[0];
    let report = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().unwrap().to_string_lossy().starts_with(name)
        })
        .unwrap_or_else(|| panic!("no json report for {name}"));
    let markdown = report.with_extension("md");
    assert!(
        std::fs::read_to_string(markdown)
            .unwrap()
            .contains("| latency |")
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();

    let ceiling = &json["ceiling"];
    assert!(ceiling["sign_per_s"].as_f64().unwrap() > 0.0);
    assert!(ceiling["verify_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["machine"]["nproc"].as_u64().unwrap() >= 1);
    let scenario = &json["scenario"];
    assert_eq!(scenario["name"], name);
    assert_eq!(scenario["errors"], 0, "{scenario:#}");
    let server_cpu_s = scenario["server_cpu_s"].as_f64().unwrap();
    assert!(server_cpu_s >= 0.0, "{scenario:#}");
    if !["idle", "s3", "s5"].contains(&name) {
        // An idle window, a handful of workloads served from the agent's cache, or a
        // six-node job measured from t0 may cost the server less than one /proc
        // clock tick (10 ms).
        assert!(server_cpu_s > 0.0, "{scenario:#}");
    }
    assert!(scenario["server_peak_rss_bytes"].as_u64().unwrap() > 0);
    let latencies = scenario["latencies"].as_array().unwrap();
    assert!(!latencies.is_empty());
    for row in latencies {
        assert!(
            row["count"].as_u64().unwrap() > 0,
            "empty distribution: {row}"
        );
    }
    json
}

#[test]
fn s1_boot_storm_completes() {
    let out = tempfile::tempdir().unwrap();
    let json = run_scenario(
        out.path(),
        &["s1", "--agents", "8", "--workloads-per-node", "3"],
    );
    let rows = json["scenario"]["latencies"].as_array().unwrap();
    assert_eq!(rows[0]["count"], 8);
    assert_eq!(rows[1]["count"], 8);
}

#[test]
fn s4_issuance_completes() {
    let out = tempfile::tempdir().unwrap();
    let json = run_scenario(
        out.path(),
        &[
            "s4",
            "--agents",
            "4",
            "--batch",
            "2",
            "--seconds",
            "0.3",
            "--server-cores",
            "1",
        ],
    );
    let rows = json["scenario"]["throughputs"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(row["count"].as_u64().unwrap() > 0, "{row}");
        assert!(row["ratio_per_core"].as_f64().unwrap() > 0.0, "{row}");
    }
}

#[test]
fn s2_registration_scale_completes() {
    let out = tempfile::tempdir().unwrap();
    run_scenario(
        out.path(),
        &[
            "s2",
            "--entries",
            "200",
            "--agent-entries",
            "700",
            "--batch",
            "100",
        ],
    );
}

#[test]
fn s5_job_launch_completes() {
    let out = tempfile::tempdir().unwrap();
    let json = run_scenario(
        out.path(),
        &["s5", "--nodes", "6", "--sync-interval-ms", "100"],
    );
    assert_eq!(json["scenario"]["latencies"][0]["count"], 6);
}

#[test]
fn idle_agent_completes() {
    let out = tempfile::tempdir().unwrap();
    let json = run_scenario(
        out.path(),
        &[
            "idle",
            "--entries",
            "3",
            "--seconds",
            "0.5",
            "--agent-bin",
            env!("CARGO_BIN_EXE_lanyard-bench-agent"),
        ],
    );
    let figures = json["scenario"]["figures"].as_array().unwrap();
    let rss = figures.iter().find(|f| f["name"] == "agent RSS").unwrap();
    assert!(rss["value"].as_f64().unwrap() > 0.0);
}

#[test]
fn s3_workload_api_completes() {
    let out = tempfile::tempdir().unwrap();
    let json = run_scenario(
        out.path(),
        &[
            "s3",
            "--workloads",
            "5",
            "--steady-seconds",
            "1.2",
            "--agent-bin",
            env!("CARGO_BIN_EXE_lanyard-bench-agent"),
        ],
    );
    let rows = json["scenario"]["latencies"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    assert!(rows[..4].iter().all(|r| r["count"] == 5), "{rows:?}");
    assert_eq!(
        rows[7]["count"], 5,
        "every stream saw the rotation: {rows:?}"
    );
}
