//! Where the server listens: the admin Unix socket (gRPC), the agent endpoint (gRPC
//! over TLS on TCP), the health probes and
//! the Prometheus scrape endpoint (HTTP). Each endpoint binds first, so a startup
//! error is reported before anything is served, then serves until shutdown.

mod admin;
mod agent;
mod http;
mod layers;

use lanyard_daemon::socket::SocketError;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use admin::AdminEndpoint;
pub use agent::{AgentConnInfo, AgentEndpoint, ServerSvidError};
pub use http::{HttpEndpoint, health_router, metrics_router};
pub use layers::{CallerLayer, RpcMetricsLayer, WithCaller};

/// Why an endpoint could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The admin socket could not be bound.
    #[error("admin socket")]
    Socket(#[from] SocketError),

    /// A TCP listener could not be bound.
    #[error("cannot listen for {what} on {address}")]
    Bind {
        /// Which endpoint.
        what: &'static str,
        /// The address asked for.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// An HTTP listener failed while serving.
    #[error("{what} listener failed")]
    Serve {
        /// Which endpoint.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The gRPC server failed.
    #[error("grpc server failed")]
    Grpc(#[source] tonic::transport::Error),

    /// The agent endpoint's TLS configuration was refused.
    #[error("agent endpoint tls configuration")]
    Tls(#[source] rustls::Error),

    /// The server's own X509-SVID could not be issued.
    #[error("cannot issue the server svid")]
    ServerSvid(#[source] ServerSvidError),

    /// The metrics recorder could not be installed (another one already is).
    #[error("cannot install the metrics recorder")]
    Metrics(#[source] metrics_exporter_prometheus::BuildError),
}

/// Installs the process-wide Prometheus recorder; call once, before anything
/// records. Metrics recorded before (or without) it are dropped.
pub fn install_metrics_recorder() -> Result<PrometheusHandle, EndpointError> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(EndpointError::Metrics)
}
