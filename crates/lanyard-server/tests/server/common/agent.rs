//! The agent's side of the agent endpoint, with the agent's own client code:
//! TLS that checks the server's SVID against the bundle, attestation, renewal.

use std::sync::Arc;

use lanyard_agent::keys::PrivateKey;
use lanyard_agent::node::connection::{
    ServerAddress, ServerTrust, client_tls_config, connect_lazy,
};
use lanyard_agent::node::server_api::{self, CallError};
use lanyard_agent::node::verifier::TrustAnchors;
use lanyard_attest::AgentAttestor;
use lanyard_attest::join_token::{JoinToken, JoinTokenAgent};
use lanyard_proto::spire::api::server::agent::v1::CreateJoinTokenRequest;
use lanyard_spiffe::{Bundle, SpiffeId};
use rustls_pki_types::CertificateDer;
use tonic::transport::Channel;

use super::fixtures::own_bundle;
use super::{TRUST_DOMAIN, TestServer};

/// An attested agent: its SVID chain and key.
pub(crate) struct Agent {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKey,
    pub(crate) reattestable: bool,
}

impl Agent {
    /// The agent ID in the SVID.
    pub(crate) fn id(&self) -> SpiffeId {
        lanyard_spiffe::x509::spiffe_id_from_certificate(&self.chain[0]).unwrap()
    }
}

/// The server's trust bundle, read over the admin socket.
pub(crate) async fn bundle(server: &TestServer) -> Bundle {
    lanyard_agent::convert::bundle_from_proto(&own_bundle(server).await).unwrap()
}

/// `spiffe://example.org/spire/server`.
pub(crate) fn server_id() -> SpiffeId {
    SpiffeId::parse(&format!("spiffe://{TRUST_DOMAIN}/spire/server")).unwrap()
}

/// A channel to the agent endpoint, presenting `agent`'s SVID when given.
pub(crate) async fn channel(server: &TestServer, agent: Option<&Agent>) -> Channel {
    let trust = ServerTrust::Verified(TrustAnchors::new(bundle(server).await));
    let client = agent.map(|a| (a.chain.as_slice(), &a.key));
    let tls = client_tls_config(&trust, &server_id(), client).unwrap();
    let address = ServerAddress {
        host: "127.0.0.1".to_owned(),
        port: server.agent_port,
    };
    connect_lazy(&address, tls).unwrap()
}

/// A join token, optionally bound to `node_attributes` (`key=value`).
pub(crate) async fn join_token(server: &TestServer, node_attributes: &[&str]) -> String {
    let mut request = tonic::Request::new(CreateJoinTokenRequest {
        ttl: 600,
        ..CreateJoinTokenRequest::default()
    });
    for attribute in node_attributes {
        request
            .metadata_mut()
            .append("lanyard-node-attribute", attribute.parse().unwrap());
    }
    server
        .agents()
        .await
        .create_join_token(request)
        .await
        .unwrap()
        .into_inner()
        .value
}

/// Attests over `channel` with `attestor`.
pub(crate) async fn attest_with(
    channel: Channel,
    attestor: Arc<dyn AgentAttestor>,
) -> Result<Agent, CallError> {
    let key = PrivateKey::generate(lanyard_agent::node::AGENT_KEY_TYPE).unwrap();
    let issued = server_api::attest_agent(channel, attestor, key.csr_der().unwrap()).await?;
    Ok(Agent {
        chain: issued.chain,
        key,
        reattestable: issued.reattestable,
    })
}

/// Attests with a join token payload of `token`.
pub(crate) async fn attest_with_token(
    server: &TestServer,
    token: &str,
) -> Result<Agent, CallError> {
    let attestor = Arc::new(JoinTokenAgent::new(JoinToken::new(token).unwrap()));
    attest_with(channel(server, None).await, attestor).await
}

/// The gRPC code of a failed call.
pub(crate) fn code(error: &CallError) -> tonic::Code {
    match error {
        CallError::Status(status) => status.code(),
        other => panic!("not a status: {other}"),
    }
}
