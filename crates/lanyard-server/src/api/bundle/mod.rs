//! `spire.api.server.bundle.v1.Bundle`: the server's own trust bundle and the
//! bundles of federated trust domains.

mod federated;
mod status;

use std::sync::Arc;

use lanyard_proto::spire::api::server::bundle::v1 as pb;
use lanyard_proto::spire::api::server::bundle::v1::bundle_server::Bundle;
use lanyard_proto::spire::api::types;
use lanyard_store::model::PageRequest;
use tonic::{Request, Response, Status};

use crate::api::entry::authorized_entries;
use crate::api::types::{
    bundle_to_proto, jwt_authorities_from_proto, trust_domain_from_proto,
    x509_authorities_from_proto,
};
use crate::api::{ApiError, Caller, ServerContext, caller_of, require_admin};

/// The Bundle service over the shared server state.
#[derive(Clone)]
pub struct BundleService {
    ctx: Arc<ServerContext>,
}

impl BundleService {
    /// A service answering from `ctx`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::bundle_server::BundleServer<Self> {
        pb::bundle_server::BundleServer::new(self)
    }
}

#[tonic::async_trait]
impl Bundle for BundleService {
    async fn count_bundles(
        &self,
        request: Request<pb::CountBundlesRequest>,
    ) -> Result<Response<pb::CountBundlesResponse>, Status> {
        require_admin(&request)?;
        let count = self
            .ctx
            .store
            .count_bundles()
            .await
            .map_err(|e| status::store_error("failed to count bundles", e))?;
        Ok(Response::new(pb::CountBundlesResponse {
            count: i32::try_from(count).unwrap_or(i32::MAX),
        }))
    }

    async fn get_bundle(
        &self,
        request: Request<pb::GetBundleRequest>,
    ) -> Result<Response<types::Bundle>, Status> {
        // The trust bundle is public: any caller may read it.
        let mask = request.into_inner().output_mask;
        let bundle = self
            .ctx
            .store
            .get_bundle(&self.ctx.trust_domain)
            .await
            .map_err(|e| status::store_error("failed to fetch bundle", e))?
            .ok_or_else(|| ApiError::not_found("bundle not found"))?;
        Ok(Response::new(bundle_to_proto(&bundle, mask.as_ref())))
    }

    async fn append_bundle(
        &self,
        request: Request<pb::AppendBundleRequest>,
    ) -> Result<Response<types::Bundle>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let x509 = x509_authorities_from_proto(&request.x509_authorities)?;
        let jwt = jwt_authorities_from_proto(&request.jwt_authorities)?;
        if x509.is_empty() && jwt.is_empty() {
            return Err(ApiError::invalid(
                "invalid request: no x509_authorities or jwt_authorities to append",
            )
            .into());
        }

        let bundle = self
            .ctx
            .store
            .append_bundle(&self.ctx.trust_domain, &x509, &jwt)
            .await
            .map_err(|e| status::store_error("failed to append bundle", e))?;
        tracing::info!(
            sequence = bundle.sequence_number,
            x509 = x509.len(),
            jwt = jwt.len(),
            "authorities appended to the trust bundle"
        );
        Ok(Response::new(bundle_to_proto(
            &bundle,
            request.output_mask.as_ref(),
        )))
    }

    async fn publish_jwt_authority(
        &self,
        request: Request<pb::PublishJwtAuthorityRequest>,
    ) -> Result<Response<pb::PublishJwtAuthorityResponse>, Status> {
        if !matches!(caller_of(&request)?, Caller::Downstream(_)) {
            return Err(ApiError::permission_denied("caller is not a downstream server").into());
        }
        let Some(key) = request.into_inner().jwt_authority else {
            return Err(ApiError::invalid("invalid jwt_authority: missing").into());
        };
        let jwt = jwt_authorities_from_proto(std::slice::from_ref(&key))?;

        let bundle = self
            .ctx
            .store
            .append_bundle(&self.ctx.trust_domain, &[], &jwt)
            .await
            .map_err(|e| status::store_error("failed to publish jwt authority", e))?;
        Ok(Response::new(pb::PublishJwtAuthorityResponse {
            jwt_authorities: bundle_to_proto(&bundle, None).jwt_authorities,
        }))
    }

    async fn list_federated_bundles(
        &self,
        request: Request<pb::ListFederatedBundlesRequest>,
    ) -> Result<Response<pb::ListFederatedBundlesResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
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
            .list_bundles(&page)
            .await
            .map_err(|e| status::store_error("failed to list bundles", e))?;
        let mask = request.output_mask.as_ref();
        Ok(Response::new(pb::ListFederatedBundlesResponse {
            bundles: found
                .items
                .iter()
                .filter(|b| b.trust_domain != self.ctx.trust_domain)
                .map(|b| bundle_to_proto(b, mask))
                .collect(),
            next_page_token: found.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_federated_bundle(
        &self,
        request: Request<pb::GetFederatedBundleRequest>,
    ) -> Result<Response<types::Bundle>, Status> {
        let caller = caller_of(&request)?.clone();
        let request = request.into_inner();
        let td = trust_domain_from_proto("trust_domain", &request.trust_domain)?;
        if td == self.ctx.trust_domain {
            return Err(status::own_trust_domain("trust_domain").into());
        }
        match &caller {
            caller if caller.is_admin() => {}
            // An agent may read only the bundles its entries federate with.
            Caller::Agent(agent_id) => {
                let entries = authorized_entries(&self.ctx, agent_id).await?;
                if !entries.iter().any(|e| e.spec.federates_with.contains(&td)) {
                    return Err(ApiError::permission_denied(
                        "no authorized entry federates with the trust domain",
                    )
                    .into());
                }
            }
            _ => return Err(ApiError::permission_denied("caller is not an administrator").into()),
        }

        let bundle = self
            .ctx
            .store
            .get_bundle(&td)
            .await
            .map_err(|e| status::store_error("failed to fetch bundle", e))?
            .ok_or_else(|| ApiError::not_found("bundle not found"))?;
        Ok(Response::new(bundle_to_proto(
            &bundle,
            request.output_mask.as_ref(),
        )))
    }

    async fn batch_create_federated_bundle(
        &self,
        request: Request<pb::BatchCreateFederatedBundleRequest>,
    ) -> Result<Response<pb::BatchCreateFederatedBundleResponse>, Status> {
        require_admin(&request)?;
        let results = federated::create(&self.ctx, request.into_inner()).await;
        Ok(Response::new(pb::BatchCreateFederatedBundleResponse {
            results,
        }))
    }

    async fn batch_update_federated_bundle(
        &self,
        request: Request<pb::BatchUpdateFederatedBundleRequest>,
    ) -> Result<Response<pb::BatchUpdateFederatedBundleResponse>, Status> {
        require_admin(&request)?;
        let results = federated::update(&self.ctx, request.into_inner()).await;
        Ok(Response::new(pb::BatchUpdateFederatedBundleResponse {
            results,
        }))
    }

    async fn batch_set_federated_bundle(
        &self,
        request: Request<pb::BatchSetFederatedBundleRequest>,
    ) -> Result<Response<pb::BatchSetFederatedBundleResponse>, Status> {
        require_admin(&request)?;
        let results = federated::set(&self.ctx, request.into_inner()).await;
        Ok(Response::new(pb::BatchSetFederatedBundleResponse {
            results,
        }))
    }

    async fn batch_delete_federated_bundle(
        &self,
        request: Request<pb::BatchDeleteFederatedBundleRequest>,
    ) -> Result<Response<pb::BatchDeleteFederatedBundleResponse>, Status> {
        require_admin(&request)?;
        let results = federated::delete(&self.ctx, request.into_inner()).await?;
        Ok(Response::new(pb::BatchDeleteFederatedBundleResponse {
            results,
        }))
    }
}
