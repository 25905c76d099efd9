//! `lanyard.agent.v1.AgentSync`: the push stream through which each connected
//! agent receives the changes to its authorized entries and to the bundles it
//! needs as they commit.
//!
//! Callers are authenticated like `SyncAuthorizedEntries` (an attested agent's
//! SVID); an agent that is evicted or banned while its stream is open gets
//! `PermissionDenied` with SPIRE's reason details and the stream ends. Streams are
//! computed from the in-memory entry cache ([`crate::cache`]); the datastore is read
//! once per stream, when it opens. A cache update wakes only the streams it can
//! concern ([`watchers`]).
//!
//! A reconnecting agent sends the sequence of the last batch it applied. The
//! server remembers, per agent and in memory, the views behind the last few batches
//! it sent; when the sequence names one of them it sends only the difference,
//! otherwise (after a restart, or when the agent is further behind) a full batch.

mod messages;
mod stream;
mod view;
mod watchers;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use lanyard_proto::lanyard::agent::v1 as pb;
use lanyard_proto::lanyard::agent::v1::agent_sync_server::{AgentSync, AgentSyncServer};
use lanyard_spiffe::SpiffeId;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::{ServerContext, require_agent};
use view::View;
use watchers::Watchers;

/// Messages buffered per stream before the sender waits for the agent.
const STREAM_BUFFER: usize = 4;

/// Most agents whose last view is remembered; beyond it the memory is cleared and
/// reconnecting agents get full batches.
const MAX_REMEMBERED_AGENTS: usize = 100_000;

/// Views remembered per agent for resuming.
const VIEWS_PER_AGENT: usize = 4;

/// The AgentSync service over the shared server state.
#[derive(Clone)]
pub struct AgentSyncService {
    ctx: Arc<ServerContext>,
    resumable: Arc<Resumable>,
    watchers: Arc<Watchers>,
}

impl AgentSyncService {
    /// A service answering from `ctx`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self {
            ctx,
            resumable: Arc::new(Resumable::default()),
            watchers: Arc::new(Watchers::default()),
        }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> AgentSyncServer<Self> {
        AgentSyncServer::new(self)
    }
}

#[tonic::async_trait]
impl AgentSync for AgentSyncService {
    type WatchAuthorizedStream = ReceiverStream<Result<pb::WatchAuthorizedResponse, Status>>;

    async fn watch_authorized(
        &self,
        request: Request<pb::WatchAuthorizedRequest>,
    ) -> Result<Response<Self::WatchAuthorizedStream>, Status> {
        let agent_id = require_agent(&request)?.clone();
        let since = request.into_inner().since_sequence;

        let (responses, stream) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        tokio::spawn(stream::run(
            self.ctx.clone(),
            self.resumable.clone(),
            self.watchers.clone(),
            agent_id,
            since,
            responses,
        ));
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}

/// The views behind the last batches sent to each agent, by agent ID, newest last.
/// A few are kept, so an agent whose old stream sent one more batch after the agent
/// gave up on it still resumes.
#[derive(Default)]
struct Resumable {
    views: Mutex<HashMap<SpiffeId, VecDeque<Arc<View>>>>,
}

impl Resumable {
    /// The view agent `agent_id` holds if it applied the batch with sequence `since`.
    fn resume(&self, agent_id: &SpiffeId, since: u64) -> Option<Arc<View>> {
        if since == 0 {
            return None;
        }
        self.lock()
            .get(agent_id)?
            .iter()
            .rev()
            .find(|view| view.seq == since)
            .cloned()
    }

    /// Records that `view` was the last batch sent to `agent_id`.
    fn remember(&self, agent_id: &SpiffeId, view: Arc<View>) {
        let mut views = self.lock();
        if views.len() >= MAX_REMEMBERED_AGENTS && !views.contains_key(agent_id) {
            views.clear();
        }
        let sent = views.entry(agent_id.clone()).or_default();
        if sent.len() == VIEWS_PER_AGENT {
            sent.pop_front();
        }
        sent.push_back(view);
    }

    /// Drops what is remembered of `agent_id` (evicted or banned).
    fn forget(&self, agent_id: &SpiffeId) {
        self.lock().remove(agent_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SpiffeId, VecDeque<Arc<View>>>> {
        // Only whole-value map operations run under the lock.
        self.views.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
