//! `spire.api.server.svid.v1.SVID`: one-off minting for administrators, and the
//! SVIDs of agents' authorized entries (`BatchNewX509SVID`, `NewJWTSVID`).

mod agent;
mod csr;
mod status;

use std::sync::Arc;

use lanyard_proto::spire::api::server::svid::v1 as pb;
use lanyard_proto::spire::api::server::svid::v1::svid_server::Svid;
use lanyard_proto::spire::api::types;
use tonic::{Request, Response, Status};

use crate::api::types::{id_to_proto, workload_id_from_proto};
use crate::api::{ApiError, ServerContext, require_admin, require_agent};
use crate::ca::unix_seconds;

/// The SVID service over the shared server state.
#[derive(Clone)]
pub struct SvidService {
    ctx: Arc<ServerContext>,
}

impl SvidService {
    /// A service signing with `ctx.ca`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::svid_server::SvidServer<Self> {
        pb::svid_server::SvidServer::new(self)
    }
}

#[tonic::async_trait]
impl Svid for SvidService {
    async fn mint_x509svid(
        &self,
        request: Request<pb::MintX509svidRequest>,
    ) -> Result<Response<pb::MintX509svidResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let ttl = status::ttl("ttl", request.ttl)?;
        let mint = csr::parse_mint_csr(&self.ctx.trust_domain, &request.csr)?;

        let spiffe_id = mint.spiffe_id.clone();
        let svid = self
            .ctx
            .ca
            .mint_x509_svid(mint.public_key, mint.spiffe_id, mint.dns_names, ttl)
            .await
            .map_err(|e| status::mint_error("failed to sign X509-SVID", e))?;
        tracing::info!(spiffe_id = %spiffe_id, serial = svid.serial(), "x509-svid minted");
        Ok(Response::new(pb::MintX509svidResponse {
            svid: Some(types::X509svid {
                cert_chain: svid.chain().iter().map(|c| c.as_ref().to_vec()).collect(),
                id: Some(id_to_proto(&spiffe_id)),
                expires_at: unix_seconds(svid.expires_at()),
                hint: String::new(),
            }),
        }))
    }

    async fn mint_jwtsvid(
        &self,
        request: Request<pb::MintJwtsvidRequest>,
    ) -> Result<Response<pb::MintJwtsvidResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let id = workload_id_from_proto("id", &self.ctx.trust_domain, request.id.as_ref())?;
        if request.audience.is_empty() {
            return Err(
                ApiError::invalid("invalid audience: at least one audience is required").into(),
            );
        }
        if request.audience.iter().any(String::is_empty) {
            return Err(
                ApiError::invalid("invalid audience: an audience must not be empty").into(),
            );
        }
        let ttl = status::ttl("ttl", request.ttl)?;

        let svid = self
            .ctx
            .ca
            .mint_jwt_svid(id.clone(), request.audience, ttl)
            .await
            .map_err(|e| status::mint_error("failed to sign JWT-SVID", e))?;
        tracing::info!(spiffe_id = %id, expires_at = svid.expires_at, "jwt-svid minted");
        Ok(Response::new(pb::MintJwtsvidResponse {
            svid: Some(types::Jwtsvid {
                token: svid.token,
                id: Some(id_to_proto(&id)),
                expires_at: svid.expires_at,
                issued_at: svid.issued_at,
                hint: String::new(),
            }),
        }))
    }

    async fn batch_new_x509svid(
        &self,
        request: Request<pb::BatchNewX509svidRequest>,
    ) -> Result<Response<pb::BatchNewX509svidResponse>, Status> {
        let agent_id = require_agent(&request)?.clone();
        let results =
            agent::batch_new_x509_svid(&self.ctx, &agent_id, request.into_inner()).await?;
        Ok(Response::new(pb::BatchNewX509svidResponse { results }))
    }

    async fn new_jwtsvid(
        &self,
        request: Request<pb::NewJwtsvidRequest>,
    ) -> Result<Response<pb::NewJwtsvidResponse>, Status> {
        let agent_id = require_agent(&request)?.clone();
        let svid = agent::new_jwt_svid(&self.ctx, &agent_id, request.into_inner()).await?;
        Ok(Response::new(pb::NewJwtsvidResponse { svid: Some(svid) }))
    }

    async fn new_downstream_x509ca(
        &self,
        _request: Request<pb::NewDownstreamX509caRequest>,
    ) -> Result<Response<pb::NewDownstreamX509caResponse>, Status> {
        Err(Status::unimplemented(
            "downstream (nested) servers are not supported",
        ))
    }
}
