//! The `lanyard-agent` command.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    lanyard_agent::cli::main_with_args(std::env::args_os())
}
