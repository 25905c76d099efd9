//! Transactions over whichever backend a [`Store`](crate::Store) has.

/// Runs `$body` in a write transaction on whichever backend the store has, with
/// `$tx` bound to a `changelog::Tx`; appends the recorded changes, commits, then
/// publishes the new sequence number. `?` in the body rolls back.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::Store = $store;
        match &store.db {
            $crate::store::Db::Sqlite(db) => $crate::tx::write_tx!(@run store, db, $tx, $body),
            $crate::store::Db::Postgres(db) => $crate::tx::write_tx!(@run store, db, $tx, $body),
        }
    }};
    (@run $store:ident, $db:ident, $tx:ident, $body:expr) => {{
        let mut conn = $db.begin_write().await?;
        #[allow(unused_mut, reason = "some bodies only pass the transaction on")]
        let mut $tx = $crate::changelog::Tx::new(&mut *conn);
        let out = $body;
        let seq = $tx.finish().await?;
        conn.commit().await.map_err($crate::StoreError::backend)?;
        $store.publish(seq);
        out
    }};
}
pub(crate) use write_tx;

/// Runs `$body` in a read transaction (one snapshot) with `$conn` bound to the
/// connection.
macro_rules! read_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let store: &$crate::Store = $store;
        match &store.db {
            $crate::store::Db::Sqlite(db) => $crate::tx::read_tx!(@run db, $conn, $body),
            $crate::store::Db::Postgres(db) => $crate::tx::read_tx!(@run db, $conn, $body),
        }
    }};
    (@run $db:ident, $conn:ident, $body:expr) => {{
        let mut tx = $db.begin_read().await?;
        let $conn = &mut *tx;
        let out = $body;
        tx.commit().await.map_err($crate::StoreError::backend)?;
        out
    }};
}
pub(crate) use read_tx;
