use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PSS_SHA256};

use super::*;

fn ecdsa(curve: Curve) -> (ProofKey, LeafKey) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(ecdsa_signing(curve), &SystemRandom::new()).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(ecdsa_signing(curve), pkcs8.as_ref()).unwrap();
    let leaf = LeafKey::Ecdsa {
        curve,
        point: key.public_key().as_ref().to_vec(),
    };
    (ProofKey::ecdsa(key, curve), leaf)
}

fn rsa() -> (RsaKeyPair, LeafKey) {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let leaf = LeafKey::Rsa {
        pkcs1: key.public_key().as_ref().to_vec(),
        bits: 2048,
    };
    (key, leaf)
}

fn rsa_response(
    key: &RsaKeyPair,
    nonce: &[u8],
    encoding: &'static RsaSignatureEncoding,
) -> ChallengeResponse {
    let agent_nonce = [7u8; NONCE_LEN];
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        encoding,
        &SystemRandom::new(),
        &signed_message(nonce, &agent_nonce),
        &mut signature,
    )
    .unwrap();
    ChallengeResponse {
        rsa_signature: Some(RsaSignatureResponse {
            nonce: agent_nonce.to_vec(),
            signature,
        }),
        ecdsa_signature: None,
    }
}

#[test]
fn ecdsa_answers_verify_on_every_curve() {
    for curve in [Curve::P256, Curve::P384, Curve::P521] {
        let (proof, leaf) = ecdsa(curve);
        let (challenge, nonce) = new_challenge(&leaf).unwrap();
        assert!(challenge.rsa_signature.is_none());

        let response = proof.answer(&challenge).unwrap();
        verify_response(&leaf, &nonce, &response).unwrap();

        // An answer to another challenge does not verify for this one.
        let (_, other_nonce) = new_challenge(&leaf).unwrap();
        assert!(matches!(
            verify_response(&leaf, &other_nonce, &response),
            Err(X509PopError::BadSignature)
        ));
    }
}

#[test]
fn standard_ecdsa_sha256_signatures_verify() {
    // A signature made by the standard ECDSA-P256-SHA256 signer over the two
    // nonces, as Go makes it, split into r and s.
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .unwrap();
    let leaf = LeafKey::Ecdsa {
        curve: Curve::P256,
        point: key.public_key().as_ref().to_vec(),
    };
    let (_, nonce) = new_challenge(&leaf).unwrap();
    let agent_nonce = [9u8; NONCE_LEN];
    let fixed = key
        .sign(&SystemRandom::new(), &signed_message(&nonce, &agent_nonce))
        .unwrap();
    let (r, s) = fixed.as_ref().split_at(32);

    // Fixed-width (leading zeros kept) and minimal encodings both verify.
    for (r, s) in [(r, s), (strip_leading_zeros(r), strip_leading_zeros(s))] {
        let response = ChallengeResponse {
            rsa_signature: None,
            ecdsa_signature: Some(EcdsaSignatureResponse {
                nonce: agent_nonce.to_vec(),
                r: r.to_vec(),
                s: s.to_vec(),
            }),
        };
        verify_response(&leaf, &nonce, &response).unwrap();
    }
}

#[test]
fn rsa_pss_with_hash_length_or_maximal_salt_verifies() {
    let (key, leaf) = rsa();
    let (challenge, nonce) = new_challenge(&leaf).unwrap();
    assert!(challenge.ecdsa_signature.is_none());

    verify_response(&leaf, &nonce, &rsa_response(&key, &nonce, &RSA_PSS_SHA256)).unwrap();
    verify_response(
        &leaf,
        &nonce,
        &rsa_response(&key, &nonce, &RSA_PSS_SHA256_MAX_SALT),
    )
    .unwrap();

    static NO_SALT: RsaSignatureEncoding =
        RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(0));
    assert!(matches!(
        verify_response(&leaf, &nonce, &rsa_response(&key, &nonce, &NO_SALT)),
        Err(X509PopError::BadSignature)
    ));

    let proof = ProofKey::Rsa(key);
    verify_response(&leaf, &nonce, &proof.answer(&challenge).unwrap()).unwrap();
}

#[test]
fn rejects_wrong_kind_and_nonce_length() {
    let (proof, leaf) = ecdsa(Curve::P256);
    let (challenge, nonce) = new_challenge(&leaf).unwrap();
    let mut response = proof.answer(&challenge).unwrap();

    let rsa_only = ChallengeResponse {
        rsa_signature: Some(RsaSignatureResponse::default()),
        ecdsa_signature: None,
    };
    assert!(matches!(
        verify_response(&leaf, &nonce, &rsa_only),
        Err(X509PopError::ResponseKindMismatch { expected: "ecdsa" })
    ));

    let answer = response.ecdsa_signature.as_mut().unwrap();
    answer.nonce.push(0);
    assert!(matches!(
        verify_response(&leaf, &nonce, &response),
        Err(X509PopError::NonceLength { len: 33 })
    ));

    let short = Challenge {
        rsa_signature: None,
        ecdsa_signature: Some(NonceChallenge { nonce: vec![1; 16] }),
    };
    assert!(matches!(
        proof.answer(&short),
        Err(X509PopError::NonceLength { len: 16 })
    ));
    let rsa_challenge = Challenge {
        rsa_signature: Some(NonceChallenge { nonce: vec![1; 32] }),
        ecdsa_signature: None,
    };
    assert!(matches!(
        proof.answer(&rsa_challenge),
        Err(X509PopError::ChallengeKindMismatch { expected: "ecdsa" })
    ));
}

#[test]
fn ecdsa_der_encoding() {
    assert_eq!(
        der_unsigned_integer(&[0x01], 32).unwrap(),
        [0x02, 0x01, 0x01]
    );
    assert_eq!(
        der_unsigned_integer(&[0x00, 0x00, 0x7f], 32).unwrap(),
        [0x02, 0x01, 0x7f]
    );
    assert_eq!(
        der_unsigned_integer(&[0x80], 32).unwrap(),
        [0x02, 0x02, 0x00, 0x80]
    );
    assert!(der_unsigned_integer(&[], 32).is_none());
    assert!(der_unsigned_integer(&[0, 0], 32).is_none());
    assert!(der_unsigned_integer(&[1; 33], 32).is_none());

    let long = ecdsa_signature_der(&[0xff; 66], &[0xff; 66], 66).unwrap();
    assert_eq!(&long[..3], [0x30, 0x81, 138]);
    assert_eq!(long.len(), 3 + 138);
    let short = ecdsa_signature_der(&[1], &[2], 32).unwrap();
    assert_eq!(short, [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]);
}
