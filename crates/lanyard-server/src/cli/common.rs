//! What every admin command shares: the socket and output flags, the connection, errors,
//! and parsing of IDs, selectors and times the way SPIRE's CLI does.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use lanyard_daemon::OutputFormat;
use lanyard_daemon::output::describe_status;
use lanyard_daemon::socket::{DEFAULT_SERVER_SOCKET_PATH, connect_unix_channel};
use lanyard_proto::spire::api::types::{Selector, Spiffeid};
use lanyard_spiffe::SpiffeId;
use tonic::transport::Channel;

/// A failed command: one line for stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl CliError {
    /// `context: <status in words>`.
    pub fn rpc(context: &str, status: &tonic::Status) -> Self {
        Self(format!("{context}: {}", describe_status(status)))
    }

    /// Any message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        // A closed pipe (`| head`) is the reader's choice, not a failure worth a message.
        if lanyard_daemon::output::is_closed_pipe(&err) {
            return Self(String::new());
        }
        Self(format!("cannot write output: {err}"))
    }
}

/// The result of one command.
pub type CliResult = Result<(), CliError>;

/// `-socketPath`, on every command that talks to the server.
#[derive(Debug, Clone, Args)]
pub struct SocketArg {
    /// Path to the server's admin API socket
    #[arg(long = "socketPath", value_name = "PATH", default_value = DEFAULT_SERVER_SOCKET_PATH)]
    pub socket_path: PathBuf,
}

impl SocketArg {
    /// Connects to the admin socket.
    pub async fn connect(&self) -> Result<Channel, CliError> {
        connect_unix_channel(&self.socket_path)
            .await
            .map_err(|err| CliError(format!("{err} (is lanyard-server running?)")))
    }
}

/// `-output pretty|json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArg {
    /// Output format: pretty or json
    #[arg(long = "output", value_enum, default_value_t = OutputFormat::Pretty)]
    pub output: OutputFormat,
}

impl OutputArg {
    /// Whether JSON was asked for.
    pub fn is_json(self) -> bool {
        self.output == OutputFormat::Json
    }
}

/// Where commands write: stdout in the binary, a buffer in tests.
pub(crate) type Out<'a> = &'a mut dyn Write;

/// Parses a SPIFFE ID into the API's form; `what` names the flag in the error.
pub(crate) fn parse_spiffe_id(what: &str, value: &str) -> Result<Spiffeid, CliError> {
    let id = SpiffeId::parse(value)
        .map_err(|err| CliError(format!("error parsing {what} {value:?}: {err}")))?;
    Ok(spiffe_id_to_proto(&id))
}

/// The API's form of a parsed ID.
pub(crate) fn spiffe_id_to_proto(id: &SpiffeId) -> Spiffeid {
    Spiffeid {
        trust_domain: id.trust_domain().as_str().to_owned(),
        path: id.path().to_owned(),
    }
}

/// `spiffe://td/path`, or empty for a missing ID.
pub(crate) fn spiffe_id_to_string(id: Option<&Spiffeid>) -> String {
    id.map(|id| format!("spiffe://{}{}", id.trust_domain, id.path))
        .unwrap_or_default()
}

/// Splits `type:value` at the first colon, as SPIRE's CLI does.
pub(crate) fn parse_selector(value: &str) -> Result<Selector, CliError> {
    match value.split_once(':') {
        Some((kind, rest)) if !kind.is_empty() => Ok(Selector {
            r#type: kind.to_owned(),
            value: rest.to_owned(),
        }),
        _ => Err(CliError(format!(
            "selector {value:?} must be formatted as type:value"
        ))),
    }
}

/// Parses every `-selector`.
pub(crate) fn parse_selectors(values: &[String]) -> Result<Vec<Selector>, CliError> {
    values.iter().map(|v| parse_selector(v)).collect()
}

/// SPIRE's time format: `2019-03-12 17:04:26 +0000 UTC`.
pub(crate) fn format_unix_time(seconds: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| seconds.to_string())
}

/// The current time in Unix seconds.
pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Reads a file, or stdin for `-`.
pub(crate) fn read_input(path: &str) -> Result<Vec<u8>, CliError> {
    if path == "-" {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)
            .map_err(|err| CliError(format!("cannot read stdin: {err}")))?;
        return Ok(data);
    }
    std::fs::read(path).map_err(|err| CliError(format!("cannot read {path}: {err}")))
}

/// Writes `data` to `path` with `mode`, replacing an existing file.
pub(crate) fn write_file(path: &std::path::Path, data: &[u8], mode: u32) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;

    let fail = |err: std::io::Error| CliError(format!("cannot write {}: {err}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(data).map_err(fail)
}
