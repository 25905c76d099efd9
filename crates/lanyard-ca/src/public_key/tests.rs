use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;

use super::*;

fn csr_for(alg: &'static SignatureAlgorithm) -> (KeyPair, Vec<u8>) {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::new(vec!["ignored.example".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ignored");
    let csr = params.serialize_request(&key).unwrap();
    (key, csr.der().to_vec())
}

fn pem_csr(pem: &str) -> Vec<u8> {
    CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn returns_only_the_public_key_of_supported_types() {
    let cases: [(&'static SignatureAlgorithm, PublicKeyAlgorithm); 3] = [
        (&rcgen::PKCS_ECDSA_P256_SHA256, PublicKeyAlgorithm::EcP256),
        (&rcgen::PKCS_ECDSA_P384_SHA384, PublicKeyAlgorithm::EcP384),
        (
            &rcgen::PKCS_RSA_SHA256,
            PublicKeyAlgorithm::Rsa { bits: 2048 },
        ),
    ];
    for (alg, expected) in cases {
        let (key, csr) = if *alg == rcgen::PKCS_RSA_SHA256 {
            let key = rsa_key_pair();
            let params = CertificateParams::new(Vec::<String>::new()).unwrap();
            let csr = params.serialize_request(&key).unwrap().der().to_vec();
            (key, csr)
        } else {
            csr_for(alg)
        };

        let public_key = public_key_from_csr(&csr).unwrap();

        assert_eq!(public_key.algorithm(), expected);
        assert_eq!(
            public_key.spki_der().as_ref(),
            rcgen::PublicKeyData::subject_public_key_info(&key)
        );
    }
}

#[test]
fn rejects_a_csr_whose_signature_does_not_verify() {
    let (_, mut csr) = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
    let last = csr.len() - 1;
    csr[last] ^= 0x01;

    assert_eq!(public_key_from_csr(&csr), Err(CsrError::BadSignature));
}

#[test]
fn rejects_garbage_and_trailing_data() {
    assert_eq!(public_key_from_csr(b"not a csr"), Err(CsrError::Malformed));
    assert_eq!(public_key_from_csr(&[]), Err(CsrError::Malformed));

    let (_, mut csr) = csr_for(&rcgen::PKCS_ECDSA_P256_SHA256);
    csr.push(0);
    assert_eq!(public_key_from_csr(&csr), Err(CsrError::Malformed));
}

#[test]
fn rejects_weak_rsa_keys() {
    let csr = pem_csr(include_str!("../../testdata/csr-rsa1024.pem"));

    let err = public_key_from_csr(&csr).unwrap_err();

    assert_eq!(
        err,
        CsrError::PublicKey(PublicKeyError::RsaKeySize { bits: 1024 })
    );
    assert!(err.to_string().contains("1024"), "{err}");
}

#[test]
fn rejects_sha1_signatures() {
    let csr = pem_csr(include_str!("../../testdata/csr-ecdsa-sha1.pem"));

    assert!(matches!(
        public_key_from_csr(&csr),
        Err(CsrError::UnsupportedSignatureAlgorithm(_))
    ));
}

#[test]
fn rejects_unsupported_key_types() {
    let (_, csr) = csr_for(&rcgen::PKCS_ED25519);
    assert!(matches!(
        public_key_from_csr(&csr),
        Err(CsrError::UnsupportedSignatureAlgorithm(_) | CsrError::PublicKey(_))
    ));

    let p521 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&p521);
    assert_eq!(
        PublicKey::from_spki_der(&spki),
        Err(PublicKeyError::UnsupportedCurve)
    );

    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&ed);
    assert!(matches!(
        PublicKey::from_spki_der(&spki),
        Err(PublicKeyError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn bit_length_ignores_leading_zeros() {
    assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
    assert_eq!(bit_length(&[0x01, 0xff]), 9);
    assert_eq!(bit_length(&[0, 0]), 0);
}

fn rsa_key_pair() -> KeyPair {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key).unwrap();
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_ref().to_vec());
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256).unwrap()
}
