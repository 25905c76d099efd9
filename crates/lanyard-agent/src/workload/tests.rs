//! The Workload API over a real socket, a real cache and certificates from a real CA.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures::StreamExt as _;
use lanyard_proto::workload::{
    JwtBundlesRequest, JwtsvidRequest, ValidateJwtsvidRequest, WitBundlesRequest, WitsvidRequest,
    X509BundlesRequest, X509svidRequest, X509svidResponse,
};
use lanyard_spiffe::{Bundle, BundleSet, TrustDomain};
use prost_types::value::Kind;
use tonic::{Code, Request};

use super::testing::{Agent, entry, my_uid_selector, with_header};
use crate::cache::EntryUpdate;
use crate::testutil::{TestCa, td};

const TIMEOUT: Duration = Duration::from_secs(10);

fn mine(entry_id: &str, path: &str) -> crate::convert::Entry {
    entry(entry_id, path, &[&my_uid_selector()])
}

fn somebody_elses(entry_id: &str, path: &str) -> crate::convert::Entry {
    entry(entry_id, path, &["unix:uid:4000000000"])
}

async fn next<T>(stream: &mut tonic::Streaming<T>) -> Result<T, tonic::Status> {
    tokio::time::timeout(TIMEOUT, stream.next())
        .await
        .expect("a message within the timeout")
        .expect("stream still open")
}

async fn x509_stream(agent: &Agent) -> tonic::Streaming<X509svidResponse> {
    agent
        .client()
        .await
        .fetch_x509svid(with_header(X509svidRequest {}))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn x509_svids_come_with_key_and_bundle_for_matching_entries_only() {
    let agent = Agent::start(vec![mine("a", "/web"), somebody_elses("b", "/db")]).await;

    let response = next(&mut x509_stream(&agent).await).await.unwrap();

    assert_eq!(response.svids.len(), 1);
    let svid = &response.svids[0];
    assert_eq!(svid.spiffe_id, "spiffe://example.org/web");
    let parsed = lanyard_spiffe::X509Svid::parse_der_chain(&svid.x509_svid).unwrap();
    let key =
        crate::keys::PrivateKey::from_pkcs8(zeroize::Zeroizing::new(svid.x509_svid_key.clone()))
            .expect("unencrypted pkcs#8");
    let (_, leaf) = x509_parser::parse_x509_certificate(parsed.leaf()).unwrap();
    assert_eq!(leaf.public_key().raw, key.public_key_spki());
    let bundle = Bundle::parse_x509_pem(
        td("example.org"),
        lanyard_spiffe::bundle::certificates_to_pem(
            &lanyard_spiffe::x509::split_der_chain(&svid.bundle).unwrap(),
        )
        .as_bytes(),
    )
    .unwrap();
    lanyard_spiffe::x509::verify_x509_svid_with_bundle(parsed.chain(), &bundle, SystemTime::now())
        .unwrap();
    assert!(response.federated_bundles.is_empty());
}

#[tokio::test]
async fn every_workload_api_method_needs_the_security_header() {
    let agent = Agent::start(vec![mine("a", "/web")]).await;
    let mut client = agent.client().await;

    let codes = [
        client
            .fetch_x509svid(Request::new(X509svidRequest {}))
            .await
            .err(),
        client
            .fetch_x509_bundles(Request::new(X509BundlesRequest {}))
            .await
            .err(),
        client
            .fetch_jwt_bundles(Request::new(JwtBundlesRequest {}))
            .await
            .err(),
        client
            .fetch_jwtsvid(Request::new(JwtsvidRequest {
                audience: vec!["a".into()],
                spiffe_id: String::new(),
            }))
            .await
            .err(),
        client
            .validate_jwtsvid(Request::new(ValidateJwtsvidRequest {
                audience: "a".into(),
                svid: "x.y.z".into(),
            }))
            .await
            .err(),
        client
            .fetch_witsvid(Request::new(WitsvidRequest::default()))
            .await
            .err(),
        client
            .fetch_wit_bundles(Request::new(WitBundlesRequest {}))
            .await
            .err(),
    ];

    for status in codes {
        let status = status.expect("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(status.message(), "security header missing from request");
    }
}

#[tokio::test]
async fn wit_calls_are_unimplemented() {
    let agent = Agent::start(vec![mine("a", "/web")]).await;
    let mut client = agent.client().await;

    let svid = client
        .fetch_witsvid(with_header(WitsvidRequest::default()))
        .await;
    let bundles = client
        .fetch_wit_bundles(with_header(WitBundlesRequest {}))
        .await;

    assert_eq!(svid.err().unwrap().code(), Code::Unimplemented);
    assert_eq!(bundles.err().unwrap().code(), Code::Unimplemented);
}

#[tokio::test]
async fn a_caller_without_identity_is_denied_everything_but_validation() {
    let agent = Agent::start(vec![somebody_elses("b", "/db")]).await;
    let mut client = agent.client().await;

    let x509 = next(&mut x509_stream(&agent).await).await.unwrap_err();
    let mut bundles = client
        .fetch_x509_bundles(with_header(X509BundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    let jwt = client
        .fetch_jwtsvid(with_header(JwtsvidRequest {
            audience: vec!["a".into()],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap_err();

    for status in [x509, next(&mut bundles).await.unwrap_err(), jwt] {
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "no identity issued");
    }
}

#[tokio::test]
async fn unauthenticated_verifiers_get_the_own_bundle_when_allowed() {
    let agent = Agent::start_with(vec![somebody_elses("b", "/db")], |config| {
        config.allow_unauthenticated_verifiers = true;
    })
    .await;
    let mut client = agent.client().await;

    let mut x509 = client
        .fetch_x509_bundles(with_header(X509BundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    let mut jwt = client
        .fetch_jwt_bundles(with_header(JwtBundlesRequest {}))
        .await
        .unwrap()
        .into_inner();

    let x509 = next(&mut x509).await.unwrap();
    let jwt = next(&mut jwt).await.unwrap();
    assert_eq!(
        x509.bundles.keys().collect::<Vec<_>>(),
        ["spiffe://example.org"]
    );
    assert_eq!(
        jwt.bundles.keys().collect::<Vec<_>>(),
        ["spiffe://example.org"]
    );
}

#[tokio::test]
async fn the_stream_resends_everything_when_an_svid_rotates() {
    let agent = Agent::start(vec![mine("a", "/web")]).await;
    let mut stream = x509_stream(&agent).await;
    let first = next(&mut stream).await.unwrap();

    crate::cache::minter::mint_due(
        &agent.cache,
        lanyard_ca::KeyType::EcP256,
        SystemTime::now() + Duration::from_secs(3000),
    )
    .await
    .unwrap();
    let second = next(&mut stream).await.unwrap();

    assert_eq!(second.svids.len(), 1);
    assert_eq!(second.svids[0].spiffe_id, first.svids[0].spiffe_id);
    assert_ne!(second.svids[0].x509_svid, first.svids[0].x509_svid);
    assert_ne!(second.svids[0].x509_svid_key, first.svids[0].x509_svid_key);
    assert_eq!(second.svids[0].bundle, first.svids[0].bundle);
}

#[tokio::test]
async fn federated_bundles_follow_the_entries_that_federate_and_vanish_with_them() {
    let mut federating = mine("a", "/web");
    federating.federates_with = vec![td("partner.org")];
    let agent = Agent::start(vec![federating.clone(), mine("b", "/plain")]).await;
    let partner = TestCa::new("partner.org").bundle();
    agent
        .cache
        .set_federated_bundles(BTreeMap::from([(td("partner.org"), partner.clone())]));
    let mut stream = x509_stream(&agent).await;

    let with = next(&mut stream).await.unwrap();
    assert_eq!(
        with.federated_bundles.keys().collect::<Vec<_>>(),
        ["spiffe://partner.org"]
    );
    assert_eq!(
        with.federated_bundles["spiffe://partner.org"],
        partner.x509_authorities()[0].to_vec()
    );

    federating.federates_with.clear();
    federating.revision_number += 1;
    agent.cache.update_entries(EntryUpdate::Delta {
        upserted: vec![federating],
        removed: Vec::new(),
    });
    let without = next(&mut stream).await.unwrap();
    assert!(without.federated_bundles.is_empty());
    assert_eq!(without.svids.len(), 2);
}

#[tokio::test]
async fn a_bundle_change_is_pushed_to_bundle_streams() {
    let agent = Agent::start(vec![mine("a", "/web")]).await;
    let mut stream = agent
        .client()
        .await
        .fetch_x509_bundles(with_header(X509BundlesRequest {}))
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await.unwrap();

    let mut bundle = agent.signer.bundle();
    let extra = TestCa::new("example.org").root();
    bundle.add_x509_authority(extra).unwrap();
    agent.cache.set_bundle(bundle);
    let second = next(&mut stream).await.unwrap();

    let key = "spiffe://example.org";
    assert!(second.bundles[key].len() > first.bundles[key].len());
}

#[tokio::test]
async fn hints_stay_unique_the_first_identity_wins() {
    let mut first = mine("a", "/first");
    first.hint = "internal".into();
    first.created_at = 1;
    let mut second = mine("b", "/second");
    second.hint = "internal".into();
    second.created_at = 2;
    let mut third = mine("c", "/third");
    third.created_at = 3;
    let agent = Agent::start(vec![second, first, third]).await;

    let response = next(&mut x509_stream(&agent).await).await.unwrap();

    let served: Vec<_> = response
        .svids
        .iter()
        .map(|s| (s.spiffe_id.as_str(), s.hint.as_str()))
        .collect();
    assert_eq!(
        served,
        [
            ("spiffe://example.org/first", "internal"),
            ("spiffe://example.org/third", "")
        ]
    );
}

#[tokio::test]
async fn jwt_svids_for_every_identity_or_the_one_asked_for() {
    let agent = Agent::start(vec![
        mine("a", "/web"),
        mine("b", "/api"),
        somebody_elses("c", "/db"),
    ])
    .await;
    let mut client = agent.client().await;
    let ask = |spiffe_id: &str| {
        with_header(JwtsvidRequest {
            audience: vec!["svc".into()],
            spiffe_id: spiffe_id.into(),
        })
    };

    let all = client.fetch_jwtsvid(ask("")).await.unwrap().into_inner();
    let one = client
        .fetch_jwtsvid(ask("spiffe://example.org/api"))
        .await
        .unwrap()
        .into_inner();
    let foreign = client
        .fetch_jwtsvid(ask("spiffe://example.org/db"))
        .await
        .unwrap_err();
    let invalid = client.fetch_jwtsvid(ask("not-an-id")).await.unwrap_err();
    let no_audience = client
        .fetch_jwtsvid(with_header(JwtsvidRequest::default()))
        .await
        .unwrap_err();

    let mut ids: Vec<_> = all.svids.iter().map(|s| s.spiffe_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["spiffe://example.org/api", "spiffe://example.org/web"]
    );
    assert_eq!(one.svids.len(), 1);
    assert_eq!(one.svids[0].spiffe_id, "spiffe://example.org/api");
    let parsed = lanyard_spiffe::parse_jwt_svid_insecure(&one.svids[0].svid).unwrap();
    assert_eq!(parsed.spiffe_id().as_str(), "spiffe://example.org/api");
    assert_eq!(foreign.code(), Code::PermissionDenied);
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(no_audience.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn jwt_bundles_are_jwks_keyed_by_trust_domain_id() {
    let agent = Agent::start(vec![mine("a", "/web")]).await;

    let response = next(
        &mut agent
            .client()
            .await
            .fetch_jwt_bundles(with_header(JwtBundlesRequest {}))
            .await
            .unwrap()
            .into_inner(),
    )
    .await
    .unwrap();

    let jwks: serde_json::Value =
        serde_json::from_slice(&response.bundles["spiffe://example.org"]).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["use"], "jwt-svid");
    assert_eq!(keys[0]["kid"], agent.signer.jwt.key_id());
}

#[tokio::test]
async fn validation_checks_the_token_and_returns_its_claims() {
    let agent = Agent::start(vec![mine("a", "/web")]).await;
    let mut client = agent.client().await;
    let token = client
        .fetch_jwtsvid(with_header(JwtsvidRequest {
            audience: vec!["svc".into()],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
        .svids
        .remove(0)
        .svid;
    let validate = |audience: &str, svid: &str| {
        with_header(ValidateJwtsvidRequest {
            audience: audience.into(),
            svid: svid.into(),
        })
    };

    let valid = client
        .validate_jwtsvid(validate("svc", &token))
        .await
        .unwrap()
        .into_inner();
    let wrong_audience = client
        .validate_jwtsvid(validate("other", &token))
        .await
        .unwrap_err();
    let garbage = client
        .validate_jwtsvid(validate("svc", "a.b.c"))
        .await
        .unwrap_err();
    let missing = client
        .validate_jwtsvid(validate("", &token))
        .await
        .unwrap_err();

    assert_eq!(valid.spiffe_id, "spiffe://example.org/web");
    let claims = valid.claims.unwrap().fields;
    assert_eq!(
        claims["sub"].kind,
        Some(Kind::StringValue("spiffe://example.org/web".into()))
    );
    let Some(Kind::ListValue(aud)) = &claims["aud"].kind else {
        panic!("aud is not a list: {:?}", claims["aud"]);
    };
    assert_eq!(aud.values[0].kind, Some(Kind::StringValue("svc".into())));
    assert!(matches!(claims["exp"].kind, Some(Kind::NumberValue(exp)) if exp > 0.0));
    for status in [wrong_audience, garbage, missing] {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}

#[test]
fn foreign_tokens_return_only_spiffe_claims_and_allowed_ones() {
    let key = crate::keys::PrivateKey::generate(lanyard_ca::KeyType::EcP256).unwrap();
    let signer = lanyard_spiffe::jwt::Pkcs8JwtSigner::from_pkcs8(
        lanyard_spiffe::JwtAlgorithm::Es256,
        "k1",
        key.pkcs8_der(),
    )
    .unwrap();
    let claims = lanyard_spiffe::JwtSvidClaims {
        sub: crate::testutil::id("partner.org", "/svc"),
        aud: vec!["svc".into()],
        exp: 4_000_000_000,
        iat: 1_700_000_000,
        iss: Some("partner".into()),
        jti: Some("j".into()),
    };
    let token = lanyard_spiffe::issue_jwt_svid(&signer, &claims).unwrap();
    let mut bundle = Bundle::new(td("partner.org"));
    bundle
        .add_jwt_authority(
            lanyard_spiffe::JwtAuthority::new("k1", signer.public_key_spki().unwrap(), None)
                .unwrap(),
        )
        .unwrap();
    let bundles: BundleSet = [bundle].into_iter().collect();
    let svid = super::claims::validate(&token, "svc", &bundles, SystemTime::now()).unwrap();

    let own: TrustDomain = td("example.org");
    let strict = super::claims::returned_claims(&svid, &own, &Default::default());
    let allowed = super::claims::returned_claims(&svid, &own, &["iss".to_owned()].into());

    let mut names: Vec<_> = strict.fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["aud", "exp", "sub"]);
    assert!(allowed.fields.contains_key("iss"));
    assert!(!allowed.fields.contains_key("jti"));
}

#[tokio::test]
async fn health_and_reflection_name_only_what_is_served() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let agent = Agent::start(vec![mine("a", "/web")]).await;
    let channel = agent.channel().await;

    let health = HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = next(&mut replies).await.unwrap();

    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply");
    };
    let mut names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "SpiffeWorkloadAPI",
            "envoy.service.secret.v3.SecretDiscoveryService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    );
}
