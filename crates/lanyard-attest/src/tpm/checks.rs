//! The verifier's rules for TPM objects: which attributes an EK, an AK and
//! an LDevID key must have, and what makes a TPM2_Certify valid.

use subtle::ConstantTimeEq as _;

use super::TpmError;
use super::key::{EccCurve, PublicKey};
use super::wire::{
    Attest, AttestInfo, ObjectAttributes as A, TPM_GENERATED, TpmPublic, TpmSignature, alg,
};

/// Smallest RSA key accepted for any TPM key.
pub const MIN_RSA_BITS: usize = 2048;

/// An EK the software MakeCredential can target: the TCG default RSA
/// template shape (decrypting, restricted, fixed, TPM-generated, SHA-256
/// names). The symmetric algorithm is checked by MakeCredential itself.
pub fn check_ek(ek: &TpmPublic) -> Result<(), TpmError> {
    let rule = |rule| TpmError::Attributes { key: "ek", rule };
    let a = ek.attributes();
    if !a.has(A::FIXED_TPM | A::FIXED_PARENT | A::SENSITIVE_DATA_ORIGIN) {
        return Err(rule(
            "must be fixedTPM, fixedParent and sensitiveDataOrigin",
        ));
    }
    if !a.has(A::RESTRICTED | A::DECRYPT) || a.has(A::SIGN_ENCRYPT) {
        return Err(rule("must be a restricted decryption key"));
    }
    if ek.name_alg() != alg::SHA256 {
        return Err(rule("name algorithm must be sha256"));
    }
    match ek.key() {
        PublicKey::Rsa { .. } if ek.key().rsa_bits() >= MIN_RSA_BITS => Ok(()),
        PublicKey::Rsa { .. } => Err(rule("rsa key is smaller than 2048 bits")),
        PublicKey::Ecc { .. } => Err(rule("only rsa endorsement keys are supported")),
    }
}

/// An attestation key: a restricted signing key that never leaves its TPM
/// and was generated in it. Without `restricted`, the key could sign a
/// forged `TPMS_ATTEST`.
pub fn check_ak(ak: &TpmPublic) -> Result<(), TpmError> {
    let rule = |rule| TpmError::Attributes { key: "ak", rule };
    let a = ak.attributes();
    if !a.has(A::FIXED_TPM) {
        return Err(rule("must be fixedTPM"));
    }
    if !a.has(A::FIXED_PARENT | A::SENSITIVE_DATA_ORIGIN) {
        return Err(rule("must be fixedParent and sensitiveDataOrigin"));
    }
    if !a.has(A::RESTRICTED) {
        return Err(rule("must be restricted"));
    }
    if !a.has(A::SIGN_ENCRYPT) || a.has(A::DECRYPT) {
        return Err(rule("must be a signing key and not decrypt"));
    }
    check_signing_key(ak, "ak")
}

/// An LDevID key: an unrestricted signing key that never leaves its TPM and
/// was generated in it.
pub fn check_ldevid(ldevid: &TpmPublic) -> Result<(), TpmError> {
    let rule = |rule| TpmError::Attributes {
        key: "ldevid",
        rule,
    };
    let a = ldevid.attributes();
    if !a.has(A::FIXED_TPM) {
        return Err(rule("must be fixedTPM"));
    }
    if !a.has(A::FIXED_PARENT | A::SENSITIVE_DATA_ORIGIN) {
        return Err(rule("must be fixedParent and sensitiveDataOrigin"));
    }
    if a.has(A::RESTRICTED) {
        return Err(rule("must not be restricted"));
    }
    if !a.has(A::SIGN_ENCRYPT) || a.has(A::DECRYPT) {
        return Err(rule("must be a signing key and not decrypt"));
    }
    check_signing_key(ldevid, "ldevid")
}

/// Checks a TPM2_Certify: `signature` by `ak` over `attest`, which must be
/// TPM-generated, of type certify, carry `qualifying_data`, and name
/// `certified`. Returns the decoded attestation.
pub fn check_certify(
    attest: &[u8],
    signature: &[u8],
    ak: &TpmPublic,
    certified: &TpmPublic,
    qualifying_data: &[u8],
) -> Result<Attest, TpmError> {
    let wire = |structure| move |source| TpmError::Wire { structure, source };
    let signature = TpmSignature::parse(signature).map_err(wire("certify signature"))?;
    let attest = Attest::parse(attest).map_err(wire("certify attestation"))?;

    ak.key()
        .verify_tpm_signature(&signature, attest.as_bytes())
        .map_err(|_| TpmError::Certify("signature does not verify under the ak"))?;
    if attest.magic() != TPM_GENERATED {
        return Err(TpmError::Certify("magic is not TPM_GENERATED_VALUE"));
    }
    let AttestInfo::Certify { name, .. } = attest.info() else {
        return Err(TpmError::Certify("type is not TPM_ST_ATTEST_CERTIFY"));
    };
    if !bool::from(attest.extra_data().ct_eq(qualifying_data)) {
        return Err(TpmError::Certify(
            "qualifying data does not match the nonce",
        ));
    }
    if name.as_slice() != certified.name().as_slice() {
        return Err(TpmError::Certify(
            "certified name is not the ldevid key's name",
        ));
    }
    Ok(attest)
}

fn check_signing_key(key: &TpmPublic, which: &'static str) -> Result<(), TpmError> {
    let rule = |rule| TpmError::Attributes { key: which, rule };
    if key.name_alg() != alg::SHA256 {
        return Err(rule("name algorithm must be sha256"));
    }
    match key.key() {
        PublicKey::Rsa { .. } if key.key().rsa_bits() < MIN_RSA_BITS => {
            Err(rule("rsa key is smaller than 2048 bits"))
        }
        PublicKey::Ecc {
            curve: EccCurve::Other(_),
            ..
        } => Err(rule("ecc curve must be nist p-256 or p-384")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
