//! Subject public keys the CA will certify, and reading them from CSRs.

use rustls_pki_types::SubjectPublicKeyInfoDer;
use thiserror::Error;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as ParsedKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// A public key of a supported type and strength: EC P-256, EC P-384, or
/// RSA with a modulus of 2048 to 8192 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: SubjectPublicKeyInfoDer<'static>,
    algorithm: PublicKeyAlgorithm,
    rcgen_key: rcgen::SubjectPublicKeyInfo,
}

/// The algorithm (and for RSA the size) of a [`PublicKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublicKeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
}

/// Why a public key is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// The bytes are not a DER `SubjectPublicKeyInfo`.
    #[error("public key is not a valid DER SubjectPublicKeyInfo")]
    Malformed,

    /// The key algorithm is neither EC (P-256, P-384) nor RSA.
    #[error("unsupported public key algorithm {0}: use ec-p256, ec-p384 or rsa")]
    UnsupportedAlgorithm(String),

    /// The EC key is on a curve other than P-256 or P-384.
    #[error("unsupported elliptic curve: use P-256 or P-384")]
    UnsupportedCurve,

    /// The RSA modulus is shorter than 2048 or longer than 8192 bits.
    #[error("rsa key of {bits} bits is not allowed: use 2048 to 8192 bits")]
    RsaKeySize {
        /// The modulus length found.
        bits: usize,
    },
}

/// Why a certificate signing request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The bytes are not a DER PKCS#10 request (or have trailing data).
    #[error("csr is not a valid DER PKCS#10 request")]
    Malformed,

    /// The request is signed with an algorithm we do not accept (SHA-1, DSA, ...).
    #[error("csr signature algorithm {0} is not allowed")]
    UnsupportedSignatureAlgorithm(String),

    /// The request's signature does not verify with its own public key, so
    /// the requester has not proven possession of the private key.
    #[error("csr signature does not verify with the csr's public key")]
    BadSignature,

    /// The public key in the request is not acceptable.
    #[error("csr public key rejected: {0}")]
    PublicKey(#[from] PublicKeyError),
}

/// Reads the public key out of a DER CSR after checking the CSR's
/// self-signature (proof of possession). Everything else in the CSR
/// (subject, SANs, extensions) is ignored: certificates are built from
/// server-side policy only.
pub fn public_key_from_csr(der: &[u8]) -> Result<PublicKey, CsrError> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|_| CsrError::Malformed)?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed);
    }

    let signature_oid = &csr.signature_algorithm.algorithm;
    let allowed = [
        OID_SIG_ECDSA_WITH_SHA256,
        OID_SIG_ECDSA_WITH_SHA384,
        OID_SIG_ECDSA_WITH_SHA512,
        OID_PKCS1_SHA256WITHRSA,
        OID_PKCS1_SHA384WITHRSA,
        OID_PKCS1_SHA512WITHRSA,
        OID_PKCS1_RSASSAPSS,
    ];
    if !allowed.contains(signature_oid) {
        return Err(CsrError::UnsupportedSignatureAlgorithm(
            signature_oid.to_id_string(),
        ));
    }

    let public_key = PublicKey::from_spki_der(csr.certification_request_info.subject_pki.raw)?;
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    Ok(public_key)
}

impl PublicKey {
    /// Parses and checks a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(der).map_err(|_| PublicKeyError::Malformed)?;
        if !rest.is_empty() {
            return Err(PublicKeyError::Malformed);
        }

        let algorithm = classify(&spki)?;
        let rcgen_key =
            rcgen::SubjectPublicKeyInfo::from_der(der).map_err(|_| PublicKeyError::Malformed)?;
        Ok(Self {
            spki: SubjectPublicKeyInfoDer::from(der.to_vec()),
            algorithm,
            rcgen_key,
        })
    }

    /// The key as DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &SubjectPublicKeyInfoDer<'static> {
        &self.spki
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> PublicKeyAlgorithm {
        self.algorithm
    }
}

impl rcgen::PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        self.rcgen_key.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(&self.rcgen_key)
    }
}

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

fn classify(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKeyAlgorithm, PublicKeyError> {
    let oid = &spki.algorithm.algorithm;
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|params| params.as_oid().ok())
            .ok_or(PublicKeyError::UnsupportedCurve)?;
        return match curve {
            c if c == OID_EC_P256 => Ok(PublicKeyAlgorithm::EcP256),
            c if c == OID_NIST_EC_P384 => Ok(PublicKeyAlgorithm::EcP384),
            _ => Err(PublicKeyError::UnsupportedCurve),
        };
    }

    if *oid == OID_PKCS1_RSAENCRYPTION {
        let Ok(ParsedKey::RSA(rsa)) = spki.parsed() else {
            return Err(PublicKeyError::Malformed);
        };
        let bits = bit_length(rsa.modulus);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(PublicKeyError::RsaKeySize { bits });
        }
        return Ok(PublicKeyAlgorithm::Rsa { bits });
    }

    Err(PublicKeyError::UnsupportedAlgorithm(oid.to_id_string()))
}

fn bit_length(big_endian: &[u8]) -> usize {
    let significant = match big_endian.iter().position(|&b| b != 0) {
        Some(first) => &big_endian[first..],
        None => return 0,
    };
    let leading = significant[0].leading_zeros() as usize;
    significant.len() * 8 - leading
}

#[cfg(test)]
mod tests;
