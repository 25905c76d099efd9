//! `spire.api.server.agent.v1.Agent`: join tokens, the attested-node records, and
//! node attestation and agent SVID renewal for agents on the agent endpoint.

mod attest;
mod attestors;
mod group_commit;
mod issue;
mod status;
mod token;

use std::sync::Arc;

use lanyard_proto::spire::api::server::agent::v1 as pb;
use lanyard_proto::spire::api::server::agent::v1::agent_server::Agent;
use lanyard_proto::spire::api::types;
use lanyard_spiffe::SpiffeId;
use lanyard_store::model::{NodeFilter, PageRequest, SelectorFilter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tonic::{Request, Response, Status};

pub(crate) use attest::NodeWriter;
pub use attestors::build_attestors;
pub use status::{Reason, denied_with_reason};
pub use token::{
    DEFAULT_JOIN_TOKEN_TTL, JOIN_TOKEN_ATTESTOR, NODE_ATTRIBUTE_METADATA, join_token_agent_id,
};

use crate::api::types::{agent_to_proto, member_id_from_proto, selector_match_from_proto};
use crate::api::{ApiError, ServerContext, require_admin, require_agent};
use crate::endpoints::AgentConnInfo;

/// The Agent service over the shared server state.
#[derive(Clone)]
pub struct AgentService {
    ctx: Arc<ServerContext>,
}

impl AgentService {
    /// A service answering from `ctx`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::agent_server::AgentServer<Self> {
        pb::agent_server::AgentServer::new(self)
    }

    fn agent_id(&self, id: Option<&types::Spiffeid>) -> Result<SpiffeId, ApiError> {
        member_id_from_proto("id", &self.ctx.trust_domain, id)
    }
}

#[tonic::async_trait]
impl Agent for AgentService {
    async fn count_agents(
        &self,
        request: Request<pb::CountAgentsRequest>,
    ) -> Result<Response<pb::CountAgentsResponse>, Status> {
        require_admin(&request)?;
        let filter = match request.into_inner().filter {
            Some(f) => node_filter(
                &f.by_attestation_type,
                f.by_selector_match.as_ref(),
                f.by_banned,
                f.by_can_reattest,
                &f.by_expires_before,
            )?,
            None => NodeFilter::default(),
        };

        let count = self
            .ctx
            .store
            .count_nodes(&filter)
            .await
            .map_err(|e| status::node_error("failed to count agents", e))?;
        Ok(Response::new(pb::CountAgentsResponse {
            count: i32::try_from(count).unwrap_or(i32::MAX),
        }))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let filter = match &request.filter {
            Some(f) => node_filter(
                &f.by_attestation_type,
                f.by_selector_match.as_ref(),
                f.by_banned,
                f.by_can_reattest,
                &f.by_expires_before,
            )?,
            None => NodeFilter::default(),
        };
        let page_size = u32::try_from(request.page_size).map_err(|_| {
            ApiError::invalid(format!(
                "invalid page_size: must not be negative, got {}",
                request.page_size
            ))
        })?;
        let page = PageRequest {
            page_size,
            page_token: Some(request.page_token).filter(|t| !t.is_empty()),
        };

        let found = self
            .ctx
            .store
            .list_nodes(&filter, &page)
            .await
            .map_err(|e| status::node_error("failed to list agents", e))?;
        let mask = request.output_mask.as_ref();
        Ok(Response::new(pb::ListAgentsResponse {
            agents: found
                .items
                .iter()
                .map(|n| agent_to_proto(n, mask))
                .collect(),
            next_page_token: found.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<types::Agent>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let id = self.agent_id(request.id.as_ref())?;

        let node = self
            .ctx
            .store
            .get_node(&id)
            .await
            .map_err(|e| status::node_error("failed to fetch agent", e))?
            .ok_or_else(|| ApiError::not_found("agent not found"))?;
        Ok(Response::new(agent_to_proto(
            &node,
            request.output_mask.as_ref(),
        )))
    }

    async fn delete_agent(
        &self,
        request: Request<pb::DeleteAgentRequest>,
    ) -> Result<Response<()>, Status> {
        require_admin(&request)?;
        let id = self.agent_id(request.into_inner().id.as_ref())?;

        self.ctx
            .store
            .delete_node(&id)
            .await
            .map_err(|e| status::node_error("failed to delete agent", e))?;
        tracing::info!(agent_id = %id, "agent evicted");
        Ok(Response::new(()))
    }

    async fn ban_agent(
        &self,
        request: Request<pb::BanAgentRequest>,
    ) -> Result<Response<()>, Status> {
        require_admin(&request)?;
        let id = self.agent_id(request.into_inner().id.as_ref())?;

        self.ctx
            .store
            .ban_node(&id)
            .await
            .map_err(|e| status::node_error("failed to ban agent", e))?;
        tracing::info!(agent_id = %id, "agent banned");
        Ok(Response::new(()))
    }

    type AttestAgentStream =
        futures::stream::BoxStream<'static, Result<pb::AttestAgentResponse, Status>>;

    async fn attest_agent(
        &self,
        request: Request<tonic::Streaming<pb::AttestAgentRequest>>,
    ) -> Result<Response<Self::AttestAgentStream>, Status> {
        // Unauthenticated by design: the evidence is the credential.
        let conn = request.extensions().get::<AgentConnInfo>().cloned();
        let (responses, stream) = tokio::sync::mpsc::channel(2);
        tokio::spawn(attest::run(
            self.ctx.clone(),
            conn,
            request.into_inner(),
            responses,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(stream),
        )))
    }

    async fn renew_agent(
        &self,
        request: Request<pb::RenewAgentRequest>,
    ) -> Result<Response<pb::RenewAgentResponse>, Status> {
        let agent_id = require_agent(&request)?.clone();
        let response = issue::renew(&self.ctx, &agent_id, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn create_join_token(
        &self,
        request: Request<pb::CreateJoinTokenRequest>,
    ) -> Result<Response<types::JoinToken>, Status> {
        require_admin(&request)?;
        let metadata = request.metadata().clone();
        let token = token::create(&self.ctx, &metadata, request.into_inner()).await?;
        Ok(Response::new(token))
    }

    async fn post_status(
        &self,
        request: Request<pb::PostStatusRequest>,
    ) -> Result<Response<pb::PostStatusResponse>, Status> {
        require_agent(&request)?;
        // The reported bundle sequence is not acted on; the answer is SPIRE's.
        Ok(Response::new(pb::PostStatusResponse::default()))
    }
}

/// The store filter for `ListAgents` / `CountAgents`.
fn node_filter(
    by_attestation_type: &str,
    by_selector_match: Option<&types::SelectorMatch>,
    by_banned: Option<bool>,
    by_can_reattest: Option<bool>,
    by_expires_before: &str,
) -> Result<NodeFilter, ApiError> {
    let mut filter = NodeFilter {
        by_attestation_type: Some(by_attestation_type.to_owned()).filter(|t| !t.is_empty()),
        by_banned,
        by_can_reattest,
        ..NodeFilter::default()
    };
    if let Some(by_selector_match) = by_selector_match {
        let (selectors, mode) =
            selector_match_from_proto("filter.by_selector_match", by_selector_match)?;
        filter.by_selectors = Some(SelectorFilter { selectors, mode });
    }
    if !by_expires_before.is_empty() {
        filter.by_expires_before = Some(parse_instant(by_expires_before).ok_or_else(|| {
            ApiError::invalid(format!(
                "invalid filter.by_expires_before: {by_expires_before:?} is not an RFC 3339 time \
                 or \"2006-01-02 15:04:05 -0700 MST\""
            ))
        })?);
    }
    Ok(filter)
}

/// Reads RFC 3339, or the layout SPIRE's CLI sends (`2006-01-02 15:04:05 -0700 MST`,
/// whose trailing zone name only repeats the offset).
fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let layout = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    let parts: Vec<&str> = text.split_whitespace().collect();
    let head = match parts.as_slice() {
        [date, clock, offset] | [date, clock, offset, _] => format!("{date} {clock} {offset}"),
        _ => return None,
    };
    OffsetDateTime::parse(&head, layout).ok()
}
