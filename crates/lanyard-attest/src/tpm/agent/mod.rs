//! The agent half of the `tpm` attestor (cargo feature `tpm`): enrolls with
//! a join token the first time, then re-attests with its LDevID.
//!
//! One [`TpmAgentSession`] holds one ESAPI context for the whole attestation,
//! so transient objects (EK, AK, LDevID) stay loaded between challenges and
//! are flushed when the session ends.

mod device;
mod state;

use std::fmt;
use std::path::PathBuf;

use aws_lc_rs::hmac;
use lanyard_proto::spire::api::types::AttestationData;

use self::device::{Device, Loaded};
use self::state::State;
use super::TpmError;
use super::key::PublicKey;
use super::node_type::NodeType;
use super::protocol::{
    self, Challenge, Claims, ENROLL_LABEL, Evidence, Hello, KIND, RESIDENCY_LABEL, Residency,
    Response, Transcript, certify_qualifying_data, ldevid_proof_message, reattest_message,
};
use super::wire::TpmPublic;
use super::xname::Xname;
use crate::join_token::JoinToken;
use crate::{AgentAttestor, AgentSession, AttestError, ConfigError};

pub use device::InsecureKeyTemplates;

/// Algorithm of the AK and LDevID keys the agent creates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256 (fast on every TPM).
    #[default]
    EccP256,
    /// RSASSA-PKCS1-v1_5 with a 2048-bit key and SHA-256.
    Rsa2048,
}

/// Agent settings of the `tpm` attestor (`NodeAttestor "tpm"` on the agent).
#[derive(Debug, Clone)]
pub struct TpmAgentConfig {
    /// TCTI: `device:/dev/tpmrm0` (the kernel resource manager) in
    /// production, `swtpm:host=127.0.0.1,port=N` with a simulator.
    pub tcti: String,
    /// The agent's data directory; state lives in `<data_dir>/tpm/`.
    pub data_dir: PathBuf,
    /// The administrator's join token, needed only for enrollment.
    pub join_token: Option<JoinToken>,
    /// The xname this node believes it has (checked against the token).
    pub xname: Option<Xname>,
    /// The node type this node believes it has (checked against the token).
    pub node_type: Option<NodeType>,
    /// AK algorithm.
    pub ak_algorithm: KeyAlgorithm,
    /// LDevID algorithm.
    pub ldevid_algorithm: KeyAlgorithm,
    /// Keys the verifier must refuse, for negative tests only.
    #[doc(hidden)]
    pub insecure_key_templates: InsecureKeyTemplates,
}

impl TpmAgentConfig {
    /// Settings for the TPM at `tcti` keeping state in `data_dir`, with ECC
    /// P-256 keys and no token or claims.
    pub fn new(tcti: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            tcti: tcti.into(),
            data_dir: data_dir.into(),
            join_token: None,
            xname: None,
            node_type: None,
            ak_algorithm: KeyAlgorithm::default(),
            ldevid_algorithm: KeyAlgorithm::default(),
            insecure_key_templates: InsecureKeyTemplates::default(),
        }
    }
}

/// The agent half of the `tpm` attestor.
#[derive(Debug, Clone)]
pub struct TpmAgent {
    config: TpmAgentConfig,
}

impl TpmAgent {
    /// An attestor with `config`.
    pub fn new(config: TpmAgentConfig) -> Self {
        Self { config }
    }

    /// Whether an LDevID certificate is stored, so the next attestation is
    /// a re-attestation rather than an enrollment.
    pub fn is_enrolled(&self) -> Result<bool, TpmError> {
        Ok(State::new(&self.config.data_dir).chain()?.is_some())
    }

    /// Starts an attestation bound to the TLS session (`session_binding`:
    /// the exporter value the server also sees; `None` binds to nothing).
    pub fn begin_session(
        &self,
        session_binding: Option<[u8; 32]>,
    ) -> Result<TpmAgentSession, TpmError> {
        let state = State::new(&self.config.data_dir);
        let chain = state.chain()?;
        let hello = match (&chain, &self.config.join_token) {
            (Some(chain), _) => Hello::Reattest {
                ldevid_chain: chain.clone(),
            },
            (None, Some(token)) => Hello::Enroll {
                join_token: token.as_str().to_owned(),
            },
            (None, None) => {
                return Err(TpmError::Ldevid(
                    "not enrolled and no join token configured",
                ));
            }
        };
        Ok(TpmAgentSession {
            config: self.config.clone(),
            state,
            binding: session_binding.map(|b| b.to_vec()).unwrap_or_default(),
            hello,
            chain,
            device: None,
            held: Held::default(),
        })
    }
}

impl AgentAttestor for TpmAgent {
    fn kind(&self) -> &str {
        KIND
    }

    fn begin(&self) -> Result<Box<dyn AgentSession>, AttestError> {
        self.begin_with_session_binding(None)
    }

    fn begin_with_session_binding(
        &self,
        session_binding: Option<[u8; 32]>,
    ) -> Result<Box<dyn AgentSession>, AttestError> {
        match self.begin_session(session_binding) {
            Ok(session) => Ok(Box::new(session)),
            Err(TpmError::Ldevid(_)) => Err(ConfigError::MissingJoinToken.into()),
            Err(err) => Err(err.into()),
        }
    }
}

/// One attestation on the agent.
pub struct TpmAgentSession {
    config: TpmAgentConfig,
    state: State,
    binding: Vec<u8>,
    hello: Hello,
    chain: Option<Vec<Vec<u8>>>,
    device: Option<Device>,
    held: Held,
}

/// TPM objects and transcript inputs kept between challenges.
#[derive(Default)]
struct Held {
    ek: Option<Loaded>,
    ak: Option<Loaded>,
    ldevid: Option<Loaded>,
    /// The transcript label and the fields sent so far.
    transcript: Option<(&'static str, Vec<Vec<u8>>)>,
}

impl TpmAgentSession {
    /// The `AttestationData` payload.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Answers one challenge.
    pub fn answer(&mut self, challenge: &[u8]) -> Result<Vec<u8>, TpmError> {
        let response = match protocol::decode::<Challenge>(challenge)? {
            Challenge::EvidenceRequest { nonce } => Response::Evidence(self.evidence(&nonce)?),
            Challenge::Credential {
                id_object,
                encrypted_secret,
            } => self.proof(&id_object, &encrypted_secret)?,
            Challenge::Issued { ldevid_chain } => self.store(ldevid_chain)?,
            Challenge::ReattestNonce { nonce, residency } => self.reattest(&nonce, residency)?,
        };
        Ok(protocol::encode(&response))
    }

    fn device(&mut self) -> Result<&mut Device, TpmError> {
        if self.device.is_none() {
            self.device = Some(Device::open(&self.config.tcti)?);
        }
        self.device
            .as_mut()
            .ok_or(TpmError::Ldevid("tpm device is not open"))
    }

    /// Loads the LDevID key (creating and persisting it the first time).
    fn load_ldevid(&mut self) -> Result<Loaded, TpmError> {
        let blobs = self.state.key_blobs()?;
        let algorithm = self.config.ldevid_algorithm;
        let templates = self.config.insecure_key_templates;
        let (loaded, blobs_now) =
            self.device()?
                .load_ldevid(blobs.as_ref(), algorithm, templates)?;
        if blobs.is_none() {
            self.state.save_key_blobs(&blobs_now)?;
        }
        self.held.ldevid = Some(loaded.clone());
        Ok(loaded)
    }

    /// EK, then a fresh AK under it; both stay loaded for activation.
    fn load_ek_and_ak(&mut self) -> Result<(Loaded, Loaded), TpmError> {
        let algorithm = self.config.ak_algorithm;
        let templates = self.config.insecure_key_templates;
        let device = self.device()?;
        let ek = device.create_ek()?;
        let ak = device.create_ak(ek.handle, algorithm, templates)?;
        self.held.ek = Some(ek.clone());
        self.held.ak = Some(ak.clone());
        Ok((ek, ak))
    }

    fn evidence(&mut self, nonce: &[u8]) -> Result<Evidence, TpmError> {
        let ldevid = self.load_ldevid()?;
        let (ek, ak) = self.load_ek_and_ak()?;
        let device = self.device()?;
        let ek_cert = device.ek_certificate();
        let (certify_attest, certify_signature) =
            device.certify(ldevid.handle, ak.handle, &certify_qualifying_data(nonce))?;

        self.held.transcript = Some((
            ENROLL_LABEL,
            vec![
                self.binding.clone(),
                nonce.to_vec(),
                ek.public.clone(),
                ak.public.clone(),
                ldevid.public.clone(),
                certify_attest.clone(),
            ],
        ));
        Ok(Evidence {
            ek_cert,
            ek_chain: Vec::new(),
            ek_pub: ek.public,
            ak_pub: ak.public,
            ldevid_pub: ldevid.public,
            certify_attest,
            certify_signature,
            claims: Claims {
                xname: self.config.xname.clone(),
                node_type: self.config.node_type.clone(),
            },
        })
    }

    fn proof(&mut self, id_object: &[u8], encrypted_secret: &[u8]) -> Result<Response, TpmError> {
        let (Some(ek), Some(ak), Some(ldevid)) = (
            self.held.ek.take(),
            self.held.ak.take(),
            self.held.ldevid.clone(),
        ) else {
            return Err(TpmError::UnexpectedMessage {
                expected: "an evidence request before a credential",
            });
        };
        let (label, mut fields) =
            self.held
                .transcript
                .take()
                .ok_or(TpmError::UnexpectedMessage {
                    expected: "an evidence request before a credential",
                })?;
        let device = self.device()?;
        let secret = device.activate_credential(ak.handle, ek.handle, id_object, encrypted_secret);
        device.flush(ek.handle.into());
        device.flush(ak.handle.into());
        let secret = secret?;

        fields.push(id_object.to_vec());
        fields.push(encrypted_secret.to_vec());
        let transcript = fields
            .iter()
            .fold(Transcript::new(label), |t, field| t.field(field))
            .finish();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        let hmac = hmac::sign(&key, &transcript).as_ref().to_vec();
        let ldevid_signature = self
            .device()?
            .sign(ldevid.handle, &ldevid_proof_message(&transcript))?;
        Ok(Response::Proof {
            hmac,
            ldevid_signature,
        })
    }

    fn store(&mut self, chain: Vec<Vec<u8>>) -> Result<Response, TpmError> {
        let ldevid = self
            .held
            .ldevid
            .as_ref()
            .ok_or(TpmError::UnexpectedMessage {
                expected: "a proof before the certificate",
            })?;
        let ours = TpmPublic::parse(&ldevid.public)
            .map_err(|source| TpmError::Wire {
                structure: "ldevid public",
                source,
            })?
            .key()
            .clone();
        let certified = chain
            .first()
            .and_then(|leaf| certificate_key(leaf))
            .ok_or(TpmError::Ldevid("issued certificate is malformed"))?;
        if certified != ours {
            return Err(TpmError::Ldevid(
                "issued certificate is not for this tpm's key",
            ));
        }
        self.state.save_chain(&chain)?;
        self.chain = Some(chain);
        tracing::info!("tpm ldevid certificate stored");
        Ok(Response::Stored {})
    }

    fn reattest(&mut self, nonce: &[u8], residency: bool) -> Result<Response, TpmError> {
        let leaf = self
            .chain
            .as_ref()
            .and_then(|chain| chain.first())
            .cloned()
            .ok_or(TpmError::UnexpectedMessage {
                expected: "an enrollment challenge",
            })?;
        let ldevid = self.load_ldevid()?;
        let message = reattest_message(&self.binding, nonce, &leaf);
        let ldevid_signature = self.device()?.sign(ldevid.handle, &message)?;
        if !residency {
            return Ok(Response::ReattestProof {
                ldevid_signature,
                residency: None,
            });
        }

        let (_, ak) = self.load_ek_and_ak()?;
        let (certify_attest, certify_signature) =
            self.device()?
                .certify(ldevid.handle, ak.handle, &certify_qualifying_data(nonce))?;
        self.held.transcript = Some((
            RESIDENCY_LABEL,
            vec![
                self.binding.clone(),
                nonce.to_vec(),
                ak.public.clone(),
                ldevid.public.clone(),
                certify_attest.clone(),
            ],
        ));
        Ok(Response::ReattestProof {
            ldevid_signature,
            residency: Some(Residency {
                ak_pub: ak.public,
                ldevid_pub: ldevid.public,
                certify_attest,
                certify_signature,
            }),
        })
    }

    fn flush_all(&mut self) {
        let handles: Vec<_> = [
            self.held.ek.take(),
            self.held.ak.take(),
            self.held.ldevid.take(),
        ]
        .into_iter()
        .flatten()
        .map(|loaded| loaded.handle)
        .collect();
        if let Some(device) = self.device.as_mut() {
            for handle in handles {
                device.flush(handle.into());
            }
        }
    }
}

impl Drop for TpmAgentSession {
    fn drop(&mut self) {
        self.flush_all();
    }
}

impl fmt::Debug for TpmAgentSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TpmAgentSession")
            .field("tcti", &self.config.tcti)
            .field("enrolled", &self.chain.is_some())
            .finish_non_exhaustive()
    }
}

impl AgentSession for TpmAgentSession {
    fn attestation_data(&self) -> AttestationData {
        AttestationData {
            r#type: KIND.to_owned(),
            payload: protocol::encode(&self.hello),
        }
    }

    fn answer_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, AttestError> {
        self.answer(challenge).map_err(AttestError::from)
    }
}

fn certificate_key(der: &[u8]) -> Option<PublicKey> {
    use x509_parser::prelude::FromDer as _;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    PublicKey::from_spki(cert.public_key()).ok()
}
