//! `lanyard-agent healthcheck`: asks `grpc.health.v1` on the agent's public socket.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::config::DEFAULT_SOCKET_PATH;

/// Flags of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Path of the agent's public socket
    #[arg(long = "socketPath", value_name = "PATH", default_value = DEFAULT_SOCKET_PATH)]
    pub socket_path: PathBuf,
    /// Only check that the agent answers, not that it serves
    #[arg(long = "shallow")]
    pub shallow: bool,
    /// Print what is checked
    #[arg(long = "verbose")]
    pub verbose: bool,
}

/// Why the agent is not healthy.
#[derive(Debug, thiserror::Error)]
enum Unhealthy {
    #[error("cannot reach the agent: {0}")]
    Connect(String),
    #[error("health check failed: {0}")]
    Call(String),
    #[error("agent is not serving (status {0})")]
    NotServing(String),
}

/// Runs the check; exit 0 when healthy, 1 otherwise (messages as SPIRE prints them).
pub(super) fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            lanyard_daemon::output::print_error_line(&format!(
                "Error: cannot start the runtime: {err}"
            ));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(check(args)) {
        Ok(()) => {
            println!("Agent is healthy.");
            ExitCode::SUCCESS
        }
        Err(err) => {
            if args.verbose {
                lanyard_daemon::output::print_error_line(&format!("Failed to check health: {err}"));
            }
            lanyard_daemon::output::print_error_line(
                "Agent is unhealthy: unable to determine health",
            );
            ExitCode::FAILURE
        }
    }
}

async fn check(args: &HealthcheckArgs) -> Result<(), Unhealthy> {
    if args.verbose {
        println!("Checking agent health via {}", args.socket_path.display());
    }
    let channel = lanyard_daemon::socket::connect_unix_channel(&args.socket_path)
        .await
        .map_err(|err| Unhealthy::Connect(err.to_string()))?;
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.set_timeout(Duration::from_secs(5));
    let response = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|status| Unhealthy::Call(status.message().to_owned()))?;
    if args.shallow {
        return Ok(());
    }
    let status = response.into_inner().status;
    if status != ServingStatus::Serving as i32 {
        let name = ServingStatus::try_from(status)
            .map_or_else(|_| status.to_string(), |s| s.as_str_name().to_owned());
        return Err(Unhealthy::NotServing(name));
    }
    Ok(())
}
