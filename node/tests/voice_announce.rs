//! The media address goes out on events, not on a timer: when voice
//! starts, when a member joins, when a member announces an address we did
//! not know. A member that joins the group after voice started still
//! learns it.

use crate::common;

use std::time::Duration;

use aura_node::{voice_api::VoiceConfig, Event};
use common::{start, wait_for, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_address_reaches_late_joiners_without_periodic_reannounce() {
    let mut a = start().await;
    let mut b = start().await;
    let gid = a.node.create_group("talk").await.unwrap();
    let invite = a.node.invite(gid, 5, 600_000).await.unwrap();
    within(20, b.node.join(&invite)).await.unwrap();
    let a_id = a.node.member_id();

    let va = a
        .node
        .join_voice(gid, VoiceConfig::default())
        .await
        .unwrap();
    let vb = b
        .node
        .join_voice(gid, VoiceConfig::default())
        .await
        .unwrap();
    // Each learns the other's address.
    wait_for(&mut b.events, 10, |e| match e {
        Event::MediaAddr { member, .. } if *member == a_id => Some(()),
        _ => None,
    })
    .await;
    let b_id = b.node.member_id();
    wait_for(&mut a.events, 10, |e| match e {
        Event::MediaAddr { member, .. } if *member == b_id => Some(()),
        _ => None,
    })
    .await;

    // A member that joins the group now learns A's address, though A
    // announced it before that member could read the group.
    let mut c = start().await;
    within(20, c.node.join(&invite)).await.unwrap();
    wait_for(&mut c.events, 10, |e| match e {
        Event::MediaAddr { member, .. } if *member == a_id => Some(()),
        _ => None,
    })
    .await;

    // Then nothing new for 5 s: no timer re-announces (it was every 2 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    while b.events.try_next().is_some() {}
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut again = 0;
    while let Some(e) = b.events.try_next() {
        again += usize::from(matches!(e, Event::MediaAddr { member, .. } if member == a_id));
    }
    assert_eq!(again, 0, "A re-announced its address {again} times in 5 s");

    va.leave().await;
    vb.leave().await;
    for n in [a, b, c] {
        n.node.shutdown().await;
    }
}
