//! Attested nodes for the agent path, served from the cache when that is safe.
//!
//! The rule that keeps bans and evictions immediate: the cache's copy of a node
//! is used only when the cache has applied every node change this process knows
//! to be committed ([`Store::last_node_change_seq`] is raised synchronously after
//! each commit of this process, before the writing call returns, and on PostgreSQL
//! also on notification from other servers). A ban or eviction answered by this server
//! has therefore either reached the cache or forces a datastore read. Everything
//! else falls back to one datastore read too: a node the cache does not know (just
//! attested, possibly by another server), or a cached record that would not admit
//! the caller, so a refusal is always confirmed against the datastore.

use std::sync::Arc;

use lanyard_spiffe::SpiffeId;
use lanyard_store::model::AttestedNode;
use lanyard_store::{Store, StoreError};

use super::EntryCache;

/// Counts datastore reads of a node record made by the agent path.
pub const NODE_READS_METRIC: &str = "lanyard_server_datastore_node_reads_total";

impl EntryCache {
    /// The attested node `id` as the agent path should see it: the cached record
    /// when the cache is current (see the module documentation) and `admits`
    /// accepts it, otherwise the datastore's record.
    pub async fn agent_node(
        &self,
        store: &Store,
        id: &SpiffeId,
        admits: impl FnOnce(&AttestedNode) -> bool,
    ) -> Result<Option<Arc<AttestedNode>>, StoreError> {
        if let Some(node) = self.current_node(store, id)
            && admits(&node)
        {
            return Ok(Some(node));
        }
        metrics::counter!(NODE_READS_METRIC).increment(1);
        Ok(store.get_node(id).await?.map(Arc::new))
    }

    /// The cached node `id`, or `None` when it is not cached or the cache has not
    /// yet applied every node change `store` knows to be committed. Entry changes
    /// the cache has not applied yet do not matter here: while a job's entries are
    /// being written, its nodes' calls are still answered from the cache.
    pub fn current_node(&self, store: &Store, id: &SpiffeId) -> Option<Arc<AttestedNode>> {
        // Committed first, applied second: the cache publishes its position only
        // after its index holds the changes, so a position at or past `committed`
        // means the index below reflects every node change committed before this call.
        let committed = store.last_node_change_seq();
        if self.applied_seq() < committed {
            return None;
        }
        self.read().node(id)
    }
}
