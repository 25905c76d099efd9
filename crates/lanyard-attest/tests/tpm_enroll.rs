//! TPM enrollment and re-attestation through both attestor halves against
//! a real TPM simulator (swtpm).
#![cfg(feature = "tpm")]
#![allow(clippy::unwrap_used, reason = "test code")]

mod tpm_support;

use std::time::Instant;

use lanyard_attest::tpm::TpmError;
use lanyard_attest::tpm::ldevid::verify_ldevid_chain;
use lanyard_spiffe::Selector;
use lanyard_testkit::swtpm::{TpmManufacturer, require_swtpm, shared_image};
use tpm_support::*;
use x509_parser::prelude::FromDer as _;

#[tokio::test]
async fn enrollment_issues_an_ldevid_and_the_node_reattests_without_a_token() {
    if !require_swtpm() {
        return;
    }
    let swtpm = shared_image().start().unwrap();
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let token = server.token("x1000c0s0b0n0", Some("compute"));
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);

    let started = Instant::now();
    let result = attest(
        &server,
        &mut agent.session(Some(binding(1))),
        Some(binding(1)),
    )
    .await
    .unwrap();
    let enrolled_in = started.elapsed();

    assert_eq!(
        result.agent_id.as_str(),
        "spiffe://hpc.example.org/spire/agent/tpm/x1000c0s0b0n0"
    );
    assert!(result.can_reattest);
    for expected in [
        "node:xname:x1000c0s0b0n0",
        "node:type:compute",
        "node:cabinet:x1000",
        "node:chassis:x1000c0",
        "node:slot:x1000c0s0",
        "node:bmc:x1000c0s0b0",
        "tpm:manufacturer:id:00001014",
        "tpm:model:swtpm",
    ] {
        assert!(
            result
                .selectors
                .contains(&Selector::parse(expected).unwrap()),
            "missing {expected} in {:?}",
            result.selectors
        );
    }
    let enrollment = &server.registry.enrollments()[0];
    let ek_selector = format!("tpm:ek_sha256:{}", hex::encode(enrollment.ek_sha256));
    assert!(
        result
            .selectors
            .contains(&Selector::parse(&ek_selector).unwrap())
    );

    // The LDevID profile: xname and type in the subject, EK-bound SAN.
    let chain = std::fs::read(agent.dir.join("tpm/ldevid-chain.pem")).unwrap();
    let chain: Vec<Vec<u8>> =
        <rustls_pki_types::CertificateDer<'_> as rustls_pki_types::pem::PemObject>::pem_slice_iter(
            &chain,
        )
        .map(|c| c.unwrap().to_vec())
        .collect();
    let verified = verify_ldevid_chain(
        &chain,
        &server.ca_certificate(),
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert_eq!(verified.xname.as_str(), "x1000c0s0b0n0");
    assert_eq!(verified.node_type.as_ref().unwrap().as_str(), "compute");
    assert!(verified.binds_ek(&enrollment.ek_sha256));
    assert_eq!(verified.serial_hex, enrollment.ldevid_serial);
    let (_, leaf) = x509_parser::certificate::X509Certificate::from_der(&chain[0]).unwrap();
    let policies = leaf
        .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_CERTIFICATE_POLICIES)
        .unwrap()
        .unwrap();
    assert!(!policies.critical);
    let subject = leaf.subject().to_string();
    assert!(
        subject.contains("CN=x1000c0s0b0n0") && subject.contains("OU=compute"),
        "{subject}"
    );

    // Later boots: no token, LDevID bound to the new session.
    let restarted = Agent {
        dir: agent.dir,
        config: {
            let mut c = agent.config.clone();
            c.join_token = None;
            c
        },
    };
    let started = Instant::now();
    let again = attest(
        &server,
        &mut restarted.session(Some(binding(2))),
        Some(binding(2)),
    )
    .await
    .unwrap();
    let reattested_in = started.elapsed();
    assert_eq!(again.agent_id, result.agent_id);
    assert_eq!(again.selectors, result.selectors);
    eprintln!("swtpm enrollment took {enrolled_in:?}, re-attestation {reattested_in:?}");
}

#[tokio::test]
async fn two_distinct_tpms_enroll_as_two_nodes() {
    if !require_swtpm() {
        return;
    }
    let manufacturer = TpmManufacturer::shared();
    let (first, second) = (
        shared_image().start().unwrap(),
        manufacturer.manufacture().unwrap(),
    );
    let second = second.start().unwrap();
    let server = Server::new(ek_policy(manufacturer));

    let mut ids = Vec::new();
    for (swtpm, name) in [(&first, "x1000c0s0b0n0"), (&second, "x1000c0s0b0n1")] {
        let token = server.token(name, Some("compute"));
        let agent = Agent::new(&swtpm.tcti()).with_token(&token);
        let result = attest(
            &server,
            &mut agent.session(Some(binding(3))),
            Some(binding(3)),
        )
        .await
        .unwrap();
        ids.push(result.agent_id.to_string());
    }

    assert_eq!(
        ids,
        [
            "spiffe://hpc.example.org/spire/agent/tpm/x1000c0s0b0n0",
            "spiffe://hpc.example.org/spire/agent/tpm/x1000c0s0b0n1"
        ]
    );
    let enrollments = server.registry.enrollments();
    assert_eq!(enrollments.len(), 2);
    assert_ne!(enrollments[0].ek_sha256, enrollments[1].ek_sha256);
}

#[tokio::test]
async fn the_same_ek_under_a_second_xname_is_refused_and_the_token_kept() {
    if !require_swtpm() {
        return;
    }
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let swtpm = shared_image().start().unwrap();
    let first = server.token("x1000c0s0b0n0", None);
    attest(
        &server,
        &mut Agent::new(&swtpm.tcti()).with_token(&first).session(None),
        None,
    )
    .await
    .unwrap();

    // A copy of the same image is the same TPM: same EK.
    let clone = shared_image().start().unwrap();
    let second = server.token("x1000c0s1b0n0", None);
    let agent = Agent::new(&clone.tcti()).with_token(&second);
    let err = attest(&server, &mut agent.session(None), None)
        .await
        .unwrap_err();

    assert!(matches!(tpm_error(err), TpmError::EkEnrolledElsewhere));
    assert_eq!(server.registry.enrollments().len(), 1);
    assert_eq!(
        server.registry.enrollments()[0].xname,
        xname("x1000c0s0b0n0")
    );
    // The refused token is still there: the administrator can use it for
    // the right TPM.
    let other = shared_image_other_tpm(&server, &second).await;
    assert_eq!(
        other.agent_id.to_string(),
        "spiffe://hpc.example.org/spire/agent/tpm/x1000c0s1b0n0"
    );
}

async fn shared_image_other_tpm(
    server: &Server,
    token: &lanyard_attest::join_token::JoinToken,
) -> lanyard_attest::AttestationResult {
    let image = TpmManufacturer::shared().manufacture().unwrap();
    let swtpm = image.start().unwrap();
    let agent = Agent::new(&swtpm.tcti()).with_token(token);
    attest(server, &mut agent.session(None), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_is_single_use() {
    if !require_swtpm() {
        return;
    }
    let server = Server::new(ek_policy(TpmManufacturer::shared()));
    let swtpm = shared_image().start().unwrap();
    let token = server.token("x3000c0s2b0n0", Some("management"));
    attest(
        &server,
        &mut Agent::new(&swtpm.tcti()).with_token(&token).session(None),
        None,
    )
    .await
    .unwrap();

    let again = Agent::new(&swtpm.tcti()).with_token(&token);
    let err = attest(&server, &mut again.session(None), None)
        .await
        .unwrap_err();

    assert!(matches!(
        tpm_error(err),
        TpmError::JoinToken(lanyard_attest::join_token::JoinTokenError::NotFound)
    ),);
}

#[tokio::test]
async fn a_due_residency_check_activates_a_credential_against_the_enrolled_ek() {
    if !require_swtpm() {
        return;
    }
    let server = Server::with(ek_policy(TpmManufacturer::shared()), |mut c| {
        c.residency_check_period = Some(std::time::Duration::ZERO);
        c
    });
    let swtpm = shared_image().start().unwrap();
    let token = server.token("x1000c1s0b0n0", None);
    let agent = Agent::new(&swtpm.tcti()).with_token(&token);
    attest(
        &server,
        &mut agent.session(Some(binding(4))),
        Some(binding(4)),
    )
    .await
    .unwrap();
    let enrolled_at = server.registry.enrollments()[0].residency_checked_at;

    let mut rounds = 0;
    let result = attest_with(
        &server,
        &mut agent.session(Some(binding(5))),
        Some(binding(5)),
        |m| {
            if let Relay::Challenge(_) = m {
                rounds += 1;
            }
            m.into_bytes()
        },
    )
    .await
    .unwrap();

    assert_eq!(rounds, 2, "nonce, then the residency credential");
    assert_eq!(result.agent_id.path(), "/spire/agent/tpm/x1000c1s0b0n0");
    assert!(server.registry.enrollments()[0].residency_checked_at > enrolled_at);
}
