//! One polling round against a SPIRE-compatible server: `SyncAuthorizedEntries`, then
//! `GetBundle`, then `GetFederatedBundle` for each trust domain an entry federates with.

use std::collections::{BTreeMap, HashMap};

use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::server::entry::v1::{
    SyncAuthorizedEntriesRequest, SyncAuthorizedEntriesResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

use super::paging::{HeldRevision, SyncOutcome, SyncStream, sync_authorized_entries};
use crate::cache::Cache;
use crate::node::BundleKeeper;
use crate::node::connection::MAX_MESSAGE_SIZE;
use crate::node::server_api::{self, CallError};

/// A `SyncAuthorizedEntries` stream over gRPC.
pub struct GrpcSyncStream {
    requests: mpsc::Sender<SyncAuthorizedEntriesRequest>,
    pending: Option<mpsc::Receiver<SyncAuthorizedEntriesRequest>>,
    channel: Channel,
    responses: Option<Streaming<SyncAuthorizedEntriesResponse>>,
}

impl GrpcSyncStream {
    /// A stream on `channel`; the call starts with the first request sent.
    pub fn new(channel: Channel) -> Self {
        let (requests, pending) = mpsc::channel(4);
        Self {
            requests,
            pending: Some(pending),
            channel,
            responses: None,
        }
    }
}

impl SyncStream for GrpcSyncStream {
    async fn send(&mut self, request: SyncAuthorizedEntriesRequest) -> Result<(), tonic::Status> {
        self.requests
            .send(request)
            .await
            .map_err(|_| tonic::Status::unavailable("sync stream closed"))?;
        if let Some(pending) = self.pending.take() {
            let mut client =
                EntryClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_SIZE);
            let responses = client
                .sync_authorized_entries(ReceiverStream::new(pending))
                .await?
                .into_inner();
            self.responses = Some(responses);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<SyncAuthorizedEntriesResponse>, tonic::Status> {
        match &mut self.responses {
            Some(responses) => responses.message().await,
            None => Err(tonic::Status::internal(
                "sync stream read before the first request",
            )),
        }
    }
}

/// What a polling round did.
#[derive(Debug, Clone)]
pub struct PollReport {
    /// The entry sync.
    pub entries: SyncOutcome,
    /// Whether the own bundle changed.
    pub bundle_changed: bool,
    /// Federated bundles held after the round.
    pub federated: usize,
}

/// Runs one polling round and applies it: the bundle first (trust anchors, then the
/// cache), then the entries, then federated bundles.
pub async fn poll_once(
    channel: Channel,
    cache: &Cache,
    keeper: &BundleKeeper,
) -> Result<PollReport, tonic::Status> {
    let held: HashMap<String, HeldRevision> = cache
        .entries()
        .into_iter()
        .map(|(id, entry)| {
            let held = HeldRevision {
                revision_number: entry.revision_number,
                created_at: entry.created_at,
            };
            (id, held)
        })
        .collect();
    let mut stream = GrpcSyncStream::new(channel.clone());
    let outcome = sync_authorized_entries(&mut stream, &held).await?;
    drop(stream);

    let bundle = server_api::get_bundle(channel.clone())
        .await
        .map_err(to_status)?;
    keeper.apply(&bundle);
    let bundle_changed = cache.set_bundle(bundle);
    cache.update_entries(outcome.update.clone());

    let current = cache.bundles();
    let mut federated = BTreeMap::new();
    for td in cache.federated_trust_domains() {
        match server_api::get_federated_bundle(channel.clone(), &td).await {
            Ok(bundle) => {
                federated.insert(td, bundle);
            }
            Err(err) => {
                tracing::warn!(trust_domain = %td, error = %err, "could not fetch a federated bundle");
                if let Some(old) = current.federated.get(&td) {
                    federated.insert(td, (**old).clone());
                }
            }
        }
    }
    let federated_count = federated.len();
    cache.set_federated_bundles(federated);

    Ok(PollReport {
        entries: outcome,
        bundle_changed,
        federated: federated_count,
    })
}

pub(crate) fn to_status(err: CallError) -> tonic::Status {
    match err {
        CallError::Status(status) => status,
        other => tonic::Status::internal(other.to_string()),
    }
}
