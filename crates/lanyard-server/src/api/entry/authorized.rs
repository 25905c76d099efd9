//! What an agent may serve: the descendants of its own ID and of the node aliases
//! its node belongs to, computed from the entry cache. The node's selectors come
//! from the cache when it is current, else from the datastore (so a node attested
//! a moment ago, possibly by another server, is authorized at once).

use std::sync::Arc;

use lanyard_spiffe::SpiffeId;
use lanyard_store::model::{AttestedNode, EntryId, RegistrationEntry};

use crate::api::{ApiError, ServerContext};

/// The entries agent `agent_id` is authorized for, ordered by entry ID.
pub(crate) async fn authorized_entries(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
) -> Result<Vec<Arc<RegistrationEntry>>, ApiError> {
    let node = attested_node(ctx, agent_id).await?;
    Ok(ctx.cache.authorized_entries(agent_id, &node.selectors))
}

/// The entry `id` if agent `agent_id` is authorized for it: the entry must
/// descend from the agent's ID or from a node alias its node belongs to.
pub(crate) async fn authorized_entry(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    id: &EntryId,
) -> Result<Option<Arc<RegistrationEntry>>, ApiError> {
    let node = attested_node(ctx, agent_id).await?;
    Ok(ctx.cache.authorized_entry(agent_id, &node.selectors, id))
}

/// The attested node of an authenticated agent.
async fn attested_node(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
) -> Result<Arc<AttestedNode>, ApiError> {
    ctx.cache
        .agent_node(&ctx.store, agent_id, |_| true)
        .await
        .map_err(|e| ApiError::internal("failed to fetch agent", &e))?
        .ok_or_else(|| ApiError::permission_denied("agent is not attested"))
}
