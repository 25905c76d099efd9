//! Enrollment: token -> nonce -> evidence -> credential -> proof -> LDevID.
//! The token is consumed only once every check has passed.

use aws_lc_rs::hmac;
use lanyard_spiffe::SelectorSet;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::identity::{agent_id, node_selectors};
use super::registry::{CompleteEnrollmentError, TpmEnrollment};
use super::{Inner, random32};
use crate::join_token::{JoinToken, JoinTokenError};
use crate::tpm::TpmError;
use crate::tpm::checks::{check_ak, check_certify, check_ek, check_ldevid};
use crate::tpm::credential::make_credential;
use crate::tpm::ek::{EkIdentity, verify_ek};
use crate::tpm::ldevid::LdevidRequest;
use crate::tpm::node_type::NodeType;
use crate::tpm::protocol::{
    self, Challenge, ENROLL_LABEL, Evidence, Response, Transcript, certify_qualifying_data,
    ldevid_proof_message,
};
use crate::tpm::wire::{TpmPublic, TpmSignature};
use crate::tpm::xname::Xname;
use crate::{AttestationResult, SessionContext, Step};

pub(super) struct Enrollment {
    token: JoinToken,
    bound: Bound,
    stage: Stage,
}

/// What the administrator bound to the token.
struct Bound {
    xname: Xname,
    node_type: Option<NodeType>,
    serial_number: Option<String>,
    selectors: SelectorSet,
}

enum Stage {
    AwaitEvidence { nonce: [u8; 32] },
    AwaitProof(Box<Proven>),
    AwaitStored(AttestationResult),
    Finished,
}

/// Everything established by the evidence, waiting for the proof.
struct Proven {
    ek: EkIdentity,
    ek_pub: TpmPublic,
    ldevid: TpmPublic,
    transcript: [u8; 32],
    secret: Zeroizing<[u8; 32]>,
}

impl Enrollment {
    pub(super) async fn start(
        server: &Inner,
        ctx: &SessionContext,
        token: &str,
    ) -> Result<(Self, Step), TpmError> {
        let token = JoinToken::new(token).map_err(JoinTokenError::Malformed)?;
        let selectors = server
            .registry
            .peek_join_token(&token, ctx.now)
            .await
            .map_err(JoinTokenError::from)?;
        let bound = Bound::from_selectors(selectors)?;

        let nonce = random32()?;
        let challenge = Challenge::EvidenceRequest {
            nonce: nonce.to_vec(),
        };
        let enrollment = Self {
            token,
            bound,
            stage: Stage::AwaitEvidence { nonce },
        };
        Ok((enrollment, Step::Challenge(protocol::encode(&challenge))))
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
            (Stage::AwaitEvidence { nonce }, Response::Evidence(evidence)) => {
                let (proven, challenge) =
                    self.check_evidence(server, ctx, &nonce, &evidence).await?;
                self.stage = Stage::AwaitProof(Box::new(proven));
                Ok(Step::Challenge(protocol::encode(&challenge)))
            }
            (
                Stage::AwaitProof(proven),
                Response::Proof {
                    hmac,
                    ldevid_signature,
                },
            ) => {
                check_proof(
                    &proven.transcript,
                    &proven.secret,
                    &proven.ldevid,
                    &hmac,
                    &ldevid_signature,
                )?;
                let (chain, result) = self.issue(server, ctx, &proven).await?;
                self.stage = Stage::AwaitStored(result);
                Ok(Step::Challenge(protocol::encode(&Challenge::Issued {
                    ldevid_chain: chain,
                })))
            }
            (Stage::AwaitStored(result), Response::Stored {}) => Ok(Step::Done(result)),
            (stage, _) => Err(TpmError::UnexpectedMessage {
                expected: stage.expects(),
            }),
        }
    }

    async fn check_evidence(
        &self,
        server: &Inner,
        ctx: &SessionContext,
        nonce: &[u8; 32],
        evidence: &Evidence,
    ) -> Result<(Proven, Challenge), TpmError> {
        let parse = |bytes: &[u8], structure| {
            TpmPublic::parse(bytes).map_err(|source| TpmError::Wire { structure, source })
        };
        let ek_pub = parse(&evidence.ek_pub, "ek public")?;
        let ak = parse(&evidence.ak_pub, "ak public")?;
        let ldevid = parse(&evidence.ldevid_pub, "ldevid public")?;
        self.check_claims(evidence)?;

        check_ek(&ek_pub)?;
        let ek = verify_ek(
            &ek_pub,
            evidence.ek_cert.as_deref(),
            &evidence.ek_chain,
            &server.config.ek_policy,
            ctx.now,
        )?;
        check_ak(&ak)?;
        check_ldevid(&ldevid)?;
        check_certify(
            &evidence.certify_attest,
            &evidence.certify_signature,
            &ak,
            &ldevid,
            &certify_qualifying_data(nonce),
        )?;

        let existing = server
            .registry
            .enrollment_by_ek(&ek.ek_sha256)
            .await
            .map_err(TpmError::Registry)?;
        if existing.is_some_and(|e| e.xname != self.bound.xname) {
            return Err(TpmError::EkEnrolledElsewhere);
        }

        let secret = Zeroizing::new(random32()?);
        let blob = make_credential(&ek_pub, &ak.name(), secret.as_ref())?;
        let transcript = Transcript::new(ENROLL_LABEL)
            .field(ctx.session_binding.as_ref().map_or(&[][..], |b| &b[..]))
            .field(nonce)
            .field(&evidence.ek_pub)
            .field(&evidence.ak_pub)
            .field(&evidence.ldevid_pub)
            .field(&evidence.certify_attest)
            .field(&blob.id_object)
            .field(&blob.encrypted_secret)
            .finish();
        tracing::debug!(ek_sha256 = %hex::encode(ek.ek_sha256), xname = %self.bound.xname, "tpm evidence accepted");

        let challenge = Challenge::Credential {
            id_object: blob.id_object,
            encrypted_secret: blob.encrypted_secret,
        };
        let proven = Proven {
            ek,
            ek_pub,
            ldevid,
            transcript,
            secret,
        };
        Ok((proven, challenge))
    }

    fn check_claims(&self, evidence: &Evidence) -> Result<(), TpmError> {
        if evidence
            .claims
            .xname
            .as_ref()
            .is_some_and(|x| *x != self.bound.xname)
        {
            return Err(TpmError::ClaimMismatch("xname"));
        }
        if evidence.claims.node_type.is_some() && evidence.claims.node_type != self.bound.node_type
        {
            return Err(TpmError::ClaimMismatch("node type"));
        }
        Ok(())
    }

    /// Issues the LDevID, then commits the enrollment (consuming the token).
    async fn issue(
        &self,
        server: &Inner,
        ctx: &SessionContext,
        proven: &Proven,
    ) -> Result<(Vec<Vec<u8>>, AttestationResult), TpmError> {
        let issued = server.ca.issue(&LdevidRequest {
            key: proven.ldevid.key(),
            xname: &self.bound.xname,
            node_type: self.bound.node_type.as_ref(),
            serial_number: self.bound.serial_number.as_deref(),
            ek: &proven.ek,
            now: ctx.now,
            ttl: server.config.ldevid_ttl,
        })?;
        let agent_id = agent_id(
            &server.config.agent_path_template,
            &server.config.trust_domain,
            &self.bound.xname,
            self.bound.node_type.as_ref(),
            &proven.ek.ek_sha256,
        )?;
        let selectors = node_selectors(
            &self.bound.selectors,
            &self.bound.xname,
            self.bound.node_type.as_ref(),
            &proven.ek,
        );
        let enrollment = TpmEnrollment {
            ek_sha256: proven.ek.ek_sha256,
            xname: self.bound.xname.clone(),
            node_type: self.bound.node_type.clone(),
            ek_public: proven.ek_pub.as_bytes().to_vec(),
            ldevid_serial: issued.serial_hex.clone(),
            selectors: selectors.clone(),
            enrolled_at: ctx.now,
            residency_checked_at: ctx.now,
        };

        server
            .registry
            .complete_enrollment(&self.token, &enrollment, ctx.now)
            .await
            .map_err(|err| match err {
                CompleteEnrollmentError::Token(err) => JoinTokenError::from(err).into(),
                CompleteEnrollmentError::EkEnrolledElsewhere => TpmError::EkEnrolledElsewhere,
                CompleteEnrollmentError::Store(err) => TpmError::Registry(err),
            })?;
        tracing::debug!(agent_id = %agent_id, ldevid_serial = %issued.serial_hex, "tpm node enrolled");

        let chain = vec![
            issued.certificate.to_vec(),
            server.ca.certificate().to_vec(),
        ];
        let result = AttestationResult {
            agent_id,
            selectors,
            can_reattest: true,
        };
        Ok((chain, result))
    }
}

impl Bound {
    /// The token must bind `node:xname:<xname>`; it may bind `node:type:<t>`
    /// and `node:serial:<serial>`.
    fn from_selectors(selectors: SelectorSet) -> Result<Self, TpmError> {
        let value = |kind: &str| {
            selectors
                .iter()
                .filter(|s| s.kind() == "node")
                .find_map(|s| s.value().strip_prefix(kind)?.strip_prefix(':'))
                .map(str::to_owned)
        };
        let xname = value("xname")
            .and_then(|x| Xname::parse(&x).ok())
            .ok_or(TpmError::TokenWithoutXname)?;
        let node_type = match value("type") {
            Some(t) => Some(NodeType::parse(&t).map_err(|_| TpmError::ClaimMismatch("node type"))?),
            None => None,
        };
        let serial_number = value("serial");
        Ok(Self {
            xname,
            node_type,
            serial_number,
            selectors,
        })
    }
}

impl Stage {
    fn expects(&self) -> &'static str {
        match self {
            Self::AwaitEvidence { .. } => "evidence",
            Self::AwaitProof(_) => "proof",
            Self::AwaitStored(_) => "stored",
            Self::Finished => "nothing",
        }
    }
}

/// The agent knows the activated secret (HMAC, compared in constant time)
/// and holds the LDevID key (signature over the same transcript).
pub(super) fn check_proof(
    transcript: &[u8; 32],
    secret: &[u8; 32],
    ldevid: &TpmPublic,
    proof_hmac: &[u8],
    ldevid_signature: &[u8],
) -> Result<(), TpmError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let expected = hmac::sign(&key, transcript);
    if !bool::from(expected.as_ref().ct_eq(proof_hmac)) {
        return Err(TpmError::ProofMismatch);
    }
    let signature = TpmSignature::parse(ldevid_signature).map_err(|source| TpmError::Wire {
        structure: "ldevid signature",
        source,
    })?;
    ldevid
        .key()
        .verify_tpm_signature(&signature, &ldevid_proof_message(transcript))
        .map_err(|_| TpmError::LdevidSignature)
}
