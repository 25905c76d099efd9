//! One accepted agent connection: the TLS stream and what the handshake
//! established, handed to every request on it as [`AgentConnInfo`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use super::verified::VerifiedPeer;

/// The RFC 8446 exporter label for the attestation session binding.
const SESSION_BINDING_LABEL: &[u8] = b"EXPORTER-lanyard-attestation";

/// What the TLS handshake established about the peer; present in the extensions
/// of every request on the connection.
#[derive(Clone, Debug)]
pub struct AgentConnInfo {
    /// The peer's address.
    pub peer_addr: Option<SocketAddr>,
    /// The client certificate chain (leaf first), verified against the trust
    /// bundle during the handshake; `None` when the client sent none.
    pub peer_certs: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// A value unique to this TLS session, for attestors that bind proofs to it.
    pub session_binding: Option<[u8; 32]>,
    /// What authenticating the client certificate established, kept for the
    /// connection's later requests.
    pub(super) verified: Arc<VerifiedPeer>,
}

/// A TLS connection from an agent.
pub(super) struct AgentConn {
    stream: TlsStream<TcpStream>,
    info: AgentConnInfo,
}

impl AgentConn {
    /// Wraps a completed handshake.
    pub(super) fn new(stream: TlsStream<TcpStream>) -> Self {
        let (tcp, session) = stream.get_ref();
        let peer_addr = tcp.peer_addr().ok();
        let peer_certs = session
            .peer_certificates()
            .filter(|certs| !certs.is_empty())
            .map(|certs| Arc::new(certs.iter().map(|c| c.clone().into_owned()).collect()));
        let session_binding = session
            .export_keying_material([0_u8; 32], SESSION_BINDING_LABEL, None)
            .ok();
        Self {
            stream,
            info: AgentConnInfo {
                peer_addr,
                peer_certs,
                session_binding,
                verified: Arc::default(),
            },
        }
    }
}

impl Connected for AgentConn {
    type ConnectInfo = AgentConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for AgentConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
