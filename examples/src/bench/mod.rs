//! System benchmark suites: each prints human figures, or one JSON object with `--json`.
//! The `ledger` suite lives in `aura-billing` (`aura_billing::bench::ledger`, feature
//! `bench`), so it also builds from that crate alone.

pub mod location;
pub mod voice_e2e;
pub mod voice_latency;

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat`
/// (0 where that file does not exist).
pub(crate) fn process_cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at state (3).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime 15: indices 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

/// Seconds this process's threads spent runnable but waiting for a CPU,
/// summed over threads (Linux schedstat; 0 elsewhere). Figures measured
/// while this grows as fast as the process runs say more about the
/// machine's other load than about the code.
pub(crate) fn process_run_queue_wait_s() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}
