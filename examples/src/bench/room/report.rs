//! The figures of a control-plane room run, against its goals.

use std::collections::HashMap;

use serde_json::json;

use super::{Args, KeyCost};
use crate::bench::relay::RelayFigures;

/// When one voice frame reached one listener's endpoint.
pub(super) struct Arrival {
    pub(super) sender: u32,
    pub(super) counter: u32,
    /// Since the window's base, ns.
    pub(super) at_ns: u64,
}

/// What one listener received over the window.
pub(super) struct Heard {
    /// Index of its relay (0: the origin).
    pub(super) relay: usize,
    pub(super) arrivals: Vec<Arrival>,
    /// Frames it opened (probes only).
    pub(super) opened: u64,
}

/// How the listeners joined.
#[derive(Default)]
pub(super) struct Joined {
    /// Join sent to keys installed, per least-loaded joiner (ms).
    pub(super) ready_ms: Vec<f64>,
    /// The probes' (one per relay; an edge's includes its DHT lookup).
    pub(super) probe_ms: Vec<f64>,
    /// Joined but not keyed in time.
    pub(super) not_ready: usize,
    /// Not joined at all.
    pub(super) failed: usize,
    pub(super) first_error: Option<String>,
}

/// Everything a run measured.
pub(super) struct Report<'a> {
    pub(super) args: &'a Args,
    pub(super) keys: &'a KeyCost,
    /// Relays up, room created, speakers seated, probes keyed (s).
    pub(super) setup_s: f64,
    /// The least-loaded joins (s).
    pub(super) join_s: f64,
    pub(super) joined: Joined,
    /// (sender short id, counter, sent at ns) of each voice frame sent.
    pub(super) sent: Vec<(u32, u32, u64)>,
    /// Batch signature frames sent (forwarded like voice).
    pub(super) sig_frames: u64,
    /// Distinct frames that reached at least one listener.
    pub(super) selected: usize,
    pub(super) heard: Vec<Heard>,
    pub(super) relays: Vec<RelayFigures>,
    pub(super) window_s: f64,
    /// The window and the drain after it, while the relays were measured (s).
    pub(super) elapsed_s: f64,
    pub(super) process_cpu_s: f64,
    /// Datagrams the kernel dropped for full socket buffers over the window.
    pub(super) rcvbuf_errors: u64,
    /// Of which at each relay's media socket (by relay).
    pub(super) relay_socket_drops: Vec<u64>,
}

/// The `p` quantile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

/// The machine's load average over 1, 5 and 15 minutes (Linux).
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

impl Report<'_> {
    /// Prints the figures (one JSON object with `json`).
    pub(super) fn print(&self, json: bool) {
        let sent_at: HashMap<(u32, u32), u64> =
            self.sent.iter().map(|&(s, c, t)| ((s, c), t)).collect();
        let n = self.relays.len();
        let mut delays: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut listeners = vec![0usize; n];
        for h in &self.heard {
            let r = h.relay.min(n.saturating_sub(1));
            listeners[r] += 1;
            delays[r].extend(h.arrivals.iter().filter_map(|a| {
                let t = sent_at.get(&(a.sender, a.counter))?;
                Some(a.at_ns.saturating_sub(*t) as f64 / 1e6)
            }));
        }
        let delays: Vec<Vec<f64>> = delays.into_iter().map(sorted).collect();
        let origin_p = |p: f64| delays.first().map_or(f64::NAN, |d| pct(d, p));
        // The hop: the same frame at the edge probe and at the origin probe.
        let hop = self.hop();
        // 50 voice frames a second from each forwarded seat, and the batch
        // signatures that go with them.
        let sigs_per_voice = self.sig_frames as f64 / self.sent.len().max(1) as f64;
        let full_rate = 50.0 * self.args.speakers.min(3) as f64 * (1.0 + sigs_per_voice);
        let mut per_relay = Vec::new();
        for (i, f) in self.relays.iter().enumerate() {
            let expected = (self.selected * listeners[i]) as f64;
            let received = delays[i].len() as f64;
            // The origin also sends each frame once per edge, to the host
            // and to the other speakers.
            let receivers = listeners[i]
                + if i == 0 {
                    n - 1 + 1 + self.args.speakers.saturating_sub(1)
                } else {
                    0
                };
            per_relay.push(json!({
                "relay": if i == 0 { "origin".to_string() } else { format!("edge {i}") },
                "listeners": listeners[i],
                "forwarded": f.forwarded,
                "forwarded_per_s": f.forwarded as f64 / self.window_s,
                "goal_forwarded_per_s": full_rate * receivers as f64,
                "cpu_s": f.cpu_s,
                "cpu_share_of_one_core": f.cpu_s / self.elapsed_s,
                "cpu_us_per_forwarded": f.cpu_s * 1e6 / f.forwarded.max(1) as f64,
                "drops": f.drops,
                "socket_drops": self.relay_socket_drops.get(i),
                "drops_by": f.drops_by.iter().map(|(r, n)| json!({ "reason": r, "count": n })).collect::<Vec<_>>(),
                "received": received,
                "expected": expected,
                "loss": 1.0 - received / expected.max(1.0),
                "loss_of_sent": 1.0 - received / (self.sent.len() * listeners[i]).max(1) as f64,
                "delay_ms_p50": pct(&delays[i], 0.5),
                "delay_ms_p99": pct(&delays[i], 0.99),
                "delay_ms_max": pct(&delays[i], 1.0),
                "delay_ms_p50_above_origin": pct(&delays[i], 0.5) - origin_p(0.5),
                "delay_ms_p99_above_origin": pct(&delays[i], 0.99) - origin_p(0.99),
            }));
        }
        let ready = sorted(self.joined.ready_ms.clone());
        let speakers = self.args.speakers.max(1) as f64;
        let per_speaker = self.sent.len() as f64 / speakers / self.window_s;
        let worst = |k: &str| {
            per_relay
                .iter()
                .filter_map(|r| r[k].as_f64())
                .fold(0.0f64, f64::max)
        };
        let keys_ok =
            self.joined.failed == 0 && self.joined.not_ready == 0 && pct(&ready, 0.99) <= 2_000.0;
        let rate_ok = per_relay.iter().all(|r| {
            r["forwarded_per_s"].as_f64().unwrap_or(0.0)
                >= 0.99 * r["goal_forwarded_per_s"].as_f64().unwrap_or(0.0)
        });
        let edges_p99_above = per_relay
            .iter()
            .skip(1)
            .filter_map(|r| r["delay_ms_p99_above_origin"].as_f64())
            .fold(f64::NEG_INFINITY, f64::max);
        let cascade = |ok: bool| if n > 1 { met(ok) } else { "n/a (one relay)" };
        let goals = json!({
            "forwarded_full_rate": met(rate_ok),
            "cpu_within_one_core_per_relay": met(worst("cpu_share_of_one_core") <= 1.0),
            "no_loss": met(worst("loss_of_sent") <= 0.001),
            "origin_p99_delay_at_most_2_ms": met(origin_p(0.99) <= 2.0),
            "edges_p99_at_most_5_ms_above_origin": cascade(edges_p99_above <= 5.0),
            "two_relays_away_p99_at_most_5_ms_above_direct": cascade(hop.get(1).is_some_and(|p99| *p99 <= 5.0)),
            "keys_within_2_s": met(keys_ok),
        });
        let out = json!({
            "suite": "room",
            "relays": n,
            "listeners": self.args.listeners,
            "speakers": self.args.speakers,
            "seconds": self.args.seconds,
            "frame_bytes": self.args.frame_bytes,
            "setup_s": self.setup_s,
            "join_s": self.join_s,
            "join_parallel": self.args.join_parallel,
            "joins_failed": self.joined.failed,
            "joins_not_keyed": self.joined.not_ready,
            "join_error": self.joined.first_error,
            "keys_ready_ms_p50": pct(&ready, 0.5),
            "keys_ready_ms_p99": pct(&ready, 0.99),
            "keys_ready_ms_max": pct(&ready, 1.0),
            "probe_keys_ready_ms": self.joined.probe_ms,
            "keys": self.keys.json(),
            "sent": self.sent.len(),
            "sig_frames_sent": self.sig_frames,
            "sent_per_s_per_speaker": per_speaker,
            "selected": self.selected,
            "reached_no_listener": self.sent.len().saturating_sub(self.selected),
            "udp_rcvbuf_errors": self.rcvbuf_errors,
            "probe_opened": self.heard.iter().take(n).map(|h| h.opened).collect::<Vec<_>>(),
            "hop_ms_p50": hop.first(),
            "hop_ms_p99": hop.get(1),
            "hop_ms_max": hop.get(2),
            "hop_frames": hop.get(3).map(|n| *n as u64),
            "per_relay": per_relay,
            "process_cpu_s": self.process_cpu_s,
            "run_queue_wait_s": crate::bench::process_run_queue_wait_s(),
            "load_average": load_average(),
            "goals": goals,
        });
        if json {
            println!("{out}");
        } else {
            self.human(&out);
        }
    }

    /// p50, p99, max (ms) and count of (edge probe − origin probe) arrival
    /// of the same frames; empty with one relay.
    fn hop(&self) -> Vec<f64> {
        let (Some(near), Some(far)) = (self.heard.first(), self.heard.get(1)) else {
            return Vec::new();
        };
        if far.relay == 0 {
            return Vec::new();
        }
        let at: HashMap<(u32, u32), u64> = near
            .arrivals
            .iter()
            .map(|a| ((a.sender, a.counter), a.at_ns))
            .collect();
        let d = sorted(
            far.arrivals
                .iter()
                .filter_map(|a| {
                    let t0 = at.get(&(a.sender, a.counter))?;
                    Some((a.at_ns as f64 - *t0 as f64) / 1e6)
                })
                .collect(),
        );
        vec![pct(&d, 0.5), pct(&d, 0.99), pct(&d, 1.0), d.len() as f64]
    }

    fn human(&self, o: &serde_json::Value) {
        println!(
            "room: {} listeners over {} relays, {} speakers, {} B frames, {} s; setup {:.1} s, least-loaded joins {:.1} s ({} at once), {} failed, {} not keyed",
            o["listeners"], o["relays"], o["speakers"], o["frame_bytes"], o["seconds"],
            self.setup_s, self.join_s, o["join_parallel"], o["joins_failed"], o["joins_not_keyed"],
        );
        println!(
            "keys ready after a join: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (probes {}); keys per joiner: host {:.0} us, listener {:.0} us of CPU, {} bytes",
            o["keys_ready_ms_p50"].as_f64().unwrap_or(f64::NAN),
            o["keys_ready_ms_p99"].as_f64().unwrap_or(f64::NAN),
            o["keys_ready_ms_max"].as_f64().unwrap_or(f64::NAN),
            o["probe_keys_ready_ms"],
            self.keys.host_per_join_us,
            self.keys.listener_ready_us,
            self.keys.bytes_per_join,
        );
        println!(
            "speakers sent {} frames ({:.1} a second each, 50 asked); {} reached a listener; probes opened {}; the kernel dropped {} UDP datagrams for full receive buffers",
            o["sent"], o["sent_per_s_per_speaker"].as_f64().unwrap_or(0.0), o["selected"], o["probe_opened"], o["udp_rcvbuf_errors"],
        );
        if let Some(rs) = o["per_relay"].as_array() {
            for r in rs {
                let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
                println!(
                    "{}: {} listeners, forwarded {:.0}/s (full rate {:.0}/s), thread CPU {:.0} % of a core ({:.1} us per packet), loss {:.3} % of what reached a listener ({:.3} % of sent), datagrams dropped at its socket {}, drops {} {}, delay p50 / p99 / max {:.2} / {:.2} / {:.2} ms (p99 {:+.2} ms against the origin's)",
                    r["relay"].as_str().unwrap_or("?"), r["listeners"], f("forwarded_per_s"), f("goal_forwarded_per_s"),
                    f("cpu_share_of_one_core") * 100.0, f("cpu_us_per_forwarded"), f("loss") * 100.0, f("loss_of_sent") * 100.0, r["socket_drops"],
                    r["drops"], r["drops_by"], f("delay_ms_p50"), f("delay_ms_p99"), f("delay_ms_max"),
                    f("delay_ms_p99_above_origin"),
                );
            }
        }
        let g = |k: &str| o[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "two relays away against the origin, same frames: p50 {:+.2} ms, p99 {:+.2} ms, max {:+.2} ms ({} frames)",
            g("hop_ms_p50"), g("hop_ms_p99"), g("hop_ms_max"), o["hop_frames"],
        );
        println!(
            "process CPU {:.1} s, run-queue wait {:.1} s, load average {}\ngoals: {}",
            self.process_cpu_s,
            g("run_queue_wait_s"),
            o["load_average"],
            o["goals"],
        );
    }
}
