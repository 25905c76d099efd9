//! Public keys as the verifier compares and uses them: from a TPM object or
//! from an X.509 `SubjectPublicKeyInfo`, with signature verification and
//! RSA-OAEP encryption through aws-lc-rs.

use aws_lc_rs::digest;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey as ParsedKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::der;
use super::wire::{TpmSignature, alg};

/// An RSA or EC public key. EC coordinates are left-padded to the curve size,
/// so two encodings of one key compare equal.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: big-endian modulus without leading zeros, and public exponent.
    Rsa {
        /// Modulus.
        modulus: Vec<u8>,
        /// Public exponent.
        exponent: u32,
    },
    /// EC point on a named curve.
    Ecc {
        /// The curve.
        curve: EccCurve,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
}

/// TPM elliptic curves (`TPM_ECC_CURVE`) the verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EccCurve {
    /// NIST P-256.
    NistP256,
    /// NIST P-384.
    NistP384,
    /// Any other curve ID; keys on it are decoded but never used.
    Other(u16),
}

/// Why a key could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The `SubjectPublicKeyInfo` is malformed or of an unsupported type.
    #[error("public key is malformed or of an unsupported type")]
    Unsupported,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// The signature's algorithm or hash does not fit the key.
    #[error("signature scheme {0:#06x} does not fit the key")]
    SchemeMismatch(u16),
    /// Encryption failed (the key is not a usable RSA key).
    #[error("rsa-oaep encryption failed")]
    Encrypt,
}

impl EccCurve {
    /// From a `TPM_ECC_CURVE` value.
    pub fn from_tpm(id: u16) -> Self {
        match id {
            0x0003 => Self::NistP256,
            0x0004 => Self::NistP384,
            other => Self::Other(other),
        }
    }

    /// Coordinate size in bytes, for the curves the verifier uses.
    pub fn coordinate_len(self) -> Option<usize> {
        match self {
            Self::NistP256 => Some(32),
            Self::NistP384 => Some(48),
            Self::Other(_) => None,
        }
    }
}

impl PublicKey {
    /// An RSA key; leading zero bytes of `modulus` are dropped.
    pub fn rsa(modulus: Vec<u8>, exponent: u32) -> Self {
        let skip = modulus.iter().take_while(|b| **b == 0).count();
        Self::Rsa {
            modulus: modulus[skip..].to_vec(),
            exponent,
        }
    }

    /// An EC key; `None` if a coordinate is longer than the curve allows.
    pub fn ecc(curve: EccCurve, x: &[u8], y: &[u8]) -> Option<Self> {
        let (x, y) = match curve.coordinate_len() {
            Some(len) => (left_pad(x, len)?, left_pad(y, len)?),
            None => (x.to_vec(), y.to_vec()),
        };
        Some(Self::Ecc { curve, x, y })
    }

    /// Reads a DER `SubjectPublicKeyInfo` (RSA, EC P-256 or P-384).
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<Self, KeyError> {
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(der_bytes).map_err(|_| KeyError::Unsupported)?;
        if !rest.is_empty() {
            return Err(KeyError::Unsupported);
        }
        Self::from_spki(&spki)
    }

    /// Reads a parsed `SubjectPublicKeyInfo` (RSA, EC P-256 or P-384).
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, KeyError> {
        match spki.parsed().map_err(|_| KeyError::Unsupported)? {
            ParsedKey::RSA(rsa) => {
                let exponent = rsa.try_exponent().map_err(|_| KeyError::Unsupported)?;
                let exponent = u32::try_from(exponent).map_err(|_| KeyError::Unsupported)?;
                Ok(Self::rsa(rsa.modulus.to_vec(), exponent))
            }
            ParsedKey::EC(point) => {
                let curve_oid = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok());
                let curve = match curve_oid {
                    Some(oid) if oid == OID_EC_P256 => EccCurve::NistP256,
                    Some(oid) if oid == OID_NIST_EC_P384 => EccCurve::NistP384,
                    _ => return Err(KeyError::Unsupported),
                };
                let len = curve.coordinate_len().ok_or(KeyError::Unsupported)?;
                match point.data() {
                    [0x04, xy @ ..] if xy.len() == 2 * len => {
                        let (x, y) = xy.split_at(len);
                        Self::ecc(curve, x, y).ok_or(KeyError::Unsupported)
                    }
                    _ => Err(KeyError::Unsupported),
                }
            }
            _ => Err(KeyError::Unsupported),
        }
    }

    /// The key as a DER `SubjectPublicKeyInfo`; `None` for unknown curves.
    pub fn to_spki_der(&self) -> Option<Vec<u8>> {
        match self {
            Self::Rsa { modulus, exponent } => {
                let algorithm = der::sequence(&[
                    &der::oid(&[1, 2, 840, 113_549, 1, 1, 1]),
                    &der::tlv(der::tag::NULL, &[]),
                ]);
                let key = der::sequence(&[
                    &der::unsigned_integer(modulus),
                    &der::unsigned_integer(&exponent.to_be_bytes()),
                ]);
                Some(der::sequence(&[&algorithm, &der::bit_string(&key)]))
            }
            Self::Ecc { curve, .. } => {
                let curve_oid = match curve {
                    EccCurve::NistP256 => der::oid(&[1, 2, 840, 10_045, 3, 1, 7]),
                    EccCurve::NistP384 => der::oid(&[1, 3, 132, 0, 34]),
                    EccCurve::Other(_) => return None,
                };
                let algorithm = der::sequence(&[&der::oid(&[1, 2, 840, 10_045, 2, 1]), &curve_oid]);
                let point = self.uncompressed_point()?;
                Some(der::sequence(&[&algorithm, &der::bit_string(&point)]))
            }
        }
    }

    /// SHA-256 of [`to_spki_der`](Self::to_spki_der): the key's fingerprint
    /// (for an EK, the `ek_sha256` that identifies the TPM).
    pub fn spki_sha256(&self) -> Option<[u8; 32]> {
        let spki = self.to_spki_der()?;
        let hash = digest::digest(&digest::SHA256, &spki);
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.as_ref());
        Some(out)
    }

    /// RSA modulus size in bits (0 for EC keys).
    pub fn rsa_bits(&self) -> usize {
        match self {
            Self::Rsa { modulus, .. } => modulus.len() * 8,
            Self::Ecc { .. } => 0,
        }
    }

    /// Verifies a TPM signature over `message` (the TPM signed
    /// `H(message)`): RSASSA with SHA-256, or ECDSA P-256/SHA-256 and
    /// P-384/SHA-384. Other schemes are refused.
    pub fn verify_tpm_signature(
        &self,
        signature: &TpmSignature,
        message: &[u8],
    ) -> Result<(), KeyError> {
        match (self, signature) {
            (Self::Rsa { modulus, exponent }, TpmSignature::RsaSsa { hash, signature }) => {
                if *hash != alg::SHA256 {
                    return Err(KeyError::SchemeMismatch(*hash));
                }
                let e = exponent.to_be_bytes();
                RsaPublicKeyComponents {
                    n: modulus.as_slice(),
                    e: &e[..],
                }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .map_err(|_| KeyError::BadSignature)
            }
            (Self::Ecc { curve, .. }, TpmSignature::Ecdsa { hash, r, s }) => {
                let (algorithm, want_hash) = match curve {
                    EccCurve::NistP256 => (&signature::ECDSA_P256_SHA256_FIXED, alg::SHA256),
                    EccCurve::NistP384 => (&signature::ECDSA_P384_SHA384_FIXED, alg::SHA384),
                    EccCurve::Other(_) => return Err(KeyError::Unsupported),
                };
                if *hash != want_hash {
                    return Err(KeyError::SchemeMismatch(*hash));
                }
                let len = curve.coordinate_len().ok_or(KeyError::Unsupported)?;
                let r = left_pad(r, len).ok_or(KeyError::BadSignature)?;
                let s = left_pad(s, len).ok_or(KeyError::BadSignature)?;
                let point = self.uncompressed_point().ok_or(KeyError::Unsupported)?;
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, &[r, s].concat())
                    .map_err(|_| KeyError::BadSignature)
            }
            (_, other) => Err(KeyError::SchemeMismatch(other.algorithm())),
        }
    }

    /// RSA-OAEP with SHA-256 (and MGF1-SHA-256) of `plaintext` under `label`,
    /// as TPM2_MakeCredential encrypts its seed to an RSA EK.
    pub fn rsa_oaep_sha256_encrypt(
        &self,
        plaintext: &[u8],
        label: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let spki = match self {
            Self::Rsa { .. } => self.to_spki_der().ok_or(KeyError::Encrypt)?,
            Self::Ecc { .. } => return Err(KeyError::Encrypt),
        };
        let key = PublicEncryptingKey::from_der(&spki).map_err(|_| KeyError::Encrypt)?;
        let key = OaepPublicEncryptingKey::new(key).map_err(|_| KeyError::Encrypt)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, Some(label))
            .map_err(|_| KeyError::Encrypt)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    fn uncompressed_point(&self) -> Option<Vec<u8>> {
        match self {
            Self::Ecc { x, y, .. } => Some([&[0x04][..], x, y].concat()),
            Self::Rsa { .. } => None,
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa { modulus, exponent } => f
                .debug_struct("Rsa")
                .field("bits", &(modulus.len() * 8))
                .field("exponent", exponent)
                .finish(),
            Self::Ecc { curve, x, .. } => f
                .debug_struct("Ecc")
                .field("curve", curve)
                .field("x", &hex::encode(x))
                .finish_non_exhaustive(),
        }
    }
}

/// `bytes` left-padded with zeros to `len`; `None` if longer (after
/// dropping leading zeros).
fn left_pad(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let bytes = &bytes[skip..];
    if bytes.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(bytes);
    Some(out)
}
