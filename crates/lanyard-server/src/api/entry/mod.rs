//! `spire.api.server.entry.v1.Entry`: registration entry management for
//! administrators, and the authorized entries of the calling agent.

mod authorized;
mod batch;
mod filter;
mod status;
mod sync;

use std::sync::Arc;

use lanyard_proto::spire::api::server::entry::v1 as pb;
use lanyard_proto::spire::api::server::entry::v1::entry_server::Entry;
use lanyard_proto::spire::api::types;
use lanyard_store::model::PageRequest;
use tonic::{Request, Response, Status};

pub(crate) use authorized::{authorized_entries, authorized_entry};

use crate::api::types::{entry_id_from_proto, entry_to_proto};
use crate::api::{ApiError, ServerContext, require_admin, require_agent};

/// The Entry service over the shared server state.
#[derive(Clone)]
pub struct EntryService {
    ctx: Arc<ServerContext>,
}

impl EntryService {
    /// A service answering from `ctx`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::entry_server::EntryServer<Self> {
        pb::entry_server::EntryServer::new(self)
    }
}

#[tonic::async_trait]
impl Entry for EntryService {
    async fn count_entries(
        &self,
        request: Request<pb::CountEntriesRequest>,
    ) -> Result<Response<pb::CountEntriesResponse>, Status> {
        require_admin(&request)?;
        let filter = filter::from_count_request(request.into_inner().filter)?;

        let count = self
            .ctx
            .store
            .count_entries(&filter)
            .await
            .map_err(|e| status::store_error("failed to count entries", e))?;
        Ok(Response::new(pb::CountEntriesResponse {
            count: i32::try_from(count).unwrap_or(i32::MAX),
        }))
    }

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let filter = filter::from_list_request(request.filter)?;
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
            .list_entries(&filter, &page)
            .await
            .map_err(|e| status::store_error("failed to list entries", e))?;
        let mask = request.output_mask.as_ref();
        Ok(Response::new(pb::ListEntriesResponse {
            entries: found
                .items
                .iter()
                .map(|e| entry_to_proto(e, mask))
                .collect(),
            next_page_token: found.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<types::Entry>, Status> {
        require_admin(&request)?;
        let request = request.into_inner();
        let id = entry_id_from_proto("id", &request.id)?;

        let entry = self
            .ctx
            .store
            .get_entry(&id)
            .await
            .map_err(|e| status::store_error("failed to fetch entry", e))?
            .ok_or_else(|| ApiError::not_found("entry not found"))?;
        Ok(Response::new(entry_to_proto(
            &entry,
            request.output_mask.as_ref(),
        )))
    }

    async fn batch_create_entry(
        &self,
        request: Request<pb::BatchCreateEntryRequest>,
    ) -> Result<Response<pb::BatchCreateEntryResponse>, Status> {
        require_admin(&request)?;
        let results = batch::create(&self.ctx, request.into_inner()).await?;
        Ok(Response::new(pb::BatchCreateEntryResponse { results }))
    }

    async fn batch_update_entry(
        &self,
        request: Request<pb::BatchUpdateEntryRequest>,
    ) -> Result<Response<pb::BatchUpdateEntryResponse>, Status> {
        require_admin(&request)?;
        let results = batch::update(&self.ctx, request.into_inner()).await?;
        Ok(Response::new(pb::BatchUpdateEntryResponse { results }))
    }

    async fn batch_delete_entry(
        &self,
        request: Request<pb::BatchDeleteEntryRequest>,
    ) -> Result<Response<pb::BatchDeleteEntryResponse>, Status> {
        require_admin(&request)?;
        let results = batch::delete(&self.ctx, request.into_inner()).await?;
        Ok(Response::new(pb::BatchDeleteEntryResponse { results }))
    }

    async fn get_authorized_entries(
        &self,
        request: Request<pb::GetAuthorizedEntriesRequest>,
    ) -> Result<Response<pb::GetAuthorizedEntriesResponse>, Status> {
        let agent_id = require_agent(&request)?.clone();
        let mask = request.into_inner().output_mask;

        let entries = authorized_entries(&self.ctx, &agent_id).await?;
        Ok(Response::new(pb::GetAuthorizedEntriesResponse {
            entries: sync::to_proto(&entries, mask.as_ref()),
        }))
    }

    type SyncAuthorizedEntriesStream =
        futures::stream::BoxStream<'static, Result<pb::SyncAuthorizedEntriesResponse, Status>>;

    async fn sync_authorized_entries(
        &self,
        request: Request<tonic::Streaming<pb::SyncAuthorizedEntriesRequest>>,
    ) -> Result<Response<Self::SyncAuthorizedEntriesStream>, Status> {
        let agent_id = require_agent(&request)?.clone();
        let (responses, stream) = tokio::sync::mpsc::channel(4);
        tokio::spawn(sync::run(
            self.ctx.clone(),
            agent_id,
            request.into_inner(),
            responses,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(stream),
        )))
    }
}
