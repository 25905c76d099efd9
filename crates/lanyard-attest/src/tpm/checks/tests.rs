use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

use super::*;
use crate::tpm::testing::{AK_ATTRIBUTES, LDEVID_ATTRIBUTES, certify_attest, ecc_signing_public};

struct Key {
    pair: EcdsaKeyPair,
}

impl Key {
    fn new() -> Self {
        Self {
            pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        }
    }

    fn public(&self, attributes: u32) -> TpmPublic {
        let point = self.pair.public_key().as_ref();
        TpmPublic::parse(&ecc_signing_public(attributes, &point[1..33], &point[33..])).unwrap()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig = self.pair.sign(&SystemRandom::new(), message).unwrap();
        TpmSignature::Ecdsa {
            hash: alg::SHA256,
            r: sig.as_ref()[..32].to_vec(),
            s: sig.as_ref()[32..].to_vec(),
        }
        .to_bytes()
    }
}

fn rule_of(err: TpmError) -> (&'static str, &'static str) {
    match err {
        TpmError::Attributes { key, rule } => (key, rule),
        other => panic!("attribute error expected, got {other}"),
    }
}

#[test]
fn key_attribute_rules() {
    let key = Key::new();
    check_ak(&key.public(AK_ATTRIBUTES)).unwrap();
    check_ldevid(&key.public(LDEVID_ATTRIBUTES)).unwrap();

    assert_eq!(
        rule_of(check_ak(&key.public(AK_ATTRIBUTES & !A::RESTRICTED)).unwrap_err()),
        ("ak", "must be restricted")
    );
    assert_eq!(
        rule_of(check_ak(&key.public(AK_ATTRIBUTES & !A::FIXED_TPM)).unwrap_err()),
        ("ak", "must be fixedTPM")
    );
    assert_eq!(
        rule_of(check_ldevid(&key.public(LDEVID_ATTRIBUTES & !A::FIXED_TPM)).unwrap_err()),
        ("ldevid", "must be fixedTPM")
    );
    assert_eq!(
        rule_of(check_ldevid(&key.public(LDEVID_ATTRIBUTES | A::RESTRICTED)).unwrap_err()),
        ("ldevid", "must not be restricted")
    );
    assert_eq!(
        rule_of(
            check_ldevid(&key.public(LDEVID_ATTRIBUTES & !A::SENSITIVE_DATA_ORIGIN)).unwrap_err()
        ),
        ("ldevid", "must be fixedParent and sensitiveDataOrigin")
    );
    assert_eq!(
        rule_of(check_ldevid(&key.public(LDEVID_ATTRIBUTES | A::DECRYPT)).unwrap_err()),
        ("ldevid", "must be a signing key and not decrypt")
    );
    assert_eq!(
        rule_of(check_ek(&key.public(AK_ATTRIBUTES)).unwrap_err()).0,
        "ek"
    );
}

#[test]
fn certify_rules() {
    let ak_key = Key::new();
    let ak = ak_key.public(AK_ATTRIBUTES);
    let ldevid = Key::new().public(LDEVID_ATTRIBUTES);
    let nonce = [7u8; 32];
    let good = certify_attest(TPM_GENERATED, &nonce, &ldevid.name());

    let attest = check_certify(&good, &ak_key.sign(&good), &ak, &ldevid, &nonce).unwrap();
    assert_eq!(attest.extra_data(), &nonce);

    let failure = |attest: &[u8], signature: &[u8], qualifying: &[u8]| match check_certify(
        attest, signature, &ak, &ldevid, qualifying,
    )
    .unwrap_err()
    {
        TpmError::Certify(rule) => rule,
        other => panic!("certify error expected, got {other}"),
    };
    assert_eq!(
        failure(&good, &ak_key.sign(&good), &[8u8; 32]),
        "qualifying data does not match the nonce"
    );
    assert_eq!(
        failure(&good, &Key::new().sign(&good), &nonce),
        "signature does not verify under the ak"
    );
    let forged = certify_attest(0x1234_5678, &nonce, &ldevid.name());
    assert_eq!(
        failure(&forged, &ak_key.sign(&forged), &nonce),
        "magic is not TPM_GENERATED_VALUE"
    );
    let other = certify_attest(
        TPM_GENERATED,
        &nonce,
        &Key::new().public(LDEVID_ATTRIBUTES).name(),
    );
    assert_eq!(
        failure(&other, &ak_key.sign(&other), &nonce),
        "certified name is not the ldevid key's name"
    );
    let mut tampered = good.clone();
    tampered[20] ^= 1;
    assert_eq!(
        failure(&tampered, &ak_key.sign(&good), &nonce),
        "signature does not verify under the ak"
    );
}
