//! Test peer: SPIRE's Entry and Bundle services as a SPIRE server offers them to
//! agents (no push stream), over an entry list and a bundle the test controls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lanyard_proto::spire::api::server::bundle::v1 as bundle;
use lanyard_proto::spire::api::server::entry::v1 as entry;
use lanyard_proto::spire::api::types as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// What the peer serves; shared with the test, which may change it at any time.
#[derive(Default)]
pub(crate) struct SpirePeer {
    pub(crate) entries: Mutex<Vec<pb::Entry>>,
    pub(crate) bundle: Mutex<pb::Bundle>,
    pub(crate) syncs: AtomicUsize,
}

/// The peer's services, ready for a tonic router.
pub(crate) fn services(
    peer: &Arc<SpirePeer>,
) -> (
    entry::entry_server::EntryServer<EntryService>,
    bundle::bundle_server::BundleServer<BundleService>,
) {
    (
        entry::entry_server::EntryServer::new(EntryService(Arc::clone(peer))),
        bundle::bundle_server::BundleServer::new(BundleService(Arc::clone(peer))),
    )
}

pub(crate) struct EntryService(Arc<SpirePeer>);
pub(crate) struct BundleService(Arc<SpirePeer>);

fn not_here<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not offered to agents"))
}

#[tonic::async_trait]
impl entry::entry_server::Entry for EntryService {
    type SyncAuthorizedEntriesStream =
        ReceiverStream<Result<entry::SyncAuthorizedEntriesResponse, Status>>;

    /// Answers the first request with every entry in full (a small set), as SPIRE does.
    async fn sync_authorized_entries(
        &self,
        request: Request<Streaming<entry::SyncAuthorizedEntriesRequest>>,
    ) -> Result<Response<Self::SyncAuthorizedEntriesStream>, Status> {
        self.0.syncs.fetch_add(1, Ordering::SeqCst);
        let entries = self.0.entries.lock().expect("lock").clone();
        let mut requests = request.into_inner();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            if let Ok(Some(_)) = requests.message().await {
                let response = entry::SyncAuthorizedEntriesResponse {
                    entries,
                    ..Default::default()
                };
                let _ = tx.send(Ok(response)).await;
            }
            while let Ok(Some(_)) = requests.message().await {}
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn count_entries(
        &self,
        _: Request<entry::CountEntriesRequest>,
    ) -> Result<Response<entry::CountEntriesResponse>, Status> {
        not_here()
    }
    async fn list_entries(
        &self,
        _: Request<entry::ListEntriesRequest>,
    ) -> Result<Response<entry::ListEntriesResponse>, Status> {
        not_here()
    }
    async fn get_entry(
        &self,
        _: Request<entry::GetEntryRequest>,
    ) -> Result<Response<pb::Entry>, Status> {
        not_here()
    }
    async fn batch_create_entry(
        &self,
        _: Request<entry::BatchCreateEntryRequest>,
    ) -> Result<Response<entry::BatchCreateEntryResponse>, Status> {
        not_here()
    }
    async fn batch_update_entry(
        &self,
        _: Request<entry::BatchUpdateEntryRequest>,
    ) -> Result<Response<entry::BatchUpdateEntryResponse>, Status> {
        not_here()
    }
    async fn batch_delete_entry(
        &self,
        _: Request<entry::BatchDeleteEntryRequest>,
    ) -> Result<Response<entry::BatchDeleteEntryResponse>, Status> {
        not_here()
    }
    async fn get_authorized_entries(
        &self,
        _: Request<entry::GetAuthorizedEntriesRequest>,
    ) -> Result<Response<entry::GetAuthorizedEntriesResponse>, Status> {
        not_here()
    }
}

#[tonic::async_trait]
impl bundle::bundle_server::Bundle for BundleService {
    async fn get_bundle(
        &self,
        _: Request<bundle::GetBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        Ok(Response::new(self.0.bundle.lock().expect("lock").clone()))
    }
    async fn get_federated_bundle(
        &self,
        _: Request<bundle::GetFederatedBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        Err(Status::not_found("no federated bundles"))
    }

    async fn count_bundles(
        &self,
        _: Request<bundle::CountBundlesRequest>,
    ) -> Result<Response<bundle::CountBundlesResponse>, Status> {
        not_here()
    }
    async fn append_bundle(
        &self,
        _: Request<bundle::AppendBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        not_here()
    }
    async fn publish_jwt_authority(
        &self,
        _: Request<bundle::PublishJwtAuthorityRequest>,
    ) -> Result<Response<bundle::PublishJwtAuthorityResponse>, Status> {
        not_here()
    }
    async fn list_federated_bundles(
        &self,
        _: Request<bundle::ListFederatedBundlesRequest>,
    ) -> Result<Response<bundle::ListFederatedBundlesResponse>, Status> {
        not_here()
    }
    async fn batch_create_federated_bundle(
        &self,
        _: Request<bundle::BatchCreateFederatedBundleRequest>,
    ) -> Result<Response<bundle::BatchCreateFederatedBundleResponse>, Status> {
        not_here()
    }
    async fn batch_update_federated_bundle(
        &self,
        _: Request<bundle::BatchUpdateFederatedBundleRequest>,
    ) -> Result<Response<bundle::BatchUpdateFederatedBundleResponse>, Status> {
        not_here()
    }
    async fn batch_set_federated_bundle(
        &self,
        _: Request<bundle::BatchSetFederatedBundleRequest>,
    ) -> Result<Response<bundle::BatchSetFederatedBundleResponse>, Status> {
        not_here()
    }
    async fn batch_delete_federated_bundle(
        &self,
        _: Request<bundle::BatchDeleteFederatedBundleRequest>,
    ) -> Result<Response<bundle::BatchDeleteFederatedBundleResponse>, Status> {
        not_here()
    }
}
