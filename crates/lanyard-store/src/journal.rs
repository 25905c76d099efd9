//! CA journals: one opaque blob per server (its key-rotation state).

use time::OffsetDateTime;

use crate::backend::{Conn as _, DbRow as _, args};
use crate::sql::db_time;
use crate::tx::{read_tx, write_tx};
use crate::{Store, StoreError};

impl Store {
    pub async fn load_ca_journal(&self, server_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(read_tx!(self, |conn| {
            let row = conn
                .fetch_optional(
                    "SELECT data FROM ca_journals WHERE server_id = $1",
                    args![server_id],
                )
                .await?;
            row.map(|r| r.bytes("data")).transpose()?
        }))
    }

    /// Replaces the server's journal; durable when this returns.
    pub async fn save_ca_journal(&self, server_id: &str, data: &[u8]) -> Result<(), StoreError> {
        let now = db_time(OffsetDateTime::now_utc());
        write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "INSERT INTO ca_journals (server_id, data, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (server_id) DO UPDATE \
                     SET data = excluded.data, updated_at = excluded.updated_at",
                    args![server_id, data.to_vec(), now],
                )
                .await?
        });
        Ok(())
    }

    /// Deletes journals not saved since `before` (servers long gone); returns how many.
    pub async fn prune_ca_journals(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "DELETE FROM ca_journals WHERE updated_at < $1",
                    args![db_time(before)],
                )
                .await?
        }))
    }
}
