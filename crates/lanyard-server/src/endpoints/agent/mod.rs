//! The agent endpoint: SPIRE's server API for agents over TCP
//! (`bind_address:bind_port`) and TLS 1.3, where the server presents its own
//! X509-SVID (`spiffe://<td>/spire/server`).
//!
//! Client certificates are optional at the TLS layer (`AttestAgent` comes without
//! one); a certificate that is offered must be an X509-SVID chaining to the current
//! bundle ([`tls`]), and every request on such a connection is authenticated
//! against the attested nodes before a handler sees it ([`auth`]).

mod auth;
mod conn;
mod identity;
mod tls;
mod verified;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lanyard_spiffe::{Bundle, SpiffeId};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;

pub use conn::AgentConnInfo;
pub use identity::ServerSvidError;
use tls::{ServerCertificate, TrustState};

use super::EndpointError;
use super::layers::RpcMetricsLayer;
use crate::api::ServerContext;
use auth::{AuthLayer, Authenticator};
use conn::AgentConn;
use identity::{Issued, Maintainer};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most handshakes in progress at once; further connections wait in the backlog.
/// A boot storm is absorbed here and in the backlog rather than by the clients'
/// SYN retransmissions (1 s, 3 s, 7 s...), which leave the server idle.
const MAX_PENDING_HANDSHAKES: usize = 4096;

/// Connections the kernel may queue before they are accepted. The kernel silently
/// caps this at `net.core.somaxconn` (4096 by default since Linux 5.4), so asking
/// for the most leaves the real limit to that setting.
const LISTEN_BACKLOG: u32 = 65_535;

/// HTTP/2 keepalive towards agents, so dead connections are noticed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// A bound agent endpoint with its first server SVID, ready to serve.
pub struct AgentEndpoint {
    listener: TcpListener,
    local_addr: Option<SocketAddr>,
    acceptor: TlsAcceptor,
    maintainer: Maintainer,
    issued: Issued,
    auth: Authenticator,
}

impl AgentEndpoint {
    /// Binds `address`, loads the bundle and issues the server's SVID.
    /// `admin_ids` are SPIFFE IDs treated as administrators.
    pub async fn bind(
        address: SocketAddr,
        ctx: &ServerContext,
        admin_ids: &[SpiffeId],
    ) -> Result<Self, EndpointError> {
        let certificate = ServerCertificate::empty();
        let trust = TrustState::new(Bundle::new(ctx.trust_domain.clone()));
        let maintainer = Maintainer {
            ca: ctx.ca.clone(),
            store: ctx.store.clone(),
            cache: ctx.cache.clone(),
            server_id: ctx.server_id.clone(),
            certificate: certificate.clone(),
            trust: trust.clone(),
        };
        let issued = maintainer
            .start()
            .await
            .map_err(EndpointError::ServerSvid)?;
        let tls = tls::server_tls_config(certificate, trust.clone()).map_err(EndpointError::Tls)?;

        let listener = listen(address).map_err(|source| EndpointError::Bind {
            what: "the agent endpoint",
            address: address.to_string(),
            source,
        })?;
        let local_addr = listener.local_addr().ok();
        Ok(Self {
            listener,
            local_addr,
            acceptor: TlsAcceptor::from(tls),
            maintainer,
            issued,
            auth: Authenticator {
                store: ctx.store.clone(),
                cache: ctx.cache.clone(),
                trust,
                admin_ids: Arc::new(admin_ids.iter().cloned().collect::<BTreeSet<_>>()),
            },
        })
    }

    /// The address actually bound (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Serves `routes` until `shutdown`, renewing the server SVID meanwhile.
    pub async fn serve(
        self,
        routes: Routes,
        shutdown: CancellationToken,
    ) -> Result<(), EndpointError> {
        let maintainer = tokio::spawn(self.maintainer.run(self.issued, shutdown.clone()));
        let (connections, incoming) = mpsc::channel::<io::Result<AgentConn>>(64);
        let acceptor = tokio::spawn(accept_loop(
            self.listener,
            self.acceptor,
            connections,
            shutdown.clone(),
        ));

        let served = Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .layer(RpcMetricsLayer)
            .layer(AuthLayer { auth: self.auth })
            .add_routes(routes)
            .serve_with_incoming_shutdown(ReceiverStream::new(incoming), shutdown.cancelled())
            .await
            .map_err(EndpointError::Grpc);
        acceptor.abort();
        maintainer.abort();
        served
    }
}

/// Binds `address` with a backlog deep enough for a boot storm.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts TCP connections and runs each handshake in its own task, so a slow
/// client cannot hold up the others.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    connections: mpsc::Sender<io::Result<AgentConn>>,
    shutdown: CancellationToken,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let Ok(permit) = pending.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "agent endpoint accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let connections = connections.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tcp.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = connections.send(Ok(AgentConn::new(stream))).await;
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, peer = %peer, "agent tls handshake failed");
                }
                Err(_) => tracing::debug!(peer = %peer, "agent tls handshake timed out"),
            }
        });
    }
}
