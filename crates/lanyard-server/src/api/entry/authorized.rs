//! What an agent may serve: the descendants of its own ID and of the node aliases
//! its node belongs to, computed from the entry cache with the node's selectors
//! as the datastore has them (so a node attested a moment ago is authorized at
//! once, before the cache has seen it).

use std::sync::Arc;

use lanyard_spiffe::SpiffeId;
use lanyard_store::model::{EntryId, RegistrationEntry};

use crate::api::{ApiError, ServerContext};

/// The entries agent `agent_id` is authorized for, ordered by entry ID.
pub(crate) async fn authorized_entries(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
) -> Result<Vec<Arc<RegistrationEntry>>, ApiError> {
    let node = ctx
        .store
        .get_node(agent_id)
        .await
        .map_err(|e| ApiError::internal("failed to fetch agent", &e))?
        .ok_or_else(|| ApiError::permission_denied("agent is not attested"))?;
    Ok(ctx.cache.authorized_entries(agent_id, &node.selectors))
}

/// The entry `id` if agent `agent_id` is authorized for it.
pub(crate) async fn authorized_entry(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    id: &EntryId,
) -> Result<Option<Arc<RegistrationEntry>>, ApiError> {
    let entries = authorized_entries(ctx, agent_id).await?;
    Ok(entries.into_iter().find(|e| &e.id == id))
}
