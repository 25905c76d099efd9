//! The calls the agent makes about its own identity: `AttestAgent` (with challenge
//! rounds), `RenewAgent`, and the bundle reads `GetBundle` / `GetFederatedBundle`.

use std::sync::Arc;
use std::time::Duration;

use lanyard_attest::{AgentAttestor, AttestError};
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::agent::v1::{
    AgentX509svidParams, AttestAgentRequest, RenewAgentRequest, attest_agent_request,
    attest_agent_response,
};
use lanyard_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use lanyard_proto::spire::api::server::bundle::v1::{GetBundleRequest, GetFederatedBundleRequest};
use lanyard_spiffe::{Bundle, TrustDomain};
use rustls_pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::connection::MAX_MESSAGE_SIZE;
use crate::convert::{self, ConvertError};

/// Most challenge rounds the agent answers in one attestation.
pub const MAX_CHALLENGE_ROUNDS: usize = 8;

/// How long a unary call to the server may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call about the agent's identity failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The server answered with an error (or could not be reached).
    #[error("server call failed: {0}")]
    Status(#[from] tonic::Status),
    /// The node attestor could not produce evidence or answer a challenge.
    #[error("node attestor failed")]
    Attestor(#[source] AttestError),
    /// The server's answer could not be used.
    #[error("server response is invalid")]
    Convert(#[from] ConvertError),
    /// The server broke the protocol (closed early, too many challenges).
    #[error("server broke the attestation protocol: {0}")]
    Protocol(&'static str),
}

/// An X.509-SVID the server issued for the agent.
#[derive(Debug, Clone)]
pub struct IssuedAgentSvid {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Whether the agent may renew by attesting again.
    pub reattestable: bool,
}

/// Runs `AttestAgent`: sends the attestor's evidence and `csr`, answers challenges, and
/// returns the issued SVID. The attestor runs on the blocking pool.
pub async fn attest_agent(
    channel: Channel,
    attestor: Arc<dyn AgentAttestor>,
    csr: Vec<u8>,
) -> Result<IssuedAgentSvid, CallError> {
    attest_agent_bound(channel, None, attestor, csr).await
}

/// [`attest_agent`] over a channel of one TLS session whose exporter value is
/// `session_binding`, so attestors can bind their proofs to it.
pub async fn attest_agent_bound(
    channel: Channel,
    session_binding: Option<[u8; 32]>,
    attestor: Arc<dyn AgentAttestor>,
    csr: Vec<u8>,
) -> Result<IssuedAgentSvid, CallError> {
    let mut session =
        blocking(move || attestor.begin_with_session_binding(session_binding)).await?;
    let (tx, rx) = mpsc::channel(2);
    let params = attest_agent_request::Params {
        data: Some(session.attestation_data()),
        params: Some(AgentX509svidParams { csr }),
    };
    send(&tx, attest_agent_request::Step::Params(params)).await?;

    let mut client = AgentClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let mut responses = client
        .attest_agent(ReceiverStream::new(rx))
        .await?
        .into_inner();

    let mut rounds = 0;
    loop {
        let Some(response) = responses.message().await? else {
            return Err(CallError::Protocol("stream ended without a result"));
        };
        match response.step {
            Some(attest_agent_response::Step::Result(result)) => {
                return Ok(IssuedAgentSvid {
                    chain: convert::svid_chain(result.svid.as_ref())?,
                    reattestable: result.reattestable,
                });
            }
            Some(attest_agent_response::Step::Challenge(challenge)) => {
                rounds += 1;
                if rounds > MAX_CHALLENGE_ROUNDS {
                    return Err(CallError::Protocol("too many challenge rounds"));
                }
                let (answer, back) = blocking(move || {
                    let answer = session.answer_challenge(&challenge);
                    answer.map(|a| (a, session))
                })
                .await?;
                session = back;
                send(&tx, attest_agent_request::Step::ChallengeResponse(answer)).await?;
            }
            None => return Err(CallError::Protocol("response without a step")),
        }
    }
}

/// Runs `RenewAgent` with `csr` and returns the new chain.
pub async fn renew_agent(
    channel: Channel,
    csr: Vec<u8>,
) -> Result<Vec<CertificateDer<'static>>, CallError> {
    let mut client = AgentClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let mut request = tonic::Request::new(RenewAgentRequest {
        params: Some(AgentX509svidParams { csr }),
    });
    request.set_timeout(CALL_TIMEOUT);
    let response = client.renew_agent(request).await?.into_inner();
    Ok(convert::svid_chain(response.svid.as_ref())?)
}

/// Runs `GetBundle` (the server's own trust domain bundle).
pub async fn get_bundle(channel: Channel) -> Result<Bundle, CallError> {
    let mut client = BundleClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let mut request = tonic::Request::new(GetBundleRequest::default());
    request.set_timeout(CALL_TIMEOUT);
    let bundle = client.get_bundle(request).await?.into_inner();
    Ok(convert::bundle_from_proto(&bundle)?)
}

/// Runs `GetFederatedBundle` for `trust_domain`.
pub async fn get_federated_bundle(
    channel: Channel,
    trust_domain: &TrustDomain,
) -> Result<Bundle, CallError> {
    let mut client = BundleClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let mut request = tonic::Request::new(GetFederatedBundleRequest {
        trust_domain: trust_domain.to_string(),
        output_mask: None,
    });
    request.set_timeout(CALL_TIMEOUT);
    let bundle = client.get_federated_bundle(request).await?.into_inner();
    Ok(convert::bundle_from_proto(&bundle)?)
}

async fn send(
    tx: &mpsc::Sender<AttestAgentRequest>,
    step: attest_agent_request::Step,
) -> Result<(), CallError> {
    tx.send(AttestAgentRequest { step: Some(step) })
        .await
        .map_err(|_| CallError::Protocol("server closed the stream"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AttestError> + Send + 'static,
) -> Result<T, CallError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| CallError::Protocol("attestor task panicked"))?
        .map_err(CallError::Attestor)
}
