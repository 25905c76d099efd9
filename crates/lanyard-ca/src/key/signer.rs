//! The signing handle a key manager hands out.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use lanyard_spiffe::jwt::JwtAlgorithm;
use rustls_pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};
use zeroize::Zeroizing;

use super::{KeyError, KeyId, KeyType};

/// A handle to one private key: sign with it, read its public key.
///
/// Cloning is cheap and shares the key. The private key never leaves the
/// handle; `Debug` shows only the key ID and type.
#[derive(Clone)]
pub struct Signer {
    inner: Arc<Inner>,
}

impl Signer {
    /// The identifier the key is stored under.
    pub fn id(&self) -> &KeyId {
        &self.inner.id
    }

    /// The key's algorithm and size.
    pub fn key_type(&self) -> KeyType {
        self.inner.key_type
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoDer<'static> {
        &self.inner.spki
    }

    /// Signs `message` for an X.509 structure (certificate, CRL): a DER
    /// `ECDSA-Sig-Value` for EC keys, PKCS#1 v1.5 with SHA-256 for RSA.
    pub fn sign_x509(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner.material {
            Material::Ec { asn1, .. } => asn1
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| KeyError::Sign(self.inner.key_type)),
            Material::Rsa(key) => self.sign_rsa(key, message),
        }
    }

    /// Signs a JWS signing input: fixed-width `r||s` for EC keys (as JOSE
    /// requires), PKCS#1 v1.5 with SHA-256 for RSA.
    pub fn sign_jws(&self, signing_input: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner.material {
            Material::Ec { fixed, .. } => fixed
                .sign(&SystemRandom::new(), signing_input)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| KeyError::Sign(self.inner.key_type)),
            Material::Rsa(key) => self.sign_rsa(key, signing_input),
        }
    }

    /// The JWS algorithm [`Signer::sign_jws`] produces: ES256, ES384, or
    /// RS256 for both RSA sizes (as SPIRE does).
    pub fn jwt_algorithm(&self) -> JwtAlgorithm {
        match self.inner.key_type {
            KeyType::EcP256 => JwtAlgorithm::Es256,
            KeyType::EcP384 => JwtAlgorithm::Es384,
            KeyType::Rsa2048 | KeyType::Rsa4096 => JwtAlgorithm::Rs256,
        }
    }

    /// Builds a signer from a private key in PKCS#8, SEC1 or PKCS#1 form
    /// (for keys imported from files, such as an upstream CA key).
    ///
    /// Returns the signer and the key re-encoded as PKCS#8.
    pub fn from_private_key_der(
        id: KeyId,
        key: &PrivateKeyDer<'_>,
    ) -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        let pkcs8 = match key {
            PrivateKeyDer::Pkcs8(der) => Zeroizing::new(der.secret_pkcs8_der().to_vec()),
            PrivateKeyDer::Sec1(der) => sec1_to_pkcs8(der.secret_sec1_der())?,
            PrivateKeyDer::Pkcs1(der) => {
                let rsa =
                    RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|_| invalid("rsa"))?;
                pkcs8_of(rsa.as_der(), "rsa")?
            }
            _ => return Err(invalid("pkcs8, sec1 or pkcs1")),
        };
        let key_type = detect_key_type(&pkcs8)?;
        let signer = Self::from_pkcs8(id, key_type, &pkcs8)?;
        Ok((signer, pkcs8))
    }

    /// Generates a new key; returns it with its PKCS#8 encoding for storage.
    pub(crate) fn generate(
        id: KeyId,
        key_type: KeyType,
    ) -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        let pkcs8 = match key_type {
            KeyType::EcP256 | KeyType::EcP384 => {
                let doc = EcdsaKeyPair::generate_pkcs8(ecdsa_asn1(key_type), &SystemRandom::new())
                    .map_err(|_| KeyError::Generate(key_type))?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            KeyType::Rsa2048 | KeyType::Rsa4096 => {
                let size = if key_type == KeyType::Rsa2048 {
                    KeySize::Rsa2048
                } else {
                    KeySize::Rsa4096
                };
                let key = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate(key_type))?;
                pkcs8_of(key.as_der(), "rsa").map_err(|_| KeyError::Generate(key_type))?
            }
        };
        let signer = Self::from_pkcs8(id, key_type, &pkcs8)?;
        Ok((signer, pkcs8))
    }

    /// Loads a PKCS#8 key that must be of `key_type`.
    pub(crate) fn from_pkcs8(id: KeyId, key_type: KeyType, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let expected = key_type.as_str();
        let (material, raw_public, spki) = match key_type {
            KeyType::EcP256 | KeyType::EcP384 => {
                let asn1 = EcdsaKeyPair::from_pkcs8(ecdsa_asn1(key_type), pkcs8)
                    .map_err(|_| invalid(expected))?;
                let fixed = EcdsaKeyPair::from_pkcs8(ecdsa_fixed(key_type), pkcs8)
                    .map_err(|_| invalid(expected))?;
                let raw_public = asn1.public_key().as_ref().to_vec();
                let spki = asn1.public_key().as_der().map_err(|_| invalid(expected))?;
                let spki = spki.as_ref().to_vec();
                (Material::Ec { asn1, fixed }, raw_public, spki)
            }
            KeyType::Rsa2048 | KeyType::Rsa4096 => {
                let key = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| invalid(expected))?;
                let modulus_bits = key.public_modulus_len() * 8;
                let wanted_bits = if key_type == KeyType::Rsa2048 {
                    2048
                } else {
                    4096
                };
                if modulus_bits != wanted_bits {
                    return Err(invalid(expected));
                }
                let raw_public = key.public_key().as_ref().to_vec();
                let spki = key.public_key().as_der().map_err(|_| invalid(expected))?;
                let spki = spki.as_ref().to_vec();
                (Material::Rsa(key), raw_public, spki)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                key_type,
                spki: SubjectPublicKeyInfoDer::from(spki),
                raw_public,
                material,
            }),
        })
    }

    fn sign_rsa(&self, key: &RsaKeyPair, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message,
            &mut signature,
        )
        .map_err(|_| KeyError::Sign(self.inner.key_type))?;
        Ok(signature)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("id", &self.inner.id)
            .field("key_type", &self.inner.key_type)
            .finish_non_exhaustive()
    }
}

impl rcgen::PublicKeyData for Signer {
    fn der_bytes(&self) -> &[u8] {
        &self.inner.raw_public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.inner.key_type {
            KeyType::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Rsa2048 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl rcgen::SigningKey for Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_x509(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

struct Inner {
    id: KeyId,
    key_type: KeyType,
    spki: SubjectPublicKeyInfoDer<'static>,
    raw_public: Vec<u8>,
    material: Material,
}

/// The loaded private key. aws-lc frees (and clears) its key memory on drop.
enum Material {
    Ec {
        asn1: EcdsaKeyPair,
        fixed: EcdsaKeyPair,
    },
    Rsa(RsaKeyPair),
}

fn ecdsa_asn1(key_type: KeyType) -> &'static EcdsaSigningAlgorithm {
    if key_type == KeyType::EcP384 {
        &ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

fn ecdsa_fixed(key_type: KeyType) -> &'static EcdsaSigningAlgorithm {
    if key_type == KeyType::EcP384 {
        &ECDSA_P384_SHA384_FIXED_SIGNING
    } else {
        &ECDSA_P256_SHA256_FIXED_SIGNING
    }
}

fn detect_key_type(pkcs8: &[u8]) -> Result<KeyType, KeyError> {
    if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8).is_ok() {
        return Ok(KeyType::EcP256);
    }
    if EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8).is_ok() {
        return Ok(KeyType::EcP384);
    }
    let rsa = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| invalid("ec-p256, ec-p384 or rsa"))?;
    match rsa.public_modulus_len() * 8 {
        2048 => Ok(KeyType::Rsa2048),
        4096 => Ok(KeyType::Rsa4096),
        _ => Err(invalid("rsa-2048 or rsa-4096")),
    }
}

fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    for alg in [
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &ECDSA_P384_SHA384_ASN1_SIGNING,
    ] {
        if let Ok(key) = EcdsaKeyPair::from_private_key_der(alg, sec1) {
            let doc = key.to_pkcs8v1().map_err(|_| invalid("ec"))?;
            return Ok(Zeroizing::new(doc.as_ref().to_vec()));
        }
    }
    Err(invalid("ec-p256 or ec-p384"))
}

fn pkcs8_of(
    der: Result<Pkcs8V1Der<'static>, aws_lc_rs::error::Unspecified>,
    expected: &'static str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let der = der.map_err(|_| invalid(expected))?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

fn invalid(expected: &'static str) -> KeyError {
    KeyError::InvalidPrivateKey { expected }
}
