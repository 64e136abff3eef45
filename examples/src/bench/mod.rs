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

/// UDP datagrams the kernel dropped for a full socket receive buffer, on
/// the whole machine so far (Linux `/proc/net/snmp` `RcvbufErrors`; 0
/// elsewhere). A relay that falls behind loses datagrams here, before it
/// can count them.
pub(crate) fn udp_rcvbuf_errors() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Datagrams the kernel dropped at the IPv4 UDP socket bound to `port`
/// (its receive buffer full: the owner did not read in time), from
/// `/proc/net/udp` (Linux; 0 elsewhere or if no such socket).
pub(crate) fn udp_socket_drops(port: u16) -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    let want = format!(":{port:04X}");
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1)
                .filter(|local| local.ends_with(&want))
                .and_then(|_| f.last()?.parse::<u64>().ok())
        })
        .sum()
}
