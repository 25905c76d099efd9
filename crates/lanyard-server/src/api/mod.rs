//! SPIRE's server API v1, served from the shared server state.
//!
//! One module per gRPC service; each has one place (`status` modules, or the
//! service file for the small ones) where its domain errors become gRPC codes.
//! Handlers read the authenticated [`Caller`] that the accepting endpoint put in
//! the request's extensions and refuse requests without one.

mod agent;
mod agent_sync;
mod bundle;
mod caller;
mod debug;
mod entry;
mod error;
mod localauthority;
mod logger;
mod svid;
pub mod types;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lanyard_attest::ServerAttestors;
use tokio::sync::Semaphore;

use lanyard_daemon::LogHandle;
use lanyard_spiffe::{SpiffeId, TrustDomain};
use lanyard_store::Store;
use tonic::service::Routes;

pub(crate) use agent::NodeWriter;
pub use agent::{
    AgentService, DEFAULT_JOIN_TOKEN_TTL, JOIN_TOKEN_ATTESTOR, NODE_ATTRIBUTE_METADATA, Reason,
    build_attestors, denied_with_reason, join_token_agent_id,
};
pub use agent_sync::AgentSyncService;
pub use bundle::BundleService;
pub use caller::{Caller, caller_of, require_admin, require_agent};
pub use debug::DebugService;
pub use entry::EntryService;
pub use error::{ApiError, ErrorChain, ok_status};
pub use localauthority::LocalAuthorityService;
pub use logger::LoggerService;
pub use svid::SvidService;

use crate::ca::ServerCa;
use crate::cache::EntryCache;

/// Everything the API handlers share.
pub struct ServerContext {
    /// The server's trust domain.
    pub trust_domain: TrustDomain,
    /// `spiffe://<td>/spire/server`: the parent ID of node aliases.
    pub server_id: SpiffeId,
    /// The datastore.
    pub store: Arc<Store>,
    /// The entry cache that agent queries read.
    pub cache: EntryCache,
    /// The signing authorities.
    pub ca: Arc<ServerCa>,
    /// Changes the log level at run time, when this process owns the logger.
    pub log: Option<LogHandle>,
    /// When the server started (for uptime).
    pub started_at: Instant,
    /// The node attestors `AttestAgent` runs.
    pub attestors: ServerAttestors,
    /// Lifetime of agent SVIDs.
    pub agent_ttl: Duration,
    /// Attestations allowed to run at once; the rest wait for a slot.
    pub attestation_slots: Semaphore,
    /// Records attested nodes, many per transaction in a storm.
    pub(crate) node_writer: NodeWriter,
}

impl ServerContext {
    /// `spiffe://<td>/spire/server` for `td`.
    pub fn server_id_for(td: &TrustDomain) -> SpiffeId {
        td.id()
            .join("spire/server")
            .expect("a constant two-segment path is a valid SPIFFE ID path")
    }
}

/// The services the admin Unix socket serves: every SPIRE server API v1 service
/// plus `grpc.health.v1.Health` (passed in, so its reporter stays with the caller).
pub fn admin_routes<H>(ctx: &Arc<ServerContext>, health: H) -> Routes
where
    H: tonic::server::NamedService
        + tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    H::Future: Send + 'static,
{
    Routes::new(EntryService::new(ctx.clone()).into_server())
        .add_service(BundleService::new(ctx.clone()).into_server())
        .add_service(AgentService::new(ctx.clone()).into_server())
        .add_service(SvidService::new(ctx.clone()).into_server())
        .add_service(LocalAuthorityService::new(ctx.clone()).into_server())
        .add_service(DebugService::new(ctx.clone()).into_server())
        .add_service(LoggerService::new(ctx.clone()).into_server())
        .add_service(health)
}

/// The services the agent endpoint serves: SPIRE's Agent, Bundle, Entry and SVID
/// services (each refuses what its caller may not do), and Lanyard's push stream.
pub fn agent_routes(ctx: &Arc<ServerContext>) -> Routes {
    Routes::new(AgentService::new(ctx.clone()).into_server())
        .add_service(BundleService::new(ctx.clone()).into_server())
        .add_service(EntryService::new(ctx.clone()).into_server())
        .add_service(SvidService::new(ctx.clone()).into_server())
        .add_service(AgentSyncService::new(ctx.clone()).into_server())
}
