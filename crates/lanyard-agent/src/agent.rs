//! The running agent: node identity, sync, SVID minting, the public socket and the
//! health and metrics listeners, wired together.

use std::sync::Arc;

use lanyard_attest::join_token::{JoinToken as AttestJoinToken, JoinTokenAgent};
use lanyard_attest::x509pop::{X509PopAgent, X509PopAgentConfig};
use lanyard_attest::{AgentAttestor, AgentSession, AttestError, ConfigError as AttestConfigError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cache::{Cache, GrpcSvidSigner, minter};
use crate::config::{AgentConfig, NodeAttestorConfig};
use crate::health::HealthState;
use crate::health::http::{ListenerError, bind_health_listener, bind_prometheus_listener};
use crate::node::connection::ServerAddress;
use crate::node::rotation::Backoff;
use crate::node::storage::AgentStore;
use crate::node::{Node, NodeError, NodeSettings};
use crate::sds::SecretDiscovery;
use crate::sync::SyncTask;
use crate::workload::attestor::WorkloadAttestation;
use crate::workload::endpoint::{
    EndpointError, PublicServices, bind_public_socket, serve_public_socket,
};
use crate::workload::{WorkloadApi, WorkloadApiConfig};

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The node attestor's configuration cannot be used.
    #[error("node attestor configuration")]
    Attestor(#[source] AttestConfigError),
    /// The agent lost (or never got) its identity.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The public socket could not be served.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The health or metrics listener could not start.
    #[error(transparent)]
    Listener(#[from] ListenerError),
}

/// Runs the agent until `shutdown` or a fatal error.
///
/// When the server rejects the agent for good (banned, or evicted without a way to
/// attest again), the agent stops serving identities, removes its stored SVID, and
/// returns the reason.
pub async fn run_agent(config: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    let health = HealthState::new();
    let attestor = node_attestor(&config)?;
    let store = AgentStore::new(&config.data_dir, &config.plugins.key_manager);
    let tasks = shutdown.child_token();

    if config.health_checks.listener_enabled {
        let serve = bind_health_listener(
            &config.health_checks,
            health.clone(),
            tasks.clone().cancelled_owned(),
        )
        .await?;
        tokio::spawn(serve);
    }
    if let Some(prometheus) = &config.prometheus {
        let serve = bind_prometheus_listener(prometheus, tasks.clone().cancelled_owned()).await?;
        tokio::spawn(serve);
    }

    let settings = NodeSettings {
        trust_domain: config.trust_domain.clone(),
        server: ServerAddress {
            host: config.server_address.clone(),
            port: config.server_port,
        },
        trust_bundle: config.trust_bundle.clone(),
        attestor,
        store: store.clone(),
    };
    let node = match Node::start(settings, health.clone(), &shutdown).await {
        Ok(node) => node,
        Err(NodeError::Cancelled) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    tracing::info!(spiffe_id = %node.spiffe_id(), "agent identity ready");

    let signer = Arc::new(GrpcSvidSigner::new(node.channel()));
    let cache = Cache::new(
        config.trust_domain.clone(),
        signer,
        config.x509_svid_cache_max_size,
        config.jwt_svid_cache_max_size,
    );
    cache.set_bundle((*node.bundle_keeper().current()).clone());
    let (rejections_tx, rejections_rx) = mpsc::channel(8);

    tokio::spawn(minter::run_x509_minter(
        cache.clone(),
        config.workload_x509_svid_key_type,
        rejections_tx.clone(),
        tasks.clone(),
    ));
    let sync = SyncTask {
        cache: cache.clone(),
        channel: node.channel(),
        keeper: node.bundle_keeper(),
        health: health.clone(),
        rejections: rejections_tx,
        interval: config.sync_interval.as_std(),
        backoff: Backoff::for_server(),
    };
    tokio::spawn(sync.run(tasks.clone()));

    let listener = bind_public_socket(&config.socket_path)?;
    let attestation = WorkloadAttestation::from_config(&config.plugins);
    let services = PublicServices {
        workload: (!config.disable_workload_api).then(|| {
            WorkloadApi::new(
                cache.clone(),
                attestation.clone(),
                WorkloadApiConfig::from_agent_config(&config),
            )
        }),
        sds: (!config.disable_sds_api)
            .then(|| SecretDiscovery::new(cache.clone(), attestation.clone(), config.sds.clone())),
    };
    let public = tokio::spawn(serve_public_socket(
        listener,
        services,
        tasks.clone().cancelled_owned(),
    ));
    tracing::info!(socket_path = %config.socket_path.display(), "serving the workload api");

    let result = node.run(rejections_rx, shutdown.clone()).await;
    tasks.cancel();
    let _ = public.await;

    match result {
        Ok(()) => Ok(()),
        Err(err) => {
            cache.stop_serving();
            health.set_failed();
            if matches!(err, NodeError::Banned | NodeError::Evicted { .. })
                && let Err(remove) = store.delete_identity()
            {
                tracing::warn!(error = %remove, "could not remove the stored agent svid");
            }
            tracing::error!(error = %err, "the agent stopped serving identities");
            Err(err.into())
        }
    }
}

/// The node attestor: a configured join token wins (as in SPIRE), else the plugin;
/// the `tpm` plugin takes the token for its enrollment.
fn node_attestor(config: &AgentConfig) -> Result<Arc<dyn AgentAttestor>, AgentError> {
    if let NodeAttestorConfig::Tpm(tpm) = &config.plugins.node_attestor {
        let token = config.join_token.as_ref().map(|t| t.expose_secret());
        return crate::node::tpm_attestor::tpm_attestor(tpm, &config.data_dir, token)
            .map_err(AgentError::Attestor);
    }
    if let Some(token) = &config.join_token {
        let token = AttestJoinToken::new(token.expose_secret())
            .map_err(|err| AgentError::Attestor(AttestConfigError::InvalidJoinToken(err)))?;
        return Ok(Arc::new(JoinTokenAgent::new(token)));
    }
    match &config.plugins.node_attestor {
        NodeAttestorConfig::X509Pop(x509pop) => {
            let agent = X509PopAgent::new(X509PopAgentConfig {
                private_key_path: x509pop.private_key_path.clone(),
                certificate_path: x509pop.certificate_path.clone(),
                intermediates_path: x509pop.intermediates_path.clone(),
            })
            .map_err(AgentError::Attestor)?;
            Ok(Arc::new(agent))
        }
        _ => Ok(Arc::new(NoJoinToken)),
    }
}

/// The `join_token` attestor without a token: fine while the stored SVID lasts, an
/// error naming the missing setting when attestation is needed.
#[derive(Debug)]
struct NoJoinToken;

impl AgentAttestor for NoJoinToken {
    fn kind(&self) -> &str {
        "join_token"
    }

    fn begin(&self) -> Result<Box<dyn AgentSession>, AttestError> {
        Err(AttestError::Config(AttestConfigError::MissingJoinToken))
    }
}
