//! The Lanyard datastore: registration entries, attested nodes, join tokens,
//! bundles, CA journals and federation relationships, on SQLite (the embedded
//! default) or PostgreSQL (shared by several servers), plus the change log that
//! lets entry caches follow every write.
//!
//! Open a [`Store`] from a [`StoreConfig`] and share it as `Arc<Store>`. Every
//! method is one transaction; a method that returns `Ok` has committed durably.
//!
//! Following changes: load once with [`Store::snapshot`], then repeatedly call
//! [`Store::changes_since`] with the last sequence number applied, waiting on
//! [`Store::subscribe`] between calls. Sequence numbers are gapless and committed
//! in order (see [`changelog`]), so a follower never skips a change; if it falls
//! behind pruning it is told to reload.
#![forbid(unsafe_code)]

mod backend;
mod bundles;
pub mod changelog;
mod config;
mod entries;
mod error;
mod federation;
mod journal;
pub mod model;
mod nodes;
mod published;
mod sql;
mod store;
mod tokens;
mod tpm;
mod tx;

pub use changelog::{Change, ChangeKind, ChangesSince};
pub use config::{DEFAULT_BUSY_TIMEOUT, DEFAULT_PG_MAX_CONNECTIONS, SQLITE_FILE_NAME, StoreConfig};
pub use error::StoreError;
pub use store::{Snapshot, Store};
