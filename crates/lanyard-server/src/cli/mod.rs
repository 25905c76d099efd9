//! The `lanyard-server` command line: SPIRE's `spire-server` command tree with its flag
//! names. SPIRE's Go-style single-dash flags (`-socketPath`, `-spiffeID x`) work as well as
//! `--socketPath`; see [`lanyard_daemon::flags`].
//!
//! Every admin command talks to the server's admin socket (`-socketPath`, default
//! `/tmp/lanyard-server/private/api.sock`) and prints SPIRE-like output, or protobuf JSON
//! with `-output json`. A failure prints one `Error: ...` line on stderr and exits with 1.
//!
//! Additions to SPIRE's CLI: `token generate -nodeAttribute key=value` (repeatable) binds
//! the token to node attributes the agent must present; the values travel to
//! `CreateJoinToken` as `lanyard-node-attribute` gRPC metadata. `x509 mint` and `jwt mint`
//! accept `-ttl` as a duration or as seconds.

mod admin;
mod agent;
mod bundle;
mod common;
mod entry;
mod entry_data;
mod filter;
mod json;
mod mint;
mod print;
mod run;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use lanyard_daemon::normalize_go_style_args;

pub use admin::{DebugCommand, LocalAuthorityCommand, LoggerCommand};
pub use agent::{AgentCommand, NODE_ATTRIBUTE_METADATA, TokenCommand};
pub use bundle::BundleCommand;
pub use common::{CliError, CliResult};
pub use entry::EntryCommand;
pub use mint::{JwtCommand, X509Command};
pub use run::{HealthcheckArgs, RunArgs};

/// `lanyard-server`.
#[derive(Debug, Parser)]
#[command(
    name = "lanyard-server",
    version,
    about = "Lanyard server: SPIFFE identities for HPC clusters, compatible with SPIRE"
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The command tree.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server
    Run(RunArgs),
    /// Validates a server configuration file
    Validate(RunArgs),
    /// Determines server health status
    Healthcheck(HealthcheckArgs),
    /// Manages registration entries
    #[command(subcommand)]
    Entry(EntryCommand),
    /// Manages trust bundles
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Manages attested agents
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manages join tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Mints X509-SVIDs
    #[command(subcommand)]
    X509(X509Command),
    /// Mints JWT-SVIDs
    #[command(subcommand)]
    Jwt(JwtCommand),
    /// Manages the server's local signing authorities
    #[command(subcommand, name = "localauthority")]
    LocalAuthority(LocalAuthorityCommand),
    /// Gets and sets the server's log level
    #[command(subcommand)]
    Logger(LoggerCommand),
    /// Shows debug information
    #[command(subcommand)]
    Debug(DebugCommand),
}

impl Cli {
    /// Parses a command line, SPIRE's single-dash flags included.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args = normalize_go_style_args(&Self::command(), args);
        Self::try_parse_from(args)
    }
}

/// Runs `lanyard-server` with the process arguments; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };

    let mut stdout = std::io::stdout().lock();
    match execute(cli.command, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = stdout.flush();
            if !err.0.is_empty() {
                lanyard_daemon::output::print_error_line(&format!(
                    "Error: {}",
                    err.0.replace('\n', " ")
                ));
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs one command, writing its output to `out`.
pub fn execute(command: Command, out: &mut dyn Write) -> CliResult {
    match command {
        Command::Run(args) => run::run(&args),
        Command::Validate(args) => run::validate(&args, out),
        other => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| CliError(format!("cannot start the async runtime: {err}")))?;
            runtime.block_on(execute_admin(other, out))
        }
    }
}

async fn execute_admin(command: Command, out: &mut dyn Write) -> CliResult {
    match command {
        Command::Run(_) | Command::Validate(_) => {
            Err(CliError::msg("run and validate are not admin commands"))
        }
        Command::Healthcheck(args) => run::healthcheck(args, out).await,
        Command::Entry(cmd) => cmd.execute(out).await,
        Command::Bundle(cmd) => cmd.execute(out).await,
        Command::Agent(cmd) => cmd.execute(out).await,
        Command::Token(cmd) => cmd.execute(out).await,
        Command::X509(cmd) => cmd.execute(out).await,
        Command::Jwt(cmd) => cmd.execute(out).await,
        Command::LocalAuthority(cmd) => cmd.execute(out).await,
        Command::Logger(cmd) => cmd.execute(out).await,
        Command::Debug(cmd) => cmd.execute(out).await,
    }
}

#[cfg(test)]
mod tests;
