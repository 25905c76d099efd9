use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};

use super::*;
use crate::tpm::key::PublicKey;
use crate::tpm::testing::{ecc_signing_public, rsa_ek_public};

// Expected values computed with an independent implementation (Python's
// hmac/hashlib and the `cryptography` package's AES-CFB).
const SEED: [u8; 32] = {
    let mut seed = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        seed[i] = i as u8;
        i += 1;
    }
    seed
};
const NAME: &str = "000bda30fab2e354c38cd618df2f7a27c4403f244820a417c58029646984f0ee9a15";
const CREDENTIAL: &[u8] = b"0123456789abcdef0123456789abcdef";
const ID_OBJECT: &str = "00201ad01fd1b1f221aa7c51076a9b49186f7db90afc7af628817c2b60c7e8b6dea3\
05f67ed5ae41a2a489b380041dc3205244e767069453247fdb8b9a99453770350b25";

fn rsa_ek() -> (PrivateDecryptingKey, TpmPublic) {
    let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
    let spki = private.public_key().as_der().unwrap();
    let PublicKey::Rsa { modulus, .. } = PublicKey::from_spki_der(spki.as_ref()).unwrap() else {
        panic!("rsa key expected");
    };
    let public = TpmPublic::parse(&rsa_ek_public(&modulus)).unwrap();
    (private, public)
}

#[test]
fn kdfa_matches_independent_vectors() {
    let name = hex::decode(NAME).unwrap();
    assert_eq!(
        hex::encode(kdfa_sha256(&SEED, "STORAGE", &name, &[], 128).as_slice()),
        "799b3910479cd57d875d31850bc99758"
    );
    assert_eq!(
        hex::encode(kdfa_sha256(&SEED, "INTEGRITY", &[], &[], 256).as_slice()),
        "bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e"
    );
    // More than one HMAC block, a partial last block, and both contexts.
    assert_eq!(
        hex::encode(kdfa_sha256(b"k", "L", b"u", b"v", 520).as_slice()),
        "7e6644f79783091b1c84c9ace92af323df309ac6bc40730cfbf19339f011bb08f1398b11c9146fc33\
35c019c00da1f55254252ecd1bc9c0b75a7c51096c49be4dd"
    );
}

#[test]
fn id_object_matches_independent_vector_and_seed_decrypts_with_identity_label() {
    let (private, ek) = rsa_ek();
    let name = hex::decode(NAME).unwrap();

    let blob = make_credential_with_seed(&ek, &name, CREDENTIAL, &SEED).unwrap();

    assert_eq!(hex::encode(&blob.id_object), ID_OBJECT);
    let private = OaepPrivateDecryptingKey::new(private).unwrap();
    let mut out = vec![0u8; private.min_output_size()];
    let seed = private
        .decrypt(
            &OAEP_SHA256_MGF1SHA256,
            &blob.encrypted_secret,
            &mut out,
            Some(b"IDENTITY\0"),
        )
        .unwrap();
    assert_eq!(seed, SEED);
    let mut out = vec![0u8; private.min_output_size()];
    assert!(
        private
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &blob.encrypted_secret,
                &mut out,
                Some(b"IDENTITY")
            )
            .is_err(),
        "the label must include its NUL"
    );
}

#[test]
fn random_seeds_give_distinct_blobs() {
    let (_, ek) = rsa_ek();
    let name = hex::decode(NAME).unwrap();

    let a = make_credential(&ek, &name, CREDENTIAL).unwrap();
    let b = make_credential(&ek, &name, CREDENTIAL).unwrap();

    assert_ne!(a.id_object, b.id_object);
    assert_ne!(a.encrypted_secret, b.encrypted_secret);
    assert_eq!(a.encrypted_secret.len(), 256);
    assert_eq!(a.id_object.len(), 2 + 32 + 2 + CREDENTIAL.len());
}

#[test]
fn credential_size_and_ek_shape_are_checked() {
    let (_, ek) = rsa_ek();
    let name = hex::decode(NAME).unwrap();
    assert_eq!(
        make_credential(&ek, &name, &[]).unwrap_err(),
        CredentialError::CredentialSize
    );
    assert_eq!(
        make_credential(&ek, &name, &[0u8; 33]).unwrap_err(),
        CredentialError::CredentialSize
    );

    let ecc = TpmPublic::parse(&ecc_signing_public(0, &[1; 32], &[2; 32])).unwrap();
    assert!(matches!(
        make_credential(&ecc, &name, CREDENTIAL).unwrap_err(),
        CredentialError::UnsupportedEk(_)
    ));
}
