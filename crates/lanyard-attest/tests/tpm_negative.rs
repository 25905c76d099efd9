//! Evidence and proofs the TPM attestor must refuse, against a real TPM
//! simulator (swtpm). A refused enrollment never uses up its join token.
#![cfg(feature = "tpm")]
#![allow(clippy::unwrap_used, reason = "test code")]

mod tpm_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use lanyard_attest::tpm::TpmError;
use lanyard_attest::tpm::credential::make_credential;
use lanyard_attest::tpm::ldevid::LdevidCa;
use lanyard_attest::tpm::protocol::{Challenge, Response, decode, encode};
use lanyard_attest::tpm::wire::TpmPublic;
use lanyard_testkit::swtpm::{TpmManufacturer, require_swtpm, shared_image};
use tpm_support::*;

/// Enrolls a node on `server` with the shared image; returns its agent.
async fn enrolled(server: &Server, tcti: &str, name: &str) -> Agent {
    let token = server.token(name, None);
    let mut agent = Agent::new(tcti).with_token(&token);
    attest(
        server,
        &mut agent.session(Some(binding(9))),
        Some(binding(9)),
    )
    .await
    .unwrap();
    agent.config.join_token = None;
    agent
}

fn rule(err: lanyard_attest::AttestError) -> String {
    tpm_error(err).to_string()
}

#[tokio::test]
async fn a_tampered_credential_blob_does_not_activate() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    let err = attest_with(
        &server,
        &mut agent.session(None),
        None,
        |relay| match relay {
            Relay::Challenge(bytes) => match decode::<Challenge>(&bytes).unwrap() {
                Challenge::Credential {
                    mut id_object,
                    encrypted_secret,
                } => {
                    id_object[10] ^= 0x01;
                    encode(&Challenge::Credential {
                        id_object,
                        encrypted_secret,
                    })
                }
                _ => bytes,
            },
            Relay::Answer(bytes) => bytes,
        },
    )
    .await
    .unwrap_err();

    let err = tpm_error(err);
    assert!(
        matches!(
            &err,
            TpmError::Device {
                operation: "activate credential",
                ..
            }
        ),
        "{err}"
    );
    assert!(token_unused(&server, &token).await);
    assert!(server.registry.enrollments().is_empty());
}

#[tokio::test]
async fn a_credential_made_for_another_key_name_does_not_activate() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);
    let mut ek_pub = None;

    let err = attest_with(
        &server,
        &mut agent.session(None),
        None,
        |relay| match relay {
            Relay::Answer(bytes) => {
                if let Ok(Response::Evidence(evidence)) = decode::<Response>(&bytes) {
                    ek_pub = Some(TpmPublic::parse(&evidence.ek_pub).unwrap());
                }
                bytes
            }
            Relay::Challenge(bytes) => match decode::<Challenge>(&bytes).unwrap() {
                Challenge::Credential { .. } => {
                    // The same EK, but the name of some other object.
                    let other_name = [&[0x00, 0x0b][..], &[0x5a; 32]].concat();
                    let blob =
                        make_credential(ek_pub.as_ref().unwrap(), &other_name, &[7; 32]).unwrap();
                    encode(&Challenge::Credential {
                        id_object: blob.id_object,
                        encrypted_secret: blob.encrypted_secret,
                    })
                }
                _ => bytes,
            },
        },
    )
    .await
    .unwrap_err();

    assert!(matches!(
        tpm_error(err),
        TpmError::Device {
            operation: "activate credential",
            ..
        }
    ));
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn a_certify_over_another_nonce_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    let err = attest_with(
        &server,
        &mut agent.session(None),
        None,
        |relay| match relay {
            Relay::Challenge(bytes) => match decode::<Challenge>(&bytes).unwrap() {
                Challenge::EvidenceRequest { .. } => encode(&Challenge::EvidenceRequest {
                    nonce: vec![0x42; 32],
                }),
                _ => bytes,
            },
            Relay::Answer(bytes) => bytes,
        },
    )
    .await
    .unwrap_err();

    assert_eq!(
        rule(err),
        "certify qualifying data does not match the nonce"
    );
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn a_replayed_certify_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    // Record the evidence of one session...
    let mut recorded = None;
    attest_with(
        &server,
        &mut agent.session(None),
        None,
        |relay| match relay {
            Relay::Answer(bytes) => {
                if let Ok(Response::Evidence(_)) = decode::<Response>(&bytes) {
                    recorded = Some(bytes.clone());
                }
                bytes
            }
            Relay::Challenge(bytes) => bytes,
        },
    )
    .await
    .unwrap();

    // ...and replay it to a new one, with a fresh token for the node.
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);
    let recorded = recorded.unwrap();
    let err = attest_with(
        &server,
        &mut agent.session(None),
        None,
        |relay| match relay {
            Relay::Answer(bytes) => match decode::<Response>(&bytes) {
                Ok(Response::Evidence(_)) => recorded.clone(),
                _ => bytes,
            },
            Relay::Challenge(bytes) => bytes,
        },
    )
    .await
    .unwrap_err();

    assert_eq!(
        rule(err),
        "certify qualifying data does not match the nonce"
    );
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn an_ldevid_key_that_is_not_fixed_tpm_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let mut agent = Agent::new(&swtpm.tcti()).with_token(&token);
    agent
        .config
        .insecure_key_templates
        .insecure_duplicable_ldevid = true;

    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();

    assert_eq!(rule(err), "ldevid must be fixedTPM");
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn an_ak_that_is_not_restricted_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let mut agent = Agent::new(&swtpm.tcti()).with_token(&token);
    agent.config.insecure_key_templates.insecure_unrestricted_ak = true;

    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();

    assert_eq!(rule(err), "ak must be restricted");
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn an_ek_certificate_from_another_manufacturer_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let other_vendor = TpmManufacturer::new().unwrap();
    let server = Server::new(ek_policy(&other_vendor));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();

    assert!(matches!(tpm_error(err), TpmError::EkChain(_)));
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn an_ek_public_that_is_not_the_certified_key_is_refused() {
    if !require_swtpm() {
        return;
    }
    let manufacturer = TpmManufacturer::shared();
    let other = manufacturer.manufacture().unwrap().start().unwrap();
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(manufacturer));

    // A genuine EK certificate, of another TPM.
    let other_cert = {
        let token = server.token("x1000c0s9b0n0", None);
        let agent = Agent::new(&other.tcti()).with_token(&token);
        let mut session = agent.session(None);
        let answer = session
            .answer(&encode(&Challenge::EvidenceRequest { nonce: vec![1; 32] }))
            .unwrap();
        let Response::Evidence(evidence) = decode::<Response>(&answer).unwrap() else {
            panic!("evidence expected");
        };
        evidence.ek_cert.unwrap()
    };
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    let err = attest_with(
        &server,
        &mut agent.session(None),
        None,
        edit_evidence(|evidence| evidence.ek_cert = Some(other_cert.clone())),
    )
    .await
    .unwrap_err();

    assert_eq!(
        rule(err),
        "endorsement key refused: ek public does not match the ek certificate key"
    );
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn a_tpm_without_an_ek_certificate_needs_its_ek_hash_allow_listed() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let strip = || edit_evidence(|evidence| evidence.ek_cert = None);

    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);
    let err = attest_with(&server, &mut agent.session(None), None, strip())
        .await
        .unwrap_err();
    assert_eq!(
        rule(err),
        "endorsement key refused: no ek certificate and the ek hash is not allow-listed"
    );

    let mut policy = ek_policy(TpmManufacturer::shared());
    let ek = {
        let mut session = agent.session(None);
        let answer = session
            .answer(&encode(&Challenge::EvidenceRequest { nonce: vec![1; 32] }))
            .unwrap();
        let Response::Evidence(evidence) = decode::<Response>(&answer).unwrap() else {
            panic!("evidence expected");
        };
        TpmPublic::parse(&evidence.ek_pub).unwrap()
    };
    policy.allowed_ek_hashes = BTreeSet::from([ek.key().spki_sha256().unwrap()]);
    let server = Server::new(policy);
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);
    let result = attest_with(&server, &mut agent.session(None), None, strip())
        .await
        .unwrap();
    let selector = format!(
        "tpm:ek_sha256:{}",
        hex::encode(ek.key().spki_sha256().unwrap())
    );
    assert!(result.selectors.iter().any(|s| s.to_string() == selector));
}

#[tokio::test]
async fn claims_that_differ_from_the_token_and_tokens_without_an_xname_are_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", Some("compute"));
    let mut agent = Agent::new(&swtpm.tcti()).with_token(&token);
    agent.config.xname = Some(xname("x1000c0s0b0n1"));

    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();
    assert_eq!(
        rule(err),
        "agent claims a different xname than its join token binds"
    );
    assert!(token_unused(&server, &token).await);

    let unbound = lanyard_attest::join_token::JoinToken::generate().unwrap();
    server.registry.add_join_token(
        &unbound,
        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
        lanyard_spiffe::SelectorSet::new(),
    );
    let agent = Agent::new(&swtpm.tcti()).with_token(&unbound);
    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();
    assert!(matches!(tpm_error(err), TpmError::TokenWithoutXname));
}

#[tokio::test]
async fn an_ldevid_from_another_ca_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let agent = enrolled(&server, &swtpm.tcti(), "x1000c0s0b0n0").await;

    // Same records, another LDevID CA.
    let other_ca = LdevidCa::generate_ephemeral(TD, std::time::SystemTime::now()).unwrap();
    let impostor = Server::with_parts(
        ek_policy(TpmManufacturer::shared()),
        other_ca,
        Arc::clone(&server.registry),
        |c| c,
    );
    let err = attest(
        &impostor,
        &mut agent.session(Some(binding(1))),
        Some(binding(1)),
    )
    .await
    .unwrap_err();

    assert!(matches!(tpm_error(err), TpmError::LdevidChain(_)));
}

#[tokio::test]
async fn an_ldevid_proof_relayed_to_another_tls_session_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let agent = enrolled(&server, &swtpm.tcti(), "x1000c0s0b0n0").await;

    // The agent signs for its own session (binding 1); a relay presents the
    // signature on the session it opened to the server (binding 2).
    let err = attest(
        &server,
        &mut agent.session(Some(binding(1))),
        Some(binding(2)),
    )
    .await
    .unwrap_err();
    assert!(matches!(tpm_error(err), TpmError::LdevidSignature));

    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();
    assert!(matches!(tpm_error(err), TpmError::MissingSessionBinding));

    attest(
        &server,
        &mut agent.session(Some(binding(3))),
        Some(binding(3)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_enrollment_proof_from_another_tls_session_is_refused() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    let err = attest(
        &server,
        &mut agent.session(Some(binding(1))),
        Some(binding(2)),
    )
    .await
    .unwrap_err();

    assert!(matches!(tpm_error(err), TpmError::ProofMismatch));
    assert!(token_unused(&server, &token).await);
}

#[tokio::test]
async fn re_enrolling_a_node_retires_its_previous_ldevid() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let old = enrolled(&server, &swtpm.tcti(), "x1000c0s0b0n0").await;
    let new = enrolled(&server, &swtpm.tcti(), "x1000c0s0b0n0").await;

    let err = attest(
        &server,
        &mut old.session(Some(binding(1))),
        Some(binding(1)),
    )
    .await
    .unwrap_err();

    assert!(matches!(tpm_error(err), TpmError::NotEnrolled));
    attest(
        &server,
        &mut new.session(Some(binding(1))),
        Some(binding(1)),
    )
    .await
    .unwrap();
}
