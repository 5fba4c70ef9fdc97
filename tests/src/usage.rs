//! What a run cost the machine: CPU time and peak resident memory of this
//! process, read from `/proc` (Linux; `None` elsewhere).
//!
//! The workspace forbids `unsafe`, so `getrusage` is out of reach; `/proc`
//! gives the same figures `/usr/bin/time -v` prints ("User time" + "System
//! time", "Maximum resident set size").

use serde::Serialize;

/// CPU time and peak memory of this process so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Usage {
    /// User plus system CPU time over all threads (s).
    pub cpu_seconds: f64,
    /// Peak resident set size (bytes): `VmHWM`.
    pub peak_rss_bytes: u64,
}

/// Clock ticks per second of the `/proc/<pid>/stat` times: `USER_HZ`, which
/// Linux fixes at 100 for user space on every architecture it ships.
const TICKS_PER_SECOND: f64 = 100.0;

/// This process's usage so far, or `None` where `/proc` does not have it.
pub fn now() -> Option<Usage> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(Usage {
        cpu_seconds: cpu_ticks(&stat)? as f64 / TICKS_PER_SECOND,
        peak_rss_bytes: peak_kib(&status)? * 1024,
    })
}

/// `utime + stime` from a `/proc/<pid>/stat` line. The command name (field
/// 2) is in parentheses and may hold spaces, so fields count from the last `)`:
/// after it come state (field 3), ..., utime (14) and stime (15).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM` (KiB) from `/proc/<pid>/status`.
fn peak_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_status_parse() {
        let stat = "4242 (sim (x) y) R 1 2 3 4 5 6 7 8 9 10 1234 56 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(1290));
        assert_eq!(cpu_ticks("garbage"), None);
        let status = "Name:\tsimulate\nVmPeak:\t  900 kB\nVmHWM:\t  6283 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(peak_kib(status), Some(6283));
        assert_eq!(peak_kib("Name: x\n"), None);
    }

    #[test]
    fn this_process_has_a_usage_on_linux() {
        if cfg!(target_os = "linux") {
            let u = now().expect("/proc is there on Linux");
            assert!(u.peak_rss_bytes > 0 && u.cpu_seconds >= 0.0);
        }
    }
}
