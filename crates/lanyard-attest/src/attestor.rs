//! The attestor interfaces both daemons drive: server sessions that turn an
//! agent's evidence into an identity, and agent sessions that produce the
//! evidence and answer challenges.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use lanyard_proto::spire::api::types::AttestationData;
use lanyard_spiffe::{SelectorSet, SpiffeId};
use rustls_pki_types::CertificateDer;

use crate::AttestError;

/// A boxed future that is `Send`, so attestor traits stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the server does next in one attestation: send a challenge and wait for
/// the agent's answer, or finish with the attested identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Bytes to send as `AttestAgentResponse.challenge`; the agent's
    /// `challenge_response` goes to [`ServerSession::respond`].
    Challenge(Vec<u8>),
    /// The agent proved who it is.
    Done(AttestationResult),
}

/// The identity a successful attestation establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationResult {
    /// `spiffe://<td>/spire/agent/<attestor>/...`.
    pub agent_id: SpiffeId,
    /// Node selectors the evidence proved (for a join token: those bound to it
    /// at issuance).
    pub selectors: SelectorSet,
    /// Whether the agent may renew by attesting again with the same evidence
    /// (true for x509pop, false for a one-time join token).
    pub can_reattest: bool,
}

/// Per-attestation inputs the server supplies: the time to verify at, its own
/// trust bundle (x509pop `mode = "spiffe"` verifies against it) and the peer
/// address (x509pop `verify_client_ip`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionContext {
    /// When the attestation happens; certificates must be valid then.
    pub now: SystemTime,
    /// The X.509 authorities of the server's own trust domain bundle.
    pub trust_bundle: Arc<[CertificateDer<'static>]>,
    /// The connecting peer's IP address, when known.
    pub peer_ip: Option<IpAddr>,
    /// A value unique to the agent's TLS session (an RFC 5705/8446 exporter
    /// value), so attestors can bind proofs to it and a relayed proof fails.
    pub session_binding: Option<[u8; 32]>,
}

impl SessionContext {
    /// A context at `now`, with an empty trust bundle and no peer address.
    pub fn new(now: SystemTime) -> Self {
        Self {
            now,
            trust_bundle: Arc::from(Vec::new()),
            peer_ip: None,
            session_binding: None,
        }
    }

    /// Sets the X.509 authorities of the server's own trust bundle.
    pub fn with_trust_bundle(mut self, authorities: Arc<[CertificateDer<'static>]>) -> Self {
        self.trust_bundle = authorities;
        self
    }

    /// Sets the connecting peer's IP address.
    pub fn with_peer_ip(mut self, ip: IpAddr) -> Self {
        self.peer_ip = Some(ip);
        self
    }

    /// Sets the TLS session binding (an exporter value of the agent's TLS
    /// session, e.g. label `EXPORTER-lanyard-attestation`, no context, 32 bytes).
    pub fn with_session_binding(mut self, binding: [u8; 32]) -> Self {
        self.session_binding = Some(binding);
        self
    }
}

/// The server half of a node attestor, configured once and shared by every
/// attestation of its kind.
pub trait ServerAttestor: Send + Sync + fmt::Debug {
    /// The attestation data type it handles (`join_token`, `x509pop`).
    fn kind(&self) -> &str;

    /// A fresh session for one `AttestAgent` stream; nonces and other
    /// per-attestation state live in the session, never in the attestor.
    fn new_session(&self, ctx: SessionContext) -> Box<dyn ServerSession>;
}

/// One attestation on the server: [`start`](Self::start) with the agent's
/// payload, then [`respond`](Self::respond) with each challenge answer until a
/// [`Step::Done`]. Any error ends the session; calling it again after `Done` or
/// an error fails with [`AttestError::SessionFinished`].
///
/// Every attestor bounds its own number of challenge rounds, so a driver loop
/// of "send challenge, read answer, respond" always ends.
pub trait ServerSession: Send {
    /// Handles the payload of the first `AttestAgentRequest.params.data`.
    fn start<'a>(&'a mut self, payload: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>>;

    /// Handles an `AttestAgentRequest.challenge_response`.
    fn respond<'a>(&'a mut self, response: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>>;
}

/// The agent half of a node attestor.
///
/// Implementations are blocking (they read files and sign; a TPM attestor
/// talks to the TPM): async callers wrap calls in `spawn_blocking`.
pub trait AgentAttestor: Send + Sync + fmt::Debug {
    /// The attestation data type it produces (`join_token`, `x509pop`).
    fn kind(&self) -> &str;

    /// Starts one attestation: loads the evidence afresh (so rotated files are
    /// picked up) and returns the session holding it.
    fn begin(&self) -> Result<Box<dyn AgentSession>, AttestError>;

    /// Starts one attestation bound to the agent's TLS session with the
    /// server: `session_binding` is the exporter value the server also sees
    /// (see [`SessionContext::session_binding`]). Attestors that do not bind
    /// proofs to the session ignore it.
    fn begin_with_session_binding(
        &self,
        session_binding: Option<[u8; 32]>,
    ) -> Result<Box<dyn AgentSession>, AttestError> {
        let _ = session_binding;
        self.begin()
    }
}

/// One attestation on the agent.
pub trait AgentSession: Send {
    /// The attestation data to send in `AttestAgentRequest.params.data`.
    fn attestation_data(&self) -> AttestationData;

    /// Answers one `AttestAgentResponse.challenge`; the result goes back as
    /// `AttestAgentRequest.challenge_response`.
    fn answer_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, AttestError>;
}

/// The server's configured attestors, looked up by attestation data type.
#[derive(Debug, Default, Clone)]
pub struct ServerAttestors {
    by_kind: BTreeMap<String, Arc<dyn ServerAttestor>>,
}

impl ServerAttestors {
    /// No attestors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `attestor` under its [`kind`](ServerAttestor::kind), replacing any
    /// attestor of the same kind.
    pub fn insert(&mut self, attestor: Arc<dyn ServerAttestor>) {
        self.by_kind.insert(attestor.kind().to_owned(), attestor);
    }

    /// The attestor for `kind`, if configured.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ServerAttestor>> {
        self.by_kind.get(kind)
    }

    /// The configured kinds, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.by_kind.keys().map(String::as_str)
    }

    /// Starts a session for the attestation data of an `AttestAgent` stream's
    /// first message and runs its first step.
    ///
    /// Fails with [`AttestError::UnknownAttestor`] when no attestor handles
    /// `data.type`.
    pub async fn start(
        &self,
        data: &AttestationData,
        ctx: SessionContext,
    ) -> Result<(Box<dyn ServerSession>, Step), AttestError> {
        let attestor = self
            .get(&data.r#type)
            .ok_or_else(|| AttestError::UnknownAttestor(printable_kind(&data.r#type)))?;

        let mut session = attestor.new_session(ctx);
        let step = session.start(&data.payload).await?;
        Ok((session, step))
    }
}

/// The attestation data type as it may appear in an error message: bounded
/// and without control characters.
fn printable_kind(kind: &str) -> String {
    const MAX: usize = 64;
    kind.chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
