//! A simulated agent: the agent's own TLS and sync code with keys and CSRs made before
//! the clock starts, so the load generator spends no signing time while measuring.
//! Each simulated agent has its own TCP connection, as a real node would.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanyard_agent::node::connection::{
    MAX_MESSAGE_SIZE, ServerAddress, ServerTrust, client_tls_config, connect_lazy,
};
use lanyard_agent::node::verifier::TrustAnchors;
use lanyard_agent::sync::paging::{SyncOutcome, sync_authorized_entries};
use lanyard_agent::sync::poll::GrpcSyncStream;
use lanyard_ca::KeyType;
use lanyard_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use lanyard_proto::spire::api::server::agent::v1::{
    AgentX509svidParams, AttestAgentRequest, attest_agent_request, attest_agent_response,
};
use lanyard_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use lanyard_proto::spire::api::server::svid::v1::{
    BatchNewX509svidRequest, NewJwtsvidRequest, NewX509svidParams,
};
use lanyard_proto::spire::api::types::AttestationData;
use lanyard_spiffe::{SpiffeId, TrustDomain};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

pub use lanyard_agent::keys::PrivateKey;

/// What every simulated agent shares: where the server is and how to trust it.
#[derive(Clone)]
pub struct Target {
    /// The agent endpoint.
    pub address: ServerAddress,
    /// The server's SPIFFE ID.
    pub server_id: SpiffeId,
    /// The trust bundle.
    pub anchors: TrustAnchors,
    /// Server-authenticated TLS for attestation.
    bootstrap_tls: Arc<rustls::ClientConfig>,
}

impl Target {
    /// A target for the server at `address` in `td` trusting `anchors`.
    pub fn new(
        address: ServerAddress,
        td: &TrustDomain,
        anchors: TrustAnchors,
    ) -> anyhow::Result<Self> {
        let server_id = td.id().join("spire/server")?;
        let bootstrap_tls =
            client_tls_config(&ServerTrust::Verified(anchors.clone()), &server_id, None)?;
        Ok(Self {
            address,
            server_id,
            anchors,
            bootstrap_tls,
        })
    }

    /// A fresh server-authenticated channel (its own connection).
    pub fn bootstrap_channel(&self) -> anyhow::Result<Channel> {
        Ok(connect_lazy(
            &self.address,
            Arc::clone(&self.bootstrap_tls),
        )?)
    }

    /// A fresh mTLS channel presenting `chain` with `key` (its own connection).
    pub fn mtls_channel(
        &self,
        chain: &[rustls_pki_types::CertificateDer<'static>],
        key: &PrivateKey,
    ) -> anyhow::Result<Channel> {
        let tls = client_tls_config(
            &ServerTrust::Verified(self.anchors.clone()),
            &self.server_id,
            Some((chain, key)),
        )?;
        Ok(connect_lazy(&self.address, tls)?)
    }
}

/// An agent key and a CSR over it, made ahead of time.
#[derive(Clone)]
pub struct AgentKeys {
    /// The key the agent SVID certifies.
    pub key: PrivateKey,
    /// DER PKCS#10 request for it.
    pub csr: Vec<u8>,
}

impl AgentKeys {
    /// A new P-256 key and its CSR.
    pub fn generate() -> anyhow::Result<Self> {
        let key = PrivateKey::generate(KeyType::EcP256)?;
        let csr = key.csr_der()?;
        Ok(Self { key, csr })
    }
}

/// `count` CSRs over fresh P-256 keys, for workload SVIDs (the keys are not kept: the
/// load generator never uses the SVIDs, it only needs the server to verify and sign).
pub fn workload_csrs(count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    (0..count)
        .map(|_| Ok(PrivateKey::generate(KeyType::EcP256)?.csr_der()?))
        .collect()
}

/// Whether a failed call is worth another attempt (overload, connection trouble).
pub fn is_transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded | Code::Unknown
    )
}

/// Runs `AttestAgent` with a join token over `channel`; returns the agent SVID chain.
pub async fn attest_join_token(
    channel: Channel,
    token: &str,
    csr: Vec<u8>,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, tonic::Status> {
    let (tx, rx) = mpsc::channel(1);
    let params = attest_agent_request::Params {
        data: Some(AttestationData {
            r#type: "join_token".to_owned(),
            payload: token.as_bytes().to_vec(),
        }),
        params: Some(AgentX509svidParams { csr }),
    };
    tx.send(AttestAgentRequest {
        step: Some(attest_agent_request::Step::Params(params)),
    })
    .await
    .map_err(|_| tonic::Status::internal("request stream closed"))?;
    let mut client = AgentClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE);
    let mut responses = client
        .attest_agent(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let response = responses
        .message()
        .await?
        .ok_or_else(|| tonic::Status::unavailable("attestation stream ended early"))?;
    drop(tx);
    match response.step {
        Some(attest_agent_response::Step::Result(result)) => {
            lanyard_agent::convert::svid_chain(result.svid.as_ref())
                .map_err(|e| tonic::Status::internal(format!("unusable agent svid: {e}")))
        }
        _ => Err(tonic::Status::internal(
            "join_token attestation asked a challenge",
        )),
    }
}

/// One full `SyncAuthorizedEntries` from nothing, with the agent's own paging code.
pub async fn sync_entries(channel: Channel) -> Result<SyncOutcome, tonic::Status> {
    let mut stream = GrpcSyncStream::new(channel);
    sync_authorized_entries(&mut stream, &HashMap::new()).await
}

/// The entry IDs a sync delivered.
pub fn synced_entry_ids(outcome: &SyncOutcome) -> Vec<String> {
    use lanyard_agent::cache::EntryUpdate;
    match &outcome.update {
        EntryUpdate::Full(entries) => entries.iter().map(|e| e.id.clone()).collect(),
        EntryUpdate::Delta { upserted, .. } => upserted.iter().map(|e| e.id.clone()).collect(),
    }
}

/// `BatchNewX509SVID` for `entry_ids` with `csrs` (cycled); returns how many SVIDs
/// were issued and how many items were refused.
pub async fn batch_new_x509(
    channel: Channel,
    entry_ids: &[String],
    csrs: &[Vec<u8>],
) -> Result<(u64, u64), tonic::Status> {
    let params = entry_ids
        .iter()
        .zip(csrs.iter().cycle())
        .map(|(id, csr)| NewX509svidParams {
            entry_id: id.clone(),
            csr: csr.clone(),
        })
        .collect();
    let results = SvidClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .batch_new_x509svid(BatchNewX509svidRequest { params })
        .await?
        .into_inner()
        .results;
    let issued = results
        .iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.code == 0) && r.svid.is_some())
        .count() as u64;
    Ok((issued, results.len() as u64 - issued))
}

/// `NewJWTSVID` for `entry_id` and `audience`; returns the token's length.
pub async fn new_jwt(
    channel: Channel,
    entry_id: &str,
    audience: &str,
) -> Result<usize, tonic::Status> {
    let svid = SvidClient::new(channel)
        .new_jwtsvid(NewJwtsvidRequest {
            entry_id: entry_id.to_owned(),
            audience: vec![audience.to_owned()],
        })
        .await?
        .into_inner()
        .svid
        .ok_or_else(|| tonic::Status::internal("no jwt-svid in the answer"))?;
    Ok(svid.token.len())
}

/// Retries `call` on transient failures with capped exponential backoff until
/// `deadline`; returns the result and the number of retries.
pub async fn with_retries<T, F, Fut>(
    deadline: Instant,
    mut call: F,
) -> (Result<T, tonic::Status>, u64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut retries = 0;
    let mut delay = Duration::from_millis(50);
    loop {
        match call().await {
            Err(status) if is_transient(&status) && Instant::now() + delay < deadline => {
                retries += 1;
                // Spread retries so they do not come back as one wave.
                let jitter = Duration::from_micros(
                    u64::from(random_u16()) * delay.as_micros() as u64 / 65_536,
                );
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return (other, retries),
        }
    }
}

/// A random number, for jitter.
pub fn random_u16() -> u16 {
    let mut bytes = [0_u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    u16::from_le_bytes(bytes)
}
