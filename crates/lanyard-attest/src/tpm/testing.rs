//! Builders of TPM structures for unit tests.

use super::wire::{ObjectAttributes as A, alg};

/// The TCG default RSA EK attributes (0x000300b2).
pub(crate) const EK_ATTRIBUTES: u32 = A::FIXED_TPM
    | A::FIXED_PARENT
    | A::SENSITIVE_DATA_ORIGIN
    | A::ADMIN_WITH_POLICY
    | A::RESTRICTED
    | A::DECRYPT;

/// Restricted signing key attributes, as an AK has.
pub(crate) const AK_ATTRIBUTES: u32 = A::FIXED_TPM
    | A::FIXED_PARENT
    | A::SENSITIVE_DATA_ORIGIN
    | A::USER_WITH_AUTH
    | A::RESTRICTED
    | A::SIGN_ENCRYPT;

/// Unrestricted signing key attributes, as an LDevID has.
pub(crate) const LDEVID_ATTRIBUTES: u32 =
    A::FIXED_TPM | A::FIXED_PARENT | A::SENSITIVE_DATA_ORIGIN | A::USER_WITH_AUTH | A::SIGN_ENCRYPT;

pub(crate) fn push_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A `TPMT_PUBLIC` for an RSA-2048 storage key with AES-128-CFB, as the
/// TCG default EK template (the policy is that of PolicySecret(endorsement)).
pub(crate) fn rsa_ek_public(modulus: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&alg::RSA.to_be_bytes());
    out.extend_from_slice(&alg::SHA256.to_be_bytes());
    out.extend_from_slice(&EK_ATTRIBUTES.to_be_bytes());
    push_sized(
        &mut out,
        &hex::decode("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa").unwrap(),
    );
    for v in [alg::AES, 128, alg::CFB, alg::NULL, 2048] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    push_sized(&mut out, modulus);
    out
}

/// A `TPMT_PUBLIC` for an ECC P-256 ECDSA-SHA256 signing key.
pub(crate) fn ecc_signing_public(attributes: u32, x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&alg::ECC.to_be_bytes());
    out.extend_from_slice(&alg::SHA256.to_be_bytes());
    out.extend_from_slice(&attributes.to_be_bytes());
    push_sized(&mut out, &[]);
    for v in [alg::NULL, alg::ECDSA, alg::SHA256, 0x0003, alg::NULL] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    push_sized(&mut out, x);
    push_sized(&mut out, y);
    out
}

/// A certify `TPMS_ATTEST` naming `name`, over `extra_data`.
pub(crate) fn certify_attest(magic: u32, extra_data: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&0x8017u16.to_be_bytes());
    push_sized(&mut out, &[0x00, 0x0b, 1, 2, 3]);
    push_sized(&mut out, extra_data);
    out.extend_from_slice(&1234u64.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.push(1);
    out.extend_from_slice(&7u64.to_be_bytes());
    push_sized(&mut out, name);
    push_sized(&mut out, name);
    out
}
