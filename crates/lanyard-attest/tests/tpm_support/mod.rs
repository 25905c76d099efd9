//! Shared setup of the TPM tests: a server half with the simulator's
//! manufacturer roots, an in-memory node registry, and a loop that drives
//! both halves through one attestation as the AttestAgent stream would.

#![allow(dead_code, reason = "each test binary uses part of the support code")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lanyard_attest::join_token::JoinToken;
use lanyard_attest::tpm::agent::{TpmAgent, TpmAgentConfig, TpmAgentSession};
use lanyard_attest::tpm::ek::EkPolicy;
use lanyard_attest::tpm::ldevid::LdevidCa;
use lanyard_attest::tpm::server::{MemoryTpmRegistry, TpmServer, TpmServerConfig};
use lanyard_attest::tpm::{TpmError, Xname};
use lanyard_attest::{AttestError, AttestationResult, ServerAttestor as _, SessionContext, Step};
use lanyard_spiffe::{Selector, SelectorSet, TrustDomain};
use lanyard_testkit::ShortTempDir;
use lanyard_testkit::swtpm::TpmManufacturer;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

pub(crate) const TD: &str = "hpc.example.org";

/// The simulator manufacturer's EK roots and intermediates.
pub(crate) fn ek_policy(manufacturer: &TpmManufacturer) -> EkPolicy {
    let der = |pem: Vec<u8>| CertificateDer::from_pem_slice(&pem).unwrap().into_owned();
    EkPolicy {
        roots: vec![der(manufacturer.root_pem().unwrap())],
        intermediates: vec![der(manufacturer.intermediate_pem().unwrap())],
        ..EkPolicy::default()
    }
}

pub(crate) struct Server {
    pub(crate) attestor: TpmServer,
    pub(crate) registry: Arc<MemoryTpmRegistry>,
}

impl Server {
    pub(crate) fn new(policy: EkPolicy) -> Self {
        Self::with(policy, |c| c)
    }

    pub(crate) fn with(
        policy: EkPolicy,
        adjust: impl FnOnce(TpmServerConfig) -> TpmServerConfig,
    ) -> Self {
        let registry = Arc::new(MemoryTpmRegistry::new());
        let ca = LdevidCa::generate_ephemeral(TD, SystemTime::now()).unwrap();
        Self::with_parts(policy, ca, Arc::clone(&registry), adjust)
    }

    pub(crate) fn with_parts(
        policy: EkPolicy,
        ca: LdevidCa,
        registry: Arc<MemoryTpmRegistry>,
        adjust: impl FnOnce(TpmServerConfig) -> TpmServerConfig,
    ) -> Self {
        let mut config = TpmServerConfig::new(TrustDomain::new(TD).unwrap());
        config.ek_policy = policy;
        let attestor = TpmServer::new(adjust(config), ca, registry.clone());
        Self { attestor, registry }
    }

    /// A join token bound to `xname` (and `node_type`), valid for 10 minutes.
    pub(crate) fn token(&self, xname: &str, node_type: Option<&str>) -> JoinToken {
        let token = JoinToken::generate().unwrap();
        let mut selectors = SelectorSet::new();
        selectors.insert(Selector::new("node", &format!("xname:{xname}")).unwrap());
        if let Some(t) = node_type {
            selectors.insert(Selector::new("node", &format!("type:{t}")).unwrap());
        }
        self.registry.add_join_token(
            &token,
            SystemTime::now() + Duration::from_secs(600),
            selectors,
        );
        token
    }

    pub(crate) fn ca_certificate(&self) -> CertificateDer<'static> {
        self.attestor.ldevid_ca().certificate().clone()
    }
}

/// An agent on the simulator at `tcti`, with its own data directory.
pub(crate) struct Agent {
    pub(crate) dir: ShortTempDir,
    pub(crate) config: TpmAgentConfig,
}

impl Agent {
    pub(crate) fn new(tcti: &str) -> Self {
        let dir = ShortTempDir::new().unwrap();
        let config = TpmAgentConfig::new(tcti, dir.path());
        Self { dir, config }
    }

    pub(crate) fn with_token(mut self, token: &JoinToken) -> Self {
        self.config.join_token = Some(token.clone());
        self
    }

    pub(crate) fn session(&self, binding: Option<[u8; 32]>) -> TpmAgentSession {
        TpmAgent::new(self.config.clone())
            .begin_session(binding)
            .unwrap()
    }
}

pub(crate) fn binding(byte: u8) -> [u8; 32] {
    [byte; 32]
}

/// Drives one attestation through both halves, relaying every challenge
/// and answer through `tamper` (which may rewrite either).
pub(crate) async fn attest_with(
    server: &Server,
    agent: &mut TpmAgentSession,
    binding: Option<[u8; 32]>,
    mut tamper: impl FnMut(Relay) -> Vec<u8>,
) -> Result<AttestationResult, AttestError> {
    let mut ctx = SessionContext::new(SystemTime::now());
    if let Some(b) = binding {
        ctx = ctx.with_session_binding(b);
    }
    let mut session = server.attestor.new_session(ctx);
    let payload = lanyard_attest::AgentSession::attestation_data(agent).payload;
    let mut step = session.start(&payload).await?;
    for _ in 0..8 {
        match step {
            Step::Challenge(challenge) => {
                let challenge = tamper(Relay::Challenge(challenge));
                let answer = agent.answer(&challenge)?;
                let answer = tamper(Relay::Answer(answer));
                step = session.respond(&answer).await?;
            }
            Step::Done(result) => return Ok(result),
        }
    }
    panic!("attestation did not finish within 8 rounds");
}

/// A message on its way between the halves.
pub(crate) enum Relay {
    Challenge(Vec<u8>),
    Answer(Vec<u8>),
}

impl Relay {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        match self {
            Self::Challenge(b) | Self::Answer(b) => b,
        }
    }
}

pub(crate) async fn attest(
    server: &Server,
    agent: &mut TpmAgentSession,
    binding: Option<[u8; 32]>,
) -> Result<AttestationResult, AttestError> {
    attest_with(server, agent, binding, Relay::into_bytes).await
}

/// The TPM error inside an attestation error.
pub(crate) fn tpm_error(err: AttestError) -> TpmError {
    match err {
        AttestError::Tpm(err) => err,
        other => panic!("tpm error expected, got {other:?}"),
    }
}

pub(crate) fn xname(s: &str) -> Xname {
    Xname::parse(s).unwrap()
}

/// Whether `token` is still redeemable (refused enrollments must not use it up).
pub(crate) async fn token_unused(server: &Server, token: &JoinToken) -> bool {
    use lanyard_attest::tpm::server::TpmNodeRegistry as _;
    server
        .registry
        .peek_join_token(token, SystemTime::now())
        .await
        .is_ok()
}

/// Rewrites the agent's evidence on its way to the server.
pub(crate) fn edit_evidence(
    mut edit: impl FnMut(&mut lanyard_attest::tpm::protocol::Evidence),
) -> impl FnMut(Relay) -> Vec<u8> {
    use lanyard_attest::tpm::protocol::{Response, decode, encode};
    move |relay| match relay {
        Relay::Answer(bytes) => match decode::<Response>(&bytes) {
            Ok(Response::Evidence(mut evidence)) => {
                edit(&mut evidence);
                encode(&Response::Evidence(evidence))
            }
            _ => bytes,
        },
        Relay::Challenge(bytes) => bytes,
    }
}
