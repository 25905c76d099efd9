//! Re-attestation: the LDevID chain, then a signature over a server nonce
//! bound to the TLS session; when due, a full residency re-check against
//! the enrolled EK.

use zeroize::Zeroizing;

use super::enroll::check_proof;
use super::identity::agent_id;
use super::registry::TpmEnrollment;
use super::{Inner, random32};
use crate::tpm::TpmError;
use crate::tpm::checks::{check_ak, check_certify, check_ldevid};
use crate::tpm::credential::make_credential;
use crate::tpm::ldevid::{VerifiedLdevid, verify_ldevid_chain};
use crate::tpm::protocol::{
    self, Challenge, RESIDENCY_LABEL, Residency, Response, Transcript, certify_qualifying_data,
    reattest_message,
};
use crate::tpm::wire::{TpmPublic, TpmSignature};
use crate::{AttestationResult, SessionContext, Step};

pub(super) struct Reattestation {
    ldevid: VerifiedLdevid,
    enrollment: TpmEnrollment,
    binding: Vec<u8>,
    stage: Stage,
}

enum Stage {
    AwaitSignature {
        nonce: [u8; 32],
        residency: bool,
    },
    AwaitResidencyProof {
        ldevid: Box<TpmPublic>,
        transcript: [u8; 32],
        secret: Zeroizing<[u8; 32]>,
    },
    Finished,
}

impl Reattestation {
    pub(super) async fn start(
        server: &Inner,
        ctx: &SessionContext,
        chain: &[Vec<u8>],
    ) -> Result<(Self, Step), TpmError> {
        let binding = match ctx.session_binding {
            Some(binding) => binding.to_vec(),
            None if server.config.insecure_allow_unbound_reattestation => Vec::new(),
            None => return Err(TpmError::MissingSessionBinding),
        };
        let ldevid = verify_ldevid_chain(chain, server.ca.certificate(), ctx.now)?;
        let enrollment = server
            .registry
            .enrollment_by_xname(&ldevid.xname)
            .await
            .map_err(TpmError::Registry)?
            .ok_or(TpmError::NotEnrolled)?;
        if enrollment.ldevid_serial != ldevid.serial_hex || !ldevid.binds_ek(&enrollment.ek_sha256)
        {
            return Err(TpmError::NotEnrolled);
        }

        let residency = server.config.residency_check_period.is_some_and(|period| {
            ctx.now
                .duration_since(enrollment.residency_checked_at)
                .is_ok_and(|age| age >= period)
        });
        let nonce = random32()?;
        let challenge = Challenge::ReattestNonce {
            nonce: nonce.to_vec(),
            residency,
        };
        let reattestation = Self {
            ldevid,
            enrollment,
            binding,
            stage: Stage::AwaitSignature { nonce, residency },
        };
        Ok((reattestation, Step::Challenge(protocol::encode(&challenge))))
    }

    pub(super) async fn respond(
        &mut self,
        server: &Inner,
        ctx: &SessionContext,
        response: &[u8],
    ) -> Result<Step, TpmError> {
        let response = protocol::decode::<Response>(response)?;
        match (
            std::mem::replace(&mut self.stage, Stage::Finished),
            response,
        ) {
            (
                Stage::AwaitSignature { nonce, residency },
                Response::ReattestProof {
                    ldevid_signature,
                    residency: evidence,
                },
            ) => {
                self.check_signature(&nonce, &ldevid_signature)?;
                if !residency {
                    return self.done(server);
                }
                let evidence = evidence.ok_or(TpmError::UnexpectedMessage {
                    expected: "residency evidence",
                })?;
                let (stage, challenge) = self.residency_challenge(&nonce, &evidence)?;
                self.stage = stage;
                Ok(Step::Challenge(protocol::encode(&challenge)))
            }
            (
                Stage::AwaitResidencyProof {
                    ldevid,
                    transcript,
                    secret,
                },
                Response::Proof {
                    hmac,
                    ldevid_signature,
                },
            ) => {
                check_proof(&transcript, &secret, &ldevid, &hmac, &ldevid_signature)?;
                server
                    .registry
                    .record_residency_check(&self.enrollment.ek_sha256, ctx.now)
                    .await
                    .map_err(TpmError::Registry)?;
                tracing::debug!(xname = %self.enrollment.xname, "tpm residency re-checked");
                self.done(server)
            }
            (stage, _) => Err(TpmError::UnexpectedMessage {
                expected: match stage {
                    Stage::AwaitSignature { .. } => "reattest proof",
                    Stage::AwaitResidencyProof { .. } => "proof",
                    Stage::Finished => "nothing",
                },
            }),
        }
    }

    fn check_signature(&self, nonce: &[u8; 32], signature: &[u8]) -> Result<(), TpmError> {
        let signature = TpmSignature::parse(signature).map_err(|source| TpmError::Wire {
            structure: "ldevid signature",
            source,
        })?;
        let message = reattest_message(&self.binding, nonce, &self.ldevid.leaf_der);
        self.ldevid
            .key
            .verify_tpm_signature(&signature, &message)
            .map_err(|_| TpmError::LdevidSignature)
    }

    /// A fresh AK must certify the certified LDevID key over the nonce; then
    /// a credential for that AK goes to the enrolled EK.
    fn residency_challenge(
        &self,
        nonce: &[u8; 32],
        evidence: &Residency,
    ) -> Result<(Stage, Challenge), TpmError> {
        let parse = |bytes: &[u8], structure| {
            TpmPublic::parse(bytes).map_err(|source| TpmError::Wire { structure, source })
        };
        let ak = parse(&evidence.ak_pub, "ak public")?;
        let ldevid = parse(&evidence.ldevid_pub, "ldevid public")?;
        let ek_pub = parse(&self.enrollment.ek_public, "enrolled ek public")?;
        if ldevid.key() != &self.ldevid.key {
            return Err(TpmError::Ldevid("tpm key is not the certified key"));
        }
        check_ak(&ak)?;
        check_ldevid(&ldevid)?;
        check_certify(
            &evidence.certify_attest,
            &evidence.certify_signature,
            &ak,
            &ldevid,
            &certify_qualifying_data(nonce),
        )?;

        let secret = Zeroizing::new(random32()?);
        let blob = make_credential(&ek_pub, &ak.name(), secret.as_ref())?;
        let transcript = Transcript::new(RESIDENCY_LABEL)
            .field(&self.binding)
            .field(nonce)
            .field(&evidence.ak_pub)
            .field(&evidence.ldevid_pub)
            .field(&evidence.certify_attest)
            .field(&blob.id_object)
            .field(&blob.encrypted_secret)
            .finish();
        let stage = Stage::AwaitResidencyProof {
            ldevid: Box::new(ldevid),
            transcript,
            secret,
        };
        let challenge = Challenge::Credential {
            id_object: blob.id_object,
            encrypted_secret: blob.encrypted_secret,
        };
        Ok((stage, challenge))
    }

    fn done(&self, server: &Inner) -> Result<Step, TpmError> {
        let agent_id = agent_id(
            &server.config.agent_path_template,
            &server.config.trust_domain,
            &self.enrollment.xname,
            self.enrollment.node_type.as_ref(),
            &self.enrollment.ek_sha256,
        )?;
        tracing::debug!(agent_id = %agent_id, "tpm node re-attested");
        Ok(Step::Done(AttestationResult {
            agent_id,
            selectors: self.enrollment.selectors.clone(),
            can_reattest: true,
        }))
    }
}
