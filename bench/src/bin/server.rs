//! `lanyard-bench-server`: exactly `lanyard-server`'s entry point. The smoke test runs
//! it because a test can only ask cargo for binaries of its own package.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    lanyard_server::cli::main()
}
