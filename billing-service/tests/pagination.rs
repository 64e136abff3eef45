//! Every list endpoint is paginated by cursor with a bounded page size, and
//! refuses a bad `limit`, a bad `cursor` or an unknown parameter with a
//! typed 400 (never a panic, never an unbounded answer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::api::{GiftItem, Page, MAX_PAGE};
use common::{start, Backend};

async fn the_catalog_pages_in_id_order(b: Backend) {
    let Some(s) = start(b).await else { return };
    for i in 0..(MAX_PAGE + 7) {
        let g = GiftItem {
            id: format!("g{i:03}"),
            name: format!("Gift {i}"),
            price_coins: 1,
            diamond_value: 1,
            region: "global".into(),
            animation_id: "anim".into(),
        };
        s.svc.admin_put_gift(g).await.unwrap();
    }
    let u = s.user().await;
    let mut ids = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p: Page<GiftItem> = u.catalog_page(cursor.as_deref(), Some(30)).await.unwrap();
        assert!(p.items.len() <= 30);
        ids.extend(p.items.into_iter().map(|g| g.id));
        pages += 1;
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    // 107 added + rose, heart, rocket: 110 in 4 pages of at most 30.
    assert_eq!(pages, 4);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "id order, no repeats");
    assert_eq!(ids.len(), 110);
    // Without a limit: the default page, never more than MAX_PAGE.
    let first = u.catalog_page(None, None).await.unwrap();
    assert_eq!(first.items.len(), 50);
    // The client's whole-catalog call follows the cursors.
    assert_eq!(u.catalog().await.unwrap().len(), 110);
}

async fn every_list_refuses_bad_pages_with_a_typed_error(b: Backend) {
    let Some(s) = start(b).await else { return };
    let u = s.user().await;
    let token = u.session_token().unwrap().to_string();
    for list in [
        "/v1/gifts",
        "/v1/medals",
        "/v1/referrals",
        "/v1/leaderboards/gifters",
    ] {
        for q in [
            "limit=0",
            "limit=101",
            "limit=-5",
            "limit=1e3",
            "cursor=zz",
            "cursor=",
            "other=1",
        ] {
            let r = s
                .http
                .get(format!("{}{list}?{q}", s.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{list}?{q}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"], "bad_request", "{list}?{q}");
        }
        let long = "ab".repeat(300);
        let r = s
            .http
            .get(format!("{}{list}?cursor={long}", s.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{list} long cursor");
        let r = s
            .http
            .get(format!("{}{list}?limit={MAX_PAGE}", s.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{list}");
    }
}

both_backends!(
    the_catalog_pages_in_id_order,
    every_list_refuses_bad_pages_with_a_typed_error,
);
