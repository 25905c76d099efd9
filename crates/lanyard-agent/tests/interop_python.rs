//! py-spiffe and an Envoy-like SDS client (xds-protos stubs) against the agent's public
//! socket, from the repository's virtualenv (`scripts/setup-deps python`). Without the
//! virtualenv the tests are skipped, or fail when `LANYARD_REQUIRE_INTEROP=1`.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Options, TestAgent, entry, interop_dir, my_uid_selector, run_ok};
use serde_json::{Value, json};

fn run_probe(script: &str, args: &[&str]) -> Option<Value> {
    let python = lanyard_testkit::interop_python()?;
    let out = run_ok(
        Command::new(python)
            .arg(interop_dir().join("python").join(script))
            .args(args),
    );
    Some(serde_json::from_str(out.trim()).unwrap_or_else(|err| panic!("{err}: {out}")))
}

#[test]
fn py_spiffe_fetches_x509_jwt_and_bundles_and_validates_through_the_agent() {
    let mut web = entry("web", "/web", &[&my_uid_selector()]);
    web.created_at = 1;
    let mut api = entry("api", "/api", &[&my_uid_selector()]);
    api.created_at = 2;
    let agent = TestAgent::start(vec![web, api], Options::default());

    let Some(out) = run_probe("workload_probe.py", &[&agent.endpoint(), "svc"]) else {
        return;
    };

    assert_eq!(out["default_svid"], "spiffe://example.org/web");
    assert_eq!(
        out["svids"],
        json!(["spiffe://example.org/web", "spiffe://example.org/api"])
    );
    assert_eq!(out["x509_bundles"], json!(["example.org"]));
    assert_eq!(out["jwt_bundles"], json!(["example.org"]));
    assert_eq!(out["jwt_subject"], "spiffe://example.org/web");
    assert_eq!(out["validated_by_api"], "spiffe://example.org/web");
    assert_eq!(out["validated_locally"], "spiffe://example.org/web");
}

#[test]
fn an_sds_client_gets_default_and_rootca_fetched_and_streamed() {
    let mut web = entry("web", "/web", &[&my_uid_selector()]);
    web.federates_with = vec![lanyard_spiffe::TrustDomain::new("partner.org").unwrap()];
    let agent = TestAgent::start(vec![web], Options::default());
    let mut partner =
        lanyard_spiffe::Bundle::new(lanyard_spiffe::TrustDomain::new("partner.org").unwrap());
    partner
        .add_x509_authority(agent.signer.bundle().x509_authorities()[0].clone())
        .unwrap();
    agent.cache.set_federated_bundles(BTreeMap::from([(
        lanyard_spiffe::TrustDomain::new("partner.org").unwrap(),
        partner,
    )]));
    let socket = agent.socket.display().to_string();

    let Some(out) = run_probe("sds_probe.py", &[&socket, "default", "ROOTCA", "ALL"]) else {
        return;
    };

    for response in [&out["fetched"], &out["streamed"]] {
        let secrets = response["secrets"].as_array().unwrap();
        let by_name: BTreeMap<&str, &Value> = secrets
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s))
            .collect();
        assert_eq!(by_name.len(), 3, "{response}");
        assert_eq!(by_name["default"]["type"], "tls_certificate");
        assert_eq!(by_name["default"]["certificates"], 1);
        assert_eq!(by_name["default"]["pkcs8_key"], true);
        assert_eq!(
            by_name["ROOTCA"]["validator"],
            "envoy.tls.cert_validator.spiffe"
        );
        assert_eq!(by_name["ROOTCA"]["trust_domains"], json!(["example.org"]));
        assert_eq!(
            by_name["ALL"]["trust_domains"],
            json!(["example.org", "partner.org"])
        );
    }
    assert_eq!(out["fetched"]["version_info"], "");
    assert_eq!(out["streamed"]["version_info"], "1");
    assert_eq!(out["streamed"]["nonce"].as_str().unwrap().len(), 8);
}
