//! The gRPC channel to the server's agent endpoint: TLS 1.3 only, ALPN `h2`, the server
//! checked by [`verifier`](super::verifier), the agent SVID as client certificate once the
//! agent has one.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use lanyard_spiffe::SpiffeId;
use rustls::ClientConfig;
use rustls::client::danger::ServerCertVerifier;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

use super::verifier::{InsecureBootstrapVerifier, SpiffeServerVerifier, TrustAnchors};
use crate::keys::{KeyError, PrivateKey};

/// Largest gRPC message the agent accepts from the server (sync pages, bundles).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The server address does not form a valid URI.
    #[error("invalid server address {0:?}")]
    BadAddress(String),
    /// rustls refused the configuration.
    #[error("tls configuration failed")]
    Tls(#[source] rustls::Error),
    /// The agent key cannot be used for TLS.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The server could not be reached (only for eagerly opened channels).
    #[error("cannot connect to the server")]
    Connect(#[source] io::Error),
}

/// How the agent authenticates the server.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Require the server ID chaining to these anchors.
    Verified(TrustAnchors),
    /// `insecure_bootstrap` before the first bundle: accept any chain.
    InsecureBootstrap,
}

/// Where the server's agent endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Builds the TLS 1.3 client configuration: server checked per `trust` for `server_id`;
/// the agent SVID (`chain` with `key`) presented when given.
pub fn client_tls_config(
    trust: &ServerTrust,
    server_id: &SpiffeId,
    client: Option<(&[CertificateDer<'static>], &PrivateKey)>,
) -> Result<Arc<ClientConfig>, ConnectionError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        ServerTrust::Verified(anchors) => Arc::new(SpiffeServerVerifier::new(
            anchors.clone(),
            server_id.clone(),
            &provider,
        )),
        ServerTrust::InsecureBootstrap => Arc::new(InsecureBootstrapVerifier::insecure_new(
            server_id.clone(),
            &provider,
        )),
    };

    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(ConnectionError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client {
        Some((chain, key)) => {
            let certified = CertifiedKey::new(chain.to_vec(), key.rustls_signing_key()?);
            builder.with_client_cert_resolver(Arc::new(FixedClientCert(Arc::new(certified))))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A channel to `address` over `tls`. It connects on first use and reconnects by itself
/// after a failure; HTTP/2 keepalives detect a dead server on idle streams.
pub fn connect_lazy(
    address: &ServerAddress,
    tls: Arc<ClientConfig>,
) -> Result<Channel, ConnectionError> {
    let host_in_uri = if address.host.contains(':') {
        format!("[{}]", address.host)
    } else {
        address.host.clone()
    };
    let uri = format!("http://{host_in_uri}:{}", address.port);
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|_| ConnectionError::BadAddress(address.host.clone()))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);

    let server_name = server_name(&address.host);
    let host = address.host.clone();
    let port = address.port;
    let connector = service_fn(move |_: Uri| {
        let tls = TlsConnector::from(Arc::clone(&tls));
        let server_name = server_name.clone();
        let host = host.clone();
        async move {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let stream = tls.connect(server_name, tcp).await?;
            Ok::<_, io::Error>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// The RFC 8446 exporter label of the attestation session binding; the server
/// derives the same value from its side of the TLS session.
const SESSION_BINDING_LABEL: &[u8] = b"EXPORTER-lanyard-attestation";

/// A channel over ONE TLS connection opened now, and that connection's session
/// binding (a 32-byte exporter value), for attestors that bind their proofs to the
/// TLS session. The channel does not reconnect: a proof made for this session is
/// worthless on another.
pub async fn connect_bound(
    address: &ServerAddress,
    tls: Arc<ClientConfig>,
) -> Result<(Channel, [u8; 32]), ConnectionError> {
    let tcp = TcpStream::connect((address.host.as_str(), address.port))
        .await
        .map_err(ConnectionError::Connect)?;
    tcp.set_nodelay(true).map_err(ConnectionError::Connect)?;
    let stream = TlsConnector::from(tls)
        .connect(server_name(&address.host), tcp)
        .await
        .map_err(ConnectionError::Connect)?;
    let binding = stream
        .get_ref()
        .1
        .export_keying_material([0_u8; 32], SESSION_BINDING_LABEL, None)
        .map_err(ConnectionError::Tls)?;

    let slot = Arc::new(std::sync::Mutex::new(Some(stream)));
    let connector = service_fn(move |_: Uri| {
        let taken = slot.lock().ok().and_then(|mut s| s.take());
        async move {
            taken.map(TokioIo::new).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the bound connection is closed",
                )
            })
        }
    });
    let channel = Endpoint::from_static("http://lanyard-server")
        .connect_with_connector(connector)
        .await
        .map_err(|e| ConnectionError::Connect(io::Error::other(e)))?;
    Ok((channel, binding))
}

/// The TLS server name: the configured host when it is a valid DNS name or IP address.
/// The verifier ignores it (the SPIFFE ID is what is checked); it only sets SNI.
fn server_name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_owned())
        .unwrap_or_else(|_| ServerName::try_from("lanyard-server").expect("a valid dns name"))
}

#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
