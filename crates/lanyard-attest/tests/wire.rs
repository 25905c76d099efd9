//! x509pop messages in SPIRE's exact JSON, written out by hand here, and
//! signatures checked with aws-lc-rs directly rather than through the crate.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    RSA_PSS_2048_8192_SHA256, RsaParameters, RsaPssSaltLength, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use lanyard_attest::x509pop::wire::{ChallengeResponse, NONCE_LEN};
use lanyard_attest::{AgentAttestor as _, ServerAttestor as _, Step};

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Nonce bytes 0, 1, ..., 31.
const NONCE_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn counting_nonce() -> Vec<u8> {
    (0u8..32).collect()
}

fn minimal(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

#[tokio::test]
async fn server_speaks_spire_json() {
    let files = Files::new();
    let root = root("root");
    let issuing = intermediate(&root, "issuing");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &issuing);
    let server = server(&files.server_config(&[&root]));

    // A SPIRE agent's attestation data.
    let payload = format!(
        r#"{{"certificates":["{}","{}"]}}"#,
        b64(&node.der()),
        b64(&issuing.der())
    );
    let mut session = server.new_session(ctx());
    let Step::Challenge(challenge) = session.start(payload.as_bytes()).await.unwrap() else {
        panic!("x509pop must challenge");
    };

    // The challenge has SPIRE's fields, in Go's order, with a 32-byte nonce.
    let text = String::from_utf8(challenge).unwrap();
    let nonce_b64 = text
        .strip_prefix(r#"{"rsa_signature":null,"ecdsa_signature":{"nonce":""#)
        .and_then(|rest| rest.strip_suffix(r#""}}"#))
        .unwrap_or_else(|| panic!("unexpected challenge {text}"));
    let server_nonce = STANDARD.decode(nonce_b64).unwrap();
    assert_eq!(server_nonce.len(), NONCE_LEN);

    // A SPIRE agent's answer: ECDSA over SHA-256(server nonce || agent nonce),
    // r and s as minimal big-endian integers.
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &node.key.serialize_der())
        .unwrap();
    let agent_nonce = [0x42u8; NONCE_LEN];
    let message = [server_nonce.as_slice(), &agent_nonce].concat();
    let signature = key.sign(&SystemRandom::new(), &message).unwrap();
    let (r, s) = signature.as_ref().split_at(32);
    let response = format!(
        r#"{{"rsa_signature":null,"ecdsa_signature":{{"nonce":"{}","r":"{}","s":"{}"}}}}"#,
        b64(&agent_nonce),
        b64(minimal(r)),
        b64(minimal(s))
    );
    let Step::Done(result) = session.respond(response.as_bytes()).await.unwrap() else {
        panic!("one challenge is enough");
    };
    assert!(result.agent_id.as_str().ends_with(&sha1_hex(&node.der())));
}

#[tokio::test]
async fn agent_answers_spire_ecdsa_challenges() {
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::EcP256, &root);
    let mut session = agent(files.agent_config(&node, &[])).begin().unwrap();

    let data = session.attestation_data();
    assert_eq!(data.r#type, "x509pop");
    assert_eq!(
        String::from_utf8(data.payload).unwrap(),
        format!(r#"{{"certificates":["{}"]}}"#, b64(&node.der()))
    );

    let challenge =
        format!(r#"{{"rsa_signature":null,"ecdsa_signature":{{"nonce":"{NONCE_B64}"}}}}"#);
    let answer = session.answer_challenge(challenge.as_bytes()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(json["rsa_signature"], serde_json::Value::Null);
    let ecdsa = json["ecdsa_signature"].as_object().unwrap();
    let mut keys: Vec<&str> = ecdsa.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["nonce", "r", "s"]);

    let field = |name: &str| STANDARD.decode(ecdsa[name].as_str().unwrap()).unwrap();
    let agent_nonce = field("nonce");
    assert_eq!(agent_nonce.len(), NONCE_LEN);
    let fixed = [left_pad(&field("r"), 32), left_pad(&field("s"), 32)].concat();
    let public =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &node.key.serialize_der())
            .unwrap();
    let message = [counting_nonce(), agent_nonce].concat();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public.public_key().as_ref())
        .verify(&message, &fixed)
        .unwrap();
}

#[tokio::test]
async fn agent_answers_spire_rsa_challenges_with_pss_sha256() {
    let files = Files::new();
    let root = root("root");
    let node = leaf(&leaf_params(), KeyAlg::Rsa2048, &root);
    let mut session = agent(files.agent_config(&node, &[])).begin().unwrap();

    let challenge =
        format!(r#"{{"rsa_signature":{{"nonce":"{NONCE_B64}"}},"ecdsa_signature":null}}"#);
    let answer = session.answer_challenge(challenge.as_bytes()).unwrap();
    let parsed: ChallengeResponse = serde_json::from_slice(&answer).unwrap();
    assert!(parsed.ecdsa_signature.is_none());
    let rsa = parsed.rsa_signature.unwrap();

    // Go's rsa.VerifyPSS with default options accepts any salt; the agent uses
    // the maximal salt as Go's signer does.
    let public = node.key.public_key_raw();
    let message = [counting_nonce(), rsa.nonce].concat();
    static MAX_SALT: RsaParameters =
        RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
    UnparsedPublicKey::new(&MAX_SALT, public)
        .verify(&message, &rsa.signature)
        .unwrap();
}

#[test]
fn go_encodings_decode() {
    // Go writes nil byte slices and nil pointers as null, and omits nothing.
    let response: ChallengeResponse = serde_json::from_str(&format!(
        r#"{{"rsa_signature":{{"nonce":"{NONCE_B64}","signature":"AQID"}},"ecdsa_signature":null}}"#
    ))
    .unwrap();
    let rsa = response.rsa_signature.unwrap();
    assert_eq!(rsa.nonce, counting_nonce());
    assert_eq!(rsa.signature, [1, 2, 3]);
    assert!(response.ecdsa_signature.is_none());

    let sparse: ChallengeResponse =
        serde_json::from_str(r#"{"ecdsa_signature":{"nonce":null,"r":"AA=="}}"#).unwrap();
    let ecdsa = sparse.ecdsa_signature.unwrap();
    assert!(ecdsa.nonce.is_empty() && ecdsa.s.is_empty());
    assert_eq!(ecdsa.r, [0]);

    assert!(
        serde_json::from_str::<ChallengeResponse>(r#"{"rsa_signature":{"nonce":"AQI"}}"#).is_err()
    );
}
