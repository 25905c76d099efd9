//! The server half of the `tpm` attestor (pure Rust): enrollment with a join
//! token, EK trust, credential activation and LDevID issuance; then
//! re-attestation with the LDevID bound to the TLS session, with an optional
//! periodic residency re-check.

mod enroll;
mod identity;
mod reattest;
mod registry;
mod settings;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lanyard_spiffe::TrustDomain;

use super::TpmError;
use super::ek::EkPolicy;
use super::ldevid::{DEFAULT_LDEVID_TTL, LdevidCa};
use super::protocol::{self, Hello, KIND};
use crate::template::{Template, TemplateError};
use crate::{AttestError, BoxFuture, ServerAttestor, ServerSession, SessionContext, Step};

pub use identity::{DEFAULT_AGENT_PATH_TEMPLATE, TEMPLATE_SCHEMA};
pub use registry::{
    CompleteEnrollmentError, MemoryTpmRegistry, RegistryError, TpmEnrollment, TpmNodeRegistry,
};
pub use settings::load_ek_policy;

/// Server settings of the `tpm` attestor (`NodeAttestor "tpm"` on the server).
#[derive(Debug, Clone)]
pub struct TpmServerConfig {
    /// The trust domain agent IDs belong to.
    pub trust_domain: TrustDomain,
    /// Which EKs are trusted (manufacturer roots, allow-list).
    pub ek_policy: EkPolicy,
    /// Agent path under `/spire/agent`; fields `PluginName`, `Xname`,
    /// `NodeType`, `EkSha256`, `Cabinet`, `Chassis`, `TrustDomain`.
    pub agent_path_template: Template,
    /// Lifetime of issued LDevID certificates.
    pub ldevid_ttl: Duration,
    /// Redo the full residency check (fresh AK, certify, credential
    /// activation against the enrolled EK) at a re-attestation when the last
    /// one is older than this; `None` never re-checks.
    pub residency_check_period: Option<Duration>,
    /// Accept re-attestation when the server supplies no TLS session
    /// binding. A proof could then be relayed to another session: tests only.
    pub insecure_allow_unbound_reattestation: bool,
}

impl TpmServerConfig {
    /// Defaults: the standard agent path `/tpm/<xname>`, 5-year LDevIDs, no
    /// residency re-check, session binding required; no EK roots yet.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            ek_policy: EkPolicy::default(),
            agent_path_template: identity::default_template(),
            ldevid_ttl: DEFAULT_LDEVID_TTL,
            residency_check_period: None,
            insecure_allow_unbound_reattestation: false,
        }
    }

    /// Parses and sets `agent_path_template`.
    pub fn with_agent_path_template(mut self, text: &str) -> Result<Self, TemplateError> {
        self.agent_path_template = Template::parse(text, &TEMPLATE_SCHEMA)?;
        Ok(self)
    }
}

/// The server half of the `tpm` attestor.
#[derive(Clone)]
pub struct TpmServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: TpmServerConfig,
    ca: LdevidCa,
    registry: Arc<dyn TpmNodeRegistry>,
}

impl TpmServer {
    /// An attestor issuing LDevIDs from `ca` and keeping enrollments in
    /// `registry`.
    pub fn new(config: TpmServerConfig, ca: LdevidCa, registry: Arc<dyn TpmNodeRegistry>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                ca,
                registry,
            }),
        }
    }

    /// The LDevID CA certificate, for operators and for agents' trust.
    pub fn ldevid_ca(&self) -> &LdevidCa {
        &self.inner.ca
    }
}

impl fmt::Debug for TpmServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TpmServer")
            .field("trust_domain", &self.inner.config.trust_domain)
            .finish_non_exhaustive()
    }
}

impl ServerAttestor for TpmServer {
    fn kind(&self) -> &str {
        KIND
    }

    fn new_session(&self, ctx: SessionContext) -> Box<dyn ServerSession> {
        Box::new(Session {
            server: Arc::clone(&self.inner),
            ctx,
            state: State::New,
        })
    }
}

struct Session {
    server: Arc<Inner>,
    ctx: SessionContext,
    state: State,
}

enum State {
    New,
    Enroll(Box<enroll::Enrollment>),
    Reattest(Box<reattest::Reattestation>),
    Finished,
}

impl Session {
    async fn start(&mut self, payload: &[u8]) -> Result<Step, TpmError> {
        match protocol::decode::<Hello>(payload)? {
            Hello::Enroll { join_token } => {
                let (enrollment, step) =
                    enroll::Enrollment::start(&self.server, &self.ctx, &join_token).await?;
                self.state = State::Enroll(Box::new(enrollment));
                Ok(step)
            }
            Hello::Reattest { ldevid_chain } => {
                let (reattestation, step) =
                    reattest::Reattestation::start(&self.server, &self.ctx, &ldevid_chain).await?;
                self.state = State::Reattest(Box::new(reattestation));
                Ok(step)
            }
        }
    }
}

impl ServerSession for Session {
    fn start<'a>(&'a mut self, payload: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>> {
        Box::pin(async move {
            if !matches!(self.state, State::New) {
                return Err(AttestError::SessionFinished);
            }
            self.state = State::Finished;
            let step = self.start(payload).await;
            finish_on_done(&mut self.state, step)
        })
    }

    fn respond<'a>(&'a mut self, response: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>> {
        Box::pin(async move {
            let state = std::mem::replace(&mut self.state, State::Finished);
            let step = match state {
                State::Enroll(mut enrollment) => {
                    let step = enrollment.respond(&self.server, &self.ctx, response).await;
                    self.state = State::Enroll(enrollment);
                    step
                }
                State::Reattest(mut reattestation) => {
                    let step = reattestation
                        .respond(&self.server, &self.ctx, response)
                        .await;
                    self.state = State::Reattest(reattestation);
                    step
                }
                State::New => return Err(AttestError::UnexpectedChallengeResponse),
                State::Finished => return Err(AttestError::SessionFinished),
            };
            finish_on_done(&mut self.state, step)
        })
    }
}

/// Any error or a final step ends the session.
fn finish_on_done(state: &mut State, step: Result<Step, TpmError>) -> Result<Step, AttestError> {
    match step {
        Ok(Step::Challenge(challenge)) => Ok(Step::Challenge(challenge)),
        Ok(done) => {
            *state = State::Finished;
            Ok(done)
        }
        Err(err) => {
            *state = State::Finished;
            tracing::debug!(error = %err, "tpm attestation refused");
            Err(err.into())
        }
    }
}

/// 32 random bytes.
fn random32() -> Result<[u8; 32], TpmError> {
    let mut out = [0u8; 32];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| TpmError::Random)?;
    Ok(out)
}
