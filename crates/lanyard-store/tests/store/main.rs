//! The datastore conformance suite: every test runs against SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, reason = "test code")]

mod bundles;
mod changes;
mod common;
mod crash;
mod entries;
mod entry_batches;
mod nodes;
mod schema;
mod tokens;
mod tpm;
