//! The SPIFFE Workload API (`SpiffeWorkloadAPI`, no proto package) and workload
//! attestation.
//!
//! - [`peer`]: the caller's pid, uid and gid from `SO_PEERCRED`, and the pin on its
//!   process taken right after `accept`;
//! - [`attestor`]: the `unix` and `systemd` attestors, run concurrently per call;
//! - [`WorkloadApi`]: the gRPC service over the agent's [`Cache`](crate::cache::Cache);
//! - [`endpoint`]: the public socket that serves it with SDS, health and reflection.
//!
//! Every call of `/SpiffeWorkloadAPI/` must carry `workload.spiffe.io: true`
//! (`InvalidArgument` otherwise); the caller is attested per call; a caller without an
//! identity gets `PermissionDenied` ("no identity issued"). Streams send the complete
//! state at once and again whenever it changes; anything removed is simply absent from
//! the next message.

pub mod attestor;
mod caller;
mod claims;
pub mod endpoint;
mod handler;
pub mod peer;
pub(crate) mod responses;
mod status;
pub(crate) mod stream;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeSet;

use lanyard_spiffe::TrustDomain;

pub use caller::{SECURITY_HEADER, attest_request};
pub use handler::WorkloadApi;
pub use status::WorkloadError;

/// Settings of the Workload API.
#[derive(Debug, Clone)]
pub struct WorkloadApiConfig {
    /// The agent's trust domain: JWT-SVIDs of other trust domains have their claims
    /// filtered by `ValidateJWTSVID`.
    pub trust_domain: TrustDomain,
    /// Serve bundles to callers that hold no identity.
    pub allow_unauthenticated_verifiers: bool,
    /// Claims of foreign JWT-SVIDs that `ValidateJWTSVID` returns besides `sub`, `aud`
    /// and `exp`.
    pub allowed_foreign_jwt_claims: BTreeSet<String>,
}

impl WorkloadApiConfig {
    /// The settings from the agent configuration.
    pub fn from_agent_config(config: &crate::config::AgentConfig) -> Self {
        Self {
            trust_domain: config.trust_domain.clone(),
            allow_unauthenticated_verifiers: config.allow_unauthenticated_verifiers,
            allowed_foreign_jwt_claims: config.allowed_foreign_jwt_claims.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
