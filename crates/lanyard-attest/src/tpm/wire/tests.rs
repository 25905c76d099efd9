use proptest::prelude::*;

use super::*;
use crate::tpm::testing::{
    AK_ATTRIBUTES, certify_attest, ecc_signing_public, push_sized, rsa_ek_public,
};

#[test]
fn decodes_an_rsa_ek_and_computes_its_name() {
    let modulus = [0xc5u8; 256];
    let bytes = rsa_ek_public(&modulus);

    let public = TpmPublic::parse(&bytes).unwrap();

    assert_eq!(public.name_alg(), alg::SHA256);
    assert_eq!(public.attributes().0, 0x0003_00b2);
    assert_eq!(
        public.symmetric(),
        SymmetricDefinition::Cipher {
            alg: alg::AES,
            key_bits: 128,
            mode: alg::CFB
        }
    );
    assert_eq!(
        public.key(),
        &PublicKey::Rsa {
            modulus: modulus.to_vec(),
            exponent: 65537
        }
    );
    let name = public.name();
    assert_eq!(&name[..2], &[0x00, 0x0b]);
    assert_eq!(
        &name[2..],
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref()
    );
}

#[test]
fn sized_public_and_trailing_bytes() {
    let bytes = ecc_signing_public(AK_ATTRIBUTES, &[1; 32], &[2; 32]);
    let mut sized = Vec::new();
    push_sized(&mut sized, &bytes);
    assert_eq!(
        TpmPublic::parse_sized(&sized).unwrap(),
        TpmPublic::parse(&bytes).unwrap()
    );

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        TpmPublic::parse(&trailing).unwrap_err(),
        WireError::TrailingBytes(1)
    );
    assert!(matches!(
        TpmPublic::parse(&bytes[..bytes.len() - 1]).unwrap_err(),
        WireError::Truncated(_)
    ));
}

#[test]
fn rsa_modulus_must_match_key_bits() {
    let mut bytes = rsa_ek_public(&[0xc5; 128]);
    assert_eq!(
        TpmPublic::parse(&bytes).unwrap_err(),
        WireError::Invalid("rsa modulus size does not match keyBits")
    );
    bytes = rsa_ek_public(&[0xc5; 256]);
    assert!(TpmPublic::parse(&bytes).is_ok());
}

#[test]
fn short_ecc_coordinates_are_padded() {
    let public = TpmPublic::parse(&ecc_signing_public(0, &[7; 31], &[9; 32])).unwrap();
    let PublicKey::Ecc { x, .. } = public.key() else {
        panic!("ecc key expected");
    };
    assert_eq!(x.len(), 32);
    assert_eq!(x[0], 0);
    assert!(TpmPublic::parse(&ecc_signing_public(0, &[7; 33], &[9; 32])).is_err());
}

#[test]
fn decodes_a_certify() {
    let bytes = certify_attest(TPM_GENERATED, &[5; 32], &[0, 0x0b, 9, 9]);

    let attest = Attest::parse(&bytes).unwrap();

    assert_eq!(attest.magic(), TPM_GENERATED);
    assert_eq!(attest.extra_data(), &[5; 32]);
    assert_eq!(attest.clock().clock, 1234);
    assert!(attest.clock().safe);
    assert_eq!(
        attest.info(),
        &AttestInfo::Certify {
            name: vec![0, 0x0b, 9, 9],
            qualified_name: vec![0, 0x0b, 9, 9]
        }
    );
    assert_eq!(attest.as_bytes(), bytes.as_slice());
}

#[test]
fn signatures_round_trip() {
    for signature in [
        TpmSignature::Ecdsa {
            hash: alg::SHA256,
            r: vec![1; 32],
            s: vec![2; 31],
        },
        TpmSignature::RsaSsa {
            hash: alg::SHA256,
            signature: vec![3; 256],
        },
    ] {
        assert_eq!(
            TpmSignature::parse(&signature.to_bytes()).unwrap(),
            signature
        );
    }
    assert!(matches!(
        TpmSignature::parse(&alg::HMAC.to_be_bytes()).unwrap_err(),
        WireError::Unsupported { .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = TpmPublic::parse(&bytes);
        let _ = TpmPublic::parse_sized(&bytes);
        let _ = Attest::parse(&bytes);
        let _ = TpmSignature::parse(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_structures(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = match which {
            0 => rsa_ek_public(&[0xc5; 256]),
            1 => ecc_signing_public(AK_ATTRIBUTES, &[1; 32], &[2; 32]),
            _ => certify_attest(TPM_GENERATED, &[5; 32], &[0, 0x0b, 9, 9]),
        };
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] ^= value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = TpmPublic::parse(&bytes).map(|p| p.name());
        let _ = Attest::parse(&bytes);
        let _ = TpmSignature::parse(&bytes);
    }
}
