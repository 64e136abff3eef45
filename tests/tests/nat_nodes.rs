//! Real Aura nodes in the NAT lab (root only; skipped, saying so,
//! elsewhere). Topology (`tests/lab/mod.rs`; the members' script in
//! `tests/lab/nodes.rs`): member A on h1 behind
//! r1, member B on h2 behind r2, relays in the WAN. Each member knows the
//! relays from its config, reserves on them (AutoNAT cannot confirm a
//! public address here: 100.64/10 is not global), and reaches the other
//! through a circuit; each test asserts the path it ends on.
//!
//! - full-cone NATs: DCUtR turns the relayed connection into a direct one;
//! - symmetric NATs: hole punching fails, the members stay relayed;
//! - two relays, the one in use killed while A shares its location: B
//!   hears A again through the other relay; the gap is printed.
//! - two relays, the one in use silenced (nftables drops its packets, no
//!   close): the relay watch notices and B hears A again through the other
//!   relay within 2 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lab;

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use aura_node::Path;
use lab::nodes::{pair, runtime, Relay, Relays, Report};
use lab::{Lab, Nat};

/// One lab at a time: the gap measured must not share the CPU with another lab.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn members_behind_full_cone_nats_end_direct_after_hole_punching() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::FullCone, "f") else {
        return;
    };
    let relay = Relay::start(&lab, 11);
    let mut p = pair(
        &lab,
        |i| Relays(vec![relay.quic_addr(i)], vec![relay.id.clone()]),
        1,
    );
    let rt = runtime();
    let (_, first) = rt.block_on(p.wait_path(40, |_| true));
    assert!(
        first.is_relayed(),
        "the first path must be the circuit: {first:?}"
    );
    let (direct_at, _) = rt.block_on(p.wait_path(30, |p| *p == Path::Direct));
    // Location, chat and voice after the upgrade: media goes direct and
    // the relay's room is left (at the engine's next 2 s tick).
    rt.block_on(p.wait_voice(20, |v| {
        v.direct == 1 && v.relays.is_empty() && v.heard_after(direct_at) >= 25
    }));
    let (a, b) = p.finish();
    let forwarded = relay.kill();
    assert_eq!(
        b.path,
        Some(Path::Direct),
        "B's final path to A: {:?}",
        b.paths
    );
    assert_eq!(
        a.path,
        Some(Path::Direct),
        "A's final path to B: {:?}",
        a.paths
    );
    assert!(
        b.locations.iter().any(|t| *t > direct_at),
        "no location from A after the direct path: {b:?}"
    );
    assert!(
        b.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "B heard no chat"
    );
    assert!(
        a.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "A heard no chat"
    );
    assert!(
        a.punched.0 + b.punched.0 >= 1,
        "the direct path was not made by hole punching: {:?} {:?}",
        a.punched,
        b.punched
    );
    // Voice over a direct media path (the announced port at the NAT's
    // public IP, which a full cone with preserved ports forwards).
    for (who, r) in [("A", &a), ("B", &b)] {
        let v = &r.voice;
        assert!(
            v.heard_after(direct_at) >= 25,
            "{who} heard {} frames of sound: {:?}",
            v.heard.len(),
            v.stats
        );
    }
    eprintln!(
        "path: {:?} (B's paths to A: {:?}; hole punches ok/failed: A {:?}, B {:?}); \
         voice direct: A heard {} and B {} frames of sound (relay forwarded {forwarded} before)",
        b.path,
        b.paths,
        a.punched,
        b.punched,
        a.voice.heard.len(),
        b.voice.heard.len()
    );
}

#[test]
fn members_behind_symmetric_nats_stay_relayed_and_talk_through_the_relay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::Symmetric, "y") else {
        return;
    };
    let relay = Relay::start(&lab, 12);
    let rp = relay.peer;
    let mut p = pair(
        &lab,
        |i| Relays(vec![relay.quic_addr(i)], vec![relay.id.clone()]),
        1,
    );
    let rt = runtime();
    let (relayed_at, first) = rt.block_on(p.wait_path(40, |_| true));
    assert_eq!(first, Path::Relayed { relay: rp });
    // Hole punching is tried (and fails: a new port per destination).
    rt.block_on(p.wait_punch_failed(40));
    // Voice for a moment through the relay's media forwarder.
    let rm = aura_crypto::MemberId::from_peer_id(&rp).unwrap();
    rt.block_on(p.wait_voice(20, |v| {
        v.relays == [rm] && v.direct == 0 && v.heard_after(relayed_at) >= 25
    }));
    std::thread::sleep(Duration::from_millis(500));
    let (a, b) = p.finish();
    let forwarded = relay.kill();
    assert_eq!(
        b.path,
        Some(Path::Relayed { relay: rp }),
        "B's paths: {:?}",
        b.paths
    );
    assert_eq!(
        a.path,
        Some(Path::Relayed { relay: rp }),
        "A's paths: {:?}",
        a.paths
    );
    assert!(
        !b.paths.contains(&Path::Direct),
        "a direct path through symmetric NATs: {:?}",
        b.paths
    );
    assert!(
        b.locations.iter().any(|t| *t > relayed_at),
        "no location through the relay: {b:?}"
    );
    assert!(
        b.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "B heard no chat"
    );
    assert!(
        a.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "A heard no chat"
    );
    assert!(
        a.punched.1 + b.punched.1 >= 1,
        "no hole punching was tried: {:?} {:?}",
        a.punched,
        b.punched
    );
    // Voice both ways through the relay's media forwarder, and only there
    // (no direct media path while it ran: `wait_voice`).
    for (who, r) in [("A", &a), ("B", &b)] {
        let v = &r.voice;
        assert!(
            v.heard_after(relayed_at) >= 25,
            "{who} heard {} frames of sound: {:?}",
            v.heard.len(),
            v.stats
        );
        assert!(v.stats.via_relay >= 25, "{who}: {:?}", v.stats);
    }
    assert!(forwarded >= 50, "the relay forwarded {forwarded} datagrams");
    eprintln!(
        "path: relayed through {rp} ({} locations heard; hole punches ok/failed: A {:?}, B {:?}); \
         voice through the relay: A heard {} and B {} frames of sound, the relay forwarded {forwarded}",
        b.locations.len(),
        a.punched,
        b.punched,
        a.voice.heard.len(),
        b.voice.heard.len(),
    );
}

#[test]
fn killing_the_relay_in_use_moves_members_to_the_other_relay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::Symmetric, "k") else {
        return;
    };
    let (r1, r2) = (Relay::start(&lab, 21), Relay::start(&lab, 22));
    let (p1, p2) = (r1.peer, r2.peer);
    // TCP to the relays: a relay process that dies closes its sockets, and
    // the members learn it at once (over QUIC only the idle timeout would tell).
    let keys = vec![r1.id.clone(), r2.id.clone()];
    let mut p = pair(
        &lab,
        |i| Relays(vec![r1.tcp_addr(i), r2.tcp_addr(i)], keys.clone()),
        2,
    );
    let rt = runtime();
    let (_, first) = rt.block_on(p.wait_path(40, |_| true));
    let used = first.relay().expect("relayed first");
    // Locations and voice flow for a moment through the first relay.
    rt.block_on(p.wait_voice(20, |v| !v.relays.is_empty() && v.heard.len() >= 25));
    std::thread::sleep(Duration::from_secs(1));
    let (dead, other, alive) = if used == p1 {
        (r1, p2, r2)
    } else {
        (r2, p1, r1)
    };
    let killed_at = Instant::now();
    dead.kill();
    let (moved_at, path) = rt.block_on(p.wait_path(20, |p| p.relay() == Some(other)));
    let om = aura_crypto::MemberId::from_peer_id(&other).unwrap();
    rt.block_on(p.wait_voice(20, |v| v.relays == [om] && v.heard_after(moved_at) >= 25));
    std::thread::sleep(Duration::from_secs(1));
    let (a, b) = p.finish();
    let forwarded = alive.kill();
    let before = b
        .locations
        .iter()
        .filter(|t| **t <= killed_at)
        .max()
        .copied();
    let after = b.locations.iter().find(|t| **t > killed_at).copied();
    let (Some(before), Some(after)) = (before, after) else {
        panic!(
            "locations before and after the kill: {:?}",
            b.locations.len()
        );
    };
    let gap = after - before;
    // Voice resumes through the other relay's media forwarder.
    let voice_gap = |r: &Report| {
        let before = r.voice.heard.iter().filter(|t| **t <= killed_at).max();
        let after = r.voice.heard.iter().find(|t| **t > killed_at);
        match (before, after) {
            (Some(b), Some(a)) => *a - *b,
            _ => panic!("voice before and after the kill: {:?}", r.voice.stats),
        }
    };
    let (va, vb) = (voice_gap(&a), voice_gap(&b));
    eprintln!(
        "failover: path {path:?}; moved {} ms after the kill; location gap {} ms; \
         voice gap A {} ms, B {} ms (the other relay forwarded {forwarded})",
        (moved_at - killed_at).as_millis(),
        gap.as_millis(),
        va.as_millis(),
        vb.as_millis()
    );
    for (who, r) in [("A", &a), ("B", &b)] {
        assert!(
            r.voice.heard_after(moved_at) >= 25,
            "{who}'s voice did not resume: {:?}",
            r.voice.stats
        );
    }
    assert!(forwarded >= 50, "the other relay forwarded {forwarded}");
    assert_eq!(
        b.path,
        Some(Path::Relayed { relay: other }),
        "B's paths: {:?}",
        b.paths
    );
    assert!(
        b.locations.iter().filter(|t| **t > moved_at).count() >= 5,
        "locations did not resume through the other relay"
    );
    assert!(
        b.chats.iter().any(|(t, _)| *t > moved_at),
        "chat did not resume through the other relay"
    );
    assert!(gap < Duration::from_secs(10), "gap {gap:?}");
}

/// The time between the last item at or before `t` and the first after.
fn gap_around(times: &[Instant], t: Instant) -> Option<Duration> {
    let before = times.iter().filter(|x| **x <= t).max()?;
    let after = times.iter().find(|x| **x > t)?;
    Some(*after - *before)
}

#[test]
fn a_relay_that_dies_silently_is_noticed_within_a_second_or_so_and_members_move_to_the_other() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::Symmetric, "s") else {
        return;
    };
    let (r1, r2) = (Relay::start(&lab, 31), Relay::start(&lab, 32));
    let (p1, p2) = (r1.peer, r2.peer);
    // QUIC to the relays: with no close and no reset, only the relay watch
    // (fast pings on the relay in use) tells before the idle timeout.
    let keys = vec![r1.id.clone(), r2.id.clone()];
    let mut p = pair(
        &lab,
        |i| Relays(vec![r1.quic_addr(i), r2.quic_addr(i)], keys.clone()),
        2,
    );
    let rt = runtime();
    let (_, first) = rt.block_on(p.wait_path(40, |_| true));
    let used = first.relay().expect("relayed first");
    rt.block_on(p.wait_voice(20, |v| !v.relays.is_empty() && v.heard.len() >= 25));
    std::thread::sleep(Duration::from_secs(1));
    let (dead, other) = if used == p1 { (&r1, p2) } else { (&r2, p1) };
    let silenced_at = Instant::now();
    dead.silence(&lab);
    let (moved_at, path) = rt.block_on(p.wait_path(20, |p| p.relay() == Some(other)));
    let om = aura_crypto::MemberId::from_peer_id(&other).unwrap();
    rt.block_on(p.wait_voice(20, |v| v.relays == [om] && v.heard_after(moved_at) >= 25));
    // A few chats (every 500 ms) through the other relay.
    std::thread::sleep(Duration::from_secs(3));
    let (a, b) = p.finish();
    let (f1, f2) = (r1.kill(), r2.kill());
    let gap = gap_around(&b.locations, silenced_at).unwrap_or_else(|| {
        panic!(
            "B's locations from A: {} before the relay went silent, {} after (paths {:?})",
            b.locations.iter().filter(|t| **t <= silenced_at).count(),
            b.locations.iter().filter(|t| **t > silenced_at).count(),
            b.paths
        )
    });
    let voice_gap = |r: &Report| {
        gap_around(&r.voice.heard, silenced_at)
            .unwrap_or_else(|| panic!("voice before and after: {:?}", r.voice.stats))
    };
    let (va, vb) = (voice_gap(&a), voice_gap(&b));
    eprintln!(
        "silent relay: path {path:?}; moved {} ms after the relay went silent; location gap {} ms; \
         voice gap A {} ms, B {} ms (forwarded: relay 1 {f1}, relay 2 {f2})",
        (moved_at - silenced_at).as_millis(),
        gap.as_millis(),
        va.as_millis(),
        vb.as_millis()
    );
    assert_eq!(
        b.path,
        Some(Path::Relayed { relay: other }),
        "B's paths: {:?}",
        b.paths
    );
    assert!(
        b.chats.iter().any(|(t, _)| *t > moved_at),
        "chat did not resume through the other relay"
    );
    // The goal: within 2 s (the QUIC idle timeout alone takes 10 s).
    let moved = moved_at - silenced_at;
    assert!(moved < Duration::from_secs(2), "moved after {moved:?}");
    assert!(gap < Duration::from_secs(2), "location gap {gap:?}");
    assert!(
        va.max(vb) < Duration::from_secs(2),
        "voice gaps {va:?} {vb:?}"
    );
}
