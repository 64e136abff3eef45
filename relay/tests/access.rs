//! Access by entitlement token: checked offline against the ledger's pinned
//! key with `aura-billing`'s verifier, in the sans-IO policy and through the
//! running relay (media forwarder, then the libp2p gate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use aura_billing::ids::DeviceKey;
use aura_billing::signed::{Entitlement, Signed};
use aura_crypto::{FrameKind, Identity, MemberId};
use aura_media::RelayControl;
use aura_relay::config::AccessMode;
use aura_relay::server::gate::unix_now;
use aura_relay::{Access, AccessError};
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use support::*;

fn token(ledger: &SigningKey, member: &MemberId, allows: &[&str], iat: i64, exp: i64) -> Vec<u8> {
    let key = DeviceKey(member.0);
    let t = Signed::sign(
        Entitlement {
            v: 1,
            peer: key.to_hex(),
            peer_id: key.peer_id().unwrap(),
            tier: "vip".into(),
            allows: allows.iter().map(|s| s.to_string()).collect(),
            max_room_size: 5000,
            iat,
            exp,
        },
        ledger,
    )
    .unwrap();
    serde_json::to_vec(&t).unwrap()
}

#[test]
fn tokens_are_checked_offline_against_the_pinned_ledger_key() {
    let ledger = SigningKey::generate(&mut OsRng);
    let forger = SigningKey::generate(&mut OsRng);
    let m = Identity::generate(&mut OsRng).member_id();
    let other = Identity::generate(&mut OsRng).member_id();
    let now = 1_000_000;
    let any = Access::Token {
        ledger: ledger.verifying_key(),
        capability: None,
    };
    let relay_cap = Access::Token {
        ledger: ledger.verifying_key(),
        capability: Some("use_relay".into()),
    };
    let good = token(&ledger, &m, &[], now - 10, now + 600);
    assert_eq!(any.check_token(&m, &good, now), Ok(now + 600));
    // Someone else's token, a forged one, an expired one, garbage.
    assert!(matches!(
        any.check_token(&other, &good, now),
        Err(AccessError::Token(_))
    ));
    let forged = token(&forger, &m, &[], now - 10, now + 600);
    assert!(matches!(
        any.check_token(&m, &forged, now),
        Err(AccessError::Token(_))
    ));
    let old = token(&ledger, &m, &[], now - 700, now - 1);
    assert!(matches!(
        any.check_token(&m, &old, now),
        Err(AccessError::Token(_))
    ));
    assert_eq!(any.check_token(&m, b"{]", now), Err(AccessError::Decode));
    // A capability the operator asks for.
    assert!(relay_cap.check_token(&m, &good, now).is_err());
    let vip = token(&ledger, &m, &["use_relay"], now - 10, now + 600);
    assert!(relay_cap.check_token(&m, &vip, now).is_ok());
    assert_eq!(
        Access::Everyone.check_token(&m, &vip, now),
        Err(AccessError::NoTokens)
    );
}

#[tokio::test]
async fn token_relay_forwards_only_for_members_that_presented_a_valid_token() {
    let ledger = SigningKey::generate(&mut OsRng);
    let mut cfg = loopback_config();
    cfg.access.mode = AccessMode::Token;
    cfg.access.ledger_key = hex::encode(ledger.verifying_key().to_bytes());
    let (relay, relay_id) = relay(cfg).await;
    let mut sessions = group(2);
    let room = sessions[0].group_id().room();
    let members: Vec<_> = sessions.iter().map(|s| s.member_id()).collect();
    let a = Member::join(
        sessions[0].identity(),
        room,
        members.clone(),
        &relay,
        relay_id.member_id(),
    )
    .await;
    let mut b = Member::join(
        sessions[1].identity(),
        room,
        members.clone(),
        &relay,
        relay_id.member_id(),
    )
    .await;
    // Without tokens the joins are refused.
    within(10, async {
        while relay.metrics().refusals_for("media", "not_allowed") < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(!relay_gate_allows(&relay, &members[0]));
    // A forged token is refused; valid ones admit both, then joins work.
    let forger = SigningKey::generate(&mut OsRng);
    let now = unix_now();
    a.send(RelayControl::Token(&token(&forger, &members[0], &[], now, now + 600)).to_vec());
    for (m, id) in [(&a, members[0]), (&b, members[1])] {
        m.send(RelayControl::Token(&token(&ledger, &id, &[], now, now + 600)).to_vec());
        m.send(RelayControl::Join(room).to_vec());
    }
    joined(&relay, 2).await;
    assert_eq!(relay.metrics().refusals_for("media", "token_forged"), 1);
    // The token also admits the member to reservations on the libp2p side.
    assert!(relay_gate_allows(&relay, &members[0]));
    let frame = sessions[0].seal(FrameKind::Chat, b"admitted", NOW).unwrap();
    a.send(frame);
    let got = within(10, b.rx.recv()).await.unwrap();
    assert_eq!(
        sessions[1].open(&got.frame, NOW).unwrap().payload,
        b"admitted"
    );
    relay.shutdown().await;
}

/// A token-mode relay and one member connected to it, joined to `room`
/// with no token yet.
async fn token_relay_and_member() -> (aura_relay::server::Server, SigningKey, Member, MemberId) {
    let ledger = SigningKey::generate(&mut OsRng);
    let mut cfg = loopback_config();
    cfg.access.mode = AccessMode::Token;
    cfg.access.ledger_key = hex::encode(ledger.verifying_key().to_bytes());
    let (relay, relay_id) = relay(cfg).await;
    let sessions = group(1);
    let me = sessions[0].member_id();
    let room = sessions[0].group_id().room();
    let m = Member::join(
        sessions[0].identity(),
        room,
        vec![me],
        &relay,
        relay_id.member_id(),
    )
    .await;
    (relay, ledger, m, me)
}

/// Presents `token` and waits until the relay counts the refusal `reason`;
/// the member stays unadmitted on both planes.
async fn refused_as(
    relay: &aura_relay::server::Server,
    m: &Member,
    me: &MemberId,
    token: Vec<u8>,
    reason: &'static str,
) {
    m.send(RelayControl::Token(&token).to_vec());
    within(10, async {
        while relay.metrics().refusals_for("media", reason) < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        !relay_gate_allows(relay, me),
        "admitted by a {reason} token"
    );
}

#[tokio::test]
async fn expired_token_is_refused_and_counted_as_expired() {
    let (relay, ledger, m, me) = token_relay_and_member().await;
    let now = unix_now();
    let old = token(&ledger, &me, &[], now - 700, now - 1);
    refused_as(&relay, &m, &me, old, "token_expired").await;
    relay.shutdown().await;
}

#[tokio::test]
async fn forged_token_is_refused_and_counted_as_forged() {
    let (relay, _, m, me) = token_relay_and_member().await;
    let forger = SigningKey::generate(&mut OsRng);
    let now = unix_now();
    let forged = token(&forger, &me, &[], now, now + 600);
    refused_as(&relay, &m, &me, forged, "token_forged").await;
    relay.shutdown().await;
}

#[tokio::test]
async fn another_members_token_replayed_is_refused_and_counted() {
    let (relay, ledger, m, me) = token_relay_and_member().await;
    let victim = Identity::generate(&mut OsRng).member_id();
    let now = unix_now();
    let theirs = token(&ledger, &victim, &[], now, now + 600);
    refused_as(&relay, &m, &me, theirs, "token_other_member").await;
    assert!(!relay_gate_allows(&relay, &victim));
    relay.shutdown().await;
}

fn relay_gate_allows(relay: &aura_relay::server::Server, m: &MemberId) -> bool {
    relay.gate().allows_peer(&m.peer_id().unwrap())
}
