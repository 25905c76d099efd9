//! What a process cost, read from `/proc`: CPU seconds (user + system), resident
//! memory now and at its peak, voluntary context switches.

use std::time::Duration;

use serde::Serialize;

/// A reading of one process's counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcSample {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Resident set size now, bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Voluntary context switches so far, summed over all threads (each is a wake-up
    /// after the thread went to sleep).
    pub voluntary_switches: u64,
}

/// Reads `/proc/<pid>`; `None` for the bench process itself is `/proc/self`.
pub fn sample(pid: Option<u32>) -> anyhow::Result<ProcSample> {
    let base = pid.map_or_else(|| "/proc/self".to_owned(), |pid| format!("/proc/{pid}"));
    let stat = std::fs::read_to_string(format!("{base}/stat"))?;
    let status = std::fs::read_to_string(format!("{base}/status"))?;
    Ok(ProcSample {
        cpu: cpu_from_stat(&stat)?,
        rss_bytes: status_kib(&status, "VmRSS:").unwrap_or(0) * 1024,
        peak_rss_bytes: status_kib(&status, "VmHWM:").unwrap_or(0) * 1024,
        voluntary_switches: voluntary_switches(&base),
    })
}

/// Voluntary context switches of every thread under `base` (`/proc/<pid>`).
fn voluntary_switches(base: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("{base}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| status_kib(&status, "voluntary_ctxt_switches:"))
        .sum()
}

/// User plus system time from a `/proc/<pid>/stat` line (fields 14 and 15, counted
/// after the parenthesised command name, which may contain spaces).
fn cpu_from_stat(stat: &str) -> anyhow::Result<Duration> {
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("malformed /proc stat line"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc stat line"))?
            .parse()?)
    };
    let total = ticks(11)? + ticks(12)?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(total as f64 / hz as f64))
}

/// A `Key:   123 kB` (or bare number) value from `/proc/<pid>/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_after_a_name_with_spaces() {
        let line = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let cpu = cpu_from_stat(line).unwrap();
        assert!((cpu.as_secs_f64() - 400.0 / hz).abs() < 1e-9);
    }

    #[test]
    fn own_process_has_memory_and_switches() {
        let own = sample(None).unwrap();
        assert!(own.rss_bytes > 0 && own.peak_rss_bytes >= own.rss_bytes);
        std::thread::sleep(Duration::from_millis(1));
        assert!(sample(None).unwrap().voluntary_switches > 0);
    }
}
