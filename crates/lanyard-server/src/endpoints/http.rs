//! The plain-HTTP listeners: health probes (`/live`, `/ready`) and the Prometheus
//! scrape endpoint (`/metrics`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::EndpointError;
use crate::api::ServerContext;

/// A bound HTTP listener and the routes it will serve.
pub struct HttpEndpoint {
    listener: TcpListener,
    router: Router,
    name: &'static str,
}

impl HttpEndpoint {
    /// Binds `address:port` (`name` labels errors and logs).
    pub async fn bind(
        name: &'static str,
        address: &str,
        port: u16,
        router: Router,
    ) -> Result<Self, EndpointError> {
        let listener =
            TcpListener::bind((address, port))
                .await
                .map_err(|source| EndpointError::Bind {
                    what: name,
                    address: format!("{address}:{port}"),
                    source,
                })?;
        Ok(Self {
            listener,
            router,
            name,
        })
    }

    /// The bound address (the port is the real one when 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), EndpointError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| EndpointError::Serve {
                what: self.name,
                source,
            })
    }
}

/// `live_path` answers 200 while the server runs; `ready_path` answers 200 when
/// the datastore responds and the CA has an active X.509 authority, else 500.
/// Both bodies are small JSON objects naming each check.
pub fn health_router(live_path: &str, ready_path: &str, ctx: Arc<ServerContext>) -> Router {
    Router::new()
        .route(live_path, get(live))
        .route(ready_path, get(ready))
        .with_state(ctx)
}

/// `/metrics` in the Prometheus text format.
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .with_state(handle)
}

async fn live() -> Response {
    (StatusCode::OK, axum::Json(json!({ "live": true }))).into_response()
}

async fn ready(State(ctx): State<Arc<ServerContext>>) -> Response {
    let datastore = ctx.store.last_change_seq().await.is_ok();
    let ca = ctx.ca.is_ready();
    let ready = datastore && ca;

    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let body = json!({
        "ready": ready,
        "checks": { "datastore": datastore, "ca": ca },
    });
    (status, axum::Json(body)).into_response()
}

async fn render_metrics(State(handle): State<PrometheusHandle>) -> Response {
    handle.run_upkeep();
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
