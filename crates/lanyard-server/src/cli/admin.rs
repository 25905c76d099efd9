//! `localauthority x509|jwt show|prepare|activate|taint|revoke`, `logger get|set|reset` and
//! `debug getinfo`.

use clap::{Args, Subcommand, ValueEnum};
use lanyard_daemon::output::json_line;
use lanyard_proto::spire::api::server::debug::v1::{GetInfoRequest, debug_client::DebugClient};
use lanyard_proto::spire::api::server::localauthority::v1::{
    ActivateJwtAuthorityRequest, ActivateX509AuthorityRequest, AuthorityState,
    GetJwtAuthorityStateRequest, GetX509AuthorityStateRequest, PrepareJwtAuthorityRequest,
    PrepareX509AuthorityRequest, RevokeJwtAuthorityRequest, RevokeX509AuthorityRequest,
    TaintJwtAuthorityRequest, TaintX509AuthorityRequest,
    local_authority_client::LocalAuthorityClient,
};
use lanyard_proto::spire::api::server::logger::v1::{
    GetLoggerRequest, ResetLogLevelRequest, SetLogLevelRequest, logger_client::LoggerClient,
};
use lanyard_proto::spire::api::types::{LogLevel, Logger};
use tonic::transport::Channel;

use super::common::{CliError, CliResult, Out, OutputArg, SocketArg, format_unix_time};
use super::{json, print};

/// `localauthority` subcommands.
#[derive(Debug, Subcommand)]
pub enum LocalAuthorityCommand {
    /// Manages the X.509 CA authorities
    #[command(subcommand)]
    X509(AuthorityAction),
    /// Manages the JWT signing authorities
    #[command(subcommand)]
    Jwt(AuthorityAction),
}

/// What to do with an authority.
#[derive(Debug, Subcommand)]
pub enum AuthorityAction {
    /// Shows the active, prepared and old authorities
    Show(PlainArgs),
    /// Prepares a new authority
    Prepare(PlainArgs),
    /// Activates the prepared authority
    Activate(AuthorityIdArgs),
    /// Taints the old authority so everything it signed is replaced
    Taint(AuthorityIdArgs),
    /// Removes the tainted authority from the bundle
    Revoke(AuthorityIdArgs),
}

/// Socket and output only.
#[derive(Debug, Args)]
pub struct PlainArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    #[command(flatten)]
    pub output: OutputArg,
}

/// `-authorityID`.
#[derive(Debug, Args)]
pub struct AuthorityIdArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The authority ID
    #[arg(long = "authorityID")]
    pub authority_id: String,
    #[command(flatten)]
    pub output: OutputArg,
}

impl LocalAuthorityCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        let (kind, action) = match self {
            Self::X509(action) => (Kind::X509, action),
            Self::Jwt(action) => (Kind::Jwt, action),
        };
        let (socket, output) = match &action {
            AuthorityAction::Show(a) | AuthorityAction::Prepare(a) => (&a.socket, a.output),
            AuthorityAction::Activate(a)
            | AuthorityAction::Taint(a)
            | AuthorityAction::Revoke(a) => (&a.socket, a.output),
        };
        let mut client = LocalAuthorityClient::new(socket.connect().await?);
        let states = call(&mut client, kind, &action).await?;

        if output.is_json() {
            let value: serde_json::Map<String, serde_json::Value> = states
                .iter()
                .map(|(key, _, state)| ((*key).to_owned(), json::authority_state(state.as_ref())))
                .collect();
            out.write_all(json_line(&serde_json::Value::Object(value)).as_bytes())?;
            return Ok(());
        }
        for (_, heading, state) in &states {
            let heading = format!("{heading} {} authority", kind.label());
            out.write_all(print::authority(&heading, kind.label(), state.as_ref()).as_bytes())?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    X509,
    Jwt,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::X509 => "X.509",
            Self::Jwt => "JWT",
        }
    }
}

type States = Vec<(&'static str, &'static str, Option<AuthorityState>)>;

async fn call(
    client: &mut LocalAuthorityClient<Channel>,
    kind: Kind,
    action: &AuthorityAction,
) -> Result<States, CliError> {
    let fail = |what: &str| {
        let what = format!("could not {what} {} authority", kind.label());
        move |s: tonic::Status| CliError::rpc(&what, &s)
    };
    let id = |a: &AuthorityIdArgs| a.authority_id.clone();

    Ok(match (kind, action) {
        (Kind::X509, AuthorityAction::Show(_)) => {
            let r = client
                .get_x509_authority_state(GetX509AuthorityStateRequest {})
                .await
                .map_err(fail("get"))?
                .into_inner();
            vec![
                ("active", "Active", r.active),
                ("prepared", "Prepared", r.prepared),
                ("old", "Old", r.old),
            ]
        }
        (Kind::Jwt, AuthorityAction::Show(_)) => {
            let r = client
                .get_jwt_authority_state(GetJwtAuthorityStateRequest {})
                .await
                .map_err(fail("get"))?
                .into_inner();
            vec![
                ("active", "Active", r.active),
                ("prepared", "Prepared", r.prepared),
                ("old", "Old", r.old),
            ]
        }
        (Kind::X509, AuthorityAction::Prepare(_)) => {
            let r = client
                .prepare_x509_authority(PrepareX509AuthorityRequest {})
                .await
                .map_err(fail("prepare"))?
                .into_inner();
            vec![("prepared_authority", "Prepared", r.prepared_authority)]
        }
        (Kind::Jwt, AuthorityAction::Prepare(_)) => {
            let r = client
                .prepare_jwt_authority(PrepareJwtAuthorityRequest {})
                .await
                .map_err(fail("prepare"))?
                .into_inner();
            vec![("prepared_authority", "Prepared", r.prepared_authority)]
        }
        (Kind::X509, AuthorityAction::Activate(a)) => {
            let r = client
                .activate_x509_authority(ActivateX509AuthorityRequest {
                    authority_id: id(a),
                })
                .await
                .map_err(fail("activate"))?
                .into_inner();
            vec![("activated_authority", "Activated", r.activated_authority)]
        }
        (Kind::Jwt, AuthorityAction::Activate(a)) => {
            let r = client
                .activate_jwt_authority(ActivateJwtAuthorityRequest {
                    authority_id: id(a),
                })
                .await
                .map_err(fail("activate"))?
                .into_inner();
            vec![("activated_authority", "Activated", r.activated_authority)]
        }
        (Kind::X509, AuthorityAction::Taint(a)) => {
            let r = client
                .taint_x509_authority(TaintX509AuthorityRequest {
                    authority_id: id(a),
                })
                .await
                .map_err(fail("taint"))?
                .into_inner();
            vec![("tainted_authority", "Tainted", r.tainted_authority)]
        }
        (Kind::Jwt, AuthorityAction::Taint(a)) => {
            let r = client
                .taint_jwt_authority(TaintJwtAuthorityRequest {
                    authority_id: id(a),
                })
                .await
                .map_err(fail("taint"))?
                .into_inner();
            vec![("tainted_authority", "Tainted", r.tainted_authority)]
        }
        (Kind::X509, AuthorityAction::Revoke(a)) => {
            let r = client
                .revoke_x509_authority(RevokeX509AuthorityRequest {
                    authority_id: id(a),
                })
                .await
                .map_err(fail("revoke"))?
                .into_inner();
            vec![("revoked_authority", "Revoked", r.revoked_authority)]
        }
        (Kind::Jwt, AuthorityAction::Revoke(a)) => {
            let r = client
                .revoke_jwt_authority(RevokeJwtAuthorityRequest {
                    authority_id: id(a),
                })
                .await
                .map_err(fail("revoke"))?
                .into_inner();
            vec![("revoked_authority", "Revoked", r.revoked_authority)]
        }
    })
}

/// `logger` subcommands.
#[derive(Debug, Subcommand)]
pub enum LoggerCommand {
    /// Shows the current and launch log levels
    Get(PlainArgs),
    /// Sets the log level
    Set(SetLevelArgs),
    /// Resets the log level to the launch level
    Reset(PlainArgs),
}

/// Log levels accepted by `logger set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Lifecycle.
    Info,
    /// Handled problems.
    Warn,
    /// Failures.
    Error,
    /// Fatal failures (logrus).
    Fatal,
    /// Panics (logrus).
    Panic,
}

/// Flags of `logger set`.
#[derive(Debug, Args)]
pub struct SetLevelArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The new level: trace, debug, info, warn, error, fatal or panic
    #[arg(long = "level", value_enum, ignore_case = true)]
    pub level: LevelArg,
    #[command(flatten)]
    pub output: OutputArg,
}

impl LoggerCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        let (socket, output) = match &self {
            Self::Get(a) | Self::Reset(a) => (&a.socket, a.output),
            Self::Set(a) => (&a.socket, a.output),
        };
        let mut client = LoggerClient::new(socket.connect().await?);
        let logger = match &self {
            Self::Get(_) => client.get_logger(GetLoggerRequest {}).await,
            Self::Set(a) => {
                client
                    .set_log_level(SetLogLevelRequest {
                        new_level: proto_level(a.level) as i32,
                    })
                    .await
            }
            Self::Reset(_) => client.reset_log_level(ResetLogLevelRequest {}).await,
        }
        .map_err(|s| CliError::rpc("error calling the Logger API", &s))?
        .into_inner();

        if output.is_json() {
            out.write_all(json_line(&json::logger(&logger)).as_bytes())?;
        } else {
            out.write_all(format_logger(&logger).as_bytes())?;
        }
        Ok(())
    }
}

fn proto_level(level: LevelArg) -> LogLevel {
    match level {
        LevelArg::Trace => LogLevel::Trace,
        LevelArg::Debug => LogLevel::Debug,
        LevelArg::Info => LogLevel::Info,
        LevelArg::Warn => LogLevel::Warn,
        LevelArg::Error => LogLevel::Error,
        LevelArg::Fatal => LogLevel::Fatal,
        LevelArg::Panic => LogLevel::Panic,
    }
}

/// `Logger Level : info` / `Launch Level : info`.
pub(crate) fn format_logger(logger: &Logger) -> String {
    let name = |level: i32| {
        LogLevel::try_from(level).map_or_else(
            |_| level.to_string(),
            |l| l.as_str_name().to_ascii_lowercase(),
        )
    };
    format!(
        "Logger Level : {}\nLaunch Level : {}\n\n",
        name(logger.current_level),
        name(logger.launch_level)
    )
}

/// `debug` subcommands.
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Shows the server's debug information
    Getinfo(PlainArgs),
}

impl DebugCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        let Self::Getinfo(args) = self;
        let info = DebugClient::new(args.socket.connect().await?)
            .get_info(GetInfoRequest {})
            .await
            .map_err(|s| CliError::rpc("error getting debug information", &s))?
            .into_inner();

        if args.output.is_json() {
            out.write_all(json_line(&json::debug_info(&info)).as_bytes())?;
            return Ok(());
        }
        writeln!(out, "Uptime: {}s", info.uptime)?;
        writeln!(out, "Number of agents: {}", info.agents_count)?;
        writeln!(out, "Number of entries: {}", info.entries_count)?;
        writeln!(
            out,
            "Number of federated bundles: {}",
            info.federated_bundles_count
        )?;
        writeln!(out, "SVID chain:")?;
        for cert in &info.svid_chain {
            writeln!(
                out,
                "  {} (subject: {}, expires: {})",
                super::common::spiffe_id_to_string(cert.id.as_ref()),
                cert.subject,
                format_unix_time(cert.expires_at)
            )?;
        }
        Ok(())
    }
}
