//! One media endpoint per node: a node in two groups runs voice in both on
//! the same quinn endpoint, each group's members connected to it, and
//! leaving one group's voice keeps the other's connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_node::voice_api::{VoiceConfig, VoiceHandle};
use common::{start, within};

async fn until_connected(h: &VoiceHandle, want: &[aura_crypto::MemberId]) {
    within(20, async {
        loop {
            let mut got = h.stats().await.unwrap().connected;
            got.sort();
            if got == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_media_endpoint_serves_voice_in_every_group() {
    let (x, y, z) = (start().await, start().await, start().await);
    let g1 = x.node.create_group("one").await.unwrap();
    let g2 = x.node.create_group("two").await.unwrap();
    y.node
        .join(&x.node.invite(g1, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    z.node
        .join(&x.node.invite(g2, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    let x1 = x.node.join_voice(g1, VoiceConfig::default()).await.unwrap();
    let x2 = x.node.join_voice(g2, VoiceConfig::default()).await.unwrap();
    assert_eq!(x1.local_addr(), x2.local_addr(), "one endpoint per node");
    // A second voice engine in the same group is refused.
    assert!(x.node.join_voice(g1, VoiceConfig::default()).await.is_err());
    let hy = y.node.join_voice(g1, VoiceConfig::default()).await.unwrap();
    let hz = z.node.join_voice(g2, VoiceConfig::default()).await.unwrap();
    until_connected(&x1, &[y.node.member_id()]).await;
    until_connected(&x2, &[z.node.member_id()]).await;
    until_connected(&hy, &[x.node.member_id()]).await;

    // Leaving group one's voice drops y (in no other room), keeps z.
    x1.leave().await;
    until_connected(&hy, &[]).await;
    assert_eq!(
        x2.stats().await.unwrap().connected,
        vec![z.node.member_id()]
    );
    for h in [&x2, &hy, &hz] {
        h.leave().await;
    }
    for n in [x, y, z] {
        n.node.shutdown().await;
    }
}
