//! Both x509pop halves against each other: success across key types, the
//! derived agent ID and selectors, and every refusal.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::sync::Arc;

use common::*;
use lanyard_attest::x509pop::{X509PopError, X509PopMode, X509PopServerConfig};
use lanyard_attest::{AttestError, ErrorClass, Step};
use lanyard_spiffe::Selector;
use rcgen::{KeyUsagePurpose, date_time_ymd};

fn selector(value: &str) -> Selector {
    Selector::new("x509pop", value).unwrap()
}

fn x509pop_error(result: Result<impl std::fmt::Debug, AttestError>) -> X509PopError {
    match result.unwrap_err() {
        AttestError::X509Pop(err) => err,
        other => panic!("expected an x509pop error, got {other:?}"),
    }
}

#[tokio::test]
async fn attests_ec_and_rsa_leaves_through_an_intermediate() {
    for alg in [KeyAlg::EcP256, KeyAlg::EcP384, KeyAlg::Rsa2048] {
        let files = Files::new();
        let root = root("root");
        let issuing = intermediate(&root, "issuing");
        let mut params = leaf_params();
        params.subject_alt_names = vec![
            uri("x509pop://example.org/datacenter/us-east-1"),
            uri("x509pop://other.org/ignored/value"),
            uri("https://example.org/not-a-selector"),
        ];
        let node = leaf(&params, alg, &issuing);

        let agent = agent(files.agent_config(&node, &[&issuing]));
        let server = server(&files.server_config(&[&root]));
        let result = attest(server, &agent, ctx()).await.unwrap();

        let fingerprint = sha1_hex(&node.der());
        assert_eq!(
            result.agent_id.as_str(),
            format!("spiffe://example.org/spire/agent/x509pop/{fingerprint}"),
            "{alg:?}"
        );
        let want = [
            selector("subject:cn:node-1"),
            selector(&format!("ca:fingerprint:{}", sha1_hex(&issuing.der()))),
            selector(&format!("ca:fingerprint:{}", sha1_hex(&root.der()))),
            selector("serialnumber:0a1b2c3d4e7f"),
            selector("san:datacenter:us-east-1"),
        ];
        assert_eq!(result.selectors.len(), want.len(), "{:?}", result.selectors);
        for s in &want {
            assert!(
                result.selectors.contains(s),
                "{s} missing from {:?}",
                result.selectors
            );
        }
        assert!(result.can_reattest);
    }
}

#[tokio::test]
async fn intermediates_may_come_from_intermediates_path_and_keys_from_sec1() {
    let files = Files::new();
    let root = root("root");
    let issuing = intermediate(&root, "issuing");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &issuing);

    let mut config = files.agent_config(&node, &[]);
    config.intermediates_path = Some(files.write("intermediates.pem", &issuing.pem()));
    config.private_key_path = files.write("sec1.pem", &sec1_pem(&node.key));
    let result = attest(
        server(&files.server_config(&[&root])),
        &agent(config),
        ctx(),
    )
    .await;
    assert!(result.unwrap().selectors.contains(&selector(&format!(
        "ca:fingerprint:{}",
        sha1_hex(&issuing.der())
    ))));
}

fn sec1_pem(key: &rcgen::KeyPair) -> String {
    use aws_lc_rs::encoding::{AsDer as _, EcPrivateKeyRfc5915Der};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der()).unwrap();
    let der: EcPrivateKeyRfc5915Der<'_> = pair.private_key().as_der().unwrap();
    let pem = base64_lines(der.as_ref());
    format!("-----BEGIN EC PRIVATE KEY-----\n{pem}-----END EC PRIVATE KEY-----\n")
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|line| format!("{}\n", std::str::from_utf8(line).unwrap()))
        .collect()
}

#[tokio::test]
async fn rejects_a_chain_to_another_ca() {
    let files = Files::new();
    let trusted = root("trusted");
    let other = root("other");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &other);

    let result = attest(
        server(&files.server_config(&[&trusted])),
        &agent(files.agent_config(&node, &[])),
        ctx(),
    )
    .await;
    let err = x509pop_error(result);
    assert!(
        matches!(
            err,
            X509PopError::ChainNotVerified(webpki::Error::UnknownIssuer)
        ),
        "{err:?}"
    );
    assert_eq!(AttestError::from(err).class(), ErrorClass::Denied);
}

#[tokio::test]
async fn rejects_an_expired_leaf() {
    let files = Files::new();
    let root = root("root");
    let mut params = leaf_params();
    params.not_after = date_time_ymd(2025, 3, 1);
    let node = leaf(&params, KeyAlg::EcP256, &root);

    let result = attest(
        server(&files.server_config(&[&root])),
        &agent(files.agent_config(&node, &[])),
        ctx(),
    )
    .await;
    let err = x509pop_error(result);
    assert!(
        matches!(
            err,
            X509PopError::ChainNotVerified(webpki::Error::CertExpired { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[tokio::test]
async fn rejects_a_leaf_without_digital_signature() {
    let files = Files::new();
    let root = root("root");
    let mut params = leaf_params();
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let node = leaf(&params, KeyAlg::EcP256, &root);

    let result = attest(
        server(&files.server_config(&[&root])),
        &agent(files.agent_config(&node, &[])),
        ctx(),
    )
    .await;
    assert!(matches!(
        x509pop_error(result),
        X509PopError::MissingDigitalSignature
    ));

    params.key_usages = Vec::new();
    let node = leaf(&params, KeyAlg::EcP256, &root);
    let result = attest(
        server(&files.server_config(&[&root])),
        &agent(files.agent_config(&node, &[])),
        ctx(),
    )
    .await;
    assert!(matches!(
        x509pop_error(result),
        X509PopError::MissingDigitalSignature
    ));
}

#[tokio::test]
async fn rejects_too_many_intermediates() {
    let files = Files::new();
    let root = root("root");
    let first = intermediate(&root, "first");
    let second = intermediate(&first, "second");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &second);
    let agent = agent(files.agent_config(&node, &[&second, &first]));

    let mut config = files.server_config(&[&root]);
    config.max_intermediates = 1;
    let err = x509pop_error(attest(server(&config), &agent, ctx()).await);
    assert!(
        matches!(err, X509PopError::TooManyIntermediates { count: 2, max: 1 }),
        "{err:?}"
    );

    config.max_intermediates = 2;
    attest(server(&config), &agent, ctx()).await.unwrap();
}

#[tokio::test]
async fn rejects_rsa_keys_above_the_limit() {
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::Rsa3072, &root);
    let agent = agent(files.agent_config(&node, &[]));

    let mut config = files.server_config(&[&root]);
    config.max_rsa_key_size = 2048;
    let err = x509pop_error(attest(server(&config), &agent, ctx()).await);
    assert!(
        matches!(
            err,
            X509PopError::RsaKeyTooLarge {
                bits: 3072,
                max: 2048
            }
        ),
        "{err:?}"
    );

    config.max_rsa_key_size = 4096;
    attest(server(&config), &agent, ctx()).await.unwrap();
}

/// Starts a server session for `agent`'s payload and returns it with the challenge.
async fn challenged(
    server: &lanyard_attest::x509pop::X509PopServer,
    payload: &[u8],
) -> (Box<dyn lanyard_attest::ServerSession>, Vec<u8>) {
    use lanyard_attest::ServerAttestor as _;
    let mut session = server.new_session(ctx());
    let Step::Challenge(challenge) = session.start(payload).await.unwrap() else {
        panic!("x509pop must challenge");
    };
    (session, challenge)
}

#[tokio::test]
async fn rejects_a_response_replayed_from_another_session() {
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let agent = agent(files.agent_config(&node, &[]));
    let server = server(&files.server_config(&[&root]));
    let mut agent_session = lanyard_attest::AgentAttestor::begin(&agent).unwrap();
    let payload = agent_session.attestation_data().payload;

    let (mut first, challenge) = challenged(&server, &payload).await;
    let answer = agent_session.answer_challenge(&challenge).unwrap();
    let (mut second, second_challenge) = challenged(&server, &payload).await;
    assert_ne!(
        challenge, second_challenge,
        "nonces must be fresh per session"
    );

    let err = second.respond(&answer).await.unwrap_err();
    assert!(
        matches!(err, AttestError::X509Pop(X509PopError::BadSignature)),
        "{err:?}"
    );

    // The genuine session accepts it once; a second response is out of order.
    assert!(matches!(
        first.respond(&answer).await.unwrap(),
        Step::Done(_)
    ));
    let err = first.respond(&answer).await.unwrap_err();
    assert!(
        matches!(err, AttestError::UnexpectedChallengeResponse),
        "{err:?}"
    );
    assert!(matches!(
        first.start(&payload).await.unwrap_err(),
        AttestError::SessionFinished
    ));
}

#[tokio::test]
async fn rejects_tampered_responses() {
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let agent = agent(files.agent_config(&node, &[]));
    let server = server(&files.server_config(&[&root]));
    let mut agent_session = lanyard_attest::AgentAttestor::begin(&agent).unwrap();
    let payload = agent_session.attestation_data().payload;
    let (_, challenge) = challenged(&server, &payload).await;
    let answer: serde_json::Value =
        serde_json::from_slice(&agent_session.answer_challenge(&challenge).unwrap()).unwrap();

    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        serde_json::Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let mut other_nonce = answer.clone();
    other_nonce["ecdsa_signature"]["nonce"] = b64(&[0x55; 32]);
    let mut short_nonce = answer.clone();
    short_nonce["ecdsa_signature"]["nonce"] = b64(&[0x55; 31]);
    let mut bad_r = answer.clone();
    bad_r["ecdsa_signature"]["r"] = b64(&[0x01; 32]);
    let mut wrong_kind = answer.clone();
    wrong_kind["rsa_signature"] = answer["ecdsa_signature"].clone();
    wrong_kind["ecdsa_signature"] = serde_json::Value::Null;

    for (response, want) in [
        (other_nonce, "BadSignature"),
        (short_nonce, "NonceLength"),
        (bad_r, "BadSignature"),
        (wrong_kind, "ResponseKindMismatch"),
    ] {
        let (mut session, _) = challenged(&server, &payload).await;
        let err = session
            .respond(&serde_json::to_vec(&response).unwrap())
            .await
            .unwrap_err();
        assert!(format!("{err:?}").contains(want), "{want}: {err:?}");
    }

    let (mut session, _) = challenged(&server, &payload).await;
    let err = session.respond(b"not json").await.unwrap_err();
    assert!(
        matches!(err, AttestError::X509Pop(X509PopError::ResponsePayload(_))),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Malformed);
}

#[tokio::test]
async fn a_stolen_certificate_without_its_key_fails_proof_of_possession() {
    let files = Files::new();
    let root = root("root");
    let victim = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let thief = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let server = server(&files.server_config(&[&root]));

    // The thief sends the victim's certificate and answers with its own key.
    let mut thief_session =
        lanyard_attest::AgentAttestor::begin(&agent(files.agent_config(&thief, &[]))).unwrap();
    let victim_payload = serde_json::to_vec(&lanyard_attest::x509pop::wire::AttestationPayload {
        certificates: vec![victim.der().to_vec()],
    })
    .unwrap();
    let (mut session, challenge) = challenged(&server, &victim_payload).await;
    let answer = thief_session.answer_challenge(&challenge).unwrap();
    let err = session.respond(&answer).await.unwrap_err();
    assert!(
        matches!(err, AttestError::X509Pop(X509PopError::BadSignature)),
        "{err:?}"
    );
}

#[tokio::test]
async fn rejects_tampered_payloads() {
    use lanyard_attest::ServerAttestor as _;
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let server = server(&files.server_config(&[&root]));

    let mut flipped = node.der().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let payload = |certs: Vec<Vec<u8>>| {
        serde_json::to_vec(&lanyard_attest::x509pop::wire::AttestationPayload {
            certificates: certs,
        })
        .unwrap()
    };

    for (bytes, want) in [
        (b"{".to_vec(), "Payload"),
        (br#"{"certificates":"MIIB"}"#.to_vec(), "Payload"),
        (br#"{"certificates":["not base64!"]}"#.to_vec(), "Payload"),
        (br#"{"certificates":[]}"#.to_vec(), "NoCertificates"),
        (br#"{"certificates":null}"#.to_vec(), "NoCertificates"),
        (br#"{}"#.to_vec(), "NoCertificates"),
        (
            payload(vec![b"junk".to_vec()]),
            "MalformedCertificate { index: 0 }",
        ),
        (
            payload(vec![node.der().to_vec(), b"junk".to_vec()]),
            "MalformedCertificate { index: 1 }",
        ),
        (
            payload(vec![flipped]),
            "ChainNotVerified(InvalidSignatureForPublicKey)",
        ),
    ] {
        let mut session = server.new_session(ctx());
        let err = session.start(&bytes).await.unwrap_err();
        assert!(
            format!("{err:?}").contains(want),
            "{}: want {want}, got {err:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[tokio::test]
async fn agent_path_templates() {
    let files = Files::new();
    let root = root("root");
    let mut params = leaf_params();
    params.subject_alt_names = vec![uri("x509pop://example.org/datacenter/us-east-1")];
    let node = leaf(&params, KeyAlg::EcP256, &root);
    let agent = agent(files.agent_config(&node, &[]));
    let fingerprint = sha1_hex(&node.der());

    for (template, want) in [
        (
            "/cn/{{ .Subject.CommonName }}",
            "/spire/agent/cn/node-1".to_owned(),
        ),
        (
            "{{ .PluginName }}/{{ .SerialNumberHex }}",
            "/spire/agent/x509pop/0a1b2c3d4e7f".to_owned(),
        ),
        (
            "/{{.TrustDomain}}/{{ .URISanSelectors.datacenter }}/{{ .Fingerprint }}",
            format!("/spire/agent/example.org/us-east-1/{fingerprint}"),
        ),
    ] {
        let mut config = files.server_config(&[&root]);
        config.agent_path_template = Some(template.to_owned());
        let result = attest(server(&config), &agent, ctx()).await.unwrap();
        assert_eq!(result.agent_id.path(), want, "{template}");
    }

    let mut config = files.server_config(&[&root]);
    config.agent_path_template = Some("/{{ .URISanSelectors.rack }}".to_owned());
    let err = x509pop_error(attest(server(&config), &agent, ctx()).await);
    assert!(matches!(err, X509PopError::AgentPathTemplate(_)), "{err:?}");

    config.agent_path_template = Some("/{{ .Subject.CommonName }}/x y".to_owned());
    let err = x509pop_error(attest(server(&config), &agent, ctx()).await);
    assert!(matches!(err, X509PopError::AgentId { .. }), "{err:?}");
}

#[tokio::test]
async fn spiffe_mode_exchanges_an_svid_under_the_prefix() {
    let server_ca = root("server ca");
    let bundle: Arc<[rustls_pki_types::CertificateDer<'static>]> = Arc::from(vec![server_ca.der()]);
    let svid = |id: &str| {
        let mut params = leaf_params();
        params.subject_alt_names = vec![uri(id)];
        leaf(&params, KeyAlg::EcP256, &server_ca)
    };
    let config = X509PopServerConfig {
        mode: X509PopMode::Spiffe,
        ..X509PopServerConfig::default()
    };
    let files = Files::new();
    let with_bundle = || ctx().with_trust_bundle(Arc::clone(&bundle));

    let host = svid("spiffe://example.org/spire-exchange/rack-1/host-1");
    let agent_host = agent(files.agent_config(&host, &[]));
    let result = attest(server(&config), &agent_host, with_bundle())
        .await
        .unwrap();
    assert_eq!(
        result.agent_id.as_str(),
        "spiffe://example.org/spire/agent/x509pop/rack-1/host-1"
    );

    let err = x509pop_error(attest(server(&config), &agent_host, ctx()).await);
    assert!(matches!(err, X509PopError::NoTrustAnchors), "{err:?}");

    let custom = X509PopServerConfig {
        svid_prefix: Some("spire-exchange/rack-1".to_owned()),
        agent_path_template: Some("/exchanged/{{ .SVIDPathTrimmed }}".to_owned()),
        ..config.clone()
    };
    let result = attest(server(&custom), &agent_host, with_bundle())
        .await
        .unwrap();
    assert_eq!(result.agent_id.path(), "/spire/agent/exchanged/host-1");

    let other_files = Files::new();
    let other = agent(other_files.agent_config(&svid("spiffe://example.org/workload/db"), &[]));
    let err = x509pop_error(attest(server(&config), &other, with_bundle()).await);
    assert!(
        matches!(err, X509PopError::SvidPrefixMismatch { .. }),
        "{err:?}"
    );

    let foreign_files = Files::new();
    let foreign =
        agent(foreign_files.agent_config(&svid("spiffe://other.org/spire-exchange/host-1"), &[]));
    let err = x509pop_error(attest(server(&config), &foreign, with_bundle()).await);
    assert!(matches!(err, X509PopError::ForeignTrustDomain), "{err:?}");

    let plain_files = Files::new();
    let plain_leaf = leaf(&leaf_params(), KeyAlg::EcP256, &server_ca);
    let plain = agent(plain_files.agent_config(&plain_leaf, &[]));
    let err = x509pop_error(attest(server(&config), &plain, with_bundle()).await);
    assert!(matches!(err, X509PopError::NoSpiffeId), "{err:?}");
}

#[tokio::test]
async fn verify_client_ip_matches_the_peer_against_ip_sans() {
    let files = Files::new();
    let root = root("root");
    let mut params = leaf_params();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress("10.0.0.5".parse().unwrap())];
    let node = leaf(&params, KeyAlg::EcP256, &root);
    let agent = agent(files.agent_config(&node, &[]));
    let mut config = files.server_config(&[&root]);
    config.verify_client_ip = true;

    let at = |ip: &str| ctx().with_peer_ip(ip.parse().unwrap());
    attest(server(&config), &agent, at("10.0.0.5"))
        .await
        .unwrap();
    attest(server(&config), &agent, at("::ffff:10.0.0.5"))
        .await
        .unwrap();
    let err = x509pop_error(attest(server(&config), &agent, at("10.0.0.6")).await);
    assert!(matches!(err, X509PopError::ClientIpMismatch), "{err:?}");
    let err = x509pop_error(attest(server(&config), &agent, ctx()).await);
    assert!(matches!(err, X509PopError::ClientIpUnknown), "{err:?}");
}

#[tokio::test]
async fn the_agent_rereads_rotated_credentials() {
    use lanyard_attest::AgentAttestor as _;
    let files = Files::new();
    let root = root("root");
    let first = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let agent = agent(files.agent_config(&first, &[]));
    let server = server(&files.server_config(&[&root]));
    let first_id = attest(server.clone(), &agent, ctx())
        .await
        .unwrap()
        .agent_id;

    let second = leaf(&leaf_params(), KeyAlg::EcP384, &root);
    files.agent_config(&second, &[]);
    let second_id = attest(server, &agent, ctx()).await.unwrap().agent_id;
    assert_ne!(first_id, second_id);
    assert!(second_id.as_str().ends_with(&sha1_hex(&second.der())));

    // A certificate that does not match the key is refused before anything is sent.
    files.write("key.pem", &first.key.serialize_pem());
    let err = agent.begin().err().unwrap();
    assert!(
        matches!(
            err,
            AttestError::Config(lanyard_attest::ConfigError::KeyMismatch { .. })
        ),
        "{err:?}"
    );
}
