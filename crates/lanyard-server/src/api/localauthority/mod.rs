//! `spire.api.server.localauthority.v1.LocalAuthority`: manual rotation and
//! compromise response for the X.509 CA and the JWT keys.

mod status;

use std::sync::Arc;

use lanyard_ca::manager::{AuthorityState, AuthorityStates};
use lanyard_proto::spire::api::server::localauthority::v1 as pb;
use lanyard_proto::spire::api::server::localauthority::v1::local_authority_server::LocalAuthority;
use tonic::{Request, Response, Status};

use crate::api::{ServerContext, require_admin};
use crate::ca::unix_seconds;

/// The LocalAuthority service over the server's CA.
#[derive(Clone)]
pub struct LocalAuthorityService {
    ctx: Arc<ServerContext>,
}

impl LocalAuthorityService {
    /// A service acting on `ctx.ca`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::local_authority_server::LocalAuthorityServer<Self> {
        pb::local_authority_server::LocalAuthorityServer::new(self)
    }
}

#[tonic::async_trait]
impl LocalAuthority for LocalAuthorityService {
    async fn get_jwt_authority_state(
        &self,
        request: Request<pb::GetJwtAuthorityStateRequest>,
    ) -> Result<Response<pb::GetJwtAuthorityStateResponse>, Status> {
        require_admin(&request)?;
        let states = self
            .ctx
            .ca
            .jwt_authority_state()
            .await
            .map_err(|e| status::ca_error("failed to get JWT authority state", e))?;
        let (active, prepared, old) = states_to_proto(&states);
        Ok(Response::new(pb::GetJwtAuthorityStateResponse {
            active,
            prepared,
            old,
        }))
    }

    async fn prepare_jwt_authority(
        &self,
        request: Request<pb::PrepareJwtAuthorityRequest>,
    ) -> Result<Response<pb::PrepareJwtAuthorityResponse>, Status> {
        require_admin(&request)?;
        let state = self
            .ctx
            .ca
            .prepare_jwt_authority()
            .await
            .map_err(|e| status::ca_error("failed to prepare JWT authority", e))?;
        Ok(Response::new(pb::PrepareJwtAuthorityResponse {
            prepared_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn activate_jwt_authority(
        &self,
        request: Request<pb::ActivateJwtAuthorityRequest>,
    ) -> Result<Response<pb::ActivateJwtAuthorityResponse>, Status> {
        require_admin(&request)?;
        let id = request.into_inner().authority_id;
        let state = self
            .ctx
            .ca
            .activate_jwt_authority(id)
            .await
            .map_err(|e| status::ca_error("failed to activate JWT authority", e))?;
        Ok(Response::new(pb::ActivateJwtAuthorityResponse {
            activated_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn taint_jwt_authority(
        &self,
        request: Request<pb::TaintJwtAuthorityRequest>,
    ) -> Result<Response<pb::TaintJwtAuthorityResponse>, Status> {
        require_admin(&request)?;
        let id = request.into_inner().authority_id;
        let state = self
            .ctx
            .ca
            .taint_jwt_authority(id)
            .await
            .map_err(|e| status::ca_error("failed to taint JWT authority", e))?;
        Ok(Response::new(pb::TaintJwtAuthorityResponse {
            tainted_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn revoke_jwt_authority(
        &self,
        request: Request<pb::RevokeJwtAuthorityRequest>,
    ) -> Result<Response<pb::RevokeJwtAuthorityResponse>, Status> {
        require_admin(&request)?;
        let id = request.into_inner().authority_id;
        let state = self
            .ctx
            .ca
            .revoke_jwt_authority(id)
            .await
            .map_err(|e| status::ca_error("failed to revoke JWT authority", e))?;
        Ok(Response::new(pb::RevokeJwtAuthorityResponse {
            revoked_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn get_x509_authority_state(
        &self,
        request: Request<pb::GetX509AuthorityStateRequest>,
    ) -> Result<Response<pb::GetX509AuthorityStateResponse>, Status> {
        require_admin(&request)?;
        let states = self
            .ctx
            .ca
            .x509_authority_state()
            .await
            .map_err(|e| status::ca_error("failed to get X.509 authority state", e))?;
        let (active, prepared, old) = states_to_proto(&states);
        Ok(Response::new(pb::GetX509AuthorityStateResponse {
            active,
            prepared,
            old,
        }))
    }

    async fn prepare_x509_authority(
        &self,
        request: Request<pb::PrepareX509AuthorityRequest>,
    ) -> Result<Response<pb::PrepareX509AuthorityResponse>, Status> {
        require_admin(&request)?;
        let state = self
            .ctx
            .ca
            .prepare_x509_authority()
            .await
            .map_err(|e| status::ca_error("failed to prepare X.509 authority", e))?;
        Ok(Response::new(pb::PrepareX509AuthorityResponse {
            prepared_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn activate_x509_authority(
        &self,
        request: Request<pb::ActivateX509AuthorityRequest>,
    ) -> Result<Response<pb::ActivateX509AuthorityResponse>, Status> {
        require_admin(&request)?;
        let id = request.into_inner().authority_id;
        let state = self
            .ctx
            .ca
            .activate_x509_authority(id)
            .await
            .map_err(|e| status::ca_error("failed to activate X.509 authority", e))?;
        Ok(Response::new(pb::ActivateX509AuthorityResponse {
            activated_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn taint_x509_authority(
        &self,
        request: Request<pb::TaintX509AuthorityRequest>,
    ) -> Result<Response<pb::TaintX509AuthorityResponse>, Status> {
        require_admin(&request)?;
        let id = request.into_inner().authority_id;
        let state = self
            .ctx
            .ca
            .taint_x509_authority(id)
            .await
            .map_err(|e| status::ca_error("failed to taint X.509 authority", e))?;
        Ok(Response::new(pb::TaintX509AuthorityResponse {
            tainted_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn taint_x509_upstream_authority(
        &self,
        request: Request<pb::TaintX509UpstreamAuthorityRequest>,
    ) -> Result<Response<pb::TaintX509UpstreamAuthorityResponse>, Status> {
        require_admin(&request)?;
        let skid = request.into_inner().subject_key_id;
        let tainted = self
            .ctx
            .ca
            .taint_x509_upstream_authority(&skid)
            .await
            .map_err(|e| status::ca_error("failed to taint upstream authority", e))?;
        Ok(Response::new(pb::TaintX509UpstreamAuthorityResponse {
            upstream_authority_subject_key_id: tainted,
        }))
    }

    async fn revoke_x509_authority(
        &self,
        request: Request<pb::RevokeX509AuthorityRequest>,
    ) -> Result<Response<pb::RevokeX509AuthorityResponse>, Status> {
        require_admin(&request)?;
        let id = request.into_inner().authority_id;
        let state = self
            .ctx
            .ca
            .revoke_x509_authority(id)
            .await
            .map_err(|e| status::ca_error("failed to revoke X.509 authority", e))?;
        Ok(Response::new(pb::RevokeX509AuthorityResponse {
            revoked_authority: Some(state_to_proto(&state)),
        }))
    }

    async fn revoke_x509_upstream_authority(
        &self,
        request: Request<pb::RevokeX509UpstreamAuthorityRequest>,
    ) -> Result<Response<pb::RevokeX509UpstreamAuthorityResponse>, Status> {
        require_admin(&request)?;
        let skid = request.into_inner().subject_key_id;
        let revoked = self
            .ctx
            .ca
            .revoke_x509_upstream_authority(&skid)
            .await
            .map_err(|e| status::ca_error("failed to revoke upstream authority", e))?;
        Ok(Response::new(pb::RevokeX509UpstreamAuthorityResponse {
            upstream_authority_subject_key_id: revoked,
        }))
    }
}

type StateTriple = (
    Option<pb::AuthorityState>,
    Option<pb::AuthorityState>,
    Option<pb::AuthorityState>,
);

fn states_to_proto(states: &AuthorityStates) -> StateTriple {
    (
        Some(state_to_proto(&states.active)),
        states.prepared.as_ref().map(state_to_proto),
        states.old.as_ref().map(state_to_proto),
    )
}

fn state_to_proto(state: &AuthorityState) -> pb::AuthorityState {
    pb::AuthorityState {
        authority_id: state.authority_id.clone(),
        expires_at: unix_seconds(state.expires_at),
        upstream_authority_subject_key_id: state.upstream_authority_id.clone().unwrap_or_default(),
    }
}
