//! System benchmark suites: each prints human figures, or one JSON object with `--json`.
//! The `ledger` suite lives in `aura-billing` (`aura_billing::bench::ledger`, feature
//! `bench`), so it also builds from that crate alone.

pub mod idle;
pub mod location;
pub mod relay;
pub mod room;
pub mod voice_e2e;
pub mod voice_latency;

/// CPU seconds (user + system) this process used so far (shared with the ledger suite).
pub(crate) use aura_billing::bench::process_cpu_s;

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
