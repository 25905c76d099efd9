//! Keeping the cache in step with the server: authorized entries and bundles.
//!
//! The agent polls SPIRE's `SyncAuthorizedEntries` every `sync_interval` (5 s by
//! default), followed by the bundle reads; failures back off exponentially with jitter
//! and a refusal of the agent itself is handed to the node.
//! TODO(#4): prefer the server's `lanyard.agent.v1` push stream once its contract exists,
//! falling back to polling when the server answers `Unimplemented`.

pub mod paging;
pub mod poll;

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::cache::Cache;
use crate::health::{HealthState, metrics};
use crate::node::BundleKeeper;
use crate::node::rotation::Backoff;
use crate::node::status::{Failure, Rejection, classify};

/// What the sync task needs.
#[derive(Debug, Clone)]
pub struct SyncTask {
    /// The cache to feed.
    pub cache: Cache,
    /// The node's current channel.
    pub channel: watch::Receiver<Channel>,
    /// Trust anchors and stored bundle.
    pub keeper: BundleKeeper,
    /// Readiness.
    pub health: HealthState,
    /// Where refusals of the agent go.
    pub rejections: mpsc::Sender<Rejection>,
    /// Time between polls.
    pub interval: Duration,
}

impl SyncTask {
    /// Polls until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::for_server();
        loop {
            let channel = self.channel.borrow_and_update().clone();
            let delay = match poll::poll_once(channel, &self.cache, &self.keeper).await {
                Ok(report) => {
                    metrics::count_sync("poll", true);
                    self.health.set_synced();
                    backoff.reset();
                    tracing::debug!(
                        full = report.entries.full,
                        received = report.entries.received,
                        skipped = report.entries.skipped,
                        "entries synced"
                    );
                    self.interval
                }
                Err(status) => {
                    metrics::count_sync("poll", false);
                    if let Failure::Rejected(rejection) = classify(&status) {
                        tracing::warn!(code = ?status.code(), message = status.message(), "server refused the agent's sync");
                        let _ = self.rejections.try_send(rejection);
                    } else {
                        tracing::warn!(code = ?status.code(), message = status.message(), "sync failed");
                    }
                    backoff.next_delay()
                }
            };

            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
                // A renewed agent SVID means a new channel: sync on it at once.
                Ok(()) = self.channel.changed() => {}
            }
        }
    }
}
