//! What gossip repairs: a member's chat reaches a peer it is not connected
//! to through another member's IHAVE/IWANT; its location fixes do not (the
//! next fix replaces a lost one, so members that received a fix do not
//! advertise it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::{Duration, Instant};

use aura_crypto::{FrameHeader, FrameKind};
use aura_node::{
    location::Precision,
    wire::{self, GossipMsg},
    Event,
};
use common::*;

/// The kind and sender short id of an observed gossip frame.
fn frame_of(data: &[u8]) -> Option<(FrameKind, aura_crypto::ShortId)> {
    match wire::decode::<GossipMsg>(data)? {
        GossipMsg::Frame(f) => FrameHeader::parse(&f).ok().map(|h| (h.kind, h.sender)),
        _ => None,
    }
}

/// Counts the chat and location frames of `author` among what arrived.
fn count_observed(
    events: &mut aura_node::EventStream,
    author: aura_crypto::ShortId,
    chats: &mut usize,
    fixes: &mut usize,
) {
    while let Some(e) = events.try_next() {
        if let Event::Observed { data, .. } = e {
            match frame_of(&data) {
                Some((FrameKind::Chat, s)) if s == author => *chats += 1,
                Some((FrameKind::Location, s)) if s == author => *fixes += 1,
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_repaired_through_another_member_and_location_fixes_are_not() {
    let mut a = start().await;
    let mut b = start().await;
    let mut eve = start().await;
    let gid = a.node.create_group("repair").await.unwrap();
    b.node
        .join(&a.node.invite(gid, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    // Eve listens on the topic connected to B only: A does not dial a
    // non-member, so what A sends reaches Eve only through B's gossip.
    eve.node
        .dial(b.node.listen_addrs().await.unwrap()[0].clone())
        .await
        .unwrap();
    eve.node.observe_group(gid).await.unwrap();
    let a_short = a.node.member_id().short_id();
    a.node.set_precision(gid, Precision::Exact).await.unwrap();
    a.node.share_location(gid, true).await.unwrap();

    // A moves every 100 ms and chats once a second, for 4 s and until one
    // chat reached Eve (at most 20 s: gossip repair is slower on a loaded
    // machine); B hears both.
    let (mut chats, mut fixes) = (0usize, 0usize);
    let (mut b_chats, mut b_fixes) = (0, 0);
    let started = Instant::now();
    let mut step = 0.0;
    while started.elapsed() < Duration::from_secs(4)
        || (chats == 0 && started.elapsed() < Duration::from_secs(20))
    {
        step += 20.0;
        a.node
            .update_position(base().offset_m(step, 0.0))
            .await
            .unwrap();
        if (step as u64) % 200 == 0 {
            a.node.send_chat(gid, "over here").await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Some(e) = b.events.try_next() {
            match e {
                Event::Chat { .. } => b_chats += 1,
                Event::Location { .. } => b_fixes += 1,
                _ => {}
            }
        }
        count_observed(&mut eve.events, a_short, &mut chats, &mut fixes);
        while let Some(_e) = a.events.try_next() {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    count_observed(&mut eve.events, a_short, &mut chats, &mut fixes);
    assert!(b_fixes >= 10, "B heard {b_fixes} of A's fixes");
    assert!(b_chats >= 2, "B heard {b_chats} of A's chats");
    assert!(
        chats >= 1,
        "no chat of A's reached Eve through B's gossip ({fixes} fixes did)"
    );
    assert_eq!(fixes, 0, "B advertised A's location fixes to Eve");
    let connected = eve.node.connected_peers().await.unwrap();
    assert!(
        !connected.contains(&a.node.peer_id()),
        "Eve must hear A through B only"
    );
    for n in [a, b, eve] {
        n.node.shutdown().await;
    }
}
