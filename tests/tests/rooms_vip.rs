//! VIP rooms and seats end to end: the billing ledger (SQLite, in-process)
//! sells one member a VIP subscription; the entitlement token it issues
//! (allowing `vip_rooms`) rides in that member's room joins, and the relay
//! (open to everyone, pinning the ledger's key) and every member's view
//! check it offline.
//!
//! - `a_vip_only_room_admits_the_vip_and_refuses_the_others`: in a VIP-only
//!   room the VIP is welcomed; a member without VIP is refused
//!   (`vip_required`) and never appears in the host's view.
//! - `a_vip_seat_is_taken_by_the_vip_only`: a listener without VIP, invited
//!   to the VIP seat, cannot take it; the VIP can.

use std::time::Duration;

use aura_billing::test_provider;
use aura_crypto::{Identity, MemberId};
use aura_node::rooms::{RoomEvent, RoomHandle, RoomSpec};
use aura_node::{config::Config, Node};
use aura_relay::server::Server;
use rand::rngs::OsRng;

use crate::relay_token::{ledger, Ledger, WEBHOOK_SECRET};
use crate::rooms::until;

/// `vip_required` on the wire (`aura_relay::rooms::HubError::code`).
const VIP_REQUIRED: u8 = 18;

/// A relay open to everyone that admits VIP members with `ledger`'s tokens.
pub(crate) async fn relay(ledger: &Ledger) -> Server {
    let mut cfg = aura_relay::config::Config::default();
    cfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    cfg.listen.media = "127.0.0.1:0".parse().unwrap();
    cfg.listen.metrics = None;
    cfg.access.ledger_key = ledger.key.clone();
    Server::spawn(Identity::generate(&mut OsRng), cfg)
        .await
        .unwrap()
}

/// A node using `ledger`, logged in there; VIP for a month if `vip`.
pub(crate) async fn member(ledger: &Ledger, vip: bool) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.billing_url = Some(ledger.url.clone());
    cfg.billing_service_key = Some(ledger.key.clone());
    let node = Node::builder().config(cfg).start().await.unwrap();
    // Logging in opens the account the provider's webhooks credit.
    node.wallet().await.unwrap();
    if vip {
        let account = hex::encode(node.member_id().0);
        let end = (crate::rooms::now_ms() / 1000) as i64 + 30 * 86_400;
        let ev = test_provider::subscription_renewed(&account, "vip_monthly", end);
        test_provider::deliver(&ledger.url, WEBHOOK_SECRET, &ev)
            .await
            .unwrap();
    }
    (node, dir)
}

/// The relay's member id (its media key).
pub(crate) fn relay_id(relay: &Server) -> MemberId {
    MemberId::from_peer_id(&relay.peer_id()).unwrap()
}

/// Creates a room per `spec` at `relay`, welcomed.
pub(crate) async fn host_room(host: &Node, relay: &Server, spec: RoomSpec) -> RoomHandle {
    let room = host
        .create_room(relay_id(relay), relay.media_addr(), spec)
        .await
        .unwrap();
    until("the host's welcome", || async { room.state().is_some() }).await;
    room
}

/// The codes of the refusals `room` reports within `ms`.
async fn refusals(room: &RoomHandle, ms: u64) -> Vec<u8> {
    let mut events = room.take_events().unwrap();
    let mut codes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(ms), async {
        while let Some(e) = events.recv().await {
            if let RoomEvent::Refused { code, .. } = e {
                codes.push(code);
            }
        }
    })
    .await;
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vip_only_room_admits_the_vip_and_refuses_the_others() {
    let ledger = ledger().await;
    let relay = relay(&ledger).await;
    let (host, _d0) = member(&ledger, false).await;
    let (vip, _d1) = member(&ledger, true).await;
    let (plain, _d2) = member(&ledger, false).await;
    let room = host_room(&host, &relay, RoomSpec::ticket("vip lounge").vip(0, true)).await;
    let ticket = room.ticket(600_000).unwrap();
    let (rid, addr) = (relay_id(&relay), relay.media_addr());
    let v = vip.join_room(&ticket, rid, addr).await.unwrap();
    until("the VIP's welcome and key", || async {
        v.state().is_some() && room.state().is_some_and(|s| s.member_count() == 2)
    })
    .await;
    let p = plain.join_room(&ticket, rid, addr).await.unwrap();
    assert_eq!(refusals(&p, 2_000).await, vec![VIP_REQUIRED]);
    assert!(p.state().is_none(), "a member without VIP was welcomed");
    let s = room.state().unwrap();
    assert_eq!(s.member_count(), 2);
    assert!(s.members().any(|(m, p)| *m == vip.member_id() && p.vip));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vip_seat_is_taken_by_the_vip_only() {
    let ledger = ledger().await;
    let relay = relay(&ledger).await;
    let (host, _d0) = member(&ledger, false).await;
    let (vip, _d1) = member(&ledger, true).await;
    let (plain, _d2) = member(&ledger, false).await;
    let room = host_room(&host, &relay, RoomSpec::ticket("stage").vip(1, false)).await;
    let ticket = room.ticket(600_000).unwrap();
    let (rid, addr) = (relay_id(&relay), relay.media_addr());
    let v = vip.join_room(&ticket, rid, addr).await.unwrap();
    let p = plain.join_room(&ticket, rid, addr).await.unwrap();
    until("both joins", || async {
        room.state().is_some_and(|s| s.member_count() == 3)
    })
    .await;
    // Seat 0 is the VIP seat: the member without VIP is invited, and refused.
    room.invite(plain.member_id(), 0).await.unwrap();
    until("the invitation", || async {
        p.state().is_some_and(|s| s.seats()[0].invited.is_some())
    })
    .await;
    p.seat(0).await.unwrap();
    assert_eq!(refusals(&p, 2_000).await, vec![VIP_REQUIRED]);
    assert_eq!(room.state().unwrap().seat_of(&plain.member_id()), None);
    // The VIP takes it; every view agrees.
    room.invite(vip.member_id(), 0).await.unwrap();
    until("the VIP's invitation", || async {
        v.state()
            .is_some_and(|s| s.seats()[0].invited == Some(vip.member_id()))
    })
    .await;
    v.seat(0).await.unwrap();
    until("the VIP seated in every view", || async {
        [&room, &v, &p].iter().all(|h| {
            h.state()
                .is_some_and(|s| s.seat_of(&vip.member_id()) == Some(0))
        })
    })
    .await;
}
