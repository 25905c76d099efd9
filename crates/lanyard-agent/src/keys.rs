//! Private keys the agent generates for itself and for workloads, and the CSRs that
//! carry their public halves to the server.
//!
//! Keys are created with aws-lc-rs and held as PKCS#8 in memory that is wiped on drop.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    RsaKeyPair,
};
use lanyard_ca::KeyType;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The crypto library could not generate a key.
    #[error("generating a {0} key failed")]
    Generate(KeyType),
    /// Bytes that should hold a PKCS#8 key do not hold a supported one.
    #[error("private key is not a pkcs#8 ec-p256, ec-p384, rsa-2048 or rsa-4096 key")]
    InvalidPkcs8,
    /// The certificate signing request could not be built.
    #[error("building the certificate signing request failed")]
    Csr(#[source] rcgen::Error),
    /// rustls refused the key for client authentication.
    #[error("the key cannot be used for tls client authentication")]
    Tls(#[source] rustls::Error),
}

/// A private key in PKCS#8 form. `Debug` shows only the key type; the bytes are wiped
/// when the last clone is dropped.
#[derive(Clone)]
pub struct PrivateKey {
    key_type: KeyType,
    pkcs8: Arc<Zeroizing<Vec<u8>>>,
    spki: Arc<[u8]>,
}

impl PrivateKey {
    /// Generates a new key of `key_type`.
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let pkcs8 = match key_type {
            KeyType::EcP256 | KeyType::EcP384 => {
                let alg = if key_type == KeyType::EcP256 {
                    &ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &ECDSA_P384_SHA384_ASN1_SIGNING
                };
                EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new())
                    .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
                    .map_err(|_| KeyError::Generate(key_type))?
            }
            KeyType::Rsa2048 | KeyType::Rsa4096 => {
                let size = if key_type == KeyType::Rsa2048 {
                    KeySize::Rsa2048
                } else {
                    KeySize::Rsa4096
                };
                let key = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate(key_type))?;
                let der = key.as_der().map_err(|_| KeyError::Generate(key_type))?;
                Zeroizing::new(der.as_ref().to_vec())
            }
        };
        Self::from_pkcs8(pkcs8)
    }

    /// Reads a PKCS#8 key of one of the supported types.
    pub fn from_pkcs8(pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, KeyError> {
        let (key_type, spki) = inspect(&pkcs8).ok_or(KeyError::InvalidPkcs8)?;
        Ok(Self {
            key_type,
            pkcs8: Arc::new(pkcs8),
            spki: spki.into(),
        })
    }

    /// The key's algorithm and size.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The unencrypted PKCS#8 DER (what the Workload API hands to workloads).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    /// A DER PKCS#10 request carrying this key, with an empty subject and no
    /// extensions: the server takes only the public key from it.
    pub fn csr_der(&self) -> Result<Vec<u8>, KeyError> {
        let alg = match self.key_type {
            KeyType::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Rsa2048 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        };
        let der = PrivatePkcs8KeyDer::from(self.pkcs8.as_slice());
        let key_pair =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, alg).map_err(KeyError::Csr)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key_pair).map_err(KeyError::Csr)?;
        Ok(csr.der().to_vec())
    }

    /// The key as a rustls signing key, for TLS client authentication.
    pub fn rustls_signing_key(&self) -> Result<Arc<dyn rustls::sign::SigningKey>, KeyError> {
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec()));
        rustls::crypto::aws_lc_rs::default_provider()
            .key_provider
            .load_private_key(der)
            .map_err(KeyError::Tls)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// The type and SubjectPublicKeyInfo of a PKCS#8 key, if it is a supported one.
fn inspect(pkcs8: &[u8]) -> Option<(KeyType, Vec<u8>)> {
    for (key_type, alg) in [
        (KeyType::EcP256, &ECDSA_P256_SHA256_ASN1_SIGNING),
        (KeyType::EcP384, &ECDSA_P384_SHA384_ASN1_SIGNING),
    ] {
        if let Ok(key) = EcdsaKeyPair::from_pkcs8(alg, pkcs8) {
            let spki = key.public_key().as_der().ok()?;
            return Some((key_type, spki.as_ref().to_vec()));
        }
    }

    let key = RsaKeyPair::from_pkcs8(pkcs8).ok()?;
    let key_type = match key.public_modulus_len() * 8 {
        2048 => KeyType::Rsa2048,
        4096 => KeyType::Rsa4096,
        _ => return None,
    };
    let spki = key.public_key().as_der().ok()?;
    Some((key_type, spki.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ec_keys_round_trip_and_make_csrs_the_ca_accepts() {
        for key_type in [KeyType::EcP256, KeyType::EcP384] {
            let key = PrivateKey::generate(key_type).expect("generate");
            assert_eq!(key.key_type(), key_type);

            let again =
                PrivateKey::from_pkcs8(Zeroizing::new(key.pkcs8_der().to_vec())).expect("reload");
            assert_eq!(again.public_key_spki(), key.public_key_spki());

            let csr = key.csr_der().expect("csr");
            let public = lanyard_ca::public_key_from_csr(&csr).expect("ca reads the csr");
            assert_eq!(public.spki_der().as_ref(), key.public_key_spki());

            key.rustls_signing_key().expect("usable for tls");
        }
    }

    #[test]
    fn rsa_key_makes_a_valid_csr() {
        let key = PrivateKey::generate(KeyType::Rsa2048).expect("generate");
        let csr = key.csr_der().expect("csr");
        let public = lanyard_ca::public_key_from_csr(&csr).expect("ca reads the csr");
        assert_eq!(public.spki_der().as_ref(), key.public_key_spki());
    }

    #[test]
    fn garbage_is_not_a_key_and_debug_hides_the_bytes() {
        assert!(PrivateKey::from_pkcs8(Zeroizing::new(vec![1, 2, 3])).is_err());
        let key = PrivateKey::generate(KeyType::EcP256).expect("generate");
        let shown = format!("{key:?}");
        assert!(
            shown.contains("EcP256") && !shown.contains("pkcs8"),
            "{shown}"
        );
    }
}
