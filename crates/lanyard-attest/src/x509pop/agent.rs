//! The agent half of x509pop: present the chain, sign the challenge.

use std::path::Path;

use aws_lc_rs::signature::{EcdsaKeyPair, RsaKeyPair};
use lanyard_proto::spire::api::types::AttestationData;
use rustls_pki_types::PrivateKeyDer;

use super::cert::{Curve, Leaf, LeafKey};
use super::config::{read_certificates, read_private_key};
use super::pop::{ProofKey, ecdsa_signing};
use super::wire::{AttestationPayload, Challenge};
use super::{KIND, X509PopAgentConfig, X509PopError};
use crate::{AgentAttestor, AgentSession, AttestError, ConfigError};

/// The agent half of `x509pop`. Each attestation reads the certificate and
/// key files again, so rotated credentials are used without a restart.
#[derive(Debug, Clone)]
pub struct X509PopAgent {
    config: X509PopAgentConfig,
}

impl X509PopAgent {
    /// Checks that `config`'s files load and that the key matches the leaf.
    pub fn new(config: X509PopAgentConfig) -> Result<Self, ConfigError> {
        let agent = Self { config };
        agent.load()?;
        Ok(agent)
    }

    fn load(&self) -> Result<Session, ConfigError> {
        let config = &self.config;
        let mut certificates = read_certificates("certificate_path", &config.certificate_path)?;
        if let Some(path) = &config.intermediates_path {
            certificates.extend(read_certificates("intermediates_path", path)?);
        }

        let bad_leaf = || ConfigError::BadCertificate {
            setting: "certificate_path",
            path: config.certificate_path.clone(),
            index: 0,
        };
        let first = certificates.first().ok_or_else(bad_leaf)?;
        let leaf = Leaf::parse(first).map_err(|_| bad_leaf())?;
        let key = proof_key(
            &read_private_key(&config.private_key_path)?,
            &leaf.key,
            &config.private_key_path,
            &config.certificate_path,
        )?;

        let payload = AttestationPayload {
            certificates: certificates.iter().map(|cert| cert.to_vec()).collect(),
        };
        let payload =
            serde_json::to_vec(&payload).expect("a list of byte strings always serializes to json");
        Ok(Session {
            payload,
            key,
            answered: false,
        })
    }
}

impl AgentAttestor for X509PopAgent {
    fn kind(&self) -> &str {
        KIND
    }

    fn begin(&self) -> Result<Box<dyn AgentSession>, AttestError> {
        Ok(Box::new(self.load()?))
    }
}

struct Session {
    payload: Vec<u8>,
    key: ProofKey,
    answered: bool,
}

impl AgentSession for Session {
    fn attestation_data(&self) -> AttestationData {
        AttestationData {
            r#type: KIND.to_owned(),
            payload: self.payload.clone(),
        }
    }

    fn answer_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, AttestError> {
        if std::mem::replace(&mut self.answered, true) {
            return Err(AttestError::UnexpectedChallenge(KIND));
        }
        let challenge: Challenge =
            serde_json::from_slice(challenge).map_err(X509PopError::ChallengePayload)?;
        let response = self.key.answer(&challenge)?;
        Ok(serde_json::to_vec(&response).expect("byte strings always serialize to json"))
    }
}

/// Loads `der` as the signing key for `leaf_key`, checking they are a pair.
fn proof_key(
    der: &PrivateKeyDer<'_>,
    leaf_key: &LeafKey,
    key_path: &Path,
    certificate_path: &Path,
) -> Result<ProofKey, ConfigError> {
    let mismatch = || ConfigError::KeyMismatch {
        key_path: key_path.to_owned(),
        certificate_path: certificate_path.to_owned(),
    };
    let unsupported = || ConfigError::UnsupportedPrivateKey {
        path: key_path.to_owned(),
    };

    let (key, leaf_public) = match (der, leaf_key) {
        (PrivateKeyDer::Pkcs8(_) | PrivateKeyDer::Sec1(_), LeafKey::Ecdsa { curve, point }) => (
            ecdsa_key(der.secret_der(), *curve).ok_or_else(mismatch)?,
            point,
        ),
        (PrivateKeyDer::Pkcs8(pkcs8), LeafKey::Rsa { pkcs1, .. }) => {
            let key = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).map_err(|_| mismatch())?;
            (ProofKey::Rsa(key), pkcs1)
        }
        (PrivateKeyDer::Pkcs1(pkcs1_key), LeafKey::Rsa { pkcs1, .. }) => {
            let key = RsaKeyPair::from_der(pkcs1_key.secret_pkcs1_der()).map_err(|_| mismatch())?;
            (ProofKey::Rsa(key), pkcs1)
        }
        (PrivateKeyDer::Sec1(_) | PrivateKeyDer::Pkcs1(_), _) => return Err(mismatch()),
        _ => return Err(unsupported()),
    };

    if key.public_key() != leaf_public.as_slice() {
        return Err(mismatch());
    }
    Ok(key)
}

fn ecdsa_key(der: &[u8], curve: Curve) -> Option<ProofKey> {
    let key = EcdsaKeyPair::from_private_key_der(ecdsa_signing(curve), der).ok()?;
    Some(ProofKey::ecdsa(key, curve))
}
