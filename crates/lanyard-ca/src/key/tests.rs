use std::os::unix::fs::PermissionsExt;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::*;

fn raw_public_key(signer: &Signer) -> Vec<u8> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(signer.public_key().as_ref()).unwrap();
    spki.subject_public_key.data.to_vec()
}

fn assert_signs(signer: &Signer) {
    let message = b"to be signed";
    let (x509_alg, jws_alg): (&dyn VerificationAlgorithm, &dyn VerificationAlgorithm) =
        match signer.key_type() {
            KeyType::EcP256 => (
                &signature::ECDSA_P256_SHA256_ASN1,
                &signature::ECDSA_P256_SHA256_FIXED,
            ),
            KeyType::EcP384 => (
                &signature::ECDSA_P384_SHA384_ASN1,
                &signature::ECDSA_P384_SHA384_FIXED,
            ),
            KeyType::Rsa2048 | KeyType::Rsa4096 => (
                &signature::RSA_PKCS1_2048_8192_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA256,
            ),
        };
    let public = raw_public_key(signer);

    let sig = signer.sign_x509(message).unwrap();
    UnparsedPublicKey::new(x509_alg, &public)
        .verify(message, &sig)
        .unwrap();

    let sig = signer.sign_jws(message).unwrap();
    UnparsedPublicKey::new(jws_alg, &public)
        .verify(message, &sig)
        .unwrap();
    let fixed_len = match signer.key_type() {
        KeyType::EcP256 => Some(64),
        KeyType::EcP384 => Some(96),
        _ => None,
    };
    if let Some(len) = fixed_len {
        assert_eq!(sig.len(), len, "jws signature must be fixed-width r||s");
    }
}

fn id(name: &str) -> KeyId {
    KeyId::new(name).unwrap()
}

#[test]
fn key_type_parses_spire_names_and_rejects_others() {
    for key_type in KeyType::ALL {
        assert_eq!(key_type.as_str().parse::<KeyType>().unwrap(), key_type);
    }
    assert_eq!(KeyType::default(), KeyType::EcP256);
    let err = "ec-p521".parse::<KeyType>().unwrap_err();
    assert!(err.to_string().contains("ec-p521"), "{err}");
    assert!("EC-P256".parse::<KeyType>().is_err());
}

#[test]
fn key_id_rejects_path_characters() {
    assert!(KeyId::new("x509-CA-A").is_ok());
    for bad in ["", "../x", "a/b", ".hidden", "sp ace", &"a".repeat(129)] {
        assert!(KeyId::new(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn memory_manager_generates_signs_and_deletes() {
    let manager = MemoryKeyManager::new();
    for key_type in [KeyType::EcP256, KeyType::EcP384, KeyType::Rsa2048] {
        let signer = manager.generate_key(&id("k"), key_type).unwrap();
        assert_eq!(signer.key_type(), key_type);
        assert_signs(&signer);
        let again = manager.get_key(&id("k")).unwrap().unwrap();
        assert_eq!(again.public_key(), signer.public_key());
    }
    assert!(manager.delete_key(&id("k")).unwrap());
    assert!(!manager.delete_key(&id("k")).unwrap());
    assert!(manager.get_key(&id("k")).unwrap().is_none());
}

#[test]
fn generating_under_an_existing_id_replaces_the_key() {
    let manager = MemoryKeyManager::new();
    let first = manager.generate_key(&id("k"), KeyType::EcP256).unwrap();
    let second = manager.generate_key(&id("k"), KeyType::EcP256).unwrap();

    assert_ne!(first.public_key(), second.public_key());
    let stored = manager.get_key(&id("k")).unwrap().unwrap();
    assert_eq!(stored.public_key(), second.public_key());
}

#[test]
fn disk_manager_keys_survive_reopen_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");

    let manager = DiskKeyManager::open(&path).unwrap();
    let ec = manager
        .generate_key(&id("x509-CA-A"), KeyType::EcP384)
        .unwrap();
    let rsa = manager
        .generate_key(&id("JWT-Signer-A"), KeyType::Rsa2048)
        .unwrap();
    drop(manager);

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let reopened = DiskKeyManager::open(&path).unwrap();
    let ec_again = reopened.get_key(&id("x509-CA-A")).unwrap().unwrap();
    let rsa_again = reopened.get_key(&id("JWT-Signer-A")).unwrap().unwrap();
    assert_eq!(ec_again.public_key(), ec.public_key());
    assert_eq!(ec_again.key_type(), KeyType::EcP384);
    assert_eq!(rsa_again.public_key(), rsa.public_key());
    assert_signs(&ec_again);
    assert_signs(&rsa_again);

    assert!(reopened.delete_key(&id("x509-CA-A")).unwrap());
    drop(reopened);
    let after_delete = DiskKeyManager::open(&path).unwrap();
    assert!(after_delete.get_key(&id("x509-CA-A")).unwrap().is_none());
    assert!(after_delete.get_key(&id("JWT-Signer-A")).unwrap().is_some());
}

#[test]
fn disk_manager_rejects_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");

    std::fs::write(&path, b"{not json").unwrap();
    assert!(matches!(
        DiskKeyManager::open(&path),
        Err(KeyError::MalformedStore(_))
    ));

    let wrong_key = r#"{"version":1,"keys":{"k":{"type":"ec-p256","pkcs8":"AAAA"}}}"#;
    std::fs::write(&path, wrong_key).unwrap();
    assert!(matches!(
        DiskKeyManager::open(&path),
        Err(KeyError::InvalidPrivateKey { .. })
    ));
}

#[test]
fn disk_manager_reports_a_failed_write_and_keeps_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone").join("keys.json");
    let manager = DiskKeyManager::open(&path).unwrap();

    let err = manager.generate_key(&id("k"), KeyType::EcP256).unwrap_err();

    assert!(matches!(err, KeyError::Io { .. }), "{err}");
    assert!(manager.get_key(&id("k")).unwrap().is_none());
}

#[test]
fn debug_output_hides_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let manager = DiskKeyManager::open(dir.path().join("keys.json")).unwrap();
    let signer = manager.generate_key(&id("k"), KeyType::EcP256).unwrap();

    let signer_debug = format!("{signer:?}");
    let manager_debug = format!("{manager:?}");
    let pkcs8 = std::fs::read_to_string(dir.path().join("keys.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&pkcs8).unwrap();
    let secret = file["keys"]["k"]["pkcs8"].as_str().unwrap();

    assert!(signer_debug.contains("EcP256"));
    assert!(!signer_debug.contains(secret));
    assert!(!manager_debug.contains(secret));
}

#[test]
fn private_keys_import_from_pem_forms() {
    let generated = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let der = rustls_pki_types::PrivateKeyDer::try_from(generated.serialize_der()).unwrap();

    let (signer, _) = Signer::from_private_key_der(id("upstream"), &der).unwrap();

    assert_eq!(signer.key_type(), KeyType::EcP384);
    assert_eq!(
        signer.public_key().as_ref(),
        rcgen::PublicKeyData::subject_public_key_info(&generated)
    );
    assert_signs(&signer);
}
