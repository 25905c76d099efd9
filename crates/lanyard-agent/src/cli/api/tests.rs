use std::os::unix::fs::PermissionsExt as _;

use clap::{CommandFactory as _, Parser};

use super::*;
use crate::workload::testing::{Agent, entry, my_uid_selector};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    api: ApiCommand,
}

fn parse(words: &[&str]) -> ApiCommand {
    let args = lanyard_daemon::normalize_go_style_args(
        &Cli::command(),
        std::iter::once("api").chain(words.iter().copied()),
    );
    Cli::try_parse_from(args).unwrap().api
}

async fn run(words: &[&str]) -> (Result<(), ApiError>, String) {
    let mut out = Vec::new();
    let result = execute(parse(words), &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

async fn agent() -> Agent {
    let mut web = entry("a", "/web", &[&my_uid_selector()]);
    web.hint = "frontend".into();
    Agent::start(vec![web]).await
}

#[test]
fn fetch_alone_means_fetch_x509_and_spire_flags_parse() {
    let command = parse(&[
        "fetch",
        "-socketPath",
        "/s.sock",
        "-write",
        "/out",
        "-silent",
    ]);

    let ApiCommand::Fetch(FetchArgs { kind: None, x509 }) = command else {
        panic!("{command:?}");
    };
    assert_eq!(
        x509.common.socket_path.as_deref(),
        Some(std::path::Path::new("/s.sock"))
    );
    assert_eq!(x509.write.as_deref(), Some(std::path::Path::new("/out")));
    assert!(x509.silent);

    let command = parse(&[
        "fetch",
        "jwt",
        "-audience",
        "a,b",
        "-audience",
        "c",
        "-spiffeID",
        "spiffe://td/x",
    ]);
    let ApiCommand::Fetch(FetchArgs {
        kind: Some(FetchCommand::Jwt(jwt)),
        ..
    }) = command
    else {
        panic!("{command:?}");
    };
    assert_eq!(jwt.audience, ["a", "b", "c"]);
    assert_eq!(jwt.spiffe_id.as_deref(), Some("spiffe://td/x"));
}

#[tokio::test]
async fn fetch_x509_prints_like_spire_and_writes_the_files() {
    let agent = agent().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = agent.socket.display().to_string();
    let target = dir.path().display().to_string();

    let (result, out) = run(&["fetch", "x509", "-socketPath", &socket, "-write", &target]).await;

    result.unwrap();
    assert!(out.starts_with("Received 1 svid after "), "{out}");
    assert!(
        out.contains("SPIFFE ID:\t\tspiffe://example.org/web\n"),
        "{out}"
    );
    assert!(out.contains("Hint:\t\t\tfrontend\n"), "{out}");
    assert!(out.contains("SVID Valid Until:\t"), "{out}");
    assert!(out.contains("CA #1 Valid After:\t"), "{out}");
    assert!(out.contains(" +0000 UTC\n"), "{out}");
    let key = dir.path().join("svid.0.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let svid = std::fs::read_to_string(dir.path().join("svid.0.pem")).unwrap();
    let bundle = std::fs::read_to_string(dir.path().join("bundle.0.pem")).unwrap();
    assert!(svid.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(bundle.starts_with("-----BEGIN CERTIFICATE-----"));
}

#[tokio::test]
async fn the_socket_can_come_from_the_spiffe_endpoint_variable_form() {
    let agent = agent().await;
    let path =
        resolve_socket_path(None, Some(&format!("unix://{}", agent.socket.display()))).unwrap();
    let socket = path.display().to_string();

    let (result, out) = run(&["fetch", "-socketPath", &socket, "-output", "json"]).await;

    result.unwrap();
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["svids"][0]["spiffe_id"], "spiffe://example.org/web");
    assert!(json["svids"][0]["x509_svid_key"].as_str().unwrap().len() > 100);
}

#[tokio::test]
async fn fetch_jwt_then_validate_jwt() {
    let agent = agent().await;
    let socket = agent.socket.display().to_string();

    let (fetched, out) = run(&["fetch", "jwt", "-socketPath", &socket, "-audience", "svc"]).await;
    fetched.unwrap();
    let token = out
        .lines()
        .skip_while(|l| !l.starts_with("token(spiffe://example.org/web):"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        out.contains("hint(spiffe://example.org/web):\n\tfrontend\n"),
        "{out}"
    );
    assert!(
        out.contains("bundle(spiffe://example.org):\n\t{\"keys\":"),
        "{out}"
    );

    let (valid, out) = run(&[
        "validate",
        "jwt",
        "-socketPath",
        &socket,
        "-audience",
        "svc",
        "-svid",
        &token,
    ])
    .await;
    valid.unwrap();
    assert!(
        out.starts_with("SVID is valid.\nSPIFFE ID : spiffe://example.org/web\nClaims    : {"),
        "{out}"
    );
    assert!(out.contains("\"aud\":[\"svc\"]"), "{out}");

    let (invalid, _) = run(&[
        "validate",
        "jwt",
        "-socketPath",
        &socket,
        "-audience",
        "other",
        "-svid",
        &token,
    ])
    .await;
    assert!(invalid.unwrap_err().0.starts_with("SVID is not valid: "));
}

#[tokio::test]
async fn errors_say_what_went_wrong() {
    let agent = Agent::start(vec![entry("b", "/db", &["unix:uid:4000000000"])]).await;
    let socket = agent.socket.display().to_string();

    let (denied, _) = run(&["fetch", "-socketPath", &socket]).await;
    let (no_audience, _) = run(&["fetch", "jwt", "-socketPath", &socket]).await;
    let (no_agent, _) = run(&["fetch", "-socketPath", "/nonexistent/api.sock"]).await;

    assert_eq!(
        denied.unwrap_err().0,
        "permission denied: no identity issued"
    );
    assert_eq!(no_audience.unwrap_err().0, "audience must be specified");
    let no_agent = no_agent.unwrap_err().0;
    assert!(no_agent.contains("/nonexistent/api.sock"), "{no_agent}");
}
