//! Entitlement tokens checked offline, the way a node or relay grants what
//! they name: a forged, borrowed, expired or upgraded token, or one from
//! another ledger, is refused; a VIP's genuine token is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    entitlement,
    ids::DeviceKey,
    signed::{Entitlement, EntitlementToken, Signed, VerifyError},
    test_provider,
};
use common::{start, Backend, SECRET};
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;

fn device() -> (SigningKey, DeviceKey) {
    let k = SigningKey::generate(&mut OsRng);
    let d = DeviceKey(k.verifying_key().to_bytes());
    (k, d)
}

fn vip(peer: &DeviceKey) -> Entitlement {
    Entitlement {
        v: 1,
        peer: peer.to_hex(),
        peer_id: peer.peer_id().unwrap(),
        tier: "vip".into(),
        allows: vec!["host_large_rooms".into()],
        max_room_size: 5000,
        iat: 1_000,
        exp: 1_300,
    }
}

fn signed(e: Entitlement, ledger: &SigningKey) -> EntitlementToken {
    Signed::sign(e, ledger).unwrap()
}

#[test]
fn forged_borrowed_expired_or_upgraded_tokens_are_refused() {
    let (ledger, (_, alice), (_, bob)) = (SigningKey::generate(&mut OsRng), device(), device());
    let pinned = ledger.verifying_key();
    let good = signed(vip(&alice), &ledger);
    let cap = "host_large_rooms";
    assert_eq!(
        entitlement::verify(&good, &pinned, &alice, 1_100, cap)
            .unwrap()
            .tier,
        "vip"
    );
    // Bob presents Alice's token.
    assert_eq!(
        entitlement::verify(&good, &pinned, &bob, 1_100, cap),
        Err(VerifyError::WrongPeer)
    );
    // Expired, or issued far in the future.
    assert_eq!(
        entitlement::verify(&good, &pinned, &alice, 1_300, cap),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        entitlement::verify(
            &good,
            &pinned,
            &alice,
            1_000 - entitlement::CLOCK_SKEW_S - 1,
            cap
        ),
        Err(VerifyError::Expired)
    );
    // A capability the token does not grant; a room bigger than its size.
    assert_eq!(
        entitlement::verify(&good, &pinned, &alice, 1_100, "svip_entrance"),
        Err(VerifyError::NotEntitled)
    );
    assert!(entitlement::verify_room_host(&good, &pinned, &alice, 1_100, 5000).is_ok());
    assert_eq!(
        entitlement::verify_room_host(&good, &pinned, &alice, 1_100, 5001),
        Err(VerifyError::NotEntitled)
    );
    // Alice edits her own token (more capabilities, longer life, bigger room).
    let mut upgraded = good.clone();
    upgraded.body.allows.push("svip_entrance".into());
    upgraded.body.exp = i64::MAX;
    upgraded.body.max_room_size = u32::MAX;
    assert_eq!(
        entitlement::verify(&upgraded, &pinned, &alice, 1_100, cap),
        Err(VerifyError::BadSignature)
    );
    // Signed by another ledger (or by Alice herself).
    let rogue = signed(vip(&alice), &SigningKey::generate(&mut OsRng));
    assert_eq!(
        entitlement::verify(&rogue, &pinned, &alice, 1_100, cap),
        Err(VerifyError::BadSignature)
    );
    // The ledger's key, but the PeerId of someone else.
    let mut e = vip(&alice);
    e.peer_id = bob.peer_id().unwrap();
    assert_eq!(
        entitlement::verify(&signed(e, &ledger), &pinned, &alice, 1_100, cap),
        Err(VerifyError::WrongPeer)
    );
    let mut e = vip(&alice);
    e.v = 2;
    assert_eq!(
        entitlement::verify(&signed(e, &ledger), &pinned, &alice, 1_100, cap),
        Err(VerifyError::Version(2))
    );
    // Extreme clocks do not overflow.
    assert!(entitlement::verify(&good, &pinned, &alice, i64::MAX, cap).is_err());
    assert!(entitlement::verify(&good, &pinned, &alice, i64::MIN, cap).is_err());
}

/// End to end: the ledger's token for a subscriber passes the offline check
/// with the pinned key; a free account's token does not grant VIP.
async fn vip_token_from_the_ledger_verifies_offline(b: Backend) {
    let Some(s) = start(b).await else { return };
    let pinned = s.svc.verifying_key();
    let mut free = s.user().await;
    let mut vip = s.user().await;
    let end = s.clock.now_s() + 30 * 86_400;
    let ev = test_provider::subscription_renewed(&vip.account().to_hex(), "vip_monthly", end);
    test_provider::deliver(&s.url, SECRET, &ev).await.unwrap();
    let now = s.clock.now_s();
    let t = vip.entitlement().await.unwrap();
    let e = entitlement::verify_room_host(&t, &pinned, &vip.account(), now, 1000).unwrap();
    assert_eq!(e.tier, "vip");
    let t = free.entitlement().await.unwrap();
    assert_eq!(
        entitlement::verify(&t, &pinned, &free.account(), now, "host_large_rooms"),
        Err(VerifyError::NotEntitled)
    );
}

both_backends!(vip_token_from_the_ledger_verifies_offline);
