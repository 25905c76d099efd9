//! The Lanyard server: the SPIFFE authority for one trust domain. It holds the CA and JWT
//! keys, the registration entries and the attested nodes, attests agents, signs SVIDs and
//! serves SPIRE's server API on a local admin socket and to agents over mTLS.
//!
//! - [`config`]: `server.conf` and the `run` flags, parsed into a [`config::ServerConfig`].
#![forbid(unsafe_code)]

pub mod config;
