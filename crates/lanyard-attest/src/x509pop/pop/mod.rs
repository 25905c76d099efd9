//! Proof of possession: the server's nonce challenge, the agent's signed
//! answer, and its verification, all in SPIRE's scheme (see [`super::wire`]).

use aws_lc_rs::digest::{self, Digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RSA_PSS_2048_8192_SHA256,
    RSA_PSS_SHA256, RsaKeyPair, RsaParameters, RsaPssSaltLength, RsaSignatureEncoding,
    UnparsedPublicKey,
};

use super::X509PopError;
use super::cert::{Curve, LeafKey};
use super::wire::{
    Challenge, ChallengeResponse, EcdsaSignatureResponse, NONCE_LEN, NonceChallenge,
    RsaSignatureResponse, signed_message,
};
use crate::rng::random_array;

/// PSS with the largest salt, as Go's `rsa.SignPSS` with default options
/// (what SPIRE agents send).
static RSA_PSS_SHA256_MAX_SALT: RsaSignatureEncoding =
    RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
static RSA_PSS_VERIFY_MAX_SALT: RsaParameters =
    RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);

/// A fresh challenge for `key` and the nonce it carries.
pub(crate) fn new_challenge(key: &LeafKey) -> Result<(Challenge, [u8; NONCE_LEN]), X509PopError> {
    let nonce = random_array::<NONCE_LEN>().map_err(X509PopError::Random)?;
    let inner = Some(NonceChallenge {
        nonce: nonce.to_vec(),
    });
    let challenge = match key {
        LeafKey::Rsa { .. } => Challenge {
            rsa_signature: inner,
            ecdsa_signature: None,
        },
        LeafKey::Ecdsa { .. } => Challenge {
            rsa_signature: None,
            ecdsa_signature: inner,
        },
    };
    Ok((challenge, nonce))
}

/// Checks that `response` proves possession of `key`'s private key for the
/// challenge `nonce` of this session.
pub(crate) fn verify_response(
    key: &LeafKey,
    nonce: &[u8; NONCE_LEN],
    response: &ChallengeResponse,
) -> Result<(), X509PopError> {
    match key {
        LeafKey::Rsa { pkcs1, .. } => {
            let answer = response
                .rsa_signature
                .as_ref()
                .ok_or(X509PopError::ResponseKindMismatch { expected: "rsa" })?;
            check_nonce_len(&answer.nonce)?;
            let message = signed_message(nonce, &answer.nonce);

            // Accept the hash-length salt (the common choice) and the maximal
            // salt Go uses by default.
            let ok = [&RSA_PSS_2048_8192_SHA256, &RSA_PSS_VERIFY_MAX_SALT]
                .into_iter()
                .any(|params| {
                    UnparsedPublicKey::new(params, pkcs1)
                        .verify(&message, &answer.signature)
                        .is_ok()
                });
            if ok {
                Ok(())
            } else {
                Err(X509PopError::BadSignature)
            }
        }
        LeafKey::Ecdsa { curve, point } => {
            let answer = response
                .ecdsa_signature
                .as_ref()
                .ok_or(X509PopError::ResponseKindMismatch { expected: "ecdsa" })?;
            check_nonce_len(&answer.nonce)?;
            let message = signed_message(nonce, &answer.nonce);
            let der = ecdsa_signature_der(&answer.r, &answer.s, curve.scalar_len())
                .ok_or(X509PopError::BadSignature)?;
            UnparsedPublicKey::new(ecdsa_verification(*curve), point)
                .verify(&message, &der)
                .map_err(|_| X509PopError::BadSignature)
        }
    }
}

/// The agent's private key, able to answer x509pop challenges.
pub(crate) enum ProofKey {
    Ecdsa {
        key: EcdsaKeyPair,
        digest: &'static digest::Algorithm,
        scalar_len: usize,
    },
    Rsa(RsaKeyPair),
}

impl ProofKey {
    /// An ECDSA key on `curve`, loaded with [`ecdsa_signing`]`(curve)`.
    pub(crate) fn ecdsa(key: EcdsaKeyPair, curve: Curve) -> Self {
        let digest = match curve {
            Curve::P256 => &SHA256,
            Curve::P384 => &digest::SHA384,
            Curve::P521 => &digest::SHA512,
        };
        Self::Ecdsa {
            key,
            digest,
            scalar_len: curve.scalar_len(),
        }
    }

    /// The public key in the form [`LeafKey`] holds, to match with the certificate.
    pub(crate) fn public_key(&self) -> &[u8] {
        match self {
            Self::Ecdsa { key, .. } => key.public_key().as_ref(),
            Self::Rsa(key) => key.public_key().as_ref(),
        }
    }

    /// Answers `challenge` with a fresh agent nonce.
    pub(crate) fn answer(&self, challenge: &Challenge) -> Result<ChallengeResponse, X509PopError> {
        let agent_nonce = random_array::<NONCE_LEN>().map_err(X509PopError::Random)?;
        match self {
            Self::Rsa(key) => {
                let server = challenge
                    .rsa_signature
                    .as_ref()
                    .ok_or(X509PopError::ChallengeKindMismatch { expected: "rsa" })?;
                check_nonce_len(&server.nonce)?;
                let message = signed_message(&server.nonce, &agent_nonce);
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PSS_SHA256_MAX_SALT,
                    &SystemRandom::new(),
                    &message,
                    &mut signature,
                )
                .map_err(|_| X509PopError::Sign)?;
                Ok(ChallengeResponse {
                    rsa_signature: Some(RsaSignatureResponse {
                        nonce: agent_nonce.to_vec(),
                        signature,
                    }),
                    ecdsa_signature: None,
                })
            }
            Self::Ecdsa {
                key,
                digest,
                scalar_len,
            } => {
                let server = challenge
                    .ecdsa_signature
                    .as_ref()
                    .ok_or(X509PopError::ChallengeKindMismatch { expected: "ecdsa" })?;
                check_nonce_len(&server.nonce)?;
                let message = signed_message(&server.nonce, &agent_nonce);
                let fixed = key
                    .sign_digest(&sha256_as(digest, &message)?)
                    .map_err(|_| X509PopError::Sign)?;
                let (r, s) = fixed.as_ref().split_at(*scalar_len);
                Ok(ChallengeResponse {
                    rsa_signature: None,
                    ecdsa_signature: Some(EcdsaSignatureResponse {
                        nonce: agent_nonce.to_vec(),
                        r: strip_leading_zeros(r).to_vec(),
                        s: strip_leading_zeros(s).to_vec(),
                    }),
                })
            }
        }
    }
}

/// The fixed-size ECDSA signing algorithm for `curve`.
pub(crate) fn ecdsa_signing(curve: Curve) -> &'static EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
    }
}

fn ecdsa_verification(curve: Curve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        Curve::P384 => &signature::ECDSA_P384_SHA256_ASN1,
        Curve::P521 => &signature::ECDSA_P521_SHA256_ASN1,
    }
}

fn check_nonce_len(nonce: &[u8]) -> Result<(), X509PopError> {
    if nonce.len() == NONCE_LEN {
        Ok(())
    } else {
        Err(X509PopError::NonceLength { len: nonce.len() })
    }
}

/// SHA-256 of `message`, left-padded with zeros to the output length of the
/// key's own digest. ECDSA reads the digest as an integer, and a digest no
/// longer than the curve order is used whole, so the padded value signs
/// exactly as ECDSA-with-SHA-256 would (which is what SPIRE does on every
/// curve); aws-lc-rs only signs digests of the key's own hash length.
fn sha256_as(
    key_digest: &'static digest::Algorithm,
    message: &[u8],
) -> Result<Digest, X509PopError> {
    let sha256 = digest::digest(&SHA256, message);
    let mut padded = vec![0u8; key_digest.output_len() - SHA256.output_len()];
    padded.extend_from_slice(sha256.as_ref());
    Digest::import_less_safe(&padded, key_digest).map_err(|_| X509PopError::Sign)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// DER `ECDSA-Sig-Value` from unsigned big-endian `r` and `s`; `None` when
/// either is zero or longer than a scalar.
fn ecdsa_signature_der(r: &[u8], s: &[u8], scalar_len: usize) -> Option<Vec<u8>> {
    let r = der_unsigned_integer(r, scalar_len)?;
    let s = der_unsigned_integer(s, scalar_len)?;
    let mut out = vec![0x30];
    push_der_len(&mut out, r.len() + s.len());
    out.extend_from_slice(&r);
    out.extend_from_slice(&s);
    Some(out)
}

fn der_unsigned_integer(value: &[u8], max_len: usize) -> Option<Vec<u8>> {
    let value = strip_leading_zeros(value);
    if value.is_empty() || value.len() > max_len {
        return None;
    }
    let pad = value[0] & 0x80 != 0;
    let mut out = vec![0x02];
    push_der_len(&mut out, value.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
    Some(out)
}

fn push_der_len(out: &mut Vec<u8>, len: usize) {
    // Lengths here are at most 2 * (2 + 67): one or two length bytes.
    if let Ok(short) = u8::try_from(len)
        && short < 0x80
    {
        out.push(short);
    } else {
        out.push(0x81);
        out.push(u8::try_from(len).unwrap_or(u8::MAX));
    }
}

#[cfg(test)]
mod tests;
