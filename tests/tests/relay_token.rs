//! Voice through a relay in `token` access mode (loopback): the billing
//! ledger (SQLite, in-process) issues each member its entitlement token,
//! the relay pins the ledger's key and checks tokens offline. Two members
//! announce media addresses nobody answers at, so their voice can only go
//! through the relay's media forwarder; each node presents its token on
//! the media connection before its room joins.
//!
//! - `voice_goes_through_a_token_relay_for_members_holding_the_ledgers_token`:
//!   sound is decoded at B, the relay forwarded it, and the token admitted A
//!   on the libp2p plane too (its reservation is accepted);
//! - `a_member_replaying_another_members_token_gets_no_voice_through_the_relay`:
//!   B presents A's token as its own; the relay refuses it
//!   (`token_other_member`) and forwards none of B's frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aura_billing::{
    client::BillingClient,
    config::{Config as BillingConfig, Secret},
    server,
};
use aura_crypto::{GroupId, Identity};
use aura_node::voice::TalkMode;
use aura_node::voice_api::{VoiceConfig, VoiceHandle};
use aura_node::{config::Config, Node};
use aura_relay::server::Server;
use ed25519_dalek::SigningKey;
use libp2p::{multiaddr::Protocol, Multiaddr};
use rand::rngs::OsRng;

/// Where members announce their media: nothing answers there, so no
/// direct media path ever forms.
const NOWHERE: &str = "127.0.0.1:9";

pub(crate) struct Ledger {
    pub(crate) url: String,
    pub(crate) key: String,
    _dir: tempfile::TempDir,
    _server: server::LocalServer,
}

/// The secret the ledger's payment webhooks are signed with.
pub(crate) const WEBHOOK_SECRET: &str = "whsec_relay_token_test";

/// A ledger on loopback (SQLite in a temporary directory).
pub(crate) async fn ledger() -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let c = BillingConfig {
        data_dir: dir.path().to_path_buf(),
        webhook_secrets: vec![Secret(WEBHOOK_SECRET.into())],
        ..BillingConfig::default()
    };
    let server = server::spawn_local(c).await.unwrap();
    let mut probe = BillingClient::new(&server.url, SigningKey::generate(&mut OsRng)).unwrap();
    let key = hex::encode(probe.service_key().await.unwrap().to_bytes());
    Ledger {
        url: server.url.clone(),
        key,
        _dir: dir,
        _server: server,
    }
}

/// A relay on loopback admitting members with a token of `ledger`.
async fn token_relay(ledger: &Ledger) -> (Server, Multiaddr) {
    let mut cfg = aura_relay::config::Config::default();
    cfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    cfg.listen.media = "127.0.0.1:0".parse().unwrap();
    cfg.listen.metrics = None;
    cfg.access.mode = aura_relay::config::AccessMode::Token;
    cfg.access.ledger_key = ledger.key.clone();
    let relay = Server::spawn(Identity::generate(&mut OsRng), cfg)
        .await
        .unwrap();
    let addr = relay.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(relay.peer_id()));
    (relay, addr)
}

async fn member(ledger: Option<&Ledger>, relay: &Multiaddr) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.relays = vec![relay.to_string()];
    if let Some(l) = ledger {
        cfg.billing_url = Some(l.url.clone());
        cfg.billing_service_key = Some(l.key.clone());
    }
    let node = Node::builder().config(cfg).start().await.unwrap();
    (node, dir)
}

/// A creates a group, B joins it by invite.
async fn group(a: &Node, b: &Node) -> GroupId {
    let gid = a.create_group("token relay").await.unwrap();
    let invite = a.invite(gid, 1, 600_000).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), b.join(&invite))
        .await
        .expect("join timed out")
        .unwrap();
    gid
}

/// Joins voice announcing [`NOWHERE`], talks a tone and counts playout
/// frames carrying sound.
async fn talk(node: &Node, gid: GroupId) -> (Arc<VoiceHandle>, Arc<AtomicUsize>) {
    let cfg = VoiceConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        advertise: Some(NOWHERE.parse().unwrap()),
        mode: TalkMode::PushToTalk,
        ..VoiceConfig::default()
    };
    let v = node.join_voice(gid, cfg).await.unwrap();
    v.set_ptt(true).await.unwrap();
    let mut playout = v.take_playout().unwrap();
    let heard = Arc::new(AtomicUsize::new(0));
    let h = heard.clone();
    tokio::spawn(async move {
        while let Some(f) = playout.recv().await {
            let e: f64 = f.iter().map(|s| f64::from(*s).powi(2)).sum();
            if (e / f.len().max(1) as f64).sqrt() > 500.0 {
                h.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let tone: Vec<i16> = (0..48_000 * 60)
        .map(|i| ((f64::from(i) * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 8_000.0) as i16)
        .collect();
    let _talking = v.talk_samples(tone);
    (v, heard)
}

/// Waits (polling the relay's counters, at most `secs`) until `ok`.
async fn until(secs: u64, what: &str, ok: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(secs), async {
        while !ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not in {secs} s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_goes_through_a_token_relay_for_members_holding_the_ledgers_token() {
    let ledger = ledger().await;
    let (relay, relay_addr) = token_relay(&ledger).await;
    let (a, _da) = member(Some(&ledger), &relay_addr).await;
    let (b, _db) = member(Some(&ledger), &relay_addr).await;
    let gid = group(&a, &b).await;
    let (va, _) = talk(&a, gid).await;
    let (vb, heard_b) = talk(&b, gid).await;
    until(30, "A's voice decoded at B through the relay", || {
        heard_b.load(Ordering::Relaxed) >= 25
    })
    .await;
    let stats = vb.stats().await.unwrap();
    assert!(stats.connected.is_empty(), "a direct media path formed");
    assert!(stats.via_relay > 0, "nothing came through the relay");
    assert!(relay.metrics().forwarded_packets.get() > 0);
    assert_eq!(relay.metrics().refusals_for("media", "bad_token"), 0);
    // The token admitted A on the libp2p plane too: its reservation (refused
    // before it presented a token) is accepted at its next attempt.
    assert!(relay.gate().allows_peer(&a.peer_id()));
    until(40, "A's reservation on the token relay", || {
        relay.metrics().reservations_accepted.get() >= 1
    })
    .await;
    va.leave().await;
    vb.leave().await;
    a.shutdown().await;
    b.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_replaying_another_members_token_gets_no_voice_through_the_relay() {
    let ledger = ledger().await;
    let (relay, relay_addr) = token_relay(&ledger).await;
    let (a, _da) = member(Some(&ledger), &relay_addr).await;
    // B has no ledger of its own: it presents A's token.
    let (b, _db) = member(None, &relay_addr).await;
    let stolen = a.entitlement().await.unwrap();
    b.set_relay_token(&stolen).unwrap();
    let gid = group(&a, &b).await;
    let (va, heard_a) = talk(&a, gid).await;
    let (vb, _) = talk(&b, gid).await;
    until(30, "the relay refusing B's replayed token", || {
        relay.metrics().refusals_for("media", "token_other_member") >= 1
    })
    .await;
    // A is admitted and joined; B's joins are refused, so its frames go nowhere.
    until(30, "A admitted and B's joins refused", || {
        relay.metrics().refusals_for("media", "not_allowed") >= 1
            && relay.gate().allows_peer(&a.peer_id())
    })
    .await;
    // B talks on: its frames are dropped as not admitted, none forwarded.
    until(30, "B's frames dropped as not admitted", || {
        relay.metrics().drops_for("not_admitted") >= 25
    })
    .await;
    assert_eq!(heard_a.load(Ordering::Relaxed), 0, "A heard B");
    assert_eq!(relay.metrics().forwarded_packets.get(), 0);
    assert!(!relay.gate().allows_peer(&b.peer_id()));
    va.leave().await;
    vb.leave().await;
    a.shutdown().await;
    b.shutdown().await;
    relay.shutdown().await;
}
