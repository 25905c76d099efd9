//! `lanyard-agent run` and `lanyard-agent validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lanyard_daemon::logging::init_logging;
use lanyard_daemon::output::{error_line, print_error_line};
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, ConfigOverrides, LoadedConfig};

/// Flags of `run` and `validate` (SPIRE's names).
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Path to the agent configuration file
    #[arg(long = "config", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Join token the agent attests with
    #[arg(long = "joinToken", value_name = "TOKEN")]
    pub join_token: Option<String>,
    /// File holding the join token
    #[arg(long = "joinTokenFile", value_name = "PATH")]
    pub join_token_file: Option<PathBuf>,
    /// Host name or IP address of the server
    #[arg(long = "serverAddress", value_name = "HOST")]
    pub server_address: Option<String>,
    /// Port of the server's agent endpoint
    #[arg(long = "serverPort", value_name = "PORT")]
    pub server_port: Option<u16>,
    /// Path of the Workload API socket
    #[arg(long = "socketPath", value_name = "PATH")]
    pub socket_path: Option<PathBuf>,
    /// The trust domain
    #[arg(long = "trustDomain", value_name = "NAME")]
    pub trust_domain: Option<String>,
    /// Path of the bootstrap trust bundle
    #[arg(long = "trustBundle", value_name = "PATH")]
    pub trust_bundle: Option<PathBuf>,
    /// URL to fetch the bootstrap trust bundle from
    #[arg(long = "trustBundleUrl", value_name = "URL")]
    pub trust_bundle_url: Option<String>,
    /// Directory for the agent's data
    #[arg(long = "dataDir", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// DEBUG, INFO, WARN or ERROR
    #[arg(long = "logLevel", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// text or json
    #[arg(long = "logFormat", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// File to write logs to
    #[arg(long = "logFile", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Expand $VAR and ${VAR} in the configuration file
    #[arg(long = "expandEnv")]
    pub expand_env: bool,
    /// Serve bundles to callers without an identity
    #[arg(long = "allowUnauthenticatedVerifiers")]
    pub allow_unauthenticated_verifiers: bool,
}

impl RunArgs {
    /// The flags as configuration overrides.
    pub fn overrides(&self) -> ConfigOverrides {
        ConfigOverrides {
            config_path: self.config.clone(),
            expand_env: self.expand_env,
            join_token: self.join_token.clone(),
            join_token_file: self.join_token_file.clone(),
            server_address: self.server_address.clone(),
            server_port: self.server_port,
            socket_path: self.socket_path.clone(),
            trust_domain: self.trust_domain.clone(),
            trust_bundle_path: self.trust_bundle.clone(),
            trust_bundle_url: self.trust_bundle_url.clone(),
            data_dir: self.data_dir.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            log_file: self.log_file.clone(),
            allow_unauthenticated_verifiers: self.allow_unauthenticated_verifiers,
        }
    }
}

/// `validate`: loads the configuration and says whether it is valid.
pub(super) fn validate(args: &RunArgs) -> ExitCode {
    match AgentConfig::load(&args.overrides()) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                println!("Warning: {warning}");
            }
            println!("Configuration is valid.");
            ExitCode::SUCCESS
        }
        Err(err) => {
            print_error_line(&error_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// `run`: loads the configuration, sets up logging and runs the agent until SIGINT or
/// SIGTERM.
pub(super) fn run(args: &RunArgs) -> ExitCode {
    let LoadedConfig { config, warnings } = match AgentConfig::load(&args.overrides()) {
        Ok(loaded) => loaded,
        Err(err) => {
            print_error_line(&error_line(&err));
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = init_logging(&config.log) {
        print_error_line(&error_line(&err));
        return ExitCode::FAILURE;
    }
    for warning in &warnings {
        tracing::warn!(warning = %warning, "configuration");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            print_error_line(&format!("Error: cannot start the runtime: {err}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        tracing::info!(
            trust_domain = %config.trust_domain,
            server = %format!("{}:{}", config.server_address, config.server_port),
            data_dir = %config.data_dir.display(),
            "agent starting"
        );
        match crate::agent::run_agent(config, shutdown).await {
            Ok(()) => {
                tracing::info!("agent stopped");
                ExitCode::SUCCESS
            }
            Err(err) => {
                tracing::error!(error = %err, cause = ?std::error::Error::source(&err).map(ToString::to_string), "agent failed");
                print_error_line(&error_line(&err));
                ExitCode::FAILURE
            }
        }
    })
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};

    let Ok(mut term) = signal(SignalKind::terminate()) else {
        tracing::warn!("cannot listen for SIGTERM");
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
