use std::path::PathBuf;

use lanyard_proto::spire::api::server::localauthority::v1::AuthorityState;
use lanyard_proto::spire::api::types::{
    Bundle, Entry, Logger, Selector, Spiffeid, Status, X509Certificate,
};
use tokio_stream::wrappers::UnixListenerStream;

use super::common::OutputArg;
use super::*;

fn parse(args: &[&str]) -> Command {
    let mut argv = vec!["lanyard-server"];
    argv.extend_from_slice(args);
    Cli::parse_args(argv).expect("arguments parse").command
}

fn id(td: &str, path: &str) -> Option<Spiffeid> {
    Some(Spiffeid {
        trust_domain: td.to_owned(),
        path: path.to_owned(),
    })
}

fn selector(kind: &str, value: &str) -> Selector {
    Selector {
        r#type: kind.to_owned(),
        value: value.to_owned(),
    }
}

/// SPIRE's own `entry show` test fixtures.
fn spire_fixture_entries() -> Vec<Entry> {
    let base = |n: u8, parent: &str, spiffe: &str, selectors: Vec<Selector>| Entry {
        id: format!("00000000-0000-0000-0000-00000000000{n}"),
        parent_id: id("example.org", parent),
        spiffe_id: id("example.org", spiffe),
        selectors,
        ..Entry::default()
    };
    vec![
        base(0, "/father", "/son", vec![selector("foo", "bar")]),
        base(
            1,
            "/father",
            "/daughter",
            vec![selector("foo", "bar"), selector("bar", "baz")],
        ),
        Entry {
            federates_with: vec!["spiffe://domain.test".to_owned()],
            ..base(
                2,
                "/mother",
                "/daughter",
                vec![selector("bar", "baz"), selector("baz", "bat")],
            )
        },
        Entry {
            expires_at: 1_552_410_266,
            ..base(3, "/mother", "/son", vec![selector("baz", "bat")])
        },
    ]
}

#[test]
fn entry_create_takes_spire_flags() {
    let Command::Entry(EntryCommand::Create(fields)) = parse(&[
        "entry",
        "create",
        "-socketPath",
        "/tmp/x.sock",
        "-spiffeID",
        "spiffe://example.org/w",
        "-parentID",
        "spiffe://example.org/agent",
        "-selector",
        "unix:uid:0",
        "-selector",
        "unix:gid:0",
        "-x509SVIDTTL",
        "300",
        "-jwtSVIDTTL=60",
        "-dns",
        "w.example.org",
        "-federatesWith",
        "spiffe://other.org",
        "-admin",
        "-downstream=true",
        "-storeSVID=false",
        "-hint",
        "-h",
        "-entryExpiry",
        "1700000000",
        "-entryID",
        "fixed-id",
    ]) else {
        panic!("not entry create");
    };
    assert_eq!(fields.socket.socket_path, PathBuf::from("/tmp/x.sock"));

    let entries = fields.entries(false).expect("valid flags");
    let entry = &entries[0];
    assert_eq!(entry.id, "fixed-id");
    assert_eq!(entry.spiffe_id, id("example.org", "/w"));
    assert_eq!(entry.parent_id, id("example.org", "/agent"));
    assert_eq!(
        entry.selectors,
        [selector("unix", "uid:0"), selector("unix", "gid:0")]
    );
    assert_eq!((entry.x509_svid_ttl, entry.jwt_svid_ttl), (300, 60));
    assert_eq!(entry.dns_names, ["w.example.org"]);
    assert_eq!(entry.federates_with, ["spiffe://other.org"]);
    assert!(entry.admin && entry.downstream && !entry.store_svid);
    assert_eq!(entry.hint, "-h");
    assert_eq!(entry.expires_at, 1_700_000_000);
}

#[test]
fn entry_create_node_and_validation() {
    let Command::Entry(EntryCommand::Create(fields)) = parse(&[
        "entry",
        "create",
        "-spiffeID",
        "spiffe://example.org/rack1",
        "-node",
        "-selector",
        "tpm:model:x",
    ]) else {
        panic!("not entry create");
    };
    let entries = fields.entries(false).expect("valid");
    assert_eq!(entries[0].parent_id, id("example.org", "/spire/server"));

    let cases: [(&[&str], &str); 5] = [
        (
            &["-spiffeID", "spiffe://td/w", "-parentID", "spiffe://td/a"],
            "at least one selector",
        ),
        (
            &["-spiffeID", "spiffe://td/w", "-selector", "a:b"],
            "parent ID is required",
        ),
        (
            &["-parentID", "spiffe://td/a", "-selector", "a:b"],
            "SPIFFE ID is required",
        ),
        (
            &[
                "-spiffeID",
                "td/w",
                "-parentID",
                "spiffe://td/a",
                "-selector",
                "a:b",
            ],
            "error parsing SPIFFE ID \"td/w\"",
        ),
        (
            &[
                "-spiffeID",
                "spiffe://td/w",
                "-node",
                "-selector",
                "nocolon",
            ],
            "must be formatted as type:value",
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["entry", "create"];
        args.extend_from_slice(flags);
        let Command::Entry(EntryCommand::Create(fields)) = parse(&args) else {
            panic!("not entry create");
        };
        let err = fields.entries(false).expect_err("invalid flags");
        assert!(err.0.contains(expected), "{flags:?}: {}", err.0);
    }

    let Command::Entry(EntryCommand::Update(fields)) = parse(&[
        "entry",
        "update",
        "-spiffeID",
        "spiffe://td/w",
        "-node",
        "-selector",
        "a:b",
    ]) else {
        panic!("not entry update");
    };
    assert!(
        fields
            .entries(true)
            .expect_err("no ID")
            .0
            .contains("-entryID")
    );
}

#[test]
fn entry_data_files_use_spire_json() {
    let json = br#"{
        "entries": [
            {
                "selectors": [{"type": "unix", "value": "uid:1111"}],
                "spiffe_id": "spiffe://example.org/Blog",
                "parent_id": "spiffe://example.org/spire/agent/join_token/TokenBlog",
                "x509_svid_ttl": 200,
                "jwt_svid_ttl": 30,
                "admin": true,
                "entryExpiry": 1552410266,
                "dns_names": ["blog.example.org"],
                "hint": "external"
            },
            {
                "selectors": [{"type": "unix", "value": "uid:1111"}],
                "spiffe_id": "spiffe://example.org/Database",
                "parent_id": "spiffe://example.org/spire/agent/join_token/TokenDatabase",
                "ttl": 200
            }
        ]
    }"#;
    let entries = entry_data::parse_entries_json(json).expect("valid file");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].spiffe_id, id("example.org", "/Blog"));
    assert!(entries[0].admin);
    assert_eq!(entries[0].expires_at, 1_552_410_266);
    assert_eq!(entries[0].hint, "external");
    assert_eq!(entries[1].x509_svid_ttl, 200);

    assert_eq!(
        entry_data::parse_delete_json(br#"{"ids": ["a", "b"]}"#).expect("valid"),
        ["a", "b"]
    );
    assert!(entry_data::parse_entries_json(b"{\"entries\": []}").is_err());
    assert!(entry_data::parse_entries_json(b"not json").is_err());
}

#[test]
fn entry_data_files_refuse_unknown_keys() {
    for (json, key) in [
        (
            &br#"{"entries": [{"spiffe_id": "spiffe://td/w", "parent_id": "spiffe://td/a",
                "selectors": [{"type": "unix", "value": "uid:1"}], "x509_svid_tll": 60}]}"#[..],
            "x509_svid_tll",
        ),
        (
            br#"{"entries": [{"spiffe_id": "spiffe://td/w", "parent_id": "spiffe://td/a",
                "selectors": [{"type": "unix", "value": "uid:1"}], "admn": true}]}"#,
            "admn",
        ),
        (
            br#"{"entries": [{"spiffe_id": "spiffe://td/w", "parent_id": "spiffe://td/a",
                "selectors": [{"type": "unix", "vaule": "uid:1"}]}]}"#,
            "vaule",
        ),
        (br#"{"entris": []}"#, "entris"),
    ] {
        let Err(err) = entry_data::parse_entries_json(json) else {
            panic!("{key} accepted");
        };
        assert!(
            err.0.contains(&format!("unknown field `{key}`")),
            "{}",
            err.0
        );
    }
    let Err(err) = entry_data::parse_delete_json(br#"{"id": ["a"]}"#) else {
        panic!("id accepted");
    };
    assert!(err.0.contains("unknown field `id`"), "{}", err.0);

    // The aliases and the keys SPIRE's exports carry still load.
    let json = br#"{"Entries": [{"id": "e1", "spiffe_id": "spiffe://td/w",
        "parent_id": "spiffe://td/a", "ttl": 60, "expires_at": 5,
        "selectors": [{"Type": "unix", "Value": "uid:1"}],
        "revision_number": 3, "created_at": 1700000000}]}"#;
    let entries = entry_data::parse_entries_json(json).expect("aliases load");
    assert_eq!(entries[0].id, "e1");
    assert_eq!(entries[0].x509_svid_ttl, 60);
    assert_eq!(entries[0].expires_at, 5);
    assert_eq!(entries[0].selectors[0].value, "uid:1");
}

#[test]
fn entry_show_filters_build_the_request() {
    let Command::Entry(EntryCommand::Show(args)) = parse(&[
        "entry",
        "show",
        "-parentID",
        "spiffe://example.org/father",
        "-selector",
        "foo:bar",
        "-selector",
        "bar:baz",
        "-matchSelectorsOn",
        "exact",
        "-federatesWith",
        "spiffe://domain.test",
        "-downstream",
        "-hint",
        "h",
    ]) else {
        panic!("not entry show");
    };
    let filter = args.filter.list_filter().expect("valid");
    assert_eq!(filter.by_parent_id, id("example.org", "/father"));
    let selectors = filter.by_selectors.expect("selectors");
    assert_eq!(selectors.selectors.len(), 2);
    assert_eq!(selectors.r#match, 0, "exact");
    assert_eq!(
        filter.by_federates_with.expect("federates").r#match,
        2,
        "superset default"
    );
    assert_eq!(filter.by_downstream, Some(true));
    assert_eq!(filter.by_hint.as_deref(), Some("h"));
}

#[test]
fn entry_show_rejects_entry_id_with_filters_before_connecting() {
    let command = parse(&[
        "entry",
        "show",
        "-socketPath",
        "/nonexistent/api.sock",
        "-entryID",
        "x",
        "-spiffeID",
        "spiffe://example.org/w",
    ]);
    let err = execute(command, &mut Vec::new()).expect_err("invalid combination");
    assert_eq!(err.0, "the -entryID flag can't be combined with others");
}

#[test]
fn pretty_entries_match_spire() {
    let mut entries = spire_fixture_entries();
    print::sort_entries(&mut entries);
    let text: String = entries.iter().map(print::entry).collect();

    let expected = "\
Entry ID         : 00000000-0000-0000-0000-000000000001
SPIFFE ID        : spiffe://example.org/daughter
Parent ID        : spiffe://example.org/father
Revision         : 0
X509-SVID TTL    : default
JWT-SVID TTL     : default
Selector         : foo:bar
Selector         : bar:baz

Entry ID         : 00000000-0000-0000-0000-000000000002
SPIFFE ID        : spiffe://example.org/daughter
Parent ID        : spiffe://example.org/mother
Revision         : 0
X509-SVID TTL    : default
JWT-SVID TTL     : default
Selector         : bar:baz
Selector         : baz:bat
FederatesWith    : spiffe://domain.test

Entry ID         : 00000000-0000-0000-0000-000000000000
SPIFFE ID        : spiffe://example.org/son
Parent ID        : spiffe://example.org/father
Revision         : 0
X509-SVID TTL    : default
JWT-SVID TTL     : default
Selector         : foo:bar

Entry ID         : 00000000-0000-0000-0000-000000000003
SPIFFE ID        : spiffe://example.org/son
Parent ID        : spiffe://example.org/mother
Revision         : 0
X509-SVID TTL    : default
JWT-SVID TTL     : default
Expiration time  : 2019-03-12 17:04:26 +0000 UTC
Selector         : baz:bat

";
    assert_eq!(text, expected);
}

#[test]
fn pretty_entry_shows_optional_fields() {
    let entry = Entry {
        id: String::new(),
        spiffe_id: id("td", "/w"),
        parent_id: id("td", "/a"),
        revision_number: 3,
        downstream: true,
        admin: true,
        store_svid: true,
        x509_svid_ttl: 300,
        jwt_svid_ttl: 60,
        dns_names: vec!["w.td".to_owned()],
        hint: "external".to_owned(),
        ..Entry::default()
    };
    let text = print::entry(&entry);
    for line in [
        "Entry ID         : (none)",
        "Revision         : 3",
        "Downstream       : true",
        "X509-SVID TTL    : 300",
        "JWT-SVID TTL     : 60",
        "DNS name         : w.td",
        "Admin            : true",
        "StoreSvid        : true",
        "Hint             : external",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn json_entries_use_proto_names_and_string_int64() {
    let entry = &spire_fixture_entries()[3];
    let value = json::entry(entry);
    assert_eq!(value["spiffe_id"]["trust_domain"], "example.org");
    assert_eq!(value["spiffe_id"]["path"], "/son");
    assert_eq!(value["expires_at"], "1552410266");
    assert_eq!(value["revision_number"], "0");
    assert_eq!(value["x509_svid_ttl"], 0);
    assert_eq!(value["selectors"][0]["type"], "baz");
    assert_eq!(value["federates_with"], serde_json::json!([]));
    assert_eq!(value["hint"], "");
}

#[test]
fn batch_results_report_failures() {
    let entries = spire_fixture_entries();
    let results = vec![
        (
            Some(Status {
                code: 0,
                message: "OK".to_owned(),
            }),
            Some(entries[0].clone()),
        ),
        (
            Some(Status {
                code: 6,
                message: "similar entry already exists".to_owned(),
            }),
            None,
        ),
    ];
    let mut out = Vec::new();
    let output = OutputArg {
        output: lanyard_daemon::OutputFormat::Pretty,
    };
    let failed = entry::write_batch_results(&entries[..2], &results, "create", output, &mut out)
        .expect("written");
    let text = String::from_utf8(out).expect("utf-8");

    assert_eq!(failed, 1);
    assert!(text.starts_with("Entry ID         : 00000000-0000-0000-0000-000000000000\n"));
    assert!(text.contains(
        "Failed to create the following entry (code: AlreadyExists, msg: \"similar entry already exists\"):\nEntry ID         : 00000000-0000-0000-0000-000000000001"
    ), "{text}");
}

#[test]
fn token_generate_defaults_and_node_attributes() {
    let Command::Token(TokenCommand::Generate(args)) = parse(&[
        "token",
        "generate",
        "-spiffeID",
        "spiffe://example.org/rack/x1000",
        "-nodeAttribute",
        "xname=x1000c0s0b0n0",
        "-nodeAttribute",
        "type=compute",
    ]) else {
        panic!("not token generate");
    };
    assert_eq!(args.ttl, 600);
    let request = args.request().expect("valid");
    let values: Vec<&str> = request
        .metadata()
        .get_all(NODE_ATTRIBUTE_METADATA)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(values, ["xname=x1000c0s0b0n0", "type=compute"]);
    assert_eq!(request.get_ref().agent_id, id("example.org", "/rack/x1000"));

    let Command::Token(TokenCommand::Generate(args)) =
        parse(&["token", "generate", "-nodeAttribute", "novalue"])
    else {
        panic!("not token generate");
    };
    assert!(
        args.request()
            .expect_err("bad attribute")
            .0
            .contains("key=value")
    );
}

#[test]
fn agent_list_tri_state_flags() {
    let Command::Agent(AgentCommand::List(args)) = parse(&["agent", "list", "-banned"]) else {
        panic!("not agent list");
    };
    assert_eq!(args.banned, Some(true));
    assert_eq!(args.can_reattest, None);

    let Command::Agent(AgentCommand::List(args)) = parse(&[
        "agent",
        "list",
        "-canReattest=false",
        "-attestationType",
        "x509pop",
    ]) else {
        panic!("not agent list");
    };
    assert_eq!(args.can_reattest, Some(false));
    assert_eq!(args.attestation_type.as_deref(), Some("x509pop"));
}

#[test]
fn run_flags_become_overrides() {
    let Command::Run(args) = parse(&[
        "run",
        "-config",
        "server.conf",
        "-expandEnv",
        "-socketPath",
        "/run/api.sock",
        "-trustDomain",
        "example.org",
        "-bindAddress",
        "127.0.0.1",
        "-serverPort",
        "9081",
        "-dataDir",
        "/data",
        "-logLevel",
        "DEBUG",
        "-logFormat",
        "json",
        "-logFile",
        "/l.log",
    ]) else {
        panic!("not run");
    };
    let options = args.load_options();
    assert_eq!(options.config_path, Some(PathBuf::from("server.conf")));
    assert!(options.expand_env);
    assert_eq!(options.overrides.server_port, Some(9081));
    assert_eq!(
        options.overrides.trust_domain.as_deref(),
        Some("example.org")
    );
    assert_eq!(options.overrides.log_file, Some(PathBuf::from("/l.log")));
}

#[test]
fn validate_reports_the_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.conf");
    std::fs::write(
        &path,
        "server {\n trust_domain = \"example.org\"\n data_dir = \"/d\"\n bind_prot = 1\n}\n",
    )
    .expect("write");
    let command = parse(&["validate", "-config", path.to_str().expect("utf-8")]);
    let err = execute(command, &mut Vec::new()).expect_err("invalid config");
    assert!(
        err.0
            .ends_with(":4: unknown key `bind_prot` in `server` (did you mean `bind_port`?)"),
        "{}",
        err.0
    );

    std::fs::write(
        &path,
        "server {\n trust_domain = \"example.org\"\n data_dir = \"/d\"\n}\n",
    )
    .expect("write");
    let mut out = Vec::new();
    execute(
        parse(&["validate", "-config", path.to_str().expect("utf-8")]),
        &mut out,
    )
    .expect("valid config");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "Configuration is valid.\n"
    );
}

#[test]
fn admin_commands_explain_a_missing_server() {
    let command = parse(&[
        "entry",
        "count",
        "-socketPath",
        "/nonexistent/lanyard/api.sock",
    ]);
    let err = execute(command, &mut Vec::new()).expect_err("no server");
    assert!(err.0.contains("/nonexistent/lanyard/api.sock"), "{}", err.0);
    assert!(err.0.contains("is lanyard-server running?"), "{}", err.0);
}

async fn serve_health(status: tonic_health::ServingStatus) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("api.sock");
    let listener = lanyard_daemon::socket::bind_unix_listener(&path, 0o770).expect("binds");
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", status).await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(UnixListenerStream::new(listener)),
    );
    (dir, path)
}

#[tokio::test]
async fn healthcheck_reports_serving_and_not_serving() {
    let (_dir, path) = serve_health(tonic_health::ServingStatus::Serving).await;
    let args = HealthcheckArgs {
        socket: common::SocketArg { socket_path: path },
        shallow: false,
        verbose: true,
    };
    let mut out = Vec::new();
    run::healthcheck(args, &mut out).await.expect("healthy");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "Checking server health...\nServer is healthy.\n"
    );

    let (_dir, path) = serve_health(tonic_health::ServingStatus::NotServing).await;
    let args = HealthcheckArgs {
        socket: common::SocketArg { socket_path: path },
        shallow: false,
        verbose: false,
    };
    let err = run::healthcheck(args, &mut Vec::new())
        .await
        .expect_err("unhealthy");
    assert_eq!(err.0, "Server is unhealthy: status is NOT_SERVING");
}

fn test_ca_der() -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params.subject_alt_names.push(rcgen::SanType::URI(
        "spiffe://example.org".try_into().expect("uri"),
    ));
    params
        .self_signed(&key)
        .expect("self-signed")
        .der()
        .to_vec()
}

#[test]
fn bundles_convert_between_pem_spiffe_and_the_api() {
    let der = test_ca_der();
    let api = Bundle {
        trust_domain: "example.org".to_owned(),
        x509_authorities: vec![X509Certificate {
            asn1: der.clone(),
            tainted: false,
        }],
        jwt_authorities: Vec::new(),
        refresh_hint: 300,
        sequence_number: 7,
    };

    let pem = bundle::format_bundle(&api, bundle::BundleFormat::Pem).expect("pem");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let td = lanyard_spiffe::TrustDomain::new("example.org").expect("td");
    let back = bundle::parse_bundle(td.clone(), pem.as_bytes(), bundle::BundleFormat::Pem)
        .expect("parses");
    assert_eq!(back.x509_authorities[0].asn1, der);

    let spiffe = bundle::format_bundle(&api, bundle::BundleFormat::Spiffe).expect("json");
    let doc: serde_json::Value = serde_json::from_str(&spiffe).expect("json");
    assert_eq!(doc["keys"][0]["use"], "x509-svid");
    assert_eq!(doc["spiffe_sequence"], 7);
    let back =
        bundle::parse_bundle(td, spiffe.as_bytes(), bundle::BundleFormat::Spiffe).expect("parses");
    assert_eq!(back.sequence_number, 7);
    assert_eq!(back.refresh_hint, 300);

    let json = json::bundle(&api);
    assert_eq!(json["sequence_number"], "7");
    assert_eq!(json["refresh_hint"], "300");
    assert!(json["x509_authorities"][0]["asn1"].is_string());
}

#[test]
fn x509_mint_csr_carries_the_ids() {
    let (_key, csr) =
        mint::key_and_csr("spiffe://example.org/w", &["w.example.org".to_owned()]).expect("csr");
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::certification_request::X509CertificationRequest::from_der(&csr)
        .expect("valid CSR");
    let names: Vec<String> = parsed
        .requested_extensions()
        .into_iter()
        .flatten()
        .filter_map(|ext| match ext {
            x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) => Some(
                san.general_names
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        names.iter().any(|n| n.contains("spiffe://example.org/w")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("w.example.org")),
        "{names:?}"
    );
}

#[test]
fn logger_and_authority_output() {
    let logger = Logger {
        current_level: 6,
        launch_level: 5,
    };
    assert_eq!(
        admin::format_logger(&logger),
        "Logger Level : debug\nLaunch Level : info\n\n"
    );
    assert_eq!(
        json::logger(&logger),
        serde_json::json!({"current_level": "DEBUG", "launch_level": "INFO"})
    );

    let state = AuthorityState {
        authority_id: "abc".to_owned(),
        expires_at: 1_552_410_266,
        upstream_authority_subject_key_id: String::new(),
    };
    assert_eq!(
        print::authority("Active X.509 authority", "X.509", Some(&state)),
        "Active X.509 authority:\n  Authority ID: abc\n  Expires at: 2019-03-12 17:04:26 +0000 UTC\n"
    );
    assert_eq!(
        print::authority("Prepared JWT authority", "JWT", None),
        "Prepared JWT authority:\n  No prepared JWT authority found\n"
    );
}

#[test]
fn unknown_flags_and_commands_fail_to_parse() {
    assert!(Cli::parse_args(["lanyard-server", "entry", "create", "-bogus", "x"]).is_err());
    assert!(Cli::parse_args(["lanyard-server", "frobnicate"]).is_err());
    assert!(Cli::parse_args(["lanyard-server", "bundle", "show", "-format", "der"]).is_err());
    assert!(Cli::parse_args(["lanyard-server", "localauthority", "x509", "activate"]).is_err());
}

#[test]
fn misspelled_single_dash_flags_are_named_whole() {
    for (args, named, similar) in [
        (
            &["entry", "create", "-spiffeId", "spiffe://td/w"][..],
            "--spiffeId",
            "--spiffeID",
        ),
        (&["run", "-confg", "server.conf"][..], "--confg", "--config"),
        (
            &["entry", "create", "-selectr", "unix:uid:0"][..],
            "--selectr",
            "--selector",
        ),
    ] {
        let mut argv = vec!["lanyard-server"];
        argv.extend_from_slice(args);
        let Err(err) = Cli::parse_args(argv) else {
            panic!("{args:?} parsed");
        };
        let text = err.to_string();
        assert!(text.contains(&format!("'{named}'")), "{text}");
        assert!(text.contains(&format!("'{similar}'")), "{text}");
    }
}
