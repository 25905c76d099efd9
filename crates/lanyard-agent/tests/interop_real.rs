//! The interop clients against a real deployment: a `lanyard-server` process and the
//! `lanyard-agent` binary attested with a join token, the workloads' entries created
//! through the server's admin API. go-spiffe, py-spiffe, an SDS client and the Rust
//! `spiffe` crate then fetch from the agent's socket. Without Go or the virtualenv those
//! parts are skipped, or fail when `LANYARD_REQUIRE_INTEROP=1`.
#![allow(clippy::unwrap_used, reason = "test code")]

mod cluster;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cluster::workload::wait_for_svid;
use cluster::{AgentProcess, ServerProcess, agent_path, uid_entry};
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_testkit::ShortTempDir;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};
use spiffe::X509Source;

server_child_entry_point!();

/// How long the agent may take to attest and serve the entries.
const DEADLINE: Duration = Duration::from_secs(60);

/// The agent's poll interval; the push stream delivers sooner.
const SYNC_INTERVAL: Duration = Duration::from_secs(5);

const WEB: &str = "spiffe://example.org/web";
const API: &str = "spiffe://example.org/api";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_clients_fetch_from_a_real_agent_of_a_real_server() {
    let dir = ShortTempDir::new().unwrap();
    let server = ServerProcess::start(&dir, "");
    let token = server.join_token().await;
    let parent = agent_path(&token);
    let mut web = uid_entry(&parent, "/web");
    web.hint = "frontend".to_owned();
    create_entries(&server, vec![web, uid_entry(&parent, "/api")]).await;
    let agent = AgentProcess::start(&dir, &server, &token, SYNC_INTERVAL);
    let log = || format!("{}\n{}", agent.log(), server.log());
    for id in [WEB, API] {
        wait_for_svid(&agent.socket, id, DEADLINE, log).await;
    }
    let endpoint = format!("unix://{}", agent.socket.display());

    go_spiffe_fetches_and_validates(&endpoint);
    py_spiffe_fetches_and_validates(&endpoint);
    sds_client_gets_default_and_rootca(&agent.socket);
    rust_spiffe_x509_source_verifies(&endpoint).await;
}

fn go_spiffe_fetches_and_validates(endpoint: &str) {
    let Some(probe) = go_probe() else { return };
    let out = json_of(&run_ok(Command::new(&probe).args([
        "fetch",
        "-addr",
        endpoint,
        "-audience",
        "svc",
    ])));

    let svids = strings(&out["svids"]);
    assert_eq!(sorted(&svids), [API, WEB], "{out}");
    let hints: BTreeMap<_, _> = svids.iter().cloned().zip(strings(&out["hints"])).collect();
    assert_eq!(hints[WEB], "frontend", "{out}");
    assert_eq!(hints[API], "", "{out}");
    let default = out["default_svid"].as_str().unwrap();
    assert_eq!(default, svids[0], "{out}");
    assert_eq!(out["x509_bundles"], json!(["spiffe://example.org"]));
    assert_eq!(out["jwt_bundles"], json!(["spiffe://example.org"]));
    assert_eq!(sorted(&strings(&out["jwt_subjects"])), [API, WEB], "{out}");
    assert_eq!(out["validated_by_api"], default, "{out}");
    assert_eq!(out["validated_locally"], default, "{out}");
}

fn py_spiffe_fetches_and_validates(endpoint: &str) {
    let Some(out) = python_probe("workload_probe.py", &[endpoint, "svc"]) else {
        return;
    };

    let svids = strings(&out["svids"]);
    assert_eq!(sorted(&svids), [API, WEB], "{out}");
    let default = out["default_svid"].as_str().unwrap();
    assert_eq!(default, svids[0], "{out}");
    assert_eq!(out["x509_bundles"], json!(["example.org"]));
    assert_eq!(out["jwt_bundles"], json!(["example.org"]));
    assert_eq!(out["jwt_subject"], default, "{out}");
    assert_eq!(out["validated_by_api"], default, "{out}");
    assert_eq!(out["validated_locally"], default, "{out}");
}

fn sds_client_gets_default_and_rootca(socket: &Path) {
    let socket = socket.display().to_string();
    let Some(out) = python_probe("sds_probe.py", &[&socket, "default", "ROOTCA"]) else {
        return;
    };

    for response in [&out["fetched"], &out["streamed"]] {
        let by_name: BTreeMap<&str, &Value> = response["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s))
            .collect();
        assert_eq!(by_name.len(), 2, "{response}");
        assert_eq!(by_name["default"]["type"], "tls_certificate");
        assert_eq!(by_name["default"]["certificates"], 1);
        assert_eq!(by_name["default"]["pkcs8_key"], true);
        assert_eq!(
            by_name["ROOTCA"]["validator"],
            "envoy.tls.cert_validator.spiffe"
        );
        assert_eq!(by_name["ROOTCA"]["trust_domains"], json!(["example.org"]));
    }
}

async fn rust_spiffe_x509_source_verifies(endpoint: &str) {
    let source = X509Source::builder()
        .endpoint(endpoint)
        .build()
        .await
        .unwrap();
    let context = source.x509_context().unwrap();

    let ids: Vec<String> = context
        .svids()
        .iter()
        .map(|s| s.spiffe_id().to_string())
        .collect();
    assert_eq!(sorted(&ids), [API, WEB]);
    let web = context
        .svids()
        .iter()
        .find(|s| s.spiffe_id().to_string() == WEB)
        .unwrap();
    assert_eq!(web.hint(), Some("frontend"));
    let td: spiffe::TrustDomain = "example.org".try_into().unwrap();
    let own = context.bundle_set().get(&td).unwrap();
    for svid in context.svids() {
        verify_chain(svid, own.authorities());
    }
    source.shutdown().await;
}

async fn create_entries(
    server: &ServerProcess,
    entries: Vec<lanyard_proto::spire::api::types::Entry>,
) {
    let results = EntryClient::new(server.admin().await)
        .batch_create_entry(BatchCreateEntryRequest {
            entries,
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    for result in &results {
        assert_eq!(result.status.as_ref().unwrap().code, 0, "{results:?}");
    }
}

/// Verifies the chain of `svid` up to `roots` for client auth with webpki.
fn verify_chain(svid: &spiffe::X509Svid, roots: &[spiffe::cert::Certificate]) {
    let roots: Vec<CertificateDer<'_>> = roots
        .iter()
        .map(|cert| CertificateDer::from(cert.as_bytes()))
        .collect();
    let anchors: Vec<_> = roots
        .iter()
        .map(|cert| webpki::anchor_from_trusted_cert(cert).unwrap())
        .collect();
    let leaf_der = CertificateDer::from(svid.leaf().as_bytes());
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
    let intermediates: Vec<CertificateDer<'_>> = svid.cert_chain()[1..]
        .iter()
        .map(|cert| CertificateDer::from(cert.as_bytes()))
        .collect();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("{} does not verify: {e:?}", svid.spiffe_id()));
}

/// The go-spiffe probe, built with `go build`; `None` when skipped.
fn go_probe() -> Option<PathBuf> {
    let go = std::env::var_os("GO").map_or_else(|| PathBuf::from("go"), PathBuf::from);
    if Command::new(&go).arg("version").output().is_err() {
        lanyard_testkit::require::skip_or_fail(
            lanyard_testkit::require::REQUIRE_INTEROP_VAR,
            "the go command is not installed (needed to build the go-spiffe probe)",
        );
        return None;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-spiffe-probe-real");
    run_ok(
        Command::new(&go)
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(interop_dir().join("go-spiffe")),
    );
    Some(out)
}

fn python_probe(script: &str, args: &[&str]) -> Option<Value> {
    let python = lanyard_testkit::interop_python()?;
    let out = run_ok(
        Command::new(python)
            .arg(interop_dir().join("python").join(script))
            .args(args),
    );
    Some(json_of(&out))
}

/// Runs `command`, failing the test with its output unless it succeeds; returns stdout.
fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("{err}: {text}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn sorted(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values
}
