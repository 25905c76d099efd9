//! `lanyard-agent api ...`: SPIRE's `spire-agent api` commands against the Workload API.
//!
//! - `api fetch` / `api fetch x509 [-write DIR] [-silent]`: the caller's X.509-SVIDs
//!   (`svid.N.pem`, `svid.N.key`, `bundle.N.pem`, `federated_bundle.N.M.pem`);
//! - `api fetch jwt -audience A[,B] [-spiffeID ID]`: JWT-SVIDs and JWT bundles;
//! - `api validate jwt -audience A -svid TOKEN`: validation through the agent;
//! - `api watch`: every X.509 update until interrupted.
//!
//! The socket is `-socketPath`, else `SPIFFE_ENDPOINT_SOCKET` (`unix:///path`), else
//! the agent's default. `-timeout` bounds each call; `-output json` prints the
//! responses as protobuf JSON.

mod client;
mod jwt;
mod x509;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use lanyard_daemon::{Duration, OutputFormat};

pub use client::{ENDPOINT_SOCKET_VAR, EndpointError, resolve_socket_path};

/// Why an `api` command failed; printed as one `Error: ...` line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub String);

impl ApiError {
    pub(crate) fn msg(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// `api` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Fetches X.509-SVIDs (the default) or JWT-SVIDs from the Workload API
    Fetch(FetchArgs),
    /// Validates a JWT-SVID through the Workload API
    #[command(subcommand)]
    Validate(ValidateCommand),
    /// Watches X.509-SVID updates from the Workload API
    Watch(CommonArgs),
}

/// `api fetch [x509|jwt]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FetchArgs {
    /// What to fetch; X.509-SVIDs when omitted.
    #[command(subcommand)]
    pub kind: Option<FetchCommand>,
    /// Flags of `fetch x509` when the kind is omitted.
    #[command(flatten)]
    pub x509: FetchX509Args,
}

/// `api fetch x509|jwt`.
#[derive(Debug, Subcommand)]
pub enum FetchCommand {
    /// Fetches X.509-SVIDs
    X509(FetchX509Args),
    /// Fetches JWT-SVIDs
    Jwt(FetchJwtArgs),
}

/// `api validate jwt`.
#[derive(Debug, Subcommand)]
pub enum ValidateCommand {
    /// Validates a JWT-SVID
    Jwt(ValidateJwtArgs),
}

/// Flags every `api` command takes.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Path to the Workload API socket (default: SPIFFE_ENDPOINT_SOCKET, else
    /// /tmp/lanyard-agent/public/api.sock)
    #[arg(long = "socketPath", value_name = "PATH")]
    pub socket_path: Option<PathBuf>,
    /// Time to wait for a response
    #[arg(long, default_value = "5s")]
    pub timeout: Duration,
    /// Output format: pretty or json
    #[arg(long, value_enum, default_value_t = OutputFormat::Pretty)]
    pub output: OutputFormat,
}

/// `api fetch x509`.
#[derive(Debug, Clone, Args)]
pub struct FetchX509Args {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Write the SVIDs, keys and bundles to this directory
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// Suppress stdout
    #[arg(long)]
    pub silent: bool,
}

/// `api fetch jwt`.
#[derive(Debug, Clone, Args)]
pub struct FetchJwtArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Audience values, comma separated or repeated
    #[arg(long, value_delimiter = ',', action = clap::ArgAction::Append)]
    pub audience: Vec<String>,
    /// SPIFFE ID of the JWT-SVID to fetch (default: every identity of the caller)
    #[arg(long = "spiffeID", value_name = "ID")]
    pub spiffe_id: Option<String>,
}

/// `api validate jwt`.
#[derive(Debug, Clone, Args)]
pub struct ValidateJwtArgs {
    /// Common flags.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Expected audience
    #[arg(long)]
    pub audience: Option<String>,
    /// The JWT-SVID
    #[arg(long)]
    pub svid: Option<String>,
}

/// Runs an `api` command, writing its output to `out`.
pub async fn execute(command: ApiCommand, out: &mut dyn Write) -> Result<(), ApiError> {
    match command {
        ApiCommand::Fetch(FetchArgs {
            kind: None,
            x509: args,
        })
        | ApiCommand::Fetch(FetchArgs {
            kind: Some(FetchCommand::X509(args)),
            ..
        }) => x509::fetch(&args, out).await,
        ApiCommand::Fetch(FetchArgs {
            kind: Some(FetchCommand::Jwt(args)),
            ..
        }) => jwt::fetch(&args, out).await,
        ApiCommand::Validate(ValidateCommand::Jwt(args)) => jwt::validate(&args, out).await,
        ApiCommand::Watch(args) => x509::watch(&args, out).await,
    }
}

#[cfg(test)]
mod tests;
