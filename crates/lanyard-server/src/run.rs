//! The server daemon: opens the datastore, the keys and the CA, loads the entry
//! cache, binds every endpoint, then serves until SIGINT or SIGTERM.

mod maintenance;
mod setup;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use lanyard_daemon::LogHandle;
use lanyard_daemon::logging::{LoggingError, init_logging};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use crate::api::{NodeWriter, ServerContext, admin_routes, agent_routes, build_attestors};
use crate::cache::EntryCache;
use crate::config::ServerConfig;
use crate::endpoints::{
    AdminEndpoint, AgentEndpoint, HttpEndpoint, health_router, install_metrics_recorder,
    metrics_router,
};

/// How long open calls may take to finish once shutdown starts.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the server until SIGINT or SIGTERM: sets up logging from the
/// configuration, starts a Tokio runtime and serves.
pub fn run(config: ServerConfig) -> anyhow::Result<()> {
    let log = match init_logging(&config.log) {
        Ok(handle) => Some(handle),
        Err(LoggingError::AlreadyInitialized) => None,
        Err(error) => return Err(error).context("cannot set up logging"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lanyard-server")
        .build()
        .context("cannot start the async runtime")?;

    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        serve(config, log, shutdown).await
    })
}

/// Serves until `shutdown` is cancelled (or an endpoint fails), then stops every
/// task and closes the datastore. `log` lets the Logger API change the level.
pub async fn serve(
    config: ServerConfig,
    log: Option<LogHandle>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started_at = Instant::now();
    for warning in &config.warnings {
        tracing::warn!(%warning, "configuration");
    }
    let metrics = match &config.prometheus {
        Some(_) => Some(install_metrics_recorder()?),
        None => None,
    };
    setup::ensure_data_dir(&config.data_dir)?;

    let store = Arc::new(setup::open_store(&config).await?);
    let ca = Arc::new(setup::open_ca(&config, store.clone()).await?);
    ca.rotate()
        .await
        .context("cannot prepare the signing authorities")?;
    for warning in setup::unreported_ttl_warnings(&config, &ca) {
        tracing::warn!(%warning, "configuration");
    }

    let server_id = ServerContext::server_id_for(&config.trust_domain);
    let cache = EntryCache::load(&store, server_id.clone())
        .await
        .context("cannot load the entry cache")?;
    let attestors = build_attestors(
        &config.trust_domain,
        &config.plugins.node_attestors,
        store.clone(),
    )
    .context("cannot set up the node attestors")?;
    let ctx = Arc::new(ServerContext {
        trust_domain: config.trust_domain.clone(),
        server_id,
        store: store.clone(),
        cache: cache.clone(),
        ca: ca.clone(),
        log,
        started_at,
        attestors,
        agent_ttl: config.agent_ttl.as_std(),
        attestation_slots: attestation_slots(&config),
        node_writer: NodeWriter::new(store.clone()),
    });

    let admin = AdminEndpoint::bind(&config.socket_path).context("cannot serve the admin API")?;
    let agent = AgentEndpoint::bind(config.bind_address, &ctx, &config.admin_ids)
        .await
        .context("cannot serve the agent endpoint")?;
    let agent_addr = agent.local_addr();
    let health_http = match &config.health_checks {
        Some(h) => Some(
            HttpEndpoint::bind(
                "health checks",
                &h.bind_address,
                h.bind_port,
                health_router(&h.live_path, &h.ready_path, ctx.clone()),
            )
            .await?,
        ),
        None => None,
    };
    let metrics_http = match (&config.prometheus, metrics) {
        (Some(p), Some(handle)) => {
            Some(HttpEndpoint::bind("metrics", &p.host, p.port, metrics_router(handle)).await?)
        }
        _ => None,
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;

    let mut tasks = JoinSet::new();
    tasks.spawn(named("entry cache", {
        let (cache, store, stop) = (cache.clone(), store.clone(), shutdown.clone());
        async move {
            cache.follow(store, stop).await;
            anyhow::Ok(())
        }
    }));
    tasks.spawn(named("ca rotation", {
        let (ca, stop) = (ca.clone(), shutdown.clone());
        async move {
            ca.run_rotation(stop).await;
            anyhow::Ok(())
        }
    }));
    tasks.spawn(named("maintenance", {
        let retention = maintenance::Retention {
            changes: config.experimental.prune_events_older_than.as_std(),
            expired_nodes: config.prune_attested_nodes_expired_for.map(|d| d.as_std()),
            include_tofu_nodes: config.prune_tofu_nodes,
        };
        let (store, stop) = (store.clone(), shutdown.clone());
        async move {
            maintenance::run(store, retention, stop).await;
            anyhow::Ok(())
        }
    }));
    let routes = admin_routes(&ctx, health_service);
    tasks.spawn(named("admin api", admin.serve(routes, shutdown.clone())));
    tasks.spawn(named(
        "agent endpoint",
        agent.serve(agent_routes(&ctx), shutdown.clone()),
    ));
    let health_addr = health_http.as_ref().and_then(HttpEndpoint::local_addr);
    let metrics_addr = metrics_http.as_ref().and_then(HttpEndpoint::local_addr);
    for endpoint in [health_http, metrics_http].into_iter().flatten() {
        tasks.spawn(named("http", endpoint.serve(shutdown.clone())));
    }

    tracing::info!(
        trust_domain = %config.trust_domain,
        socket_path = %config.socket_path.display(),
        agent_endpoint = ?agent_addr,
        data_dir = %config.data_dir.display(),
        datastore = store.backend_name(),
        entries = cache.read().entry_count(),
        health_checks = ?health_addr,
        metrics = ?metrics_addr,
        "server started"
    );

    let outcome = wait_for_shutdown(&mut tasks, &shutdown).await;
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    shutdown.cancel();
    drain(&mut tasks).await;
    store.close().await;
    tracing::info!(
        uptime_secs = started_at.elapsed().as_secs(),
        "server stopped"
    );
    outcome
}

/// Attestations admitted per core when `ratelimit.attestation` is on. An admitted
/// attestation spends most of its time waiting for the datastore, and its
/// signature is bounded separately (one per core), so a few per core keep the
/// CPU and the group commit busy while the rest of a storm waits in line.
const ATTESTATIONS_PER_CORE: usize = 16;

/// `ATTESTATIONS_PER_CORE` slots per core when `ratelimit.attestation` is on (the
/// excess waits), otherwise no practical limit.
fn attestation_slots(config: &ServerConfig) -> tokio::sync::Semaphore {
    let slots = if config.ratelimit.attestation {
        std::thread::available_parallelism().map_or(2, usize::from) * ATTESTATIONS_PER_CORE
    } else {
        tokio::sync::Semaphore::MAX_PERMITS
    };
    tokio::sync::Semaphore::new(slots)
}

/// Waits for `shutdown`, or for a task to end on its own (an error: tasks end
/// only at shutdown).
async fn wait_for_shutdown(
    tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let ended = tokio::select! {
        biased;
        () = shutdown.cancelled() => return Ok(()),
        ended = tasks.join_next() => ended,
    };
    match ended {
        // A task that saw the shutdown first may end before this select does.
        _ if shutdown.is_cancelled() => Ok(()),
        Some(Ok((name, Ok(())))) => Err(anyhow::anyhow!("{name} stopped unexpectedly")),
        Some(Ok((name, Err(error)))) => Err(error.context(format!("{name} failed"))),
        Some(Err(join)) => Err(anyhow::Error::new(join).context("a server task panicked")),
        None => Ok(()),
    }
}

/// Lets the tasks finish, up to [`DRAIN_TIMEOUT`]; aborts the rest.
async fn drain(tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>) {
    let deadline = tokio::time::sleep(DRAIN_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => {
                tracing::warn!(remaining = tasks.len(), "shutdown timed out; aborting tasks");
                tasks.abort_all();
                return;
            }
            ended = tasks.join_next() => match ended {
                None => return,
                Some(Ok((name, Err(error)))) => {
                    let error = format!("{error:#}");
                    tracing::warn!(task = name, %error, "task failed during shutdown");
                }
                Some(_) => {}
            },
        }
    }
}

async fn named<F, E>(name: &'static str, task: F) -> (&'static str, anyhow::Result<()>)
where
    F: Future<Output = Result<(), E>>,
    E: Into<anyhow::Error>,
{
    (name, task.await.map_err(Into::into))
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};

    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            return;
        }
    };
    let name = tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::info!(signal = name, "shutting down");
    shutdown.cancel();
}
