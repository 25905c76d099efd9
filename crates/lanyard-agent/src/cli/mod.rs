//! The `lanyard-agent` command line (SPIRE's `spire-agent` command tree): `run`,
//! `validate`, `healthcheck` and `api ...`, with SPIRE's single-dash flags.

pub mod api;
mod healthcheck;
mod run;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

pub use healthcheck::HealthcheckArgs;
pub use run::RunArgs;

/// The `lanyard-agent` command.
#[derive(Debug, Parser)]
#[command(name = "lanyard-agent", version, about = "The Lanyard agent")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `lanyard-agent` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the agent
    Run(RunArgs),
    /// Validates a configuration file
    Validate(RunArgs),
    /// Checks the agent's health through its public socket
    Healthcheck(HealthcheckArgs),
    /// Talks to the Workload API like a workload
    #[command(subcommand)]
    Api(api::ApiCommand),
}

/// Parses `args` (SPIRE's `-flag value` form accepted) and runs the command.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = lanyard_daemon::normalize_go_style_args(&Cli::command(), args);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };

    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Validate(args) => run::validate(&args),
        Command::Healthcheck(args) => healthcheck::healthcheck(&args),
        Command::Api(command) => run_api(command),
    }
}

fn run_api(command: api::ApiCommand) -> ExitCode {
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
    let mut out = std::io::stdout();
    match runtime.block_on(api::execute(command, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            lanyard_daemon::output::print_error_line(&format!("Error: {err}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let args = lanyard_daemon::normalize_go_style_args(
            &Cli::command(),
            args.iter().map(OsString::from),
        );
        Cli::try_parse_from(args).expect("parses")
    }

    #[test]
    fn spire_style_run_flags_parse() {
        let cli = parse(&[
            "lanyard-agent",
            "run",
            "-config",
            "agent.conf",
            "-joinToken",
            "tok",
            "-serverAddress",
            "10.0.0.1",
            "-serverPort",
            "8081",
            "-socketPath",
            "/tmp/a.sock",
            "-trustDomain",
            "example.org",
            "-trustBundle",
            "b.pem",
            "-dataDir",
            "/var/lib/a",
            "-logLevel",
            "DEBUG",
            "-expandEnv",
        ]);
        let Command::Run(args) = cli.command else {
            panic!("run expected");
        };
        let overrides = args.overrides();
        assert_eq!(
            overrides.config_path.as_deref(),
            Some(std::path::Path::new("agent.conf"))
        );
        assert_eq!(overrides.join_token.as_deref(), Some("tok"));
        assert_eq!(overrides.server_port, Some(8081));
        assert_eq!(overrides.trust_domain.as_deref(), Some("example.org"));
        assert!(overrides.expand_env);
    }

    #[test]
    fn misspelled_single_dash_flags_are_named_whole() {
        let args = lanyard_daemon::normalize_go_style_args(
            &Cli::command(),
            ["lanyard-agent", "run", "-jointoken", "tok"].map(OsString::from),
        );
        let err = Cli::try_parse_from(args).expect_err("misspelled flag");
        let text = err.to_string();
        assert!(text.contains("'--jointoken'"), "{text}");
        assert!(text.contains("'--joinToken'"), "{text}");
    }

    #[test]
    fn the_last_error_line_carries_the_causes() {
        use lanyard_attest::{AttestError, ConfigError};

        use crate::agent::AgentError;
        use crate::node::NodeError;
        use crate::node::bootstrap::BootstrapError;

        let err = AgentError::Node(NodeError::Attestor(AttestError::Config(
            ConfigError::MissingJoinToken,
        )));
        assert_eq!(
            lanyard_daemon::output::error_line(&err),
            "Error: the node attestor failed: no join token: set join_token or \
             join_token_file, or pass -joinToken"
        );

        let err = AgentError::Node(NodeError::Bootstrap(BootstrapError::Read {
            path: "/nonexistent.pem".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }));
        assert_eq!(
            lanyard_daemon::output::error_line(&err),
            "Error: cannot read trust bundle /nonexistent.pem: entity not found"
        );
    }

    #[test]
    fn healthcheck_defaults_to_the_public_socket() {
        let cli = parse(&["lanyard-agent", "healthcheck", "-shallow"]);
        let Command::Healthcheck(args) = cli.command else {
            panic!("healthcheck expected");
        };
        assert_eq!(
            args.socket_path,
            std::path::Path::new(crate::config::DEFAULT_SOCKET_PATH)
        );
        assert!(args.shallow);
    }

    #[test]
    fn validate_reports_errors_with_exit_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.conf");
        std::fs::write(&path, "agent {\n  trust_domain = \"example.org\"\n}\n").expect("write");
        let args = RunArgs {
            config: Some(path.clone()),
            ..RunArgs::default()
        };
        assert_eq!(run::validate(&args), ExitCode::FAILURE);

        std::fs::write(
            &path,
            "agent {\n  trust_domain = \"example.org\"\n  server_address = \"s\"\n  insecure_bootstrap = true\n}\n",
        )
        .expect("write");
        assert_eq!(run::validate(&args), ExitCode::SUCCESS);
    }
}
