//! Attested nodes: the public operations.

pub(crate) mod read;
mod write;

use lanyard_spiffe::{SelectorSet, SpiffeId};
use time::OffsetDateTime;

use crate::model::{AttestedNode, NodeFilter, NodeUpdate, Page, PageRequest};
use crate::tx::{read_tx, write_tx};
use crate::{Store, StoreError};

impl Store {
    /// Records a newly attested node with its selectors. `AlreadyExists` if known.
    pub async fn create_node(&self, node: &AttestedNode) -> Result<AttestedNode, StoreError> {
        Ok(write_tx!(self, |tx| write::create(&mut tx, node).await?))
    }

    /// Records newly attested nodes in one transaction (one commit for all), each
    /// with its own result: `AlreadyExists` for a known node, which is then left
    /// as it was. The outer error means nothing was written.
    pub async fn create_nodes(
        &self,
        nodes: &[AttestedNode],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        Ok(write_tx!(self, |tx| {
            let mut results = Vec::with_capacity(nodes.len());
            for node in nodes {
                let mark = tx.begin_item().await?;
                match write::insert(&mut tx, node).await {
                    Ok(()) => {
                        tx.commit_item().await?;
                        results.push(Ok(()));
                    }
                    Err(error) => {
                        tx.rollback_item(mark).await?;
                        results.push(Err(error));
                    }
                }
            }
            results
        }))
    }

    pub async fn get_node(&self, id: &SpiffeId) -> Result<Option<AttestedNode>, StoreError> {
        Ok(read_tx!(self, |conn| read::get(conn, id).await?))
    }

    /// The nodes among `ids` that exist, ordered by ID, read in one snapshot.
    pub async fn get_nodes(&self, ids: &[SpiffeId]) -> Result<Vec<AttestedNode>, StoreError> {
        Ok(read_tx!(self, |conn| read::get_many(conn, ids).await?))
    }

    pub async fn count_nodes(&self, filter: &NodeFilter) -> Result<u64, StoreError> {
        Ok(read_tx!(self, |conn| read::count(conn, filter).await?))
    }

    /// One page of the nodes matching `filter`, ordered by SPIFFE ID.
    pub async fn list_nodes(
        &self,
        filter: &NodeFilter,
        page: &PageRequest,
    ) -> Result<Page<AttestedNode>, StoreError> {
        Ok(read_tx!(self, |conn| read::list(conn, filter, page).await?))
    }

    /// Applies the `Some` fields of `update`. `NotFound` if absent.
    pub async fn update_node(
        &self,
        id: &SpiffeId,
        update: &NodeUpdate,
    ) -> Result<AttestedNode, StoreError> {
        Ok(write_tx!(self, |tx| write::update(&mut tx, id, update).await?))
    }

    /// Makes the pending (renewed) serial `serial` current, if it still is the
    /// pending one; returns whether it was.
    pub async fn activate_node_serial(
        &self,
        id: &SpiffeId,
        serial: &str,
    ) -> Result<bool, StoreError> {
        Ok(write_tx!(self, |tx| write::activate_serial(
            &mut tx, id, serial
        )
        .await?))
    }

    /// Sets `last_seen`; not written to the change log.
    pub async fn touch_node(&self, id: &SpiffeId, at: OffsetDateTime) -> Result<(), StoreError> {
        write_tx!(self, |tx| write::touch(tx.conn, id, at).await?);
        Ok(())
    }

    /// Replaces the node's selectors. `NotFound` if the node is absent.
    pub async fn set_node_selectors(
        &self,
        id: &SpiffeId,
        selectors: &SelectorSet,
    ) -> Result<(), StoreError> {
        write_tx!(self, |tx| write::set_selectors(&mut tx, id, selectors)
            .await?);
        Ok(())
    }

    /// Bans the node (serials cleared, record kept) until it is deleted.
    pub async fn ban_node(&self, id: &SpiffeId) -> Result<AttestedNode, StoreError> {
        Ok(write_tx!(self, |tx| write::ban(&mut tx, id).await?))
    }

    /// Deletes (evicts) the node and its selectors; also lifts a ban. Returns it.
    pub async fn delete_node(&self, id: &SpiffeId) -> Result<AttestedNode, StoreError> {
        Ok(write_tx!(self, |tx| write::delete(&mut tx, id).await?))
    }

    /// Deletes nodes whose SVID expired before `before` (never banned ones; nodes
    /// that cannot re-attest only if `include_non_reattestable`). Returns how many.
    pub async fn prune_nodes(
        &self,
        before: OffsetDateTime,
        include_non_reattestable: bool,
    ) -> Result<u64, StoreError> {
        Ok(write_tx!(self, |tx| {
            write::prune(&mut tx, before, include_non_reattestable).await?
        }))
    }
}
