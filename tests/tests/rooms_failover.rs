//! A room outlives its origin relay (in-process relays, real nodes on
//! loopback). The room is created at relay A (its origin) with a seated
//! speaker; listeners join at A and at edges B and C. A stops mid-room:
//! the host hands the room's journal of signed ops to another relay of the
//! room, which becomes its origin; the speaker and every listener move
//! and keep listening (the longest silence is printed); seats and bans
//! survive the move, a listener joining afterwards is keyed and hears, and
//! after a kick the listeners that stay hear on under the new room key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aura_node::rooms::{RoomEvent, RoomHandle};

use crate::rooms::{node, speak, until};
use crate::rooms_cascade::{kept_listening, listeners, seats_taken, stage, three_relays};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_stopped_mid_room_the_host_moves_the_room_and_everyone_keeps_listening() {
    let (a, b, c) = three_relays(61).await;
    let st = stage(&a, 1).await;
    let mut all = listeners(&st, &b, 1).await;
    all.extend(listeners(&st, &c, 1).await);
    all.extend(listeners(&st, &a, 1).await);
    let troll = listeners(&st, &a, 1).await;
    let troll_id = troll[0].0.member_id();
    until("the troll's join", || async {
        st.host.state().is_some_and(|s| s.is_present(&troll_id))
    })
    .await;
    st.host.ban(troll_id).await.unwrap();
    let speaker = &st.speakers[0].2;
    let everyone: Vec<&RoomHandle> = all
        .iter()
        .map(|l| &l.2)
        .chain([&st.host, speaker])
        .collect();
    until("everyone knows the room's three relays", || async {
        everyone
            .iter()
            .all(|h| seats_taken(h) == 2 && h.relays().1.len() == 3)
    })
    .await;
    let speaker_id = st.speakers[0].0.member_id();
    let heard = |h: &RoomHandle| h.heard().get(&speaker_id).copied().unwrap_or(0);
    // The speaker talks for 6 s; A stops after 1.5 s.
    let t0 = Instant::now();
    let mut a = Some(a);
    let mut samples: Vec<Vec<(Duration, u64)>> = vec![Vec::new(); all.len()];
    let mut stopped_at = None;
    let mut stopper = None;
    let talker = [(speaker, 10_000.0)];
    let _ = tokio::join!(speak(&talker, 300), async {
        while t0.elapsed() < Duration::from_millis(5_900) {
            for (i, l) in all.iter().enumerate() {
                samples[i].push((t0.elapsed(), heard(&l.2)));
            }
            if stopped_at.is_none() && t0.elapsed() >= Duration::from_millis(1_500) {
                stopped_at = Some(t0.elapsed());
                stopper = Some(tokio::spawn(a.take().unwrap().server.shutdown()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    stopper.unwrap().await.unwrap();
    let stop = stopped_at.unwrap();
    let (origin, _) = st.host.relays();
    assert!(
        origin == b.id || origin == c.id,
        "the host did not move the room"
    );
    for (i, (_, _, h)) in all.iter().enumerate() {
        let (_, gap) = kept_listening(i, &samples[i], stop);
        let was = ["B", "C", "A"][i];
        let now_at = if h.relays().0 == b.id { "B" } else { "C" };
        println!(
            "origin failover: listener {i} at {was}, now at {now_at}: longest silence {} ms",
            gap.as_millis()
        );
        assert!(gap < Duration::from_secs(3), "gap of {gap:?}");
        assert_eq!(seats_taken(h), 2, "listener {i}'s seats");
    }
    // The ban holds at the new origin: the troll is refused there.
    let new_origin = if origin == b.id { &b } else { &c };
    let (troll_node, _troll_dir, old) = troll.into_iter().next().unwrap();
    drop(old);
    let again = troll_node
        .join_room(&st.ticket, new_origin.id, new_origin.addr())
        .await
        .unwrap();
    let mut ev = again.take_events().unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = ev.recv().await {
            if let RoomEvent::Refused { code, .. } = e {
                return code;
            }
        }
        0
    })
    .await
    .unwrap();
    assert_eq!(refused, 7, "the banned troll was not refused");
    // A listener joining now, through any relay of the room, is keyed and hears.
    let (late_node, _d) = node().await;
    let late = late_node
        .join_room_least_loaded(&st.ticket, c.id, c.addr())
        .await
        .unwrap();
    let _ = tokio::join!(speak(&talker, 150), async {
        until("the late listener hears the speaker", || async {
            heard(&late) >= 20
        })
        .await;
    });
    // A departure after the move: the host, welcomed again at the new
    // origin, knows every listener still there (its view is rebuilt from
    // the new origin's welcome) and seals each the new room key; they keep
    // hearing the speaker under it.
    until("the host's view holds every listener", || async {
        st.host.state().is_some_and(|s| {
            all.iter().all(|l| s.is_present(&l.0.member_id()))
                && s.is_present(&late_node.member_id())
        })
    })
    .await;
    let kicked = all[0].0.member_id();
    st.host.kick(kicked).await.unwrap();
    until("the kick, in the host's view and a listener's", || async {
        st.host.state().is_some_and(|s| !s.is_present(&kicked))
            && all[1].2.state().is_some_and(|s| !s.is_present(&kicked))
    })
    .await;
    let before: Vec<u64> = all[1..].iter().map(|l| heard(&l.2)).collect();
    let late_before = heard(&late);
    let _ = tokio::join!(speak(&talker, 150), async {
        until(
            "the staying listeners hear the speaker under the new key",
            || async {
                all[1..]
                    .iter()
                    .zip(&before)
                    .all(|(l, b)| heard(&l.2) >= b + 40)
                    && heard(&late) >= late_before + 40
            },
        )
        .await;
    });
    for r in [b, c] {
        r.server.shutdown().await;
    }
}
