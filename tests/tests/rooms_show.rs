//! What a room shows besides voice, end to end through one relay and real
//! nodes on loopback:
//!
//! - `a_gift_sent_in_a_room_reaches_every_member_checked`: a member pays
//!   the billing ledger (SQLite, in-process) for a gift to the host; its
//!   receipt, sealed in the room's chat, is shown by every member as a
//!   gift of that member, checked with the ledger's pinned key.
//! - `music_played_into_the_room_is_heard_by_the_listeners`: a seated
//!   speaker plays music into the room; a listener decodes it as music,
//!   not as the speaker's voice.

use std::time::Duration;

use aura_billing::test_provider;
use aura_node::rooms::{RoomEvent, RoomHandle, RoomSpec};
use aura_node::Node;
use tokio::sync::mpsc;

use crate::relay_token::{ledger, WEBHOOK_SECRET};
use crate::rooms::until;
use crate::rooms_vip::{host_room, member, relay, relay_id};

/// The first gift `events` shows within 20 s.
async fn next_gift(
    events: &mut mpsc::Receiver<RoomEvent>,
) -> (aura_crypto::MemberId, aura_billing::signed::SignedReceipt) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(RoomEvent::Gift { from, receipt }) = events.recv().await {
                return (from, *receipt);
            }
        }
    })
    .await
    .expect("no gift shown")
}

/// Joins `node` into the room of `ticket` at `relay`, welcomed.
async fn join(node: &Node, ticket: &str, relay: &aura_relay::server::Server) -> RoomHandle {
    let h = node
        .join_room(ticket, relay_id(relay), relay.media_addr())
        .await
        .unwrap();
    until("the welcome", || async { h.state().is_some() }).await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_sent_in_a_room_reaches_every_member_checked() {
    let ledger = ledger().await;
    let relay = relay(&ledger).await;
    let (host, _d0) = member(&ledger, false).await;
    let (alice, _d1) = member(&ledger, false).await;
    let (bob, _d2) = member(&ledger, false).await;
    let ev = test_provider::checkout_completed(
        &hex::encode(alice.member_id().0),
        "coins_100",
        Some("co_room"),
    );
    test_provider::deliver(&ledger.url, WEBHOOK_SECRET, &ev)
        .await
        .unwrap();
    let room = host_room(&host, &relay, RoomSpec::ticket("gifts")).await;
    let ticket = room.ticket(600_000).unwrap();
    let a = join(&alice, &ticket, &relay).await;
    let b = join(&bob, &ticket, &relay).await;
    until("both keyed", || async {
        room.state().is_some_and(|s| s.member_count() == 3)
    })
    .await;
    let mut at_host = room.take_events().unwrap();
    let mut at_bob = b.take_events().unwrap();
    let receipt = alice
        .send_room_gift(&a, host.member_id(), "heart", "room-gift-1")
        .await
        .unwrap();
    assert_eq!(
        receipt.body.room,
        aura_node::gift::voice_room_id(&room.room())
    );
    assert_eq!(receipt.body.coins, 10);
    for events in [&mut at_host, &mut at_bob] {
        assert_eq!(
            next_gift(events).await,
            (alice.member_id(), receipt.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn music_played_into_the_room_is_heard_by_the_listeners() {
    let ledger = ledger().await;
    let relay = relay(&ledger).await;
    let (host, _d0) = member(&ledger, false).await;
    let (listener, _d1) = member(&ledger, false).await;
    let room = host_room(&host, &relay, RoomSpec::ticket("music")).await;
    let ticket = room.ticket(600_000).unwrap();
    let l = join(&listener, &ticket, &relay).await;
    room.seat(0).await.unwrap();
    until("the host seated in the listener's view", || async {
        l.state()
            .is_some_and(|s| s.seat_of(&host.member_id()) == Some(0))
    })
    .await;
    let _playout = l.take_playout();
    // Three seconds of a 440 Hz stereo tone.
    let tone: Vec<i16> = (0..48_000 * 3)
        .flat_map(|i| {
            let v = (f64::from(i) * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 8_000.0;
            [v as i16, v as i16]
        })
        .collect();
    room.share_music(tone).await.unwrap();
    until("music heard", || async {
        l.heard_music().get(&host.member_id()).copied().unwrap_or(0) >= 25
    })
    .await;
    assert_eq!(
        l.heard().get(&host.member_id()).copied().unwrap_or(0),
        0,
        "music taken for voice"
    );
    room.stop_music().await.unwrap();
}
