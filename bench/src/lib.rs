//! Lanyard's load generator: starts a real `lanyard-server` process and drives it over
//! its public protocols (SPIRE's agent API over TLS, the admin API on its Unix socket)
//! with simulated agents, then reports each scenario in absolute figures and as a
//! ratio to the machine's crypto ceiling measured in the same run.
//!
//! - [`ceiling`]: P-256 signs and verifies per second per core;
//! - [`server`]: the server process, its configuration and admin calls;
//! - [`client`]: a simulated agent (the agent's own TLS and sync code);
//! - [`procstat`]: CPU seconds and memory from `/proc`;
//! - [`report`]: JSON and markdown output;
//! - [`scenarios`]: S1 boot storm, S2 registration scale, S4 issuance, S5 job launch.
#![forbid(unsafe_code)]

pub mod ceiling;
pub mod client;
pub mod procstat;
pub mod report;
pub mod scenarios;
pub mod server;
