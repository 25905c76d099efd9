//! The admin API on a Unix socket: every caller is a local administrator (file
//! permissions on the socket's directory decide who may connect).

use std::path::{Path, PathBuf};

use lanyard_daemon::socket::{PRIVATE_SOCKET_DIR_MODE, bind_unix_listener};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;

use super::EndpointError;
use super::layers::{CallerLayer, RpcMetricsLayer};
use crate::api::Caller;

/// A bound admin socket, ready to serve.
#[derive(Debug)]
pub struct AdminEndpoint {
    listener: UnixListener,
    path: PathBuf,
}

impl AdminEndpoint {
    /// Binds `path`, creating its directory (mode 0770) if needed and replacing a
    /// stale socket left by a previous run.
    pub fn bind(path: &Path) -> Result<Self, EndpointError> {
        let listener = bind_unix_listener(path, PRIVATE_SOCKET_DIR_MODE)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves `routes` until `shutdown` is cancelled, then removes the socket
    /// file (no new callers) and drains the open calls.
    pub async fn serve(
        self,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Result<(), EndpointError> {
        let incoming = UnixListenerStream::new(self.listener);
        let path = self.path;
        let stop = async move {
            shutdown.cancelled().await;
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%error, "could not remove the admin socket");
            }
        };
        Server::builder()
            .layer(RpcMetricsLayer)
            .layer(CallerLayer::new(Caller::Local))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, stop)
            .await
            .map_err(EndpointError::Grpc)
    }
}
