//! The agent's life as a member of the trust domain: start from stored state or attest,
//! renew at half-life, follow bundle updates, ride out server outages, and re-attest or
//! give up when the server no longer accepts the agent.

use std::sync::Arc;
use std::time::SystemTime;

use lanyard_attest::{AgentAttestor, AttestError};
use lanyard_ca::KeyType;
use lanyard_spiffe::{Bundle, SpiffeId, TrustDomain};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::bootstrap::{BootstrapError, bootstrap_bundle};
use super::connection::{
    ConnectionError, ServerAddress, ServerTrust, client_tls_config, connect_bound, connect_lazy,
};
use super::identity::AgentSvid;
use super::rotation::{Backoff, random_jitter, renewal_time};
use super::server_api::{self, CallError};
use super::status::{Failure, Rejection, classify};
use super::storage::AgentStore;
use super::verifier::{TrustAnchors, describe_connect_failure, describe_tls_failure};
use crate::config::{TrustBundleSource, server_id};
use crate::health::{HealthState, metrics};
use crate::keys::{KeyError, PrivateKey};

/// Key type of the agent's own key (SPIRE's agents use P-256 too).
pub const AGENT_KEY_TYPE: KeyType = KeyType::EcP256;

/// What the node needs to know.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The trust domain.
    pub trust_domain: TrustDomain,
    /// The server's agent endpoint.
    pub server: ServerAddress,
    /// Where the first bundle comes from.
    pub trust_bundle: TrustBundleSource,
    /// The node attestor.
    pub attestor: Arc<dyn AgentAttestor>,
    /// The agent's files.
    pub store: AgentStore,
}

/// Why the agent cannot go on. Each message says what the operator can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The server banned the agent.
    #[error(
        "the server banned this agent; an operator must delete it (agent evict) before it can attest again"
    )]
    Banned,
    /// The server evicted the agent and its attestor cannot attest again.
    #[error(
        "the server no longer accepts this agent and {attestor} attestation cannot be repeated; start it with a new join token"
    )]
    Evicted {
        /// The attestor kind.
        attestor: String,
    },
    /// The server refused the attestation.
    #[error("the server refused attestation: {}", .0.message())]
    AttestationRefused(tonic::Status),
    /// The node attestor could not produce evidence (files, token).
    #[error("the node attestor failed")]
    Attestor(#[source] AttestError),
    /// The bootstrap bundle could not be loaded.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A key could not be generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Shut down before the agent had an identity.
    #[error("shut down before attestation finished")]
    Cancelled,
}

/// Keeps the trust anchors and the stored bundle in step with the server's bundle.
/// Cloned into the sync task.
#[derive(Debug, Clone)]
pub struct BundleKeeper {
    anchors: TrustAnchors,
    store: AgentStore,
}

impl BundleKeeper {
    /// A keeper whose anchors start at `bundle` and which stores later bundles in `store`.
    pub fn new(bundle: Bundle, store: AgentStore) -> Self {
        Self {
            anchors: TrustAnchors::new(bundle),
            store,
        }
    }

    /// Makes `bundle` the trust anchors for the next handshakes and stores it; returns
    /// whether it changed. Call before handing the bundle to workloads, so the agent
    /// trusts new roots no later than they do.
    pub fn apply(&self, bundle: &Bundle) -> bool {
        if bundle.x509_authorities().is_empty() {
            tracing::warn!("ignoring a bundle without x509 authorities");
            return false;
        }
        let changed = self.anchors.replace(bundle.clone());
        if changed {
            tracing::info!(
                sequence = bundle.sequence_number(),
                authorities = bundle.x509_authorities().len(),
                "trust bundle updated"
            );
            if let Err(err) = self.store.save_bundle(bundle) {
                tracing::warn!(error = %err, "could not store the trust bundle");
            }
        }
        changed
    }

    /// The bundle in force.
    pub fn current(&self) -> Arc<Bundle> {
        self.anchors.current()
    }
}

/// The running node: its identity and the channel to the server.
pub struct Node {
    settings: NodeSettings,
    server_id: SpiffeId,
    keeper: BundleKeeper,
    identity: AgentSvid,
    channel: watch::Sender<Channel>,
    health: HealthState,
}

impl Node {
    /// Loads the stored identity if it is still good, else attests (retrying while the
    /// server is unreachable). Returns once the agent has an identity.
    pub async fn start(
        settings: NodeSettings,
        health: HealthState,
        shutdown: &CancellationToken,
    ) -> Result<Self, NodeError> {
        let td = settings.trust_domain.clone();
        let stored_bundle = settings.store.load_bundle(&td).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "ignoring the stored trust bundle");
            None
        });
        let bundle = match stored_bundle {
            Some(bundle) => Some(bundle),
            None => bootstrap_bundle(&settings.trust_bundle, &td).await?,
        };
        let insecure = bundle.is_none();
        if insecure {
            tracing::warn!(
                "insecure_bootstrap: the server's identity is not verified on first contact"
            );
        }
        let keeper = BundleKeeper::new(
            bundle.unwrap_or_else(|| Bundle::new(td.clone())),
            settings.store.clone(),
        );
        let server_id = server_id(&td);

        let reused = if insecure {
            None
        } else {
            reuse_stored(&settings, &keeper.current())
        };
        let identity = match reused {
            Some(identity) => {
                tracing::info!(spiffe_id = %identity.spiffe_id, "reusing the stored agent svid");
                identity
            }
            None => attest(&settings, &server_id, &keeper, insecure, &health, shutdown).await?,
        };

        let channel = mtls_channel(&settings, &server_id, &keeper, &identity)?;
        let (channel, _) = watch::channel(channel);
        let node = Self {
            settings,
            server_id,
            keeper,
            identity,
            channel,
            health,
        };
        node.persist_and_report();
        Ok(node)
    }

    /// The channel to the server, replaced after every renewal.
    pub fn channel(&self) -> watch::Receiver<Channel> {
        self.channel.subscribe()
    }

    /// The bundle keeper for the sync task.
    pub fn bundle_keeper(&self) -> BundleKeeper {
        self.keeper.clone()
    }

    /// The current agent ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.identity.spiffe_id
    }

    /// Renews at half-life (±10%), re-attests when the server rejects the agent and the
    /// attestor allows, until `shutdown` or a fatal error.
    pub async fn run(
        mut self,
        mut rejections: mpsc::Receiver<Rejection>,
        shutdown: CancellationToken,
    ) -> Result<(), NodeError> {
        loop {
            let renew_at = renewal_time(
                self.identity.not_before,
                self.identity.not_after,
                random_jitter(),
            );
            let wait = renew_at
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(wait) => self.renew(&shutdown).await?,
                Some(rejection) = rejections.recv() => self.recover(rejection, &shutdown).await?,
            }
        }
    }

    async fn renew(&mut self, shutdown: &CancellationToken) -> Result<(), NodeError> {
        let mut backoff = Backoff::for_server();
        loop {
            let method = if self.identity.reattestable {
                "reattest"
            } else {
                "renew"
            };
            let key = PrivateKey::generate(AGENT_KEY_TYPE)?;
            let channel = self.channel.borrow().clone();
            let result = if self.identity.reattestable {
                self.reattest(key.csr_der()?)
                    .await
                    .map(|issued| (issued.chain, issued.reattestable))
            } else {
                server_api::renew_agent(channel, key.csr_der()?)
                    .await
                    .map(|chain| (chain, false))
            };

            match result {
                Ok((chain, reattestable)) => match self.check(chain, key, reattestable) {
                    Some(identity) => {
                        metrics::count_renewal(method, true);
                        tracing::info!(spiffe_id = %identity.spiffe_id, "agent svid renewed");
                        return self.install(identity);
                    }
                    None => metrics::count_renewal(method, false),
                },
                Err(CallError::Status(status)) => {
                    metrics::count_renewal(method, false);
                    if let Failure::Rejected(rejection) = classify(&status) {
                        tracing::warn!(code = ?status.code(), message = status.message(), "server rejected the agent svid renewal");
                        return self.recover(rejection, shutdown).await;
                    }
                    tracing::warn!(code = ?status.code(), message = status.message(), "agent svid renewal failed; retrying");
                }
                Err(CallError::Attestor(err)) => return Err(NodeError::Attestor(err)),
                Err(err) => {
                    metrics::count_renewal(method, false);
                    tracing::warn!(error = %err, "agent svid renewal failed; retrying");
                }
            }

            if SystemTime::now() >= self.identity.not_after {
                tracing::error!("agent svid expired while it could not be renewed");
                return self.recover(Rejection::NotAttested, shutdown).await;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    /// Attests again over a fresh mTLS connection whose session binding the
    /// attestor may bind its proof to.
    async fn reattest(&self, csr: Vec<u8>) -> Result<server_api::IssuedAgentSvid, CallError> {
        let trust = ServerTrust::Verified(self.keeper.anchors.clone());
        let identity = &self.identity;
        let tls = client_tls_config(
            &trust,
            &self.server_id,
            Some((&identity.chain, &identity.key)),
        )
        .map_err(|err| CallError::Status(tonic::Status::internal(err.to_string())))?;
        let (channel, binding) = connect_bound(&self.settings.server, tls)
            .await
            .map_err(|err| CallError::Status(tonic::Status::unavailable(err.to_string())))?;
        server_api::attest_agent_bound(
            channel,
            Some(binding),
            Arc::clone(&self.settings.attestor),
            csr,
        )
        .await
    }

    /// The server no longer accepts the agent: attest again when possible, else give up.
    async fn recover(
        &mut self,
        rejection: Rejection,
        shutdown: &CancellationToken,
    ) -> Result<(), NodeError> {
        if rejection == Rejection::Banned {
            return Err(NodeError::Banned);
        }
        if !self.identity.reattestable {
            return Err(NodeError::Evicted {
                attestor: self.settings.attestor.kind().to_owned(),
            });
        }
        tracing::warn!(spiffe_id = %self.identity.spiffe_id, "server no longer accepts the agent; attesting again");
        let identity = attest(
            &self.settings,
            &self.server_id,
            &self.keeper,
            false,
            &self.health,
            shutdown,
        )
        .await?;
        self.install(identity)
    }

    fn check(
        &self,
        chain: Vec<rustls_pki_types::CertificateDer<'static>>,
        key: PrivateKey,
        reattestable: bool,
    ) -> Option<AgentSvid> {
        let bundle = self.keeper.current();
        AgentSvid::check(
            chain,
            key,
            reattestable,
            &bundle,
            &self.settings.trust_domain,
            SystemTime::now(),
        )
        .inspect_err(|err| tracing::warn!(error = %err, "server sent an unusable agent svid"))
        .ok()
    }

    fn install(&mut self, identity: AgentSvid) -> Result<(), NodeError> {
        let channel = mtls_channel(&self.settings, &self.server_id, &self.keeper, &identity)?;
        self.identity = identity;
        self.channel.send_replace(channel);
        self.persist_and_report();
        Ok(())
    }

    fn persist_and_report(&self) {
        let identity = &self.identity;
        if let Err(err) =
            self.settings
                .store
                .save_identity(&identity.chain, &identity.key, identity.reattestable)
        {
            tracing::warn!(error = %err, "could not store the agent svid");
        }
        if let Err(err) = self.settings.store.save_bundle(&self.keeper.current()) {
            tracing::warn!(error = %err, "could not store the trust bundle");
        }
        self.health.set_agent_svid(identity.not_after);
    }
}

/// The stored identity when it is complete, unexpired, matches its key and verifies
/// against `bundle`.
fn reuse_stored(settings: &NodeSettings, bundle: &Bundle) -> Option<AgentSvid> {
    let stored = match settings.store.load_identity() {
        Ok(stored) => stored?,
        Err(err) => {
            tracing::warn!(error = %err, "ignoring the stored agent svid");
            return None;
        }
    };
    AgentSvid::check(
        stored.chain,
        stored.key,
        stored.reattestable,
        bundle,
        &settings.trust_domain,
        SystemTime::now(),
    )
    .inspect_err(
        |err| tracing::info!(reason = %err, "stored agent svid cannot be reused; attesting"),
    )
    .ok()
}

/// Attests until the server answers: transient failures are retried with backoff,
/// refusals end the attempt.
async fn attest(
    settings: &NodeSettings,
    server_id: &SpiffeId,
    keeper: &BundleKeeper,
    insecure: bool,
    health: &HealthState,
    shutdown: &CancellationToken,
) -> Result<AgentSvid, NodeError> {
    let mut backoff = Backoff::for_server();
    loop {
        match attest_once(settings, server_id, keeper, insecure).await {
            Ok(identity) => {
                metrics::count_attestation(true);
                health.set_server_error(None);
                tracing::info!(spiffe_id = %identity.spiffe_id, reattestable = identity.reattestable, "node attested");
                return Ok(identity);
            }
            Err(AttemptError::Fatal(err)) => {
                metrics::count_attestation(false);
                return Err(err);
            }
            Err(AttemptError::Retry(reason)) => {
                metrics::count_attestation(false);
                let delay = backoff.next_delay();
                tracing::warn!(%reason, retry_in = ?delay, "attestation failed; retrying");
                health.set_server_error(Some(reason));
                tokio::select! {
                    () = shutdown.cancelled() => return Err(NodeError::Cancelled),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

enum AttemptError {
    Fatal(NodeError),
    Retry(String),
}

async fn attest_once(
    settings: &NodeSettings,
    server_id: &SpiffeId,
    keeper: &BundleKeeper,
    insecure: bool,
) -> Result<AgentSvid, AttemptError> {
    let fatal = |err: NodeError| AttemptError::Fatal(err);
    let key = PrivateKey::generate(AGENT_KEY_TYPE).map_err(|e| fatal(e.into()))?;
    let csr = key.csr_der().map_err(|e| fatal(e.into()))?;
    let trust = if insecure {
        ServerTrust::InsecureBootstrap
    } else {
        ServerTrust::Verified(keeper.anchors.clone())
    };
    let tls = client_tls_config(&trust, server_id, None).map_err(|e| fatal(e.into()))?;
    let (channel, binding) = match connect_bound(&settings.server, tls).await {
        Ok(bound) => bound,
        Err(ConnectionError::Connect(err)) => {
            return Err(AttemptError::Retry(describe_connect_failure(&err)));
        }
        Err(err) => return Err(fatal(err.into())),
    };

    let issued = match server_api::attest_agent_bound(
        channel.clone(),
        Some(binding),
        Arc::clone(&settings.attestor),
        csr,
    )
    .await
    {
        Ok(issued) => issued,
        Err(CallError::Attestor(err)) => return Err(fatal(NodeError::Attestor(err))),
        Err(CallError::Status(status)) => {
            return match classify(&status) {
                Failure::Rejected(Rejection::Banned) => Err(fatal(NodeError::Banned)),
                _ if is_transient(status.code()) => Err(AttemptError::Retry(
                    describe_tls_failure(&status).unwrap_or_else(|| status.message().to_owned()),
                )),
                _ => Err(fatal(NodeError::AttestationRefused(status))),
            };
        }
        Err(err) => return Err(AttemptError::Retry(describe_connect_failure(&err))),
    };

    // The server's bundle is the authority from now on: it may hold roots the
    // bootstrap bundle lacks (and with insecure bootstrap it is the first bundle).
    match server_api::get_bundle(channel).await {
        Ok(bundle) => {
            keeper.apply(&bundle);
        }
        Err(err) if insecure => {
            return Err(AttemptError::Retry(format!(
                "fetching the bundle failed: {err}"
            )));
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not fetch the trust bundle after attestation")
        }
    }
    AgentSvid::check(
        issued.chain,
        key,
        issued.reattestable,
        &keeper.current(),
        &settings.trust_domain,
        SystemTime::now(),
    )
    .map_err(|err| AttemptError::Retry(format!("server sent an unusable agent svid: {err}")))
}

fn mtls_channel(
    settings: &NodeSettings,
    server_id: &SpiffeId,
    keeper: &BundleKeeper,
    identity: &AgentSvid,
) -> Result<Channel, NodeError> {
    let trust = ServerTrust::Verified(keeper.anchors.clone());
    let tls = client_tls_config(&trust, server_id, Some((&identity.chain, &identity.key)))?;
    Ok(connect_lazy(&settings.server, tls)?)
}

/// Codes that mean "try again later" during attestation.
fn is_transient(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unknown
            | Code::Cancelled
    )
}
