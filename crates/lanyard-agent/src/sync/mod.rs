//! Keeping the cache in step with the server: authorized entries and bundles.
//!
//! The agent watches the server's `lanyard.agent.v1.AgentSync/WatchAuthorized` push
//! stream ([`push`]): the server sends what changed as it commits, and a reconnecting
//! agent asks only for what it missed. Against a server that answers `Unimplemented`
//! (a SPIRE server) the agent polls SPIRE's `SyncAuthorizedEntries` every
//! `sync_interval` instead ([`poll`]) and tries the stream again on its next channel
//! (after an agent SVID renewal). Failures back off exponentially with jitter; a
//! refusal of the agent itself is handed to the node.

pub mod batch;
pub mod paging;
pub mod poll;
pub mod push;

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::cache::Cache;
use crate::health::{HealthState, metrics};
use crate::node::BundleKeeper;
use crate::node::rotation::Backoff;
use crate::node::status::{Failure, Rejection, classify};
use push::StreamEnd;

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
    /// Time between polls (when the server offers no push stream).
    pub interval: Duration,
    /// Delays between failed attempts ([`Backoff::for_server`] in the agent).
    pub backoff: Backoff,
}

/// How the agent syncs with the server it talks to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Push,
    Poll,
}

impl SyncTask {
    /// Syncs until `shutdown`: the push stream while the server offers it, else polling.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = self.backoff.clone();
        let mut mode = Mode::Push;
        // The sequence of the last push batch applied; 0 asks for a full batch.
        let mut position = 0;
        loop {
            let channel = self.channel.borrow_and_update().clone();
            let delay = match mode {
                Mode::Push => {
                    match self
                        .watch_authorized(channel, &mut position, &shutdown)
                        .await
                    {
                        StreamEnd::Shutdown => return,
                        StreamEnd::ChannelChanged => continue,
                        StreamEnd::Unimplemented => {
                            tracing::info!("server offers no push stream; polling for entries");
                            mode = Mode::Poll;
                            position = 0;
                            continue;
                        }
                        StreamEnd::Failed { status, applied } => {
                            if applied > 0 {
                                backoff.reset();
                            }
                            metrics::count_sync("push", false);
                            self.report_failure(&status, "push");
                            backoff.next_delay()
                        }
                        StreamEnd::BadBatch { error, applied } => {
                            if applied > 0 {
                                backoff.reset();
                            }
                            metrics::count_sync("push", false);
                            tracing::warn!(error = %error, "dropping a push batch the agent cannot apply");
                            backoff.next_delay()
                        }
                    }
                }
                Mode::Poll => match self.poll(channel).await {
                    Ok(()) => {
                        backoff.reset();
                        self.interval
                    }
                    Err(status) => {
                        self.report_failure(&status, "poll");
                        backoff.next_delay()
                    }
                },
            };

            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
                // A renewed agent SVID means a new channel: sync on it at once, and give
                // the push stream another chance.
                Ok(()) = self.channel.changed() => mode = Mode::Push,
            }
        }
    }

    async fn poll(&self, channel: Channel) -> Result<(), tonic::Status> {
        let result = poll::poll_once(channel, &self.cache, &self.keeper).await;
        metrics::count_sync("poll", result.is_ok());
        let report = result?;
        self.health.set_synced();
        tracing::debug!(
            full = report.entries.full,
            received = report.entries.received,
            skipped = report.entries.skipped,
            "entries synced"
        );
        Ok(())
    }

    /// Logs a failed sync; a refusal of the agent goes to the node.
    fn report_failure(&self, status: &tonic::Status, mode: &'static str) {
        if let Failure::Rejected(rejection) = classify(status) {
            tracing::warn!(mode, code = ?status.code(), message = status.message(), "server refused the agent's sync");
            let _ = self.rejections.try_send(rejection);
        } else {
            tracing::warn!(mode, code = ?status.code(), message = status.message(), "sync failed; retrying");
        }
    }
}

#[cfg(test)]
mod push_peer;
#[cfg(test)]
mod spire_peer;

#[cfg(test)]
#[path = "push_tests.rs"]
mod push_tests;
