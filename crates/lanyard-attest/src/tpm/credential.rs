//! TPM2_MakeCredential in software, for an RSA EK with the TCG default
//! template (SHA-256 name algorithm, AES-128-CFB symmetric): the verifier
//! wraps a secret so that only the TPM holding the EK, with the object of
//! the given name loaded, can recover it through TPM2_ActivateCredential.
//!
//! TPM 2.0 Library Part 1, "Credential Protection" and KDFa (SP 800-108
//! HMAC counter mode).

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use zeroize::Zeroizing;

use super::key::KeyError;
use super::wire::{SymmetricDefinition, TpmPublic, alg};

/// Most bytes a credential may hold: the EK name algorithm's digest size.
pub const MAX_CREDENTIAL_LEN: usize = 32;

/// MakeCredential's output, as the TPM2B bodies (no u16 size prefix) that
/// TPM2_ActivateCredential takes.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialBlob {
    /// `TPM2B_ID_OBJECT` body: `u16 32 || outerHMAC || encIdentity`.
    pub id_object: Vec<u8>,
    /// `TPM2B_ENCRYPTED_SECRET` body: the seed, RSA-OAEP encrypted to the EK.
    pub encrypted_secret: Vec<u8>,
}

impl std::fmt::Debug for CredentialBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialBlob")
            .field("id_object_len", &self.id_object.len())
            .field("encrypted_secret_len", &self.encrypted_secret.len())
            .finish()
    }
}

/// Why a credential could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The EK is not an RSA storage key with SHA-256 names and AES-128-CFB.
    #[error("ek template is not supported for credential activation: {0}")]
    UnsupportedEk(&'static str),
    /// The credential is empty or longer than the EK's digest size.
    #[error("credential must be 1 to {MAX_CREDENTIAL_LEN} bytes")]
    CredentialSize,
    /// Encryption failed.
    #[error("credential encryption failed")]
    Crypto,
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
}

impl From<KeyError> for CredentialError {
    fn from(_: KeyError) -> Self {
        Self::Crypto
    }
}

/// Wraps `credential` for the object named `object_name`, to `ek`.
pub fn make_credential(
    ek: &TpmPublic,
    object_name: &[u8],
    credential: &[u8],
) -> Result<CredentialBlob, CredentialError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| CredentialError::Random)?;
    make_credential_with_seed(ek, object_name, credential, seed.as_ref())
}

/// [`make_credential`] with a caller-chosen seed (known-answer tests).
pub(crate) fn make_credential_with_seed(
    ek: &TpmPublic,
    object_name: &[u8],
    credential: &[u8],
    seed: &[u8],
) -> Result<CredentialBlob, CredentialError> {
    check_ek_template(ek)?;
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL_LEN {
        return Err(CredentialError::CredentialSize);
    }

    let encrypted_secret = ek.key().rsa_oaep_sha256_encrypt(seed, b"IDENTITY\0")?;
    let id_object = wrap_identity(seed, object_name, credential)?;
    Ok(CredentialBlob {
        id_object,
        encrypted_secret,
    })
}

/// KDFa with HMAC-SHA-256: `bits` of key material from `key`, `label`
/// (written with its terminating NUL, as the TPM does) and the contexts.
pub fn kdfa_sha256(
    key: &[u8],
    label: &str,
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let bytes = bits.div_ceil(8) as usize;
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + 32));
    let mut counter: u32 = 1;
    while out.len() < bytes {
        let mut ctx = hmac::Context::with_key(&hmac_key);
        ctx.update(&counter.to_be_bytes());
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(context_u);
        ctx.update(context_v);
        ctx.update(&bits.to_be_bytes());
        out.extend_from_slice(ctx.sign().as_ref());
        counter += 1;
    }
    out.truncate(bytes);
    out
}

/// The `TPM2B_ID_OBJECT` body for `seed`.
fn wrap_identity(
    seed: &[u8],
    object_name: &[u8],
    credential: &[u8],
) -> Result<Vec<u8>, CredentialError> {
    let sym_key = kdfa_sha256(seed, "STORAGE", object_name, &[], 128);
    let hmac_key = kdfa_sha256(seed, "INTEGRITY", &[], &[], 256);

    // The plaintext is the credential as a TPM2B_DIGEST.
    let len = u16::try_from(credential.len()).map_err(|_| CredentialError::CredentialSize)?;
    let mut enc_identity = len.to_be_bytes().to_vec();
    enc_identity.extend_from_slice(credential);
    let cipher = UnboundCipherKey::new(&AES_128, &sym_key).map_err(|_| CredentialError::Crypto)?;
    let cipher = EncryptingKey::cfb128(cipher).map_err(|_| CredentialError::Crypto)?;
    cipher
        .less_safe_encrypt(
            &mut enc_identity,
            EncryptionContext::Iv128(FixedLength::from([0u8; 16])),
        )
        .map_err(|_| CredentialError::Crypto)?;

    let outer_hmac = {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &hmac_key);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&enc_identity);
        ctx.update(object_name);
        ctx.sign()
    };
    let mut id_object = 32u16.to_be_bytes().to_vec();
    id_object.extend_from_slice(outer_hmac.as_ref());
    id_object.extend_from_slice(&enc_identity);
    Ok(id_object)
}

/// The EK must be the TCG default RSA template shape this code implements.
fn check_ek_template(ek: &TpmPublic) -> Result<(), CredentialError> {
    if ek.name_alg() != alg::SHA256 {
        return Err(CredentialError::UnsupportedEk(
            "name algorithm is not sha256",
        ));
    }
    if !matches!(ek.key(), super::key::PublicKey::Rsa { .. }) {
        return Err(CredentialError::UnsupportedEk(
            "only rsa endorsement keys are supported",
        ));
    }
    let aes_128_cfb = SymmetricDefinition::Cipher {
        alg: alg::AES,
        key_bits: 128,
        mode: alg::CFB,
    };
    if ek.symmetric() != aes_128_cfb {
        return Err(CredentialError::UnsupportedEk(
            "symmetric algorithm is not aes-128-cfb",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
