//! A JWT signer over an in-memory PKCS#8 key.

use std::fmt;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair as _, RsaKeyPair};

use super::{JwtAlgorithm, JwtIssueError, JwtSignError, JwtSigner};

/// Signs JWT-SVIDs with an unencrypted PKCS#8 private key held in memory (EC
/// P-256/P-384/P-521 for ES*, RSA for RS* and PS*).
pub struct Pkcs8JwtSigner {
    algorithm: JwtAlgorithm,
    key_id: String,
    key: Key,
    rng: SystemRandom,
}

enum Key {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
}

impl Pkcs8JwtSigner {
    /// Loads the key; it must fit `algorithm`.
    pub fn from_pkcs8(
        algorithm: JwtAlgorithm,
        key_id: &str,
        pkcs8_der: &[u8],
    ) -> Result<Self, JwtIssueError> {
        if key_id.is_empty() || key_id.chars().any(char::is_control) {
            return Err(JwtIssueError::BadKeyId);
        }
        let ecdsa = |alg| {
            EcdsaKeyPair::from_pkcs8(alg, pkcs8_der)
                .map(Key::Ecdsa)
                .map_err(|_| JwtIssueError::BadPrivateKey)
        };
        let rsa = |padding| {
            RsaKeyPair::from_pkcs8(pkcs8_der)
                .map(|pair| Key::Rsa(pair, padding))
                .map_err(|_| JwtIssueError::BadPrivateKey)
        };
        let key = match algorithm {
            JwtAlgorithm::Es256 => ecdsa(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)?,
            JwtAlgorithm::Es384 => ecdsa(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)?,
            JwtAlgorithm::Es512 => ecdsa(&sig::ECDSA_P521_SHA512_FIXED_SIGNING)?,
            JwtAlgorithm::Rs256 => rsa(&sig::RSA_PKCS1_SHA256)?,
            JwtAlgorithm::Rs384 => rsa(&sig::RSA_PKCS1_SHA384)?,
            JwtAlgorithm::Rs512 => rsa(&sig::RSA_PKCS1_SHA512)?,
            JwtAlgorithm::Ps256 => rsa(&sig::RSA_PSS_SHA256)?,
            JwtAlgorithm::Ps384 => rsa(&sig::RSA_PSS_SHA384)?,
            JwtAlgorithm::Ps512 => rsa(&sig::RSA_PSS_SHA512)?,
        };
        Ok(Self {
            algorithm,
            key_id: key_id.to_owned(),
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The public key as DER SubjectPublicKeyInfo (for the bundle's JWT authority).
    pub fn public_key_spki(&self) -> Result<Vec<u8>, JwtIssueError> {
        let der = match &self.key {
            Key::Ecdsa(pair) => pair.public_key().as_der(),
            Key::Rsa(pair, _) => pair.public_key().as_der(),
        };
        der.map(|d| d.as_ref().to_vec())
            .map_err(|_| JwtIssueError::BadPrivateKey)
    }
}

impl JwtSigner for Pkcs8JwtSigner {
    fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JwtSignError> {
        match &self.key {
            Key::Ecdsa(pair) => pair
                .sign(&self.rng, signing_input)
                .map(|s| s.as_ref().to_vec())
                .map_err(JwtSignError::new),
            Key::Rsa(pair, padding) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(*padding, &self.rng, signing_input, &mut signature)
                    .map_err(JwtSignError::new)?;
                Ok(signature)
            }
        }
    }
}

impl fmt::Debug for Pkcs8JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs8JwtSigner")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}
