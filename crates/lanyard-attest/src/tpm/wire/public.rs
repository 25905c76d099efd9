//! `TPMT_PUBLIC`: an object's type, name algorithm, attributes, policy,
//! parameters and public key, and the object name derived from it.

use aws_lc_rs::digest;

use super::{MAX_DIGEST, MAX_ECC_BYTES, MAX_RSA_BYTES, Reader, WireError, alg};
pub use crate::tpm::key::{EccCurve, PublicKey};

/// A decoded `TPMT_PUBLIC` (RSA or ECC objects only), keeping the exact
/// bytes it came from, because the object's name is a hash of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmPublic {
    raw: Vec<u8>,
    name_alg: u16,
    attributes: ObjectAttributes,
    auth_policy: Vec<u8>,
    parameters: KeyParameters,
    key: PublicKey,
}

/// `TPMA_OBJECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectAttributes(pub u32);

impl ObjectAttributes {
    /// The object cannot be duplicated out of its TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// Loaded objects are lost on TPM restart.
    pub const ST_CLEAR: u32 = 1 << 2;
    /// The object cannot be duplicated to another parent.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// The TPM generated the sensitive part itself.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// User role may authorize with the auth value.
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    /// Admin role needs the policy.
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// Not subject to dictionary-attack protection.
    pub const NO_DA: u32 = 1 << 10;
    /// Duplication needs an inner wrapper.
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    /// The key signs or decrypts only TPM-made structures.
    pub const RESTRICTED: u32 = 1 << 16;
    /// The key decrypts.
    pub const DECRYPT: u32 = 1 << 17;
    /// The key signs (or encrypts, for symmetric keys).
    pub const SIGN_ENCRYPT: u32 = 1 << 18;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
}

/// The algorithm parameters of an RSA or ECC object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyParameters {
    /// `TPMS_RSA_PARMS`.
    Rsa {
        /// Symmetric algorithm of a storage (parent) key.
        symmetric: SymmetricDefinition,
        /// Signing or encryption scheme.
        scheme: Scheme,
        /// Modulus size in bits.
        key_bits: u16,
    },
    /// `TPMS_ECC_PARMS`.
    Ecc {
        /// Symmetric algorithm of a storage (parent) key.
        symmetric: SymmetricDefinition,
        /// Signing or key exchange scheme.
        scheme: Scheme,
        /// Key derivation scheme.
        kdf: Scheme,
    },
}

/// `TPMT_SYM_DEF_OBJECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymmetricDefinition {
    /// No symmetric algorithm (not a parent).
    Null,
    /// A block cipher.
    Cipher {
        /// Algorithm (`AES`, `SM4`, `CAMELLIA`).
        alg: u16,
        /// Key size in bits.
        key_bits: u16,
        /// Mode (`CFB` for parents).
        mode: u16,
    },
}

/// A scheme selector and its hash algorithm (`None` for the null scheme and
/// for schemes without one, such as RSAES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    /// Scheme algorithm, `alg::NULL` when none.
    pub alg: u16,
    /// Hash algorithm of the scheme, when it has one.
    pub hash: Option<u16>,
}

impl TpmPublic {
    /// Decodes a marshalled `TPMT_PUBLIC` (no size prefix) that must fill
    /// `bytes` exactly.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let object_type = r.u16("type")?;
        let name_alg = r.u16("nameAlg")?;
        if super::digest_size(name_alg).is_none() {
            return Err(unsupported("nameAlg", name_alg));
        }
        let attributes = ObjectAttributes(r.u32("objectAttributes")?);
        let auth_policy = r.sized(MAX_DIGEST, "authPolicy")?.to_vec();

        let (parameters, key) = match object_type {
            alg::RSA => parse_rsa(&mut r)?,
            alg::ECC => parse_ecc(&mut r)?,
            other => return Err(unsupported("type", other)),
        };
        r.finish()?;

        Ok(Self {
            raw: bytes.to_vec(),
            name_alg,
            attributes,
            auth_policy,
            parameters,
            key,
        })
    }

    /// Decodes a `TPM2B_PUBLIC` (u16 size, then the `TPMT_PUBLIC`).
    pub fn parse_sized(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let inner = r.sized(usize::from(u16::MAX), "TPM2B_PUBLIC")?;
        r.finish()?;
        Self::parse(inner)
    }

    /// The exact `TPMT_PUBLIC` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The name algorithm.
    pub fn name_alg(&self) -> u16 {
        self.name_alg
    }

    /// The object attributes.
    pub fn attributes(&self) -> ObjectAttributes {
        self.attributes
    }

    /// The authorization policy digest (empty when none).
    pub fn auth_policy(&self) -> &[u8] {
        &self.auth_policy
    }

    /// The algorithm parameters.
    pub fn parameters(&self) -> &KeyParameters {
        &self.parameters
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The symmetric definition (what a parent or an EK protects with).
    pub fn symmetric(&self) -> SymmetricDefinition {
        match &self.parameters {
            KeyParameters::Rsa { symmetric, .. } | KeyParameters::Ecc { symmetric, .. } => {
                *symmetric
            }
        }
    }

    /// The signing scheme in the parameters.
    pub fn scheme(&self) -> Scheme {
        match &self.parameters {
            KeyParameters::Rsa { scheme, .. } | KeyParameters::Ecc { scheme, .. } => *scheme,
        }
    }

    /// The object's name: `nameAlg || H_nameAlg(TPMT_PUBLIC)`.
    pub fn name(&self) -> Vec<u8> {
        let mut name = self.name_alg.to_be_bytes().to_vec();
        name.extend_from_slice(&hash(self.name_alg, &self.raw));
        name
    }
}

/// `H_alg(data)` for the hash algorithms names may use; empty for others
/// (which [`TpmPublic::parse`] never lets through).
pub(crate) fn hash(hash_alg: u16, data: &[u8]) -> Vec<u8> {
    let algorithm = match hash_alg {
        alg::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        alg::SHA256 => &digest::SHA256,
        alg::SHA384 => &digest::SHA384,
        alg::SHA512 => &digest::SHA512,
        _ => return Vec::new(),
    };
    digest::digest(algorithm, data).as_ref().to_vec()
}

fn parse_rsa(r: &mut Reader<'_>) -> Result<(KeyParameters, PublicKey), WireError> {
    let symmetric = parse_symmetric(r)?;
    let scheme = parse_scheme(r, "rsa scheme")?;
    let key_bits = r.u16("keyBits")?;
    let exponent = match r.u32("exponent")? {
        0 => 65537,
        e => e,
    };
    let modulus = r.sized(MAX_RSA_BYTES, "rsa unique")?;
    if modulus.len() * 8 != usize::from(key_bits) || modulus.first().is_none_or(|b| *b == 0) {
        return Err(WireError::Invalid(
            "rsa modulus size does not match keyBits",
        ));
    }

    let key = PublicKey::rsa(modulus.to_vec(), exponent);
    Ok((
        KeyParameters::Rsa {
            symmetric,
            scheme,
            key_bits,
        },
        key,
    ))
}

fn parse_ecc(r: &mut Reader<'_>) -> Result<(KeyParameters, PublicKey), WireError> {
    let symmetric = parse_symmetric(r)?;
    let scheme = parse_scheme(r, "ecc scheme")?;
    let curve = EccCurve::from_tpm(r.u16("curveID")?);
    let kdf = parse_scheme(r, "kdf")?;
    let x = r.sized(MAX_ECC_BYTES, "ecc unique x")?;
    let y = r.sized(MAX_ECC_BYTES, "ecc unique y")?;

    let key = PublicKey::ecc(curve, x, y).ok_or(WireError::Invalid("ecc point size"))?;
    Ok((
        KeyParameters::Ecc {
            symmetric,
            scheme,
            kdf,
        },
        key,
    ))
}

fn parse_symmetric(r: &mut Reader<'_>) -> Result<SymmetricDefinition, WireError> {
    match r.u16("symmetric algorithm")? {
        alg::NULL => Ok(SymmetricDefinition::Null),
        cipher @ (alg::AES | alg::SM4 | alg::CAMELLIA) => Ok(SymmetricDefinition::Cipher {
            alg: cipher,
            key_bits: r.u16("symmetric keyBits")?,
            mode: r.u16("symmetric mode")?,
        }),
        other => Err(unsupported("symmetric algorithm", other)),
    }
}

/// A `TPMT_*_SCHEME` or `TPMT_KDF_SCHEME`: the selector, then the details
/// its algorithm defines.
fn parse_scheme(r: &mut Reader<'_>, field: &'static str) -> Result<Scheme, WireError> {
    let scheme = r.u16(field)?;
    let hash = match scheme {
        alg::NULL | alg::RSAES => None,
        alg::RSASSA
        | alg::RSAPSS
        | alg::OAEP
        | alg::ECDSA
        | alg::ECDH
        | alg::SM2
        | alg::ECSCHNORR
        | alg::ECMQV
        | alg::MGF1
        | alg::KDF1_SP800_56A
        | alg::KDF2
        | alg::KDF1_SP800_108 => Some(r.u16(field)?),
        alg::ECDAA => {
            let hash = r.u16(field)?;
            r.u16("ecdaa count")?;
            Some(hash)
        }
        other => return Err(unsupported(field, other)),
    };
    Ok(Scheme { alg: scheme, hash })
}

fn unsupported(field: &'static str, value: u16) -> WireError {
    WireError::Unsupported {
        field,
        value: u32::from(value),
    }
}
