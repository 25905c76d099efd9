//! The Lanyard agent: proves its node's identity to the server, keeps the node's
//! registration entries and their SVIDs fresh, and hands them to local workloads.
//!
//! - [`config`]: SPIRE's `agent.conf` as typed settings;
//! - [`node`]: the agent's own identity: bootstrap trust, attestation, renewal, the mTLS
//!   connection to the server and its server-certificate verifier;
//! - [`sync`]: authorized entries and bundles from the server (push stream, or polling);
//! - [`cache`]: entries, pre-minted X.509-SVIDs, JWT-SVIDs on demand, and the
//!   subscription API the Workload API and SDS are built on;
//! - [`endpoints`]: the public socket (gRPC health today; the Workload API and SDS plug in);
//! - [`health`]: liveness/readiness state, the `/live` and `/ready` listener, metrics.
#![forbid(unsafe_code)]

pub mod agent;
pub mod cache;
pub mod cli;
pub mod config;
pub mod convert;
pub mod health;
pub mod keys;
pub mod node;
pub mod sds;
pub mod sync;
pub mod workload;

#[cfg(test)]
mod testutil;
