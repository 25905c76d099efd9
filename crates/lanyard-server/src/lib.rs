//! The Lanyard server: the SPIFFE authority for one trust domain. It holds the CA and JWT
//! keys, the registration entries and the attested nodes, attests agents, signs SVIDs and
//! serves SPIRE's server API on a local admin socket and to agents over mTLS.
//!
//! - [`config`]: `server.conf` and the `run` flags, parsed into a [`config::ServerConfig`];
//! - [`cli`]: the `lanyard-server` command tree (SPIRE's `spire-server` commands and flags);
//! - [`run`]: the daemon: datastore, CA ([`ca`]), entry cache ([`cache`]), the SPIRE server
//!   API services ([`api`]) and the listeners ([`endpoints`]).
#![forbid(unsafe_code)]

pub mod api;
pub mod ca;
pub mod cache;
pub mod cli;
pub mod config;
pub mod endpoints;
pub mod run;
