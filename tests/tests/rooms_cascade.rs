//! Voice rooms through a cascade of relays (in-process relays, real nodes
//! on loopback). The host and the speakers are at relay A, where the room
//! was created (its origin); listeners join at relays B and C, which find A
//! on the DHT (B and C know only A as a DHT bootstrap peer; A provides the
//! room under a hash of its id) and follow the room as its edges. Every
//! listener hears the loud seats; a listener kicked at an edge receives
//! nothing more and opens nothing sent after; a joiner asking any relay
//! joins the least loaded; when an edge stops, its listeners move to
//! another relay of the room and keep listening (the gap is printed); a
//! listener whose connection to an edge closed for good is removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aura_crypto::room::{RoomId, RoomOpKind, RoomTicket};
use aura_crypto::{Identity, MemberId};
use aura_node::rooms::{RoomEvent, RoomHandle, RoomSpec};
use aura_node::Node;
use aura_relay::server::Server;

use crate::rooms::{node, speak, until, Light};

pub(crate) struct Relay {
    pub(crate) server: Server,
    pub(crate) id: MemberId,
}

impl Relay {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.media_addr()
    }
}

/// A relay on loopback; `bootstrap`: the relay it joins the DHT through.
pub(crate) async fn relay(key: u8, bootstrap: Option<&Relay>) -> Relay {
    relay_reporting_absence_after(key, bootstrap, 60).await
}

/// Relays A, B and C (keys `first`, `first + 1`, `first + 2`); B and C join
/// the DHT through A.
pub(crate) async fn three_relays(first: u8) -> (Relay, Relay, Relay) {
    let a = relay(first, None).await;
    let b = relay(first + 1, Some(&a)).await;
    let c = relay(first + 2, Some(&a)).await;
    (a, b, c)
}

/// [`relay`], reporting members away for `absent_s` to their hosts.
async fn relay_reporting_absence_after(key: u8, bootstrap: Option<&Relay>, absent_s: u64) -> Relay {
    let mut cfg = aura_relay::config::Config::default();
    cfg.limits.room_absent_after_s = absent_s;
    cfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    cfg.listen.media = "127.0.0.1:0".parse().unwrap();
    cfg.listen.metrics = None;
    if let Some(b) = bootstrap {
        let a = &b.server.listen_addrs()[0];
        cfg.dht.bootstrap = vec![format!("{a}/p2p/{}", b.server.peer_id())];
    }
    let identity = Identity::from_secret_bytes(&[key; 32]);
    let id = identity.member_id();
    Relay {
        server: Server::spawn(identity, cfg).await.unwrap(),
        id,
    }
}

/// A room at `a`: the host on seat 0 and `speakers` seated members, all
/// connected to `a`.
pub(crate) struct Stage {
    _host_node: (Node, tempfile::TempDir),
    pub(crate) host: RoomHandle,
    pub(crate) ticket: String,
    pub(crate) room: RoomId,
    pub(crate) speakers: Vec<(Node, tempfile::TempDir, RoomHandle)>,
}

pub(crate) async fn stage(a: &Relay, speakers: usize) -> Stage {
    let (host_node, d0) = node().await;
    let host = host_node
        .create_room(a.id, a.addr(), RoomSpec::ticket("cascade"))
        .await
        .unwrap();
    until("the host's welcome", || async { host.state().is_some() }).await;
    let ticket = host.ticket(3_600_000).unwrap();
    let mut seated = Vec::new();
    for _ in 0..speakers {
        let (n, d) = node().await;
        let h = n.join_room(&ticket, a.id, a.addr()).await.unwrap();
        seated.push((n, d, h));
    }
    until("the speakers' joins", || async {
        host.state()
            .is_some_and(|s| s.member_count() == 1 + speakers)
    })
    .await;
    for (i, (n, _, _)) in seated.iter().enumerate() {
        host.invite(n.member_id(), i as u8 + 1).await.unwrap();
    }
    until("the invitations", || async {
        seated.iter().all(|(_, _, h)| {
            h.state().is_some_and(|s| {
                s.seats().iter().filter(|x| x.invited.is_some()).count() == speakers
            })
        })
    })
    .await;
    for (i, (_, _, h)) in seated.iter().enumerate() {
        h.seat(i as u8 + 1).await.unwrap();
    }
    host.seat(0).await.unwrap();
    let room = host.room();
    Stage {
        _host_node: (host_node, d0),
        host,
        ticket,
        room,
        speakers: seated,
    }
}

pub(crate) fn seats_taken(h: &RoomHandle) -> usize {
    h.state().map_or(0, |s| {
        s.seats().iter().filter(|x| x.occupant.is_some()).count()
    })
}

/// Listener `i` heard at least 40 frames before `stop` and 60 after (its
/// frames played, sampled as `(time, frames)`): its frames at the end, and
/// the gap, the longest time without a new frame played around the stop.
pub(crate) fn kept_listening(i: usize, s: &[(Duration, u64)], stop: Duration) -> (u64, Duration) {
    let before = s.iter().rev().find(|(t, _)| *t <= stop).map_or(0, |x| x.1);
    let last = s.last().map_or(0, |x| x.1);
    let mut gap = Duration::ZERO;
    let mut since = s.first().map_or(Duration::ZERO, |x| x.0);
    for w in s.windows(2) {
        if w[1].1 > w[0].1 {
            if w[1].0 > stop {
                gap = gap.max(w[1].0 - since);
            }
            since = w[1].0;
        }
    }
    assert!(
        before >= 40,
        "listener {i} heard {before} frames before the stop"
    );
    assert!(
        last >= before + 60,
        "listener {i} heard {} frames after the stop",
        last - before
    );
    (last, gap)
}

/// `n` listeners (full nodes) joined at `r`.
pub(crate) async fn listeners(
    st: &Stage,
    r: &Relay,
    n: usize,
) -> Vec<(Node, tempfile::TempDir, RoomHandle)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (node, d) = node().await;
        let h = node.join_room(&st.ticket, r.id, r.addr()).await.unwrap();
        out.push((node, d, h));
    }
    out
}

/// A light client joined at `r`, keyed by the host.
async fn light_at(st: &Stage, r: &Relay) -> (Identity, Light) {
    let id = Identity::generate(&mut rand::rngs::OsRng);
    let mut l = Light::connect_to(&id, st.room, r.id, r.addr()).await;
    l.act(RoomOpKind::Join {
        ticket: Some(RoomTicket::parse(&st.ticket).unwrap()),
        entitlement: None,
    })
    .await;
    let end = Instant::now() + Duration::from_secs(20);
    while l.client.room_epoch().is_none() {
        assert!(Instant::now() < end, "light client never keyed");
        l.pump(100).await;
    }
    (id, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_of_three_relays_listeners_at_edges_hear_the_loud_seats_and_a_kicked_one_reads_nothing_new(
) {
    let (a, b, c) = three_relays(31).await;
    let st = stage(&a, 3).await;
    // Listeners at the edges: B and C find the room's origin on the DHT.
    let mut ls = listeners(&st, &b, 3).await;
    ls.extend(listeners(&st, &c, 3).await);
    let all = || {
        std::iter::once(&st.host)
            .chain(st.speakers.iter().map(|s| &s.2))
            .chain(ls.iter().map(|l| &l.2))
    };
    until("four seats taken in every view", || async {
        all().all(|h| seats_taken(h) == 4)
    })
    .await;
    let (kid, mut kicked) = light_at(&st, &b).await;
    let (_tid, mut tap) = light_at(&st, &c).await;
    let (_nid, mut near) = light_at(&st, &a).await;
    let speakers: Vec<(&RoomHandle, f32)> = vec![
        (&st.speakers[0].2, 12_000.0),
        (&st.speakers[1].2, 10_000.0),
        (&st.speakers[2].2, 8_000.0),
        (&st.host, 3_000.0),
    ];
    let _ = tokio::join!(
        async {
            speak(&speakers[..3], 25).await;
            speak(&speakers, 50).await;
        },
        async { tokio::join!(kicked.pump(1_700), tap.pump(1_700), near.pump(1_700)) }
    );
    // Two relays away (speaker, A, C, listener) against one (speaker, A,
    // listener): the same sealed frame's arrival at the tap at C and at a
    // listener at A.
    let at_a: std::collections::HashMap<&Vec<u8>, Instant> = near
        .frames
        .iter()
        .zip(near.arrived.iter().copied())
        .collect();
    let mut extra: Vec<f64> = tap
        .frames
        .iter()
        .zip(&tap.arrived)
        .filter_map(|(f, t)| {
            at_a.get(f)
                .map(|t0| t.duration_since(*t0).as_secs_f64() * 1e3)
        })
        .collect();
    extra.sort_by(f64::total_cmp);
    assert!(extra.len() > 100, "{} frames reached both", extra.len());
    let pct = |p: f64| extra[((extra.len() - 1) as f64 * p) as usize];
    println!(
        "cascade hop: a frame reaches a listener at an edge (two relays away) p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms after one at the origin ({} frames)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        extra.len()
    );
    assert!(
        pct(0.5) <= 5.0,
        "the edge hop adds more than 5 ms at the median"
    );
    let loud: Vec<MemberId> = st.speakers.iter().map(|s| s.0.member_id()).collect();
    for (i, (_, _, h)) in ls.iter().enumerate() {
        let heard = h.heard();
        for s in &loud {
            assert!(
                heard.get(s).copied().unwrap_or(0) >= 20,
                "listener {i} heard {heard:?}"
            );
        }
        assert_eq!(
            heard.get(&st.host.state().unwrap().host()),
            None,
            "quiet seat forwarded"
        );
    }
    for r in [&b, &c] {
        assert!(
            r.server.metrics().forwarded_packets.get() > 0,
            "the edge fanned out"
        );
    }
    assert!(
        kicked
            .frames
            .iter()
            .filter(|f| kicked.client.open(f).is_ok())
            .count()
            > 20
    );
    // The host kicks the listener at B: B expels it in the same step.
    st.host.kick(kid.member_id()).await.unwrap();
    let _ = tokio::join!(kicked.pump(300), tap.pump(300));
    let (seen, tapped) = (kicked.frames.len(), tap.frames.len());
    let _ = tokio::join!(speak(&speakers, 40), async {
        tokio::join!(kicked.pump(1_000), tap.pump(1_000))
    });
    let after = tap.frames[tapped..].to_vec();
    assert!(after.len() > 40, "the room went on");
    assert_eq!(
        kicked.frames.len(),
        seen,
        "the kicked listener received frames"
    );
    assert!(
        after.iter().all(|f| kicked.client.open(f).is_err()),
        "the kicked listener opens what the others hear"
    );
    assert!(after.iter().filter(|f| tap.client.open(f).is_ok()).count() > 20);
    // Loads as the origin counts them: A the host, 3 speakers and a light
    // listener, B 3 (the kicked one is gone), C 3 and the tap. A joiner
    // asking C joins B.
    let relays = ls[0].0.room_relays(st.room, a.id, a.addr()).await.unwrap();
    let loads: Vec<(MemberId, u32)> = relays.iter().map(|r| (r.relay, r.members)).collect();
    println!("room relays and loads: {loads:?}");
    assert_eq!(relays[0].relay, a.id, "origin first");
    let load = |id| loads.iter().find(|(r, _)| *r == id).map(|(_, n)| *n);
    assert_eq!(
        (load(a.id), load(b.id), load(c.id)),
        (Some(5), Some(3), Some(4))
    );
    let (late, _dl) = node().await;
    let h = late
        .join_room_least_loaded(&st.ticket, c.id, c.addr())
        .await
        .unwrap();
    assert_eq!(h.relays().0, b.id, "joined the least loaded relay");
    until("the late joiner's view", || async { seats_taken(&h) == 4 }).await;
    speak(&speakers[..3], 40).await;
    until("the late joiner hears the loud seats", || async {
        let heard = h.heard();
        loud.iter()
            .all(|s| heard.get(s).copied().unwrap_or(0) >= 10)
    })
    .await;
    // A listener at C is invited to a seat: seated, it moves to the origin
    // (an edge carries the room down, not voice up) and is heard at B.
    let (edge_speaker, _, sh) = &ls[3];
    st.host.invite(edge_speaker.member_id(), 4).await.unwrap();
    until("the invitation", || async {
        sh.state()
            .is_some_and(|s| s.seats().get(4).is_some_and(|x| x.invited.is_some()))
    })
    .await;
    sh.seat(4).await.unwrap();
    until(
        "the seated listener speaking through the origin",
        || async { sh.is_seated() && sh.relays().0 == a.id },
    )
    .await;
    until("its speaker key at B", || async {
        seats_taken(&ls[0].2) == 5
    })
    .await;
    // It talks until heard: its first frames may reach B before its
    // speaker key does, and a frame B cannot open is not heard.
    let heard_at_b = || {
        ls[0]
            .2
            .heard()
            .get(&edge_speaker.member_id())
            .copied()
            .unwrap_or(0)
    };
    let started = Instant::now();
    while heard_at_b() < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "B heard {} frames of the speaker that came from C in 20 s",
            heard_at_b()
        );
        speak(&[(sh, 12_000.0)], 10).await;
    }
    println!(
        "the speaker that came from C: heard at B after {} ms of talking",
        started.elapsed().as_millis()
    );
    for r in [c, b, a] {
        r.server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_relay_stopped_mid_room_its_listeners_move_and_keep_listening() {
    let (a, b, c) = three_relays(41).await;
    let st = stage(&a, 1).await;
    let at_c = listeners(&st, &c, 1).await;
    until("C follows the room", || async {
        seats_taken(&at_c[0].2) == 2
    })
    .await;
    let at_b = listeners(&st, &b, 2).await;
    until("B's listeners know the room's three relays", || async {
        at_b.iter()
            .all(|l| seats_taken(&l.2) == 2 && l.2.relays().1.len() == 3)
    })
    .await;
    let speaker = st.speakers[0].0.member_id();
    let heard = |h: &RoomHandle| h.heard().get(&speaker).copied().unwrap_or(0);
    let mut events: Vec<_> = at_b.iter().map(|l| l.2.take_events().unwrap()).collect();
    // The speaker talks for 4 s; B stops after 1.5 s.
    let t0 = Instant::now();
    let mut b = Some(b);
    let mut samples: Vec<Vec<(Duration, u64)>> = vec![Vec::new(); at_b.len()];
    let mut stopped_at = None;
    let mut stopper = None;
    let talker = [(&st.speakers[0].2, 10_000.0)];
    let _ = tokio::join!(speak(&talker, 200), async {
        while t0.elapsed() < Duration::from_millis(3_900) {
            for (i, l) in at_b.iter().enumerate() {
                samples[i].push((t0.elapsed(), heard(&l.2)));
            }
            if stopped_at.is_none() && t0.elapsed() >= Duration::from_millis(1_500) {
                let r = b.take().unwrap();
                stopped_at = Some(t0.elapsed());
                stopper = Some(tokio::spawn(r.server.shutdown()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    stopper.unwrap().await.unwrap();
    let stop = stopped_at.unwrap();
    let stayed = heard(&at_c[0].2);
    for (i, (_, _, h)) in at_b.iter().enumerate() {
        let (now_at, _) = h.relays();
        assert!(
            now_at == a.id || now_at == c.id,
            "listener {i} did not move"
        );
        let mut moved = false;
        while let Ok(e) = events[i].try_recv() {
            moved |= e == RoomEvent::Moved { relay: now_at };
        }
        assert!(moved, "listener {i} was not told it moved");
        let (last, gap) = kept_listening(i, &samples[i], stop);
        let moved_to = if now_at == a.id { "A" } else { "C" };
        println!(
            "cascade move: listener {i} at B moved to {moved_to}: longest silence {} ms; \
             frames played {last}, {} fewer than the listener at C that did not move",
            gap.as_millis(),
            stayed.saturating_sub(last)
        );
        assert!(gap < Duration::from_millis(1_500), "gap of {gap:?}");
    }
    for r in [c, a] {
        r.server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_to_an_edge_closed_for_good_is_removed_by_the_host() {
    let a = relay_reporting_absence_after(51, None, 1).await;
    let b = relay(52, Some(&a)).await;
    let st = stage(&a, 0).await;
    let (id, light) = light_at(&st, &b).await;
    until("the join at the origin", || async {
        st.host
            .state()
            .is_some_and(|s| s.is_present(&id.member_id()))
    })
    .await;
    let closed = Instant::now();
    light.close();
    until("the listener removed", || async {
        st.host
            .state()
            .is_some_and(|s| !s.is_present(&id.member_id()))
    })
    .await;
    let took = closed.elapsed();
    eprintln!("listener at the edge removed {took:?} after its connection closed (grace 1 s)");
    assert!(
        took >= Duration::from_millis(900),
        "removed before the grace: {took:?}"
    );
}
