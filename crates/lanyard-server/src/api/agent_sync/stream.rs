//! One `WatchAuthorized` stream: the first batch at once, then a batch for every
//! applied cache update that changes what the agent holds, until the agent goes
//! away, the server shuts down, or the agent is evicted or banned.
//!
//! The node is read from the datastore once, when the stream opens (so a node
//! attested a moment ago is served before the cache has seen it); after that
//! everything comes from the entry cache. The stream sleeps until the dispatcher in
//! [`super::watchers`] says an update concerns it.

use std::sync::Arc;

use lanyard_proto::lanyard::agent::v1::WatchAuthorizedResponse;
use lanyard_spiffe::{SelectorSet, SpiffeId};
use lanyard_store::model::AttestedNode;
use tokio::sync::mpsc;
use tonic::Status;

use super::Resumable;
use super::messages::batch_messages;
use super::view::{Delta, View};
use super::watchers::{Registration, Reread, Watchers};
use crate::api::{ApiError, Reason, ServerContext, denied_with_reason};

pub(super) type Responses = mpsc::Sender<Result<WatchAuthorizedResponse, Status>>;

/// Serves the stream of agent `agent_id` that asked from `since`.
pub(super) async fn run(
    ctx: Arc<ServerContext>,
    resumable: Arc<Resumable>,
    watchers: Arc<Watchers>,
    agent_id: SpiffeId,
    since: u64,
    responses: Responses,
) {
    let stream = Stream {
        ctx,
        resumable,
        watchers,
        agent_id,
        responses,
    };
    if let Err(status) = stream.serve(since).await {
        tracing::debug!(agent_id = %stream.agent_id, code = ?status.code(), "push stream ended");
        let _ = stream.responses.send(Err(status)).await;
    }
}

struct Stream {
    ctx: Arc<ServerContext>,
    resumable: Arc<Resumable>,
    watchers: Arc<Watchers>,
    agent_id: SpiffeId,
    responses: Responses,
}

impl Stream {
    async fn serve(&self, since: u64) -> Result<(), Status> {
        // Registered before reading, so no change between the two is missed.
        let registration = self.watchers.register(&self.ctx.cache, &self.agent_id);
        let node = self.node_from_store().await?;
        let mut selectors = node.selectors.clone();

        let held = self.resumable.resume(&self.agent_id, since);
        let resumed = held.is_some();
        let mut view = Arc::new(self.compute(&selectors, &registration));
        let first = view.delta_from(held.as_deref());
        self.send(&first, view.seq).await?;
        self.resumable.remember(&self.agent_id, view.clone());
        tracing::debug!(
            agent_id = %self.agent_id,
            since,
            resumed,
            entries = view.entries.len(),
            "push stream open"
        );

        loop {
            let reread = tokio::select! {
                () = self.responses.closed() => return Ok(()),
                reread = registration.woken() => reread,
            };
            match reread {
                Reread::Entries => {}
                Reread::NodeFromCache => selectors = self.node_from_cache()?,
                Reread::NodeFromStore => {
                    tracing::debug!(agent_id = %self.agent_id, "push stream re-reads its node");
                    selectors = self.node_from_store().await?.selectors;
                }
            }

            let next = Arc::new(self.compute(&selectors, &registration));
            let delta = next.delta_from(Some(&view));
            view = next;
            if delta.is_empty() {
                continue;
            }
            self.send(&delta, view.seq).await?;
            self.resumable.remember(&self.agent_id, view.clone());
        }
    }

    /// The agent's view as of now, with the stream registered under its roots.
    fn compute(&self, selectors: &SelectorSet, registration: &Registration) -> View {
        loop {
            let view = View::compute(
                &self.ctx.cache,
                &self.agent_id,
                selectors,
                &self.ctx.trust_domain,
            );
            // With new roots (the node joined or left an alias), an update applied
            // after the view was read may have been dispatched before the roots were
            // registered; read again if anything was applied since.
            if !registration.set_roots(view.roots()) || self.ctx.cache.applied_seq() == view.seq {
                return view;
            }
        }
    }

    /// The node as the datastore has it, if it may still be served.
    async fn node_from_store(&self) -> Result<AttestedNode, Status> {
        let node = self
            .ctx
            .store
            .get_node(&self.agent_id)
            .await
            .map_err(|e| ApiError::internal("failed to fetch agent", &e))?;
        match node {
            Some(node) => self.refuse_banned(node),
            None => Err(self.not_attested()),
        }
    }

    /// The node's selectors as the cache has them, if it may still be served.
    fn node_from_cache(&self) -> Result<SelectorSet, Status> {
        let node = self.ctx.cache.read().node(&self.agent_id);
        match node {
            Some(node) => Ok(self.refuse_banned(node.as_ref().clone())?.selectors),
            None => Err(self.not_attested()),
        }
    }

    fn refuse_banned(&self, node: AttestedNode) -> Result<AttestedNode, Status> {
        if node.banned {
            self.resumable.forget(&self.agent_id);
            tracing::info!(agent_id = %self.agent_id, "push stream of a banned agent ended");
            return Err(denied_with_reason("agent is banned", Reason::AgentBanned));
        }
        Ok(node)
    }

    fn not_attested(&self) -> Status {
        self.resumable.forget(&self.agent_id);
        tracing::info!(agent_id = %self.agent_id, "push stream of an evicted agent ended");
        denied_with_reason(
            "agent is not attested or no longer valid",
            Reason::AgentNotAttested,
        )
    }

    async fn send(&self, delta: &Delta, sequence: u64) -> Result<(), Status> {
        if delta.full && delta.bundle.is_none() {
            return Err(Status::unavailable("trust bundle is not available yet"));
        }
        for message in batch_messages(delta, sequence) {
            self.responses
                .send(Ok(message))
                .await
                .map_err(|_| Status::cancelled("agent went away"))?;
        }
        Ok(())
    }
}
