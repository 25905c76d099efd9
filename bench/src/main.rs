//! `lanyard-bench`: runs one benchmark scenario against a real `lanyard-server` and
//! writes its report (JSON and markdown) after measuring the machine's crypto ceiling.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lanyard_bench::ceiling;
use lanyard_bench::report::{RunReport, machine, now_rfc3339};
use lanyard_bench::scenarios::{self, Harness};
use lanyard_bench::server::ServerOptions;

#[derive(Debug, Parser)]
#[command(
    name = "lanyard-bench",
    about = "Benchmark scenarios against a real lanyard-server"
)]
struct Cli {
    /// The lanyard-server binary (default: next to this binary).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    /// The server's log level.
    #[arg(long, global = true, default_value = "INFO")]
    server_log_level: String,
    /// Where to write the JSON and markdown reports.
    #[arg(long, global = true, default_value = "target/bench")]
    out: PathBuf,
    /// Load generator worker threads (it shares the machine with the server).
    #[arg(long, global = true)]
    client_threads: Option<usize>,
    /// How long one simulated agent may keep retrying, seconds.
    #[arg(long, global = true, default_value_t = 300)]
    deadline_s: u64,
    /// Ceiling measurement: rounds per operation (the best counts).
    #[arg(long, global = true, default_value_t = 3)]
    ceiling_rounds: usize,
    /// Ceiling measurement: CPU milliseconds per round.
    #[arg(long, global = true, default_value_t = 500)]
    ceiling_ms: u64,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// S1 boot storm: agents attest at t=0, then fetch their workload SVIDs.
    S1(scenarios::s1::S1Args),
    /// S4 issuance: closed-loop X.509 (CSR) and JWT-SVIDs over persistent connections.
    S4(scenarios::s4::S4Args),
    /// S2 registration scale: bulk entries, restart load time, one agent's huge sync.
    S2(scenarios::s2::S2Args),
    /// S5 job launch: entries created at t0, every node fetches a JWT-SVID.
    S5(scenarios::s5::S5Args),
    /// S3 Workload API: many workloads on one real agent.
    S3(scenarios::s3::S3Args),
    /// Agent idle cost: a real agent with its entries and no change for a while.
    Idle(scenarios::idle::IdleArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let threads = cli
        .client_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let binary = match &cli.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary has no directory")?
            .join("lanyard-server"),
    };
    let machine = machine();
    eprintln!("measuring the crypto ceiling...");
    let ceiling = ceiling::measure(cli.ceiling_rounds, Duration::from_millis(cli.ceiling_ms))?;
    let harness = Harness {
        server: ServerOptions {
            binary,
            log_level: cli.server_log_level.clone(),
            cores: None,
        },
        ceiling,
        deadline: Duration::from_secs(cli.deadline_s),
    };
    let date = now_rfc3339();
    let scenario = match &cli.scenario {
        Scenario::S1(args) => scenarios::s1::run(&harness, args).await?,
        Scenario::S4(args) => scenarios::s4::run(&harness, args).await?,
        Scenario::S2(args) => scenarios::s2::run(&harness, args).await?,
        Scenario::S5(args) => scenarios::s5::run(&harness, args).await?,
        Scenario::S3(args) => scenarios::s3::run(&harness, args).await?,
        Scenario::Idle(args) => scenarios::idle::run(&harness, args).await?,
    };
    let report = RunReport {
        date,
        machine,
        ceiling,
        scenario,
    };
    let (json, markdown) = report.write(&cli.out)?;
    println!("{}", report.markdown());
    eprintln!("wrote {} and {}", json.display(), markdown.display());
    anyhow::ensure!(
        report.scenario.errors == 0,
        "{} operations failed",
        report.scenario.errors
    );
    Ok(())
}
