//! Leaderboards: top gifters and receivers per room and for all rooms, per
//! day and per week, in rank order, paginated by cursor; kept in the gift's
//! transaction (a retried gift counts once) and read along an index.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    api::{LeaderboardEntry, SendGiftRequest},
    client::{BillingClient, ClientError},
    storage::AnyStore,
};
use common::{start, Backend};

fn gift(id: &str, gift: &str, to: &str, room: &str) -> SendGiftRequest {
    SendGiftRequest {
        id: id.into(),
        gift: gift.into(),
        to: to.into(),
        room: room.into(),
    }
}

/// Every row of a board, following cursors `limit` rows at a time.
async fn all_pages(
    c: &BillingClient,
    board: &str,
    period: &str,
    room: Option<&str>,
    limit: u32,
) -> Vec<LeaderboardEntry> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = c
            .leaderboard(board, period, None, room, cursor.as_deref(), Some(limit))
            .await
            .unwrap();
        assert!(p.items.len() <= limit as usize);
        rows.extend(p.items);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return rows,
        }
    }
}

async fn boards_rank_gifters_and_receivers_per_room_and_period(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut senders = Vec::new();
    for _ in 0..5 {
        let u = s.user().await;
        s.fund(&u.account(), 1000).await;
        senders.push(u);
    }
    let host = s.user().await;
    let other = s.user().await;
    let to = host.account().to_hex();
    // Sender i sends i+1 hearts in room "a" (ties: senders 3 and 4 both
    // spend 40 in "a" once sender 4 moves one heart to room "b").
    for (i, u) in senders.iter_mut().enumerate() {
        for n in 0..=i {
            let room = if i == 4 && n == 0 { "b" } else { "a" };
            u.send_gift(&gift(&format!("h{n}"), "heart", &to, room))
                .await
                .unwrap();
        }
    }
    // A retry counts once.
    senders[0]
        .send_gift(&gift("h0", "heart", &to, "a"))
        .await
        .unwrap();
    senders[0]
        .send_gift(&gift("o", "rose", &other.account().to_hex(), "b"))
        .await
        .unwrap();
    s.svc.fold_aggregates().await.unwrap();
    let all = all_pages(&host, "gifters", "day", None, 2).await;
    let scores: Vec<i64> = all.iter().map(|e| e.score).collect();
    assert_eq!(scores, vec![50, 40, 30, 20, 11]);
    assert_eq!(
        all.iter().map(|e| e.rank).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(all[0].account, senders[4].account().to_hex());
    let in_a = all_pages(&host, "gifters", "day", Some("a"), 1).await;
    let a_scores: Vec<i64> = in_a.iter().map(|e| e.score).collect();
    assert_eq!(a_scores, vec![40, 40, 30, 20, 10]);
    // Ties are ordered by account, descending, and no row repeats across pages.
    assert!(in_a[0].account > in_a[1].account);
    let week = all_pages(&host, "gifters", "week", None, 100).await;
    assert_eq!(week.len(), 5);
    let receivers = all_pages(&host, "receivers", "day", None, 10).await;
    assert_eq!(receivers.len(), 2);
    assert_eq!(receivers[0].account, to);
    assert_eq!(receivers[0].score, 150);
    assert_eq!(receivers[1].score, 1);
    let in_b = all_pages(&host, "receivers", "week", Some("b"), 10).await;
    assert_eq!(
        in_b.iter().map(|e| e.score).collect::<Vec<_>>(),
        vec![10, 1]
    );
    // Another day's board is empty.
    let day = s.clock.now_s().div_euclid(86_400);
    let p = host
        .leaderboard("gifters", "day", Some(day - 1), None, None, None)
        .await
        .unwrap();
    assert!(p.items.is_empty() && p.next_cursor.is_none());
    s.invariant_ok().await;
}

async fn bad_leaderboard_queries_get_typed_errors(b: Backend) {
    let Some(s) = start(b).await else { return };
    let u = s.user().await;
    let token = u.session_token().unwrap().to_string();
    for q in [
        "gifters?period=month",
        "gifters?day=-1",
        "gifters?day=x",
        "gifters?limit=0",
        "gifters?limit=101",
        "gifters?cursor=zz",
        "gifters?cursor=616263",
        "gifters?room=",
        "gifters?sort=asc",
    ] {
        let r = s
            .http
            .get(format!("{}/v1/leaderboards/{q}", s.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{q}");
    }
    // A cursor naming an absurd rank is refused, not overflowed.
    let huge = hex::encode(format!("{}:5:{}", u64::MAX, "a".repeat(64)));
    let e = u
        .leaderboard("gifters", "day", None, None, Some(&huge), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 400, .. }), "{e:?}");
    let e = u
        .leaderboard("losers", "day", None, None, None, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 404, .. }), "{e:?}");
}

/// A leaderboard page is an index range read: SQLite's plan for it
/// searches `leaderboard_rank`, it never scans the table or the gifts.
#[tokio::test]
async fn sqlite_reads_a_board_along_its_index() {
    let s = start(Backend::Sqlite).await.unwrap();
    let AnyStore::Sqlite(store) = s.svc.store.as_ref() else {
        panic!("sqlite expected")
    };
    for q in [
        "SELECT account, score FROM leaderboard WHERE board = 'g:d:1' \
         ORDER BY score DESC, account DESC LIMIT 51",
        "SELECT account, score FROM leaderboard WHERE board = 'g:d:1' \
         AND (score, account) < (5, 'x') ORDER BY score DESC, account DESC LIMIT 51",
    ] {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {q}"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        let text: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
        assert!(
            text.iter().any(|t| t.contains("leaderboard_rank")),
            "{text:?}"
        );
        assert!(!text.iter().any(|t| t.starts_with("SCAN")), "{text:?}");
        assert!(!text.iter().any(|t| t.contains("TEMP B-TREE")), "{text:?}");
    }
}

/// PostgreSQL can serve the same pages along `leaderboard_rank` without a
/// sort (sequential and bitmap scans turned off, so the plan shows what the
/// index allows rather than what a nearly empty table makes cheapest).
#[tokio::test]
async fn postgres_reads_a_board_along_its_index() {
    let Some(s) = start(Backend::Postgres).await else {
        return;
    };
    let AnyStore::Postgres(store) = s.svc.store.as_ref() else {
        panic!("postgres expected")
    };
    for q in [
        "SELECT account, score FROM leaderboard WHERE board = 'g:d:1' \
         ORDER BY score DESC, account DESC LIMIT 51",
        "SELECT account, score FROM leaderboard WHERE board = 'g:d:1' \
         AND (score, account) < (5, 'x') ORDER BY score DESC, account DESC LIMIT 51",
    ] {
        let mut tx = store.pool().begin().await.unwrap();
        for off in ["enable_seqscan", "enable_bitmapscan"] {
            sqlx::query(&format!("SET LOCAL {off} = off"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {q}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let text = plan.join("\n");
        assert!(text.contains("leaderboard_rank"), "{text}");
        assert!(!text.contains("Sort"), "{text}");
    }
}

both_backends!(
    boards_rank_gifters_and_receivers_per_room_and_period,
    bad_leaderboard_queries_get_typed_errors,
);
