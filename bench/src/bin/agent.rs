//! `lanyard-bench-agent`: exactly `lanyard-agent`'s entry point, built under a bench-local
//! name so the idle-agent smoke test can run it.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    lanyard_agent::cli::main_with_args(std::env::args_os())
}
