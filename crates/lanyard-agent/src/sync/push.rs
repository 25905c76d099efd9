//! One `lanyard.agent.v1.AgentSync/WatchAuthorized` stream: opened from the sequence of
//! the last applied batch, read batch by batch, each batch applied as a whole after its
//! last message (trust anchors first, then the cache).

use lanyard_proto::lanyard::agent::v1::WatchAuthorizedRequest;
use lanyard_proto::lanyard::agent::v1::agent_sync_client::AgentSyncClient;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

use super::SyncTask;
use super::batch::{Batch, BatchBuilder, BatchError};
use crate::health::metrics;
use crate::node::connection::MAX_MESSAGE_SIZE;

/// Why a push stream ended.
#[derive(Debug)]
pub enum StreamEnd {
    /// The server does not offer the push stream: poll instead.
    Unimplemented,
    /// The call failed, or the server ended the stream; `applied` batches were applied
    /// before.
    Failed {
        /// What the server or the transport said.
        status: tonic::Status,
        /// Batches applied on this stream.
        applied: usize,
    },
    /// The server sent a batch the agent cannot apply; nothing of it was applied.
    BadBatch {
        /// What is wrong with it.
        error: BatchError,
        /// Batches applied on this stream before it.
        applied: usize,
    },
    /// The node has a new channel (a renewed agent SVID): open the stream on it.
    ChannelChanged,
    /// The agent is shutting down.
    Shutdown,
}

impl SyncTask {
    /// Watches on `channel` from `*position` (the sequence of the last applied batch),
    /// advancing `*position` with every applied batch, until the stream ends.
    pub(crate) async fn watch_authorized(
        &mut self,
        channel: Channel,
        position: &mut u64,
        shutdown: &CancellationToken,
    ) -> StreamEnd {
        let mut client = AgentSyncClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
        let request = WatchAuthorizedRequest {
            since_sequence: *position,
        };
        let opened = tokio::select! {
            () = shutdown.cancelled() => return StreamEnd::Shutdown,
            Ok(()) = self.channel.changed() => return StreamEnd::ChannelChanged,
            opened = client.watch_authorized(request) => opened,
        };
        let mut stream = match opened {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::Unimplemented => return StreamEnd::Unimplemented,
            Err(status) => return StreamEnd::Failed { status, applied: 0 },
        };
        tracing::debug!(since_sequence = *position, "push stream open");

        let trust_domain = self.cache.trust_domain().clone();
        let mut builder = BatchBuilder::default();
        let mut applied = 0;
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return StreamEnd::Shutdown,
                Ok(()) = self.channel.changed() => return StreamEnd::ChannelChanged,
                message = stream.message() => message,
            };
            let message = match message {
                Ok(Some(message)) => message,
                Ok(None) => {
                    let status = tonic::Status::unavailable("server ended the push stream");
                    return StreamEnd::Failed { status, applied };
                }
                Err(status)
                    if status.code() == Code::Unimplemented
                        && applied == 0
                        && !builder.is_pending() =>
                {
                    return StreamEnd::Unimplemented;
                }
                Err(status) => return StreamEnd::Failed { status, applied },
            };
            match builder.push(message, &trust_domain) {
                None => {}
                Some(Ok(batch)) => {
                    *position = batch.sequence;
                    self.apply_batch(batch);
                    applied += 1;
                }
                Some(Err(error)) => return StreamEnd::BadBatch { error, applied },
            }
        }
    }

    /// Applies a batch: the own bundle becomes the trust anchors before workloads see
    /// it, then the cache changes in one step.
    fn apply_batch(&self, batch: Batch) {
        if let Some(bundle) = &batch.update.bundle {
            self.keeper.apply(bundle);
        }
        let applied = self.cache.apply_sync(batch.update);
        metrics::count_sync("push", true);
        self.health.set_synced();
        tracing::debug!(
            sequence = batch.sequence,
            full = batch.full,
            skipped = batch.skipped,
            entries = applied.entries,
            federated = applied.federated,
            bundle_changed = applied.bundle_changed,
            "push batch applied"
        );
    }
}
