//! The `health_checks` HTTP listener (`/live`, `/ready`) and the Prometheus `/metrics`
//! listener.

use std::future::Future;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use super::HealthState;
use crate::config::{HealthChecksConfig, PrometheusConfig};

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The address could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// `host:port`.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Prometheus recorder could not be installed (one per process).
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
}

/// The router answering `live_path` and `ready_path`: 200 when the check passes, 503
/// otherwise, with a one-line JSON body.
pub fn health_router(config: &HealthChecksConfig, health: HealthState) -> Router {
    Router::new()
        .route(&config.live_path, get(live))
        .route(&config.ready_path, get(ready))
        .with_state(health)
}

/// Binds the health listener and returns the future that serves it until `shutdown`.
pub async fn bind_health_listener<F>(
    config: &HealthChecksConfig,
    health: HealthState,
    shutdown: F,
) -> Result<impl Future<Output = std::io::Result<()>> + Send + use<F>, ListenerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listener = bind(&config.bind_address, config.bind_port).await?;
    let router = health_router(config, health);
    Ok(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    })
}

/// Installs the process-wide Prometheus recorder and binds `/metrics`; returns the
/// future that serves it until `shutdown`.
pub async fn bind_prometheus_listener<F>(
    config: &PrometheusConfig,
    shutdown: F,
) -> Result<impl Future<Output = std::io::Result<()>> + Send + use<F>, ListenerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|err| ListenerError::Recorder(err.to_string()))?;
    let listener = bind(&config.host, config.port).await?;
    let router = Router::new()
        .route("/metrics", get(render))
        .with_state(handle);
    Ok(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    })
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, ListenerError> {
    let address = format!("{host}:{port}");
    TcpListener::bind((host, port))
        .await
        .map_err(|source| ListenerError::Bind { address, source })
}

async fn live(State(health): State<HealthState>) -> (StatusCode, &'static str) {
    if health.is_live() {
        (StatusCode::OK, "{\"live\":true}\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "{\"live\":false}\n")
    }
}

async fn ready(State(health): State<HealthState>) -> (StatusCode, String) {
    match health.not_ready_reason(SystemTime::now()) {
        None => (StatusCode::OK, "{\"ready\":true}\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{}\n",
                serde_json::json!({"ready": false, "reason": reason})
            ),
        ),
    }
}

async fn render(State(handle): State<PrometheusHandle>) -> String {
    handle.render()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    async fn get_status(port: u16, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response.lines().next().unwrap_or_default().to_owned()
    }

    async fn get_body(port: u16, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn live_and_ready_follow_the_health_state() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let config = HealthChecksConfig {
            listener_enabled: true,
            bind_address: "127.0.0.1".into(),
            bind_port: port,
            live_path: "/live".into(),
            ready_path: "/ready".into(),
        };
        let health = HealthState::new();
        let router = health_router(&config, health.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });

        assert!(get_status(port, "/live").await.contains("200"));
        assert!(get_status(port, "/ready").await.contains("503"));
        health.set_server_error(Some("the server did not answer with TLS".into()));
        let body = get_body(port, "/ready").await;
        assert_eq!(
            body,
            "{\"ready\":false,\"reason\":\"the server did not answer with TLS\"}\n"
        );
        health.set_server_error(None);

        health.set_agent_svid(SystemTime::now() + Duration::from_secs(3600));
        health.set_synced();
        assert!(get_status(port, "/ready").await.contains("200"));

        health.set_failed();
        assert!(get_status(port, "/live").await.contains("503"));
        assert!(get_status(port, "/ready").await.contains("503"));
        assert!(get_status(port, "/other").await.contains("404"));
    }
}
