//! Join tokens: single-use, short-lived, stored only as SHA-256 hashes.

use lanyard_spiffe::{Selector, SelectorSet};
use time::OffsetDateTime;

use crate::backend::{Conn, DbRow as _, args};
use crate::error::unique_as_exists;
use crate::model::JoinToken;
use crate::model::token_hash;
use crate::sql::{db_time, time_from_db};
use crate::tx::write_tx;
use crate::{Store, StoreError};

pub(crate) const TOKEN: &str = "join token";

impl Store {
    /// Stores a token (as its hash) with its expiry and the node selectors it binds.
    /// `AlreadyExists` if the same token is already stored.
    pub async fn create_join_token(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        node_selectors: &SelectorSet,
    ) -> Result<(), StoreError> {
        let selectors: Vec<String> = node_selectors.iter().map(ToString::to_string).collect();
        let selectors = serde_json::to_string(&selectors)
            .map_err(|_| StoreError::InvalidArgument("node selectors cannot be encoded"))?;
        let now = db_time(OffsetDateTime::now_utc());
        write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "INSERT INTO join_tokens (token_hash, expires_at, node_selectors, created_at) \
                     VALUES ($1, $2, $3, $4)",
                    args![token_hash(token), db_time(expires_at), selectors, now],
                )
                .await
                .map_err(unique_as_exists(TOKEN))?
        });
        Ok(())
    }

    /// Redeems a token: removes it in one statement, so of any number of concurrent
    /// callers exactly one gets it. `NotFound` if unknown or already used; `Expired`
    /// (and gone) if it expired at or before `now`.
    pub async fn take_join_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<JoinToken, StoreError> {
        let hash = token_hash(token);
        let taken = write_tx!(self, |tx| take(tx.conn, hash).await?);
        redeemed(taken, now)
    }

    /// Redeems several tokens, each at its own time, in one transaction (one
    /// commit for all); each gets the result [`take_join_token`](Self::take_join_token)
    /// would give it. The outer error means none was redeemed.
    pub async fn take_join_tokens(
        &self,
        tokens: &[(&str, OffsetDateTime)],
    ) -> Result<Vec<Result<JoinToken, StoreError>>, StoreError> {
        let taken = write_tx!(self, |tx| {
            let mut taken = Vec::with_capacity(tokens.len());
            for (token, _) in tokens {
                taken.push(take(tx.conn, token_hash(token)).await?);
            }
            taken
        });
        Ok(taken
            .into_iter()
            .zip(tokens)
            .map(|(taken, (_, now))| redeemed(taken, *now))
            .collect())
    }

    /// Deletes tokens that expired at or before `now`; returns how many.
    pub async fn prune_join_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "DELETE FROM join_tokens WHERE expires_at <= $1",
                    args![db_time(now)],
                )
                .await?
        }))
    }
}

/// What a redemption gives once the row is gone: `NotFound` if there was none,
/// `Expired` if it expired at or before `now`.
fn redeemed(taken: Option<JoinToken>, now: OffsetDateTime) -> Result<JoinToken, StoreError> {
    match taken {
        None => Err(StoreError::NotFound(TOKEN)),
        Some(taken) if taken.expires_at <= now => Err(StoreError::Expired(TOKEN)),
        Some(taken) => Ok(taken),
    }
}

pub(crate) async fn take<C: Conn>(
    conn: &mut C,
    hash: Vec<u8>,
) -> Result<Option<JoinToken>, StoreError> {
    let row = conn
        .fetch_optional(
            "DELETE FROM join_tokens WHERE token_hash = $1 RETURNING expires_at, node_selectors",
            args![hash],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };

    let selectors: Vec<String> = serde_json::from_str(&row.text("node_selectors")?)
        .map_err(|_| StoreError::Corrupt("join_tokens.node_selectors"))?;
    let node_selectors = selectors
        .iter()
        .map(|s| Selector::parse(s))
        .collect::<Result<SelectorSet, _>>()
        .map_err(|_| StoreError::Corrupt("join_tokens.node_selectors"))?;
    Ok(Some(JoinToken {
        expires_at: time_from_db(row.i64("expires_at")?, "join_tokens.expires_at")?,
        node_selectors,
    }))
}
