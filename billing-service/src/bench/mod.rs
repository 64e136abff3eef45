//! The ledger benchmark (feature `bench`): not part of the service. Turned
//! on by `aura-examples`' `bench ledger`, by this crate's `ledger_bench`
//! example and by its tests.
//!
//! - [`ledger`]: the suite: concurrent gifts through an in-process service,
//!   figures as a [`ledger::Report`].
//! - [`loadgen`]: its phones, a lean gift client straight on a `TcpStream`.

pub mod ledger;
pub mod loadgen;

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat`
/// (0 where that file does not exist).
pub fn process_cpu_s() -> f64 {
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
