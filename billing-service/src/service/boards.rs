//! Leaderboards and the paginated gift catalog. A leaderboard page is one
//! index range read of `leaderboard` (rows folded from the gifts committed,
//! see `storage/derived.rs`), never a scan of gifts.
use std::collections::HashMap;

use super::{
    page::{bad_cursor, PageRequest},
    Service, ServiceError,
};
use crate::{
    api::{GiftItem, LeaderboardEntry, Page},
    storage::{derived, people::PeopleStore},
};

/// Query parameters a leaderboard takes besides `limit` and `cursor`.
const BOARD_PARAMS: &[&str] = &["period", "day", "room"];

/// Largest rank a cursor may carry (far above any board's length).
const MAX_RANK: u64 = 1 << 48;

/// Parses a leaderboard cursor: `<rank>:<score>:<account>`.
fn board_cursor(text: &str) -> Result<(u64, i64, String), ServiceError> {
    let mut it = text.splitn(3, ':');
    let (Some(rank), Some(score), Some(account)) = (it.next(), it.next(), it.next()) else {
        return Err(bad_cursor());
    };
    match (rank.parse::<u64>(), score.parse()) {
        (Ok(r), Ok(s)) if r <= MAX_RANK && account.len() == 64 => Ok((r, s, account.to_string())),
        _ => Err(bad_cursor()),
    }
}

impl Service {
    /// One page of a leaderboard: `board` is `gifters` or `receivers`;
    /// `period` `day` (default) or `week`; `day` the unix day (default
    /// today; for `week`, any day of it); `room` one room (default all).
    pub async fn leaderboard(
        &self,
        board: &str,
        q: &HashMap<String, String>,
    ) -> Result<Page<LeaderboardEntry>, ServiceError> {
        let page = PageRequest::parse(q, BOARD_PARAMS)?;
        let receivers = match board {
            "gifters" => false,
            "receivers" => true,
            _ => return Err(ServiceError::NotFound("leaderboard")),
        };
        let weekly = match q.get("period").map(String::as_str) {
            None | Some("day") => false,
            Some("week") => true,
            Some(_) => return Err(ServiceError::BadRequest("period: day or week".into())),
        };
        let day = match q.get("day") {
            None => self.clock.now_s().div_euclid(86_400),
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=1_000_000).contains(d))
                .ok_or_else(|| ServiceError::BadRequest("day: a unix day number".into()))?,
        };
        let room = q.get("room").map(String::as_str);
        if let Some(r) = room {
            if r.is_empty() || r.len() > 128 || r.chars().any(char::is_control) {
                return Err(ServiceError::BadRequest(
                    "room: 1..=128 printable characters".into(),
                ));
            }
        }
        let period = if weekly {
            derived::week_of_day(day)
        } else {
            day
        };
        let key = derived::board_key(receivers, weekly, period, room);
        let (rank, after) = match page.after.as_deref().map(board_cursor).transpose()? {
            None => (0, None),
            Some((rank, score, account)) => (rank, Some((score, account))),
        };
        let rows = self.store.board_page(&key, after, page.fetch()).await?;
        let items = (rank + 1..)
            .zip(rows)
            .map(|(rank, (account, score))| LeaderboardEntry {
                rank,
                account,
                score,
            })
            .collect();
        Ok(page.page(items, |e: &LeaderboardEntry| {
            format!("{}:{}:{}", e.rank, e.score, e.account)
        }))
    }

    /// One page of the gift catalog, in id order.
    pub fn catalog_page(
        &self,
        q: &HashMap<String, String>,
    ) -> Result<Page<GiftItem>, ServiceError> {
        let page = PageRequest::parse(q, &[])?;
        let after = page.after.clone().unwrap_or_default();
        let rows: Vec<GiftItem> = self
            .catalog()
            .into_iter()
            .filter(|g| g.id > after)
            .take(page.fetch() as usize)
            .collect();
        Ok(page.page(rows, |g| g.id.clone()))
    }
}
