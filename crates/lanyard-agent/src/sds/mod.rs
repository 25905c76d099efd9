//! Envoy's Secret Discovery Service (v3) on the public socket, as SPIRE's agent serves
//! it: `StreamSecrets` and `FetchSecrets`; `DeltaSecrets` is unimplemented.
//!
//! The caller is attested once per stream (or per fetch); no security header is
//! required (Envoy sends none). On a stream, a response goes out for the first request,
//! for a request whose resource names changed, and for every change of the workload's
//! snapshot; `version_info` counts snapshot changes, every response carries a fresh
//! random nonce, and a request answering an older nonce is ignored. A NACK is logged
//! and the stream goes on.

mod resources;

use std::collections::BTreeSet;
use std::sync::Arc;

use lanyard_proto::envoy::config::core::v3::Node;
use lanyard_proto::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use lanyard_proto::envoy::service::secret::v3::secret_discovery_service_server::{
    SecretDiscoveryService, SecretDiscoveryServiceServer,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

pub use resources::{
    DISABLE_VALIDATION_KEY, SPIFFE_VALIDATOR_NAME, pkcs8_pem, resolve_secrets,
    supports_spiffe_validator,
};

use crate::cache::{Cache, WorkloadSnapshot};
use crate::config::SdsConfig;
use crate::workload::attestor::WorkloadAttestation;
use crate::workload::stream::{ResponseStream, settled_snapshot};
use crate::workload::{WorkloadError, attest_request};

/// The `envoy.extensions.transport_sockets.tls.v3.Secret` type URL.
pub const SECRET_TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The SDS service over the agent's cache.
#[derive(Debug, Clone)]
pub struct SecretDiscovery {
    cache: Cache,
    attestation: WorkloadAttestation,
    config: Arc<SdsConfig>,
}

impl SecretDiscovery {
    /// A service serving `cache` to callers attested by `attestation`.
    pub fn new(cache: Cache, attestation: WorkloadAttestation, config: SdsConfig) -> Self {
        Self {
            cache,
            attestation,
            config: Arc::new(config),
        }
    }

    /// The tonic service.
    pub fn into_server(self) -> SecretDiscoveryServiceServer<Self> {
        SecretDiscoveryServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl SecretDiscoveryService for SecretDiscovery {
    type DeltaSecretsStream = ResponseStream<DeltaDiscoveryResponse>;
    type StreamSecretsStream = ResponseStream<DiscoveryResponse>;

    async fn delta_secrets(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaSecretsStream>, Status> {
        Err(Status::unimplemented(
            "delta secret discovery is not supported",
        ))
    }

    async fn stream_secrets(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamSecretsStream>, Status> {
        let selectors = attest_request(&self.attestation, &request).await?;
        let snapshots = self.cache.subscribe(selectors);
        let (sender, receiver) = mpsc::channel(4);
        let session = Session {
            config: Arc::clone(&self.config),
            snapshots,
            requests: request.into_inner(),
            responses: sender,
        };
        tokio::spawn(session.run());
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn fetch_secrets(
        &self,
        request: Request<DiscoveryRequest>,
    ) -> Result<Response<DiscoveryResponse>, Status> {
        let selectors = attest_request(&self.attestation, &request).await?;
        let snapshot = settled_snapshot(self.cache.subscribe(selectors)).await;
        let request = request.into_inner();
        let response = build_response(
            &self.config,
            &request,
            request.node.as_ref(),
            &snapshot,
            "",
            "",
        )?;
        Ok(Response::new(response))
    }
}

/// One `StreamSecrets` stream.
struct Session {
    config: Arc<SdsConfig>,
    snapshots: watch::Receiver<Arc<WorkloadSnapshot>>,
    requests: Streaming<DiscoveryRequest>,
    responses: mpsc::Sender<Result<DiscoveryResponse, Status>>,
}

impl Session {
    async fn run(mut self) {
        let mut version: u64 = 1;
        let mut last_request: Option<DiscoveryRequest> = None;
        let mut last_node: Option<Node> = None;
        let mut last_nonce = String::new();

        loop {
            tokio::select! {
                received = self.requests.message() => {
                    let mut request = match received {
                        Ok(Some(request)) => request,
                        Ok(None) => return,
                        Err(status) => {
                            tracing::debug!(code = ?status.code(), "sds stream ended by the client");
                            return;
                        }
                    };
                    if let Some(detail) = &request.error_detail {
                        tracing::warn!(message = %detail.message, names = ?request.resource_names, "envoy rejected secrets");
                    }
                    if !last_nonce.is_empty() {
                        if request.response_nonce != last_nonce {
                            tracing::debug!(nonce = %request.response_nonce, expected = %last_nonce, "sds request with a stale nonce ignored");
                            continue;
                        }
                        if request.version_info != version.to_string() {
                            tracing::info!(version = %request.version_info, expected = version, "envoy kept an older secrets version");
                        }
                    }
                    if request.node.is_none() {
                        request.node.clone_from(&last_node);
                    }
                    let names_changed = last_request
                        .as_ref()
                        .is_none_or(|last| names(last) != names(&request));
                    last_request = Some(request);
                    if !names_changed {
                        continue;
                    }
                }
                changed = self.snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    version += 1;
                    if last_request.is_none() {
                        continue;
                    }
                }
            }

            let Some(request) = &last_request else {
                continue;
            };
            let snapshot = self.snapshots.borrow_and_update().clone();
            if snapshot.identities.is_empty() && snapshot.pending > 0 {
                continue;
            }
            let nonce = new_nonce();
            let response = build_response(
                &self.config,
                request,
                request.node.as_ref(),
                &snapshot,
                &version.to_string(),
                &nonce,
            );
            let failed = response.is_err();
            if self
                .responses
                .send(response.map_err(Status::from))
                .await
                .is_err()
                || failed
            {
                return;
            }
            last_nonce = nonce;
            if request.node.is_some() {
                last_node.clone_from(&request.node);
            }
        }
    }
}

fn names(request: &DiscoveryRequest) -> BTreeSet<&str> {
    request.resource_names.iter().map(String::as_str).collect()
}

fn build_response(
    config: &SdsConfig,
    request: &DiscoveryRequest,
    node: Option<&Node>,
    snapshot: &WorkloadSnapshot,
    version: &str,
    nonce: &str,
) -> Result<DiscoveryResponse, WorkloadError> {
    let secrets = resolve_secrets(config, &request.resource_names, node, snapshot)?;
    let resources = secrets
        .iter()
        .map(|secret| {
            prost_types::Any::from_msg(secret)
                .map_err(|err| WorkloadError::Internal(format!("cannot encode secret: {err}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(count = resources.len(), version, "sending secrets");
    Ok(DiscoveryResponse {
        version_info: version.to_owned(),
        resources,
        type_url: if request.type_url.is_empty() {
            SECRET_TYPE_URL.to_owned()
        } else {
            request.type_url.clone()
        },
        nonce: nonce.to_owned(),
        ..DiscoveryResponse::default()
    })
}

/// Four random bytes in hex.
fn new_nonce() -> String {
    let bytes: [u8; 4] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
