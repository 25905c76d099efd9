//! Fetching the bootstrap bundle from `trust_bundle_url`: HTTPS checked against Web PKI
//! roots, or plain HTTP over `trust_bundle_unix_socket` (the socket's permissions are
//! the protection there). One GET, status 200, a bounded body, a deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use url::Url;

/// Largest bundle body accepted.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// How long the whole fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the bundle could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL cannot be fetched as configured.
    #[error(
        "trust_bundle_url must be https (or http with trust_bundle_unix_socket) and name a host"
    )]
    BadUrl,
    /// Connecting, TLS or HTTP failed.
    #[error("cannot fetch the trust bundle: {0}")]
    Transport(String),
    /// The server answered with another status than 200.
    #[error("the trust bundle url answered http status {0}")]
    Status(u16),
    /// No answer in time.
    #[error("fetching the trust bundle timed out")]
    Timeout,
}

/// The Web PKI roots (Mozilla's), used to check `trust_bundle_url`'s server.
pub fn web_pki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// GETs `url` (over `unix_socket` when given, else HTTPS checked against `roots`) and
/// returns the body.
pub async fn fetch_bundle_bytes(
    url: &Url,
    unix_socket: Option<&Path>,
    roots: RootCertStore,
) -> Result<Vec<u8>, FetchError> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch(url, unix_socket, roots))
        .await
        .map_err(|_| FetchError::Timeout)?
}

async fn fetch(
    url: &Url,
    unix_socket: Option<&Path>,
    roots: RootCertStore,
) -> Result<Vec<u8>, FetchError> {
    let host = url.host_str().ok_or(FetchError::BadUrl)?.to_owned();
    if let Some(socket) = unix_socket {
        let stream = UnixStream::connect(socket).await.map_err(transport)?;
        return get(stream, url, &host).await;
    }
    if url.scheme() != "https" {
        return Err(FetchError::BadUrl);
    }
    let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let server_name = ServerName::try_from(name.clone()).map_err(|_| FetchError::BadUrl)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(transport)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect((name.as_str(), port))
        .await
        .map_err(transport)?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(transport)?;
    get(tls, url, &host).await
}

async fn get<S>(stream: S, url: &Url, host: &str) -> Result<Vec<u8>, FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(transport)?;
    let driver = tokio::spawn(connection);
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let request = http::Request::get(target)
        .header(http::header::HOST, host)
        .body(Body::empty())
        .map_err(transport)?;
    let response = sender.send_request(request).await.map_err(transport)?;
    if response.status() != http::StatusCode::OK {
        driver.abort();
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_BUNDLE_BYTES)
        .await
        .map_err(transport)?;
    driver.abort();
    Ok(body.to_vec())
}

fn transport(err: impl std::fmt::Display) -> FetchError {
    FetchError::Transport(err.to_string())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use hyper::server::conn::http1 as server_http1;
    use hyper::service::service_fn;
    use rustls::ServerConfig;
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::net::{TcpListener, UnixListener};
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::keys::PrivateKey;
    use crate::testutil::TestCa;

    /// Answers `/bundle` with `body`, anything else with 404, over each accepted stream.
    async fn answer<S>(stream: S, body: &'static str)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(
            move |request: http::Request<hyper::body::Incoming>| async move {
                let status = if request.uri().path() == "/bundle" {
                    http::StatusCode::OK
                } else {
                    http::StatusCode::NOT_FOUND
                };
                let mut response = http::Response::new(body.to_owned());
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            },
        );
        let _ = server_http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }

    /// An HTTPS server on loopback whose certificate `ca` issued for `localhost`.
    async fn https_server(ca: &TestCa, body: &'static str) -> u16 {
        let key = PrivateKey::generate(lanyard_ca::KeyType::EcP256).expect("key");
        let chain = ca.issue_server_cert("localhost", &key);
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, der)
            .expect("server cert");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        answer(tls, body).await;
                    }
                });
            }
        });
        port
    }

    fn web_ca(name: &str) -> TestCa {
        TestCa::valid_from(name, std::time::SystemTime::now() - Duration::from_secs(60))
    }

    fn roots_of(ca: &TestCa) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(ca.root()).expect("root");
        roots
    }

    #[tokio::test]
    async fn https_is_checked_against_the_roots() {
        let ca = web_ca("web.example");
        let port = https_server(&ca, "the bundle").await;
        let url = Url::parse(&format!("https://localhost:{port}/bundle")).expect("url");

        let body = fetch_bundle_bytes(&url, None, roots_of(&ca))
            .await
            .expect("fetched");
        assert_eq!(body, b"the bundle");

        let other = web_ca("other.example");
        let refused = fetch_bundle_bytes(&url, None, roots_of(&other)).await;
        assert!(
            matches!(refused, Err(FetchError::Transport(_))),
            "{refused:?}"
        );
        let refused = fetch_bundle_bytes(&url, None, web_pki_roots()).await;
        assert!(
            matches!(refused, Err(FetchError::Transport(_))),
            "{refused:?}"
        );

        let missing = Url::parse(&format!("https://localhost:{port}/nope")).expect("url");
        let refused = fetch_bundle_bytes(&missing, None, roots_of(&ca)).await;
        assert!(
            matches!(refused, Err(FetchError::Status(404))),
            "{refused:?}"
        );

        let plain = Url::parse(&format!("http://localhost:{port}/bundle")).expect("url");
        let refused = fetch_bundle_bytes(&plain, None, roots_of(&ca)).await;
        assert!(matches!(refused, Err(FetchError::BadUrl)), "{refused:?}");
    }

    #[tokio::test]
    async fn plain_http_goes_over_the_unix_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("bundle.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, "over the socket"));
            }
        });
        let url = Url::parse("http://localhost/bundle").expect("url");
        let body = fetch_bundle_bytes(&url, Some(&socket), RootCertStore::empty())
            .await
            .expect("fetched");
        assert_eq!(body, b"over the socket");
    }
}
