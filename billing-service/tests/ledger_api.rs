//! End to end through HTTP: login, gifts with signed receipts, idempotent
//! retries, overdraft refusal, catalog admin, holds (post, void, expire).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    api::{GiftItem, SendGiftRequest},
    client::ClientError,
    ids::{platform, user_account, Currency},
    ledger::{Transfer, TransferKind},
    service::admin::ChainRequest,
};
use common::{start, tr, Backend};

fn gift(id: &str, gift: &str, to: &str) -> SendGiftRequest {
    SendGiftRequest {
        id: id.into(),
        gift: gift.into(),
        to: to.into(),
        room: "room-1".into(),
    }
}

async fn gift_flow(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut alice = s.user().await;
    let bob = s.user().await;
    s.fund(&alice.account(), 25).await;
    let bob_hex = bob.account().to_hex();

    let r = alice
        .send_gift(&gift("g1", "heart", &bob_hex))
        .await
        .unwrap();
    assert_eq!(r.status, "created");
    assert_eq!(r.receipt.body.coins, 10);
    assert_eq!(r.receipt.body.diamonds, 7, "30% platform share of 10");
    assert_eq!(r.receipt.body.receiver, bob_hex);
    let sk = alice.service_key().await.unwrap();
    aura_billing::client::verify_receipt(&r.receipt, &sk).unwrap();

    // Same id again (a retry after a lost response): the original receipt, no new movement.
    let again = alice
        .send_gift(&gift("g1", "heart", &bob_hex))
        .await
        .unwrap();
    assert_eq!(again.status, "replayed");
    assert_eq!(again.receipt, r.receipt);
    // Same id, other content: refused.
    let e = alice
        .send_gift(&gift("g1", "rose", &bob_hex))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 409, ref error, .. } if error == "exists_with_different_fields"),
        "{e:?}"
    );

    alice
        .send_gift(&gift("g2", "heart", &bob_hex))
        .await
        .unwrap();
    // 5 coins left: a third heart would overdraw.
    let e = alice
        .send_gift(&gift("g3", "heart", &bob_hex))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 409, ref error, .. } if error == "insufficient_funds"),
        "{e:?}"
    );

    let w = alice.wallet().await.unwrap();
    assert_eq!(w.coins.available, 5);
    let w = bob.wallet().await.unwrap();
    assert_eq!(w.diamonds.available, 14);
    assert_eq!(w.coins.available, 0);
    s.invariant_ok().await;

    // Bad input is refused with a typed error, no panic.
    let e = alice
        .send_gift(&gift("bad/id", "heart", &bob_hex))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 400, .. }));
    let e = alice
        .send_gift(&gift("g9", "no-such-gift", &bob_hex))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 404, .. }));
    let e = alice
        .send_gift(&gift("g9", "rose", &alice.account().to_hex()))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 400, .. }));
    // 64 hex digits that are no ed25519 point: refused, also after valid
    // receivers were seen (the service caches checked receivers).
    let not_a_point = (0u8..=255)
        .map(|i| {
            let mut b = [0u8; 32];
            b[0] = i;
            b
        })
        .find(|b| aura_billing::ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
        .unwrap();
    for _ in 0..2 {
        let e = alice
            .send_gift(&gift("g10", "rose", &hex::encode(not_a_point)))
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::Api { status: 400, .. }), "{e:?}");
    }
}

async fn catalog_admin(b: Backend) {
    let Some(s) = start(b).await else { return };
    let admin = s.admin_client().await;
    let user = s.user().await;
    let url = format!("{}/v1/admin/gifts/castle", s.url);
    let g = GiftItem {
        id: "castle".into(),
        name: "Castle".into(),
        price_coins: 1000,
        diamond_value: 900,
        region: "eu".into(),
        animation_id: "anim.castle".into(),
    };
    let r = s
        .http
        .put(&url)
        .bearer_auth(user.session_token().unwrap())
        .json(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a non-admin cannot edit the catalog");
    let r = s
        .http
        .put(&url)
        .bearer_auth(admin.session_token().unwrap())
        .json(&g)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(user.catalog().await.unwrap().contains(&g));
    let r = s
        .http
        .delete(&url)
        .bearer_auth(admin.session_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(!user
        .catalog()
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == "castle"));
}

async fn holds_and_linked(b: Backend) {
    let Some(s) = start(b).await else { return };
    let u = s.user().await;
    let acct = user_account(&u.account(), Currency::Coins);
    s.fund(&u.account(), 100).await;
    let chain = |t: Vec<Transfer>| ChainRequest { transfers: t };
    // Linked: the second leg overdraws, so neither moves.
    let r = s
        .svc
        .admin_chain(chain(vec![
            tr(
                "l1",
                &acct,
                platform::GIFT_REVENUE,
                60,
                TransferKind::Single,
            ),
            tr(
                "l2",
                &acct,
                platform::GIFT_REVENUE,
                60,
                TransferKind::Single,
            ),
        ]))
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.index), ("failed", Some(1)));
    assert_eq!(u.wallet().await.unwrap().coins.available, 100);
    // A hold reserves, a post moves part of it.
    let hold = tr(
        "h1",
        &acct,
        platform::HOLDS,
        70,
        TransferKind::Pending { timeout_s: 0 },
    );
    assert_eq!(
        s.svc.admin_chain(chain(vec![hold])).await.unwrap().status,
        "created"
    );
    let w = u.wallet().await.unwrap();
    assert_eq!((w.coins.available, w.coins.held), (30, 70));
    let post = tr(
        "p1",
        "",
        "",
        50,
        TransferKind::PostPending {
            pending_id: "h1".into(),
        },
    );
    assert_eq!(
        s.svc.admin_chain(chain(vec![post])).await.unwrap().status,
        "created"
    );
    let w = u.wallet().await.unwrap();
    assert_eq!((w.coins.available, w.coins.held), (50, 0));
    // A void after the post is refused.
    let void = tr(
        "v1",
        "",
        "",
        0,
        TransferKind::VoidPending {
            pending_id: "h1".into(),
        },
    );
    let r = s.svc.admin_chain(chain(vec![void])).await.unwrap();
    assert_eq!(r.status, "failed");
    // A hold with a timeout expires on its own.
    let h2 = tr(
        "h2",
        &acct,
        platform::HOLDS,
        40,
        TransferKind::Pending { timeout_s: 5 },
    );
    s.svc.admin_chain(chain(vec![h2])).await.unwrap();
    assert_eq!(u.wallet().await.unwrap().coins.available, 10);
    s.clock.advance(10);
    let mut released = false;
    for _ in 0..60 {
        if u.wallet().await.unwrap().coins.available == 50 {
            released = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(released, "expired hold was not released");
    s.invariant_ok().await;
}

both_backends!(gift_flow, catalog_admin, holds_and_linked);
