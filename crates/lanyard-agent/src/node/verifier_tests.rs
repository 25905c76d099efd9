use std::time::Duration;

use rustls::client::danger::ServerCertVerifier as _;
use rustls_pki_types::{ServerName, UnixTime};

use super::*;
use crate::testutil::{TestCa, id, t0};

fn server_id() -> SpiffeId {
    id("example.org", "/spire/server")
}

fn verify(
    ca_bundle: &Bundle,
    chain: &[CertificateDer<'static>],
    at: SystemTime,
) -> Result<(), ServerCertError> {
    verify_server_chain(chain, ca_bundle, &server_id(), at)
}

#[test]
fn server_svid_with_the_server_id_is_accepted() {
    let ca = TestCa::new("example.org");
    let (chain, _) = ca.issue_with_new_key(&server_id());

    verify(&ca.bundle(), &chain, t0()).expect("accepted");
}

#[test]
fn another_id_of_the_trust_domain_is_refused() {
    let ca = TestCa::new("example.org");
    let (chain, _) = ca.issue_with_new_key(&id("example.org", "/spire/agent/join_token/x"));

    let err = verify(&ca.bundle(), &chain, t0()).expect_err("refused");
    assert!(matches!(err, ServerCertError::WrongId { .. }), "{err}");
}

#[test]
fn server_of_another_trust_domain_is_refused() {
    let ours = TestCa::new("example.org");
    let theirs = TestCa::new("other.org");
    let (chain, _) = theirs.issue_with_new_key(&id("other.org", "/spire/server"));

    let err = verify(&ours.bundle(), &chain, t0()).expect_err("refused");
    assert!(matches!(err, ServerCertError::Untrusted(_)), "{err}");
}

#[test]
fn expired_server_svid_is_refused() {
    let ca = TestCa::new("example.org");
    let (chain, _) = ca.issue_with_new_key(&server_id());

    let later = t0() + Duration::from_secs(2 * 3600);
    let err = verify(&ca.bundle(), &chain, later).expect_err("refused");
    assert!(matches!(err, ServerCertError::Untrusted(_)), "{err}");
}

#[test]
fn svid_from_an_untrusted_root_is_refused() {
    let trusted = TestCa::new("example.org");
    let rogue = TestCa::new("example.org");
    let (chain, _) = rogue.issue_with_new_key(&server_id());

    let err = verify(&trusted.bundle(), &chain, t0()).expect_err("refused");
    assert!(matches!(err, ServerCertError::Untrusted(_)), "{err}");
}

fn rustls_verify(
    verifier: &SpiffeServerVerifier,
    chain: &[CertificateDer<'static>],
) -> Result<(), rustls::Error> {
    let now = UnixTime::since_unix_epoch(t0().duration_since(UNIX_EPOCH).expect("after epoch"));
    let name = ServerName::try_from("lanyard-server").expect("name");
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
        .map(|_| ())
}

#[test]
fn bundle_swap_takes_effect_for_the_next_verification() {
    let old_ca = TestCa::new("example.org");
    let new_ca = TestCa::new("example.org");
    let (old_chain, _) = old_ca.issue_with_new_key(&server_id());
    let (new_chain, _) = new_ca.issue_with_new_key(&server_id());

    let anchors = TrustAnchors::new(old_ca.bundle());
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = SpiffeServerVerifier::new(anchors.clone(), server_id(), &provider);
    rustls_verify(&verifier, &old_chain).expect("old ca trusted");
    assert!(
        rustls_verify(&verifier, &new_chain).is_err(),
        "new ca not yet trusted"
    );

    let mut both = old_ca.bundle();
    both.add_x509_authority(new_ca.root()).expect("add root");
    assert!(anchors.replace(both.clone()));
    assert!(!anchors.replace(both), "same bundle is no change");
    rustls_verify(&verifier, &old_chain).expect("old ca still trusted");
    rustls_verify(&verifier, &new_chain).expect("new ca trusted");

    anchors.replace(new_ca.bundle());
    assert!(
        rustls_verify(&verifier, &old_chain).is_err(),
        "old ca dropped"
    );
    rustls_verify(&verifier, &new_chain).expect("new ca trusted");
}

#[test]
fn rustls_errors_distinguish_wrong_name_from_untrusted() {
    let ca = TestCa::new("example.org");
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier =
        SpiffeServerVerifier::new(TrustAnchors::new(ca.bundle()), server_id(), &provider);

    let (agent_chain, _) = ca.issue_with_new_key(&id("example.org", "/spire/agent/x"));
    let err = rustls_verify(&verifier, &agent_chain).expect_err("wrong id");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
    );

    let rogue = TestCa::new("example.org");
    let (rogue_chain, _) = rogue.issue_with_new_key(&server_id());
    let err = rustls_verify(&verifier, &rogue_chain).expect_err("untrusted");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Other(_))
        ),
        "{err}"
    );
}

#[test]
fn insecure_bootstrap_verifier_still_requires_the_server_id() {
    let rogue = TestCa::new("example.org");
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = InsecureBootstrapVerifier::insecure_new(server_id(), &provider);
    let now = UnixTime::since_unix_epoch(t0().duration_since(UNIX_EPOCH).expect("after epoch"));
    let name = ServerName::try_from("lanyard-server").expect("name");

    let (chain, _) = rogue.issue_with_new_key(&server_id());
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
        .expect("any root accepted");
    let (chain, _) = rogue.issue_with_new_key(&id("example.org", "/not-the-server"));
    assert!(
        verifier
            .verify_server_cert(&chain[0], &chain[1..], &name, &[], now)
            .is_err()
    );
}

/// A refusal as the agent's connect path sees it: a rustls error inside an I/O error.
fn refused_connect(chain_ca: &TestCa, trusted: &TestCa, presented: &SpiffeId) -> String {
    let (chain, _) = chain_ca.issue_with_new_key(presented);
    let verifier = SpiffeServerVerifier::new(
        TrustAnchors::new(trusted.bundle()),
        server_id(),
        &rustls::crypto::aws_lc_rs::default_provider(),
    );
    let err = rustls_verify(&verifier, &chain).expect_err("refused");
    let io = std::io::Error::new(std::io::ErrorKind::InvalidData, err);
    describe_connect_failure(&io)
}

#[test]
fn refusals_are_explained_in_words() {
    let trusted = TestCa::new("example.org");
    let rogue = TestCa::new("example.org");
    assert_eq!(
        refused_connect(&rogue, &trusted, &server_id()),
        "the server's certificate does not chain to the trust bundle (unknown issuer)"
    );

    let other = TestCa::new("other.org");
    assert_eq!(
        refused_connect(&other, &trusted, &id("other.org", "/spire/server")),
        "the server's SVID belongs to trust domain other.org, the bundle to example.org"
    );

    let plain = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
    );
    let text = describe_connect_failure(&plain);
    assert!(text.contains("did not answer with TLS"), "{text}");

    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(describe_connect_failure(&refused), "connection refused");
}
