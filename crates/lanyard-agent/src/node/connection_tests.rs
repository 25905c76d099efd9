use std::net::SocketAddr;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::*;
use crate::testutil::{TestCa, id};

struct TestServer {
    address: ServerAddress,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A TLS 1.3 gRPC server on loopback presenting `chain`/`key` and serving gRPC health;
/// it requires a client certificate from `client_ca` when given.
async fn start_server(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKey,
    client_ca: Option<&TestCa>,
) -> TestServer {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.root()).expect("root");
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
    let mut config = builder.with_single_cert(chain, der).expect("server cert");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local: SocketAddr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok::<_, io::Error>(stream)).await;
                }
            });
        }
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health_service)
            .serve_with_incoming_shutdown(ReceiverStream::new(rx), async {
                let _ = stop.await;
            }),
    );

    TestServer {
        address: ServerAddress {
            host: "127.0.0.1".into(),
            port: local.port(),
        },
        shutdown: Some(shutdown),
    }
}

async fn health_check(channel: Channel) -> Result<(), tonic::Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
}

fn server_id() -> SpiffeId {
    id("example.org", "/spire/server")
}

fn now_chain(ca: &TestCa, id: &SpiffeId) -> (Vec<CertificateDer<'static>>, PrivateKey) {
    let key = PrivateKey::generate(lanyard_ca::KeyType::EcP256).expect("key");
    let chain = ca.issue(
        id,
        &key,
        Duration::from_secs(3600),
        std::time::SystemTime::now(),
    );
    (chain, key)
}

fn now_ca() -> TestCa {
    TestCa::valid_from(
        "example.org",
        std::time::SystemTime::now() - Duration::from_secs(60),
    )
}

#[tokio::test]
async fn verified_server_answers_over_tls13() {
    let ca = now_ca();
    let (chain, key) = now_chain(&ca, &server_id());
    let server = start_server(chain, &key, None).await;

    let trust = ServerTrust::Verified(TrustAnchors::new(ca.bundle()));
    let tls = client_tls_config(&trust, &server_id(), None).expect("tls config");
    let channel = connect_lazy(&server.address, tls).expect("channel");
    health_check(channel)
        .await
        .expect("health over verified tls");
}

#[tokio::test]
async fn server_with_the_wrong_id_is_refused() {
    let ca = now_ca();
    let (chain, key) = now_chain(&ca, &id("example.org", "/imposter"));
    let server = start_server(chain, &key, None).await;

    let trust = ServerTrust::Verified(TrustAnchors::new(ca.bundle()));
    let tls = client_tls_config(&trust, &server_id(), None).expect("tls config");
    let channel = connect_lazy(&server.address, tls).expect("channel");
    let status = health_check(channel).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
}

#[tokio::test]
async fn agent_svid_is_presented_for_mutual_tls() {
    let ca = now_ca();
    let (chain, key) = now_chain(&ca, &server_id());
    let server = start_server(chain, &key, Some(&ca)).await;
    let trust = ServerTrust::Verified(TrustAnchors::new(ca.bundle()));

    let without = client_tls_config(&trust, &server_id(), None).expect("tls config");
    let channel = connect_lazy(&server.address, without).expect("channel");
    assert!(health_check(channel).await.is_err(), "client cert required");

    let (agent_chain, agent_key) = now_chain(&ca, &id("example.org", "/spire/agent/x"));
    let with = client_tls_config(&trust, &server_id(), Some((&agent_chain, &agent_key)))
        .expect("tls config");
    let channel = connect_lazy(&server.address, with).expect("channel");
    health_check(channel).await.expect("mutual tls");
}

#[tokio::test]
async fn insecure_bootstrap_accepts_an_unknown_root() {
    let rogue = now_ca();
    let (chain, key) = now_chain(&rogue, &server_id());
    let server = start_server(chain, &key, None).await;

    let tls =
        client_tls_config(&ServerTrust::InsecureBootstrap, &server_id(), None).expect("tls config");
    let channel = connect_lazy(&server.address, tls).expect("channel");
    health_check(channel)
        .await
        .expect("insecure bootstrap connects");
}
