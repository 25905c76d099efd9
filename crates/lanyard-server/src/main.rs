//! `lanyard-server`: the server daemon and its admin CLI.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    lanyard_server::cli::main()
}
