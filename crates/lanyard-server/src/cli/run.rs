//! `run`, `validate` and `healthcheck`.

use std::path::PathBuf;

use clap::Args;
use lanyard_daemon::output::{describe_status, error_chain};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::common::{CliError, CliResult, Out, SocketArg};
use crate::config::{ConfigOverrides, LoadOptions, ServerConfig};

/// Flags of `run` and `validate`; they override the configuration file.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Path to the configuration file (HCL or JSON; default conf/server/server.conf)
    #[arg(long = "config", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Expand $VAR and ${VAR} in the configuration file from the environment
    #[arg(long = "expandEnv")]
    pub expand_env: bool,
    /// Path to the admin API socket
    #[arg(long = "socketPath", value_name = "PATH")]
    pub socket_path: Option<PathBuf>,
    /// The trust domain this server is the authority for
    #[arg(long = "trustDomain")]
    pub trust_domain: Option<String>,
    /// IP address or DNS name to listen on for agents
    #[arg(long = "bindAddress")]
    pub bind_address: Option<String>,
    /// Port to listen on for agents
    #[arg(long = "serverPort")]
    pub server_port: Option<u16>,
    /// Directory for the server's state
    #[arg(long = "dataDir", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// DEBUG, INFO, WARN or ERROR
    #[arg(long = "logLevel")]
    pub log_level: Option<String>,
    /// text or json
    #[arg(long = "logFormat")]
    pub log_format: Option<String>,
    /// File to write logs to
    #[arg(long = "logFile", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

impl RunArgs {
    /// What to load: the file and the flag overrides.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            config_path: self.config.clone(),
            expand_env: self.expand_env,
            overrides: ConfigOverrides {
                socket_path: self.socket_path.clone(),
                trust_domain: self.trust_domain.clone(),
                bind_address: self.bind_address.clone(),
                server_port: self.server_port,
                data_dir: self.data_dir.clone(),
                log_level: self.log_level.clone(),
                log_format: self.log_format.clone(),
                log_file: self.log_file.clone(),
            },
        }
    }

    /// Loads and checks the configuration.
    pub fn load(&self) -> Result<ServerConfig, CliError> {
        ServerConfig::load(&self.load_options()).map_err(|err| CliError(error_chain(&err)))
    }
}

/// `validate`: loads the configuration and reports problems without starting.
pub(crate) fn validate(args: &RunArgs, out: Out<'_>) -> CliResult {
    let config = args.load()?;
    for warning in &config.warnings {
        writeln!(out, "Warning: {warning}")?;
    }
    writeln!(out, "Configuration is valid.")?;
    Ok(())
}

/// `run`: loads the configuration and runs the server until a signal stops it.
pub(crate) fn run(args: &RunArgs) -> CliResult {
    let config = args.load()?;
    crate::run::run(config).map_err(|err| CliError(format!("{err:#}")))
}

/// Flags of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// Only check that the server answers, not that it reports serving
    #[arg(long = "shallow")]
    pub shallow: bool,
    /// Say what is being checked
    #[arg(long = "verbose")]
    pub verbose: bool,
}

/// `healthcheck`: asks the server's `grpc.health.v1` service over the admin socket.
pub(crate) async fn healthcheck(args: HealthcheckArgs, out: Out<'_>) -> CliResult {
    if args.verbose {
        writeln!(out, "Checking server health...")?;
    }
    let unhealthy = |reason: String| CliError(format!("Server is unhealthy: {reason}"));
    let channel = args
        .socket
        .connect()
        .await
        .map_err(|err| unhealthy(err.0))?;

    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| unhealthy(describe_status(&status)))?
        .into_inner();
    if !args.shallow && response.status() != ServingStatus::Serving {
        return Err(unhealthy(format!(
            "status is {}",
            response.status().as_str_name()
        )));
    }

    writeln!(out, "Server is healthy.")?;
    Ok(())
}
