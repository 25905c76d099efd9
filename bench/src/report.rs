//! One run's results: the machine, its crypto ceiling, and a scenario's figures, written
//! as JSON and as a markdown table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::ceiling::Ceiling;
use crate::procstat::ProcSample;

/// Everything one `lanyard-bench <scenario>` invocation measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// UTC date and time of the run (RFC 3339).
    pub date: String,
    /// Where it ran.
    pub machine: Machine,
    /// The crypto ceiling measured at the start of the run.
    pub ceiling: Ceiling,
    /// The scenario's results.
    pub scenario: ScenarioReport,
}

/// The machine a run used.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online cores.
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Load average (1 min) when the run started: other tenants' share.
    pub load_average_at_start: f64,
}

/// A scenario's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScenarioReport {
    /// `s1`, `s4`, ...
    pub name: String,
    /// What the scenario was run with.
    pub parameters: serde_json::Value,
    /// Wall time of the measured phase, seconds.
    pub wall_s: f64,
    /// Server CPU seconds (user + system) spent in the measured phase.
    pub server_cpu_s: f64,
    /// Server peak resident memory over its lifetime, bytes.
    pub server_peak_rss_bytes: u64,
    /// CPU seconds the load generator spent in the measured phase (it shares the cores).
    pub client_cpu_s: f64,
    /// Load generator peak resident memory, bytes.
    pub client_peak_rss_bytes: u64,
    /// Operations that failed for good.
    pub errors: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
    /// Latency distributions.
    pub latencies: Vec<LatencyRow>,
    /// Throughputs with their ratio to the ceiling.
    pub throughputs: Vec<ThroughputRow>,
    /// Other figures (load time, bytes per entry, ...).
    pub figures: Vec<Figure>,
    /// Findings worth reading next to the numbers.
    pub notes: Vec<String>,
}

/// A latency distribution, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    /// What was timed.
    pub measure: String,
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl LatencyRow {
    /// The distribution of `samples` (nearest-rank percentiles).
    pub fn from_samples(measure: &str, mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1e3
        };
        Self {
            measure: measure.to_owned(),
            count: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: at(1.0),
        }
    }
}

/// A throughput and its ratio to the crypto ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRow {
    /// What was counted.
    pub measure: String,
    /// Operations completed.
    pub count: u64,
    /// Per second of wall time.
    pub per_s: f64,
    /// Per server CPU second: the throughput of one fully busy server core.
    pub per_server_cpu_s: f64,
    /// The crypto-only ceiling per core for this operation.
    pub ceiling_per_core: f64,
    /// `per_server_cpu_s / ceiling_per_core`.
    pub ratio_per_core: f64,
    /// `per_s / (ceiling_per_core * nproc)`: share of the whole machine's ceiling.
    pub ratio_machine: f64,
}

impl ThroughputRow {
    /// A row for `count` operations in `wall` using `server_cpu`.
    pub fn new(
        measure: &str,
        count: u64,
        wall: Duration,
        server_cpu: Duration,
        ceiling_per_core: f64,
        cores: usize,
    ) -> Self {
        let per_s = count as f64 / wall.as_secs_f64().max(1e-9);
        let per_server_cpu_s = count as f64 / server_cpu.as_secs_f64().max(1e-9);
        Self {
            measure: measure.to_owned(),
            count,
            per_s,
            per_server_cpu_s,
            ceiling_per_core,
            ratio_per_core: per_server_cpu_s / ceiling_per_core,
            ratio_machine: per_s / (ceiling_per_core * cores.max(1) as f64),
        }
    }
}

/// A named figure with its unit.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
}

impl ScenarioReport {
    /// Adds a figure.
    pub fn figure(&mut self, name: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// Fills the cost columns from samples taken around the measured phase.
    pub fn set_costs(
        &mut self,
        wall: Duration,
        server: (ProcSample, ProcSample),
        client: (ProcSample, ProcSample),
    ) {
        self.wall_s = wall.as_secs_f64();
        self.server_cpu_s = server.1.cpu.saturating_sub(server.0.cpu).as_secs_f64();
        self.server_peak_rss_bytes = self.server_peak_rss_bytes.max(server.1.peak_rss_bytes);
        self.client_cpu_s = client.1.cpu.saturating_sub(client.0.cpu).as_secs_f64();
        self.client_peak_rss_bytes = client.1.peak_rss_bytes;
    }
}

impl RunReport {
    /// Writes `<dir>/<scenario>-<date>.json` and `.md`; returns both paths.
    pub fn write(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let stem = format!(
            "{}-{}",
            self.scenario.name,
            self.date.replace([':', '-'], "").replace('T', "-")
        );
        let json = dir.join(format!("{stem}.json"));
        let markdown = dir.join(format!("{stem}.md"));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?)?;
        std::fs::write(&markdown, self.markdown())?;
        Ok((json, markdown))
    }

    /// The report as markdown tables.
    pub fn markdown(&self) -> String {
        let s = &self.scenario;
        let c = &self.ceiling;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### {} ({}; {} x {}; load {:.2} at start)\n",
            s.name,
            self.date,
            self.machine.nproc,
            self.machine.cpu_model,
            self.machine.load_average_at_start
        );
        let _ = writeln!(out, "Parameters: `{}`\n", s.parameters);
        let _ = writeln!(
            out,
            "Ceiling per core: P-256 sign {:.0}/s, verify {:.0}/s; X.509 from CSR {:.0}/s; JWT {:.0}/s.\n",
            c.sign_per_s, c.verify_per_s, c.x509_from_csr_per_s, c.jwt_per_s
        );
        out.push_str("| wall s | server CPU s | server peak RSS MiB | client CPU s | client peak RSS MiB | errors | retries |\n");
        out.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
        let _ = writeln!(
            out,
            "| {:.2} | {:.2} | {:.1} | {:.2} | {:.1} | {} | {} |\n",
            s.wall_s,
            s.server_cpu_s,
            mib(s.server_peak_rss_bytes),
            s.client_cpu_s,
            mib(s.client_peak_rss_bytes),
            s.errors,
            s.retries
        );
        if !s.latencies.is_empty() {
            out.push_str("| latency | n | p50 ms | p99 ms | p99.9 ms | max ms |\n");
            out.push_str("|---|---:|---:|---:|---:|---:|\n");
            for l in &s.latencies {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    l.measure, l.count, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
                );
            }
            out.push('\n');
        }
        if !s.throughputs.is_empty() {
            out.push_str("| throughput | count | per s | per server CPU s | ceiling per core | ratio per core | ratio of machine |\n");
            out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
            for t in &s.throughputs {
                let ratio = |v: f64| {
                    if v.is_finite() {
                        format!("{v:.2}")
                    } else {
                        "-".to_owned()
                    }
                };
                let ceiling = if t.ceiling_per_core.is_finite() {
                    format!("{:.0}", t.ceiling_per_core)
                } else {
                    "-".to_owned()
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.0} | {ceiling} | {} | {} |",
                    t.measure,
                    t.count,
                    t.per_s,
                    t.per_server_cpu_s,
                    ratio(t.ratio_per_core),
                    ratio(t.ratio_machine)
                );
            }
            out.push('\n');
        }
        if !s.figures.is_empty() {
            out.push_str("| figure | value | unit |\n|---|---:|---|\n");
            for f in &s.figures {
                let _ = writeln!(out, "| {} | {:.3} | {} |", f.name, f.value, f.unit);
            }
            out.push('\n');
        }
        for note in &s.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}

/// The machine this process runs on.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown".to_owned(),
            |(_, model)| model.trim().to_owned(),
        );
    let load_average_at_start = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model,
        load_average_at_start,
    }
}

/// Now, UTC, RFC 3339 to the second.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples = (1..=1000).map(Duration::from_millis).collect();
        let row = LatencyRow::from_samples("x", samples);
        assert_eq!(row.count, 1000);
        assert!((row.p50_ms - 500.0).abs() < 1e-6);
        assert!((row.p99_ms - 990.0).abs() < 1e-6);
        assert!((row.p999_ms - 999.0).abs() < 1e-6);
        assert!((row.max_ms - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn ratios_divide_by_the_ceiling() {
        let row = ThroughputRow::new(
            "x",
            1000,
            Duration::from_secs(1),
            Duration::from_millis(500),
            4000.0,
            2,
        );
        assert!((row.ratio_per_core - 0.5).abs() < 1e-9);
        assert!((row.ratio_machine - 0.125).abs() < 1e-9);
    }
}
