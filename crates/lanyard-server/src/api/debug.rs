//! `spire.api.server.debug.v1.Debug`: uptime and record counts. Its failures are
//! datastore reads, mapped here.

use std::sync::Arc;

use lanyard_proto::spire::api::server::debug::v1 as pb;
use lanyard_proto::spire::api::server::debug::v1::debug_server::Debug;
use lanyard_store::model::NodeFilter;
use tonic::{Request, Response, Status};

use crate::api::{ApiError, ServerContext, require_admin};

/// The Debug service over the shared server state.
#[derive(Clone)]
pub struct DebugService {
    ctx: Arc<ServerContext>,
}

impl DebugService {
    /// A service answering from `ctx`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::debug_server::DebugServer<Self> {
        pb::debug_server::DebugServer::new(self)
    }
}

#[tonic::async_trait]
impl Debug for DebugService {
    async fn get_info(
        &self,
        request: Request<pb::GetInfoRequest>,
    ) -> Result<Response<pb::GetInfoResponse>, Status> {
        require_admin(&request)?;
        let store = &self.ctx.store;
        let read_failed =
            |e: lanyard_store::StoreError| ApiError::internal("failed to read counts", &e);

        let agents = store
            .count_nodes(&NodeFilter::default())
            .await
            .map_err(read_failed)?;
        let bundles = store.count_bundles().await.map_err(read_failed)?;
        let own_bundle = store
            .get_bundle(&self.ctx.trust_domain)
            .await
            .map_err(read_failed)?
            .is_some();
        let entries = self.ctx.cache.read().entry_count();

        Ok(Response::new(pb::GetInfoResponse {
            // TODO(#4): the server's own X509-SVID chain, once it has one.
            svid_chain: Vec::new(),
            uptime: saturate(self.ctx.started_at.elapsed().as_secs()),
            agents_count: saturate(agents),
            federated_bundles_count: saturate(bundles.saturating_sub(u64::from(own_bundle))),
            entries_count: saturate(entries as u64),
        }))
    }
}

fn saturate(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
