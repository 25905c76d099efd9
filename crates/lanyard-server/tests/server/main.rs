//! The real `lanyard-server` binary driven over its admin socket with SPIRE's
//! generated gRPC clients: one test binary, one module per area.
#![allow(clippy::unwrap_used, reason = "test code")]

mod agent_cache;
mod agent_calls;
mod agents;
mod attestation;
mod bundles;
mod common;
mod durability;
mod entries;
mod observability;
mod postgres;
mod push;
mod svids;
