//! SPIRE's own `spire-server` CLI (v1.13.3, built by `scripts/setup-deps go` into
//! `interop/bin/`) against the real `lanyard-server`'s admin socket: the judge of
//! wire compatibility for the admin API. Without the binary the tests are skipped,
//! or fail when `LANYARD_REQUIRE_INTEROP=1` (as in CI).
#![allow(clippy::unwrap_used, reason = "test code")]

#[path = "server/common/mod.rs"]
#[allow(
    dead_code,
    reason = "shared with the server test binary; only a part is used here"
)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Options, TestServer};
use lanyard_proto::spire::api::server::entry::v1::{GetEntryRequest, ListEntriesRequest};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;

fn spire_server() -> Option<PathBuf> {
    lanyard_testkit::interop_program("spire-server")
}

/// Runs `spire-server <args> -socketPath <socket>`.
fn spire(bin: &Path, server: &TestServer, args: &[&str]) -> Output {
    let mut command = Command::new(bin);
    command.args(args).arg("-socketPath").arg(&server.socket);
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

/// Like [`spire`], failing the test unless the command succeeds; returns stdout.
fn spire_ok(bin: &Path, server: &TestServer, args: &[&str]) -> String {
    let output = spire(bin, server, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "spire-server {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\nserver log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    stdout
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("{err}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn spire_cli_creates_shows_counts_and_deletes_entries() {
    let Some(bin) = spire_server() else { return };
    let server = TestServer::start(&Options::default());

    let created = json(&spire_ok(
        &bin,
        &server,
        &[
            "entry",
            "create",
            "-output",
            "json",
            "-parentID",
            "spiffe://example.org/node/n1",
            "-spiffeID",
            "spiffe://example.org/web",
            "-selector",
            "unix:uid:1000",
            "-selector",
            "unix:gid:1000",
            "-x509SVIDTTL",
            "300",
            "-jwtSVIDTTL",
            "120",
            "-dns",
            "web.example.org",
            "-hint",
            "frontend",
        ],
    ));
    let result = &created["results"][0];
    assert_eq!(result["status"]["code"], 0, "{created}");
    let id = result["entry"]["id"].as_str().unwrap().to_owned();

    let stored = server
        .entries()
        .await
        .get_entry(GetEntryRequest {
            id: id.clone(),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.spiffe_id.as_ref().unwrap().path, "/web");
    assert_eq!(stored.parent_id.as_ref().unwrap().path, "/node/n1");
    let mut selectors: Vec<String> = stored
        .selectors
        .iter()
        .map(|s| format!("{}:{}", s.r#type, s.value))
        .collect();
    selectors.sort();
    assert_eq!(selectors, ["unix:gid:1000", "unix:uid:1000"]);
    assert_eq!(stored.x509_svid_ttl, 300);
    assert_eq!(stored.jwt_svid_ttl, 120);
    assert_eq!(stored.dns_names, ["web.example.org"]);
    assert_eq!(stored.hint, "frontend");

    let shown = json(&spire_ok(
        &bin,
        &server,
        &["entry", "show", "-output", "json", "-entryID", &id],
    ));
    let entries = shown["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{shown}");
    assert_eq!(entries[0]["spiffe_id"]["path"], "/web");
    assert_eq!(entries[0]["hint"], "frontend");

    let pretty = spire_ok(
        &bin,
        &server,
        &["entry", "show", "-spiffeID", "spiffe://example.org/web"],
    );
    assert!(
        pretty.contains(&id) && pretty.contains("spiffe://example.org/node/n1"),
        "{pretty}"
    );

    let duplicate = spire(
        &bin,
        &server,
        &[
            "entry",
            "create",
            "-parentID",
            "spiffe://example.org/node/n1",
            "-spiffeID",
            "spiffe://example.org/web",
            "-selector",
            "unix:gid:1000",
            "-selector",
            "unix:uid:1000",
        ],
    );
    let text = String::from_utf8_lossy(&duplicate.stdout).into_owned()
        + &String::from_utf8_lossy(&duplicate.stderr);
    assert!(
        !duplicate.status.success(),
        "a similar entry was accepted: {text}"
    );
    assert!(text.contains("similar entry already exists"), "{text}");

    let counted = spire_ok(&bin, &server, &["entry", "count"]);
    assert!(counted.contains("1 registration entry"), "{counted}");

    spire_ok(&bin, &server, &["entry", "delete", "-entryID", &id]);
    let gone = server
        .entries()
        .await
        .get_entry(GetEntryRequest {
            id,
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn spire_cli_shows_the_bundle_as_pem_and_spiffe_json() {
    let Some(bin) = spire_server() else { return };
    let server = TestServer::start(&Options::default());
    let ours = common::fixtures::own_bundle(&server).await;
    let our_roots: Vec<Vec<u8>> = ours
        .x509_authorities
        .iter()
        .map(|a| a.asn1.clone())
        .collect();

    let pem = spire_ok(&bin, &server, &["bundle", "show"]);
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|cert| cert.unwrap().to_vec())
        .collect();
    assert!(!roots.is_empty(), "{pem}");
    assert_eq!(roots, our_roots);

    let document = json(&spire_ok(
        &bin,
        &server,
        &["bundle", "show", "-format", "spiffe"],
    ));
    let keys = document["keys"].as_array().unwrap();
    let x509 = keys.iter().filter(|k| k["use"] == "x509-svid").count();
    let jwt: Vec<&Value> = keys.iter().filter(|k| k["use"] == "jwt-svid").collect();
    assert_eq!(x509, our_roots.len(), "{document}");
    assert_eq!(jwt.len(), ours.jwt_authorities.len(), "{document}");
    for key in jwt {
        assert!(
            key["kid"].as_str().is_some_and(|kid| !kid.is_empty()),
            "{document}"
        );
    }
    assert_eq!(document["spiffe_sequence"], ours.sequence_number);
}

#[tokio::test(flavor = "multi_thread")]
async fn spire_cli_generates_a_join_token_with_its_alias() {
    let Some(bin) = spire_server() else { return };
    let server = TestServer::start(&Options::default());

    let out = spire_ok(
        &bin,
        &server,
        &[
            "token",
            "generate",
            "-spiffeID",
            "spiffe://example.org/node/n2",
            "-ttl",
            "600",
        ],
    );
    let token = out
        .lines()
        .find_map(|line| line.strip_prefix("Token: "))
        .unwrap_or_else(|| panic!("no token in: {out}"))
        .trim()
        .to_owned();
    assert_eq!(token.len(), 36, "{token}");

    let listed = server
        .entries()
        .await
        .list_entries(ListEntriesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let alias = listed
        .iter()
        .find(|e| e.spiffe_id.as_ref().is_some_and(|id| id.path == "/node/n2"))
        .unwrap_or_else(|| panic!("no alias entry in {listed:?}"));
    assert_eq!(
        alias.parent_id.as_ref().unwrap().path,
        format!("/spire/agent/join_token/{token}")
    );

    let refused = spire(
        &bin,
        &server,
        &["token", "generate", "-spiffeID", "not-an-id"],
    );
    assert!(!refused.status.success());
}
