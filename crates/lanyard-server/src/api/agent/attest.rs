//! `AttestAgent`: one bidirectional stream per attestation. The first message
//! carries the attestation data and the CSR for the agent's key; the attestor
//! may send challenges; on success the server records the node with its
//! selectors and returns the agent's X509-SVID.
//!
//! Attestations run at most 16 per core at a time; the rest wait their turn, so
//! a boot storm is queued rather than refused.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lanyard_attest::{AttestError, AttestationResult, ErrorClass, SessionContext, Step};
use lanyard_proto::spire::api::server::agent::v1 as pb;
use lanyard_proto::spire::api::server::agent::v1::{attest_agent_request, attest_agent_response};
use lanyard_spiffe::SpiffeId;
use lanyard_store::StoreError;
use lanyard_store::model::{AttestedNode, NodeUpdate};
use rustls_pki_types::CertificateDer;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::group_commit::{GroupCommit, WriteBatch};
use super::issue::{agent_svid_proto, sign_agent_svid};
use super::status;
use crate::api::{ApiError, ServerContext};
use crate::endpoints::AgentConnInfo;

/// How long a whole attestation (all challenge rounds) may take.
const ATTESTATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Most challenge rounds the server relays in one attestation.
const MAX_CHALLENGE_ROUNDS: usize = 8;

/// The path prefix every agent ID must have.
const AGENT_PATH_PREFIX: &str = "/spire/agent/";

/// Runs one attestation over `requests`, sending the responses to `responses`.
pub(super) async fn run(
    ctx: Arc<ServerContext>,
    conn: Option<AgentConnInfo>,
    mut requests: Streaming<pb::AttestAgentRequest>,
    responses: mpsc::Sender<Result<pb::AttestAgentResponse, Status>>,
) {
    let peer = conn.as_ref().and_then(|c| c.peer_addr);
    let outcome = tokio::time::timeout(
        ATTESTATION_TIMEOUT,
        attest(&ctx, conn.as_ref(), &mut requests, &responses),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ApiError::new(
            tonic::Code::DeadlineExceeded,
            "failed to attest: attestation took too long",
        )
        .into())
    });
    match outcome {
        Ok(result) => {
            let _ = responses.send(Ok(result)).await;
        }
        Err(status) => {
            tracing::info!(
                peer = ?peer,
                code = ?status.code(),
                reason = status.message(),
                "node attestation refused"
            );
            let _ = responses.send(Err(status)).await;
        }
    }
}

async fn attest(
    ctx: &ServerContext,
    conn: Option<&AgentConnInfo>,
    requests: &mut Streaming<pb::AttestAgentRequest>,
    responses: &mpsc::Sender<Result<pb::AttestAgentResponse, Status>>,
) -> Result<pb::AttestAgentResponse, Status> {
    let (data, csr) = first_params(requests).await?;
    let _slot = ctx
        .attestation_slots
        .acquire()
        .await
        .map_err(|_| Status::unavailable("server is shutting down"))?;

    let session_ctx = session_context(ctx, conn).await?;
    let (mut session, mut step) = ctx
        .attestors
        .start(&data, session_ctx)
        .await
        .map_err(attest_error)?;
    let mut rounds = 0;
    let result = loop {
        match step {
            Step::Done(result) => break result,
            Step::Challenge(challenge) => {
                rounds += 1;
                if rounds > MAX_CHALLENGE_ROUNDS {
                    return Err(ApiError::permission_denied(
                        "failed to attest: too many challenge rounds",
                    )
                    .into());
                }
                let challenge = pb::AttestAgentResponse {
                    step: Some(attest_agent_response::Step::Challenge(challenge)),
                };
                responses
                    .send(Ok(challenge))
                    .await
                    .map_err(|_| Status::cancelled("agent went away"))?;
                let answer = challenge_response(requests).await?;
                step = session.respond(&answer).await.map_err(attest_error)?;
            }
        }
    };

    let node = admit(ctx, &data.r#type, &result).await?;
    let svid = sign_agent_svid(ctx, &result.agent_id, &csr).await?;
    record_node(ctx, node, &data.r#type, &result, &svid).await?;
    tracing::info!(
        agent_id = %result.agent_id,
        attestation_type = %data.r#type,
        selectors = result.selectors.len(),
        "node attested"
    );
    Ok(pb::AttestAgentResponse {
        step: Some(attest_agent_response::Step::Result(
            attest_agent_response::Result {
                svid: Some(agent_svid_proto(&result.agent_id, &svid)),
                reattestable: result.can_reattest,
            },
        )),
    })
}

/// The first message: attestation data and the CSR.
async fn first_params(
    requests: &mut Streaming<pb::AttestAgentRequest>,
) -> Result<(lanyard_proto::spire::api::types::AttestationData, Vec<u8>), Status> {
    let first = requests
        .message()
        .await?
        .ok_or_else(|| ApiError::invalid("malformed param: missing params"))?;
    let Some(attest_agent_request::Step::Params(params)) = first.step else {
        return Err(ApiError::invalid("malformed param: missing params").into());
    };
    let data = params
        .data
        .ok_or_else(|| ApiError::invalid("malformed param: missing attestation data"))?;
    if data.r#type.is_empty() {
        return Err(ApiError::invalid("malformed attestation data: missing type").into());
    }
    let csr = params
        .params
        .map(|p| p.csr)
        .filter(|csr| !csr.is_empty())
        .ok_or_else(|| ApiError::invalid("malformed param: missing X509-SVID params"))?;
    Ok((data, csr))
}

/// The next message, which must answer the challenge just sent.
async fn challenge_response(
    requests: &mut Streaming<pb::AttestAgentRequest>,
) -> Result<Vec<u8>, Status> {
    let next = requests
        .message()
        .await?
        .ok_or_else(|| ApiError::invalid("failed to attest: missing challenge response"))?;
    match next.step {
        Some(attest_agent_request::Step::ChallengeResponse(answer)) => Ok(answer),
        _ => Err(ApiError::invalid("failed to attest: expected a challenge response").into()),
    }
}

async fn session_context(
    ctx: &ServerContext,
    conn: Option<&AgentConnInfo>,
) -> Result<SessionContext, Status> {
    // The cache holds the bundle as of the last applied change; only a server
    // whose cache has not loaded it yet reads the datastore.
    let bundle = match ctx.cache.bundle(&ctx.trust_domain) {
        Some(bundle) => Some(bundle),
        None => ctx
            .store
            .get_bundle(&ctx.trust_domain)
            .await
            .map_err(|e| status::node_error("failed to attest", e))?
            .map(Arc::new),
    };
    let authorities: Vec<CertificateDer<'static>> = bundle
        .map(|b| {
            b.x509_authorities
                .iter()
                .map(|a| CertificateDer::from(a.der.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut session = SessionContext::new(SystemTime::now()).with_trust_bundle(authorities.into());
    if let Some(addr) = conn.and_then(|c| c.peer_addr) {
        session = session.with_peer_ip(addr.ip());
    }
    if let Some(binding) = conn.and_then(|c| c.session_binding) {
        session = session.with_session_binding(binding);
    }
    Ok(session)
}

/// SPIRE's admission rules once the evidence checked out: the ID must be an
/// agent ID of this trust domain; a banned node stays out; a node that already
/// exists may come back only through an attestor that allows re-attestation.
async fn admit(
    ctx: &ServerContext,
    attestation_type: &str,
    result: &AttestationResult,
) -> Result<Option<AttestedNode>, Status> {
    let id = &result.agent_id;
    if !id.is_member_of(&ctx.trust_domain) || !id.path().starts_with(AGENT_PATH_PREFIX) {
        tracing::error!(agent_id = %id, attestation_type, "attestor produced an invalid agent id");
        return Err(
            ApiError::new(tonic::Code::Internal, "failed to attest: invalid agent id").into(),
        );
    }
    let existing = ctx
        .store
        .get_node(id)
        .await
        .map_err(|e| status::node_error("failed to attest", e))?;
    if let Some(node) = &existing {
        if node.banned {
            return Err(status::banned("failed to attest: agent is banned"));
        }
        if !result.can_reattest {
            return Err(ApiError::permission_denied(
                "failed to attest: attestation data has already been used to attest an agent",
            )
            .into());
        }
    }
    Ok(existing)
}

/// Records newly attested nodes, many per transaction when attestations arrive
/// together.
pub(crate) struct NodeWriter(GroupCommit<AttestedNode, ()>);

impl NodeWriter {
    pub(crate) fn new(store: Arc<lanyard_store::Store>) -> Self {
        let write: Arc<WriteBatch<AttestedNode, ()>> = Arc::new(move |nodes| {
            let store = store.clone();
            Box::pin(async move { store.create_nodes(&nodes).await })
        });
        Self(GroupCommit::new(write))
    }

    /// Creates `node`; `AlreadyExists` if it is known.
    async fn submit(&self, node: AttestedNode) -> Result<(), StoreError> {
        self.0.submit(node).await
    }
}

/// Creates the node record, or refreshes it on re-attestation.
async fn record_node(
    ctx: &ServerContext,
    existing: Option<AttestedNode>,
    attestation_type: &str,
    result: &AttestationResult,
    svid: &lanyard_ca::IssuedX509Svid,
) -> Result<(), Status> {
    let serial = svid.serial().to_string();
    let not_after = time::OffsetDateTime::from(svid.expires_at());
    if existing.is_none() {
        let node = AttestedNode {
            spiffe_id: result.agent_id.clone(),
            attestation_type: attestation_type.to_owned(),
            cert_serial: serial.clone(),
            cert_not_after: not_after,
            new_cert_serial: None,
            new_cert_not_after: None,
            can_reattest: result.can_reattest,
            banned: false,
            selectors: result.selectors.clone(),
            agent_version: String::new(),
            last_seen: Some(time::OffsetDateTime::now_utc()),
        };
        match ctx.node_writer.submit(node).await {
            Ok(_) => return Ok(()),
            // Another attestation of the same node won the race: refresh it instead.
            Err(StoreError::AlreadyExists(_)) if result.can_reattest => {}
            Err(error) => return Err(status::node_error("failed to attest", error).into()),
        }
    }
    update_node(
        ctx,
        &result.agent_id,
        attestation_type,
        result,
        serial,
        not_after,
    )
    .await
}

async fn update_node(
    ctx: &ServerContext,
    id: &SpiffeId,
    attestation_type: &str,
    result: &AttestationResult,
    serial: String,
    not_after: time::OffsetDateTime,
) -> Result<(), Status> {
    let update = NodeUpdate {
        attestation_type: Some(attestation_type.to_owned()),
        cert_serial: Some(serial),
        cert_not_after: Some(not_after),
        new_cert_serial: Some(None),
        new_cert_not_after: Some(None),
        can_reattest: Some(result.can_reattest),
        agent_version: None,
    };
    ctx.store
        .update_node(id, &update)
        .await
        .map_err(|e| status::node_error("failed to attest", e))?;
    ctx.store
        .set_node_selectors(id, &result.selectors)
        .await
        .map_err(|e| status::node_error("failed to attest", e))?;
    Ok(())
}

/// How an attestor's refusal reaches the agent; the message never holds evidence.
fn attest_error(error: AttestError) -> Status {
    let message = format!("failed to attest: {error}");
    match error.class() {
        ErrorClass::Malformed => ApiError::invalid(message).into(),
        ErrorClass::Denied => ApiError::permission_denied(message).into(),
        _ => ApiError::internal("failed to attest", &error).into(),
    }
}
