//! Registration entries: the public operations.

mod create_many;
mod framed;
pub(crate) mod read;
mod scan;
mod write;

use time::OffsetDateTime;

use crate::model::{
    EntryFilter, EntryId, EntryMask, EntrySpec, EntryUpdate, NewEntry, Page, PageRequest,
    RegistrationEntry,
};
use crate::tx::{read_tx, write_tx};
use crate::{Store, StoreError};

pub(crate) use write::unfederate;

/// Runs one batch item inside a savepoint: a failed item is undone alone and
/// reported in its slot; the others commit together.
macro_rules! batch_item {
    ($tx:ident, $results:ident, $op:expr) => {{
        let mark = $tx.begin_item().await?;
        match $op {
            Ok(value) => {
                $tx.commit_item().await?;
                $results.push(Ok(value));
            }
            Err(error) => {
                $tx.rollback_item(mark).await?;
                $results.push(Err(error));
            }
        }
    }};
}

impl Store {
    /// Creates one entry. `AlreadyExists` for a taken ID or a similar entry.
    pub async fn create_entry(&self, new: NewEntry) -> Result<RegistrationEntry, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(write_tx!(self, |tx| write::create(&mut tx, &new, now).await?))
    }

    /// Creates entries in one transaction, each with its own result. The outer
    /// error means nothing was written.
    pub async fn create_entries(
        &self,
        batch: &[NewEntry],
    ) -> Result<Vec<Result<RegistrationEntry, StoreError>>, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(write_tx!(self, |tx| create_many::create_many(
            &mut tx, batch, now
        )
        .await?))
    }

    /// Replaces the fields of entry `id` that `mask` selects with those of `spec`
    /// and bumps its revision. `NotFound`, or `AlreadyExists` if the result would be
    /// similar to another entry.
    pub async fn update_entry(
        &self,
        id: &EntryId,
        spec: &EntrySpec,
        mask: &EntryMask,
    ) -> Result<RegistrationEntry, StoreError> {
        Ok(write_tx!(self, |tx| write::update(&mut tx, id, spec, mask).await?))
    }

    /// Updates entries in one transaction, each with its own result.
    pub async fn update_entries(
        &self,
        batch: &[EntryUpdate],
    ) -> Result<Vec<Result<RegistrationEntry, StoreError>>, StoreError> {
        Ok(write_tx!(self, |tx| {
            let mut results = Vec::with_capacity(batch.len());
            for u in batch {
                batch_item!(
                    tx,
                    results,
                    write::update(&mut tx, &u.id, &u.spec, &u.mask).await
                );
            }
            results
        }))
    }

    /// Deletes an entry and returns it. `NotFound` if absent.
    pub async fn delete_entry(&self, id: &EntryId) -> Result<RegistrationEntry, StoreError> {
        Ok(write_tx!(self, |tx| write::delete(&mut tx, id).await?))
    }

    /// Deletes entries in one transaction, each with its own result.
    pub async fn delete_entries(
        &self,
        ids: &[EntryId],
    ) -> Result<Vec<Result<RegistrationEntry, StoreError>>, StoreError> {
        Ok(write_tx!(self, |tx| {
            let mut results = Vec::with_capacity(ids.len());
            for id in ids {
                batch_item!(tx, results, write::delete(&mut tx, id).await);
            }
            results
        }))
    }

    pub async fn get_entry(&self, id: &EntryId) -> Result<Option<RegistrationEntry>, StoreError> {
        Ok(read_tx!(self, |conn| read::get(conn, id).await?))
    }

    /// The entries among `ids` that exist, ordered by ID, read in one snapshot
    /// (for following the change log in batches).
    pub async fn get_entries(&self, ids: &[EntryId]) -> Result<Vec<RegistrationEntry>, StoreError> {
        Ok(read_tx!(self, |conn| read::get_many(conn, ids).await?))
    }

    pub async fn count_entries(&self, filter: &EntryFilter) -> Result<u64, StoreError> {
        Ok(read_tx!(self, |conn| read::count(conn, filter).await?))
    }

    /// One page of the entries matching `filter`, ordered by ID.
    pub async fn list_entries(
        &self,
        filter: &EntryFilter,
        page: &PageRequest,
    ) -> Result<Page<RegistrationEntry>, StoreError> {
        Ok(read_tx!(self, |conn| read::list(conn, filter, page).await?))
    }

    /// Every entry, ordered by ID (to fill a cache; see also `Store::snapshot`).
    pub async fn list_all_entries(&self) -> Result<Vec<RegistrationEntry>, StoreError> {
        Ok(read_tx!(self, |conn| read::all(conn).await?))
    }

    /// Deletes entries whose `expires_at` is before `before`; returns how many.
    pub async fn prune_entries(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(write_tx!(self, |tx| write::prune(&mut tx, before).await?))
    }
}
