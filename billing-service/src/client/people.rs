//! Client calls for levels, medals, referrals, leaderboards and pages.
use super::{BillingClient, ClientError};
use crate::{
    api::{
        GiftItem, LeaderboardEntry, MedalEntry, MemberLevel, Page, RedeemReferralRequest,
        ReferralEntry, ReferralInfo,
    },
    member::{self, SignedMemberStatement},
};

/// Most pages `BillingClient::catalog` follows.
pub(super) const MAX_PAGES: usize = 100;

/// Percent-encodes a query component (RFC 3986 unreserved bytes kept).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `?k=v&..` of `extra`, then `cursor` and `limit` when given.
fn query(extra: &[(&str, &str)], cursor: Option<&str>, limit: Option<u32>) -> String {
    let limit = limit.map(|l| l.to_string());
    let pairs: Vec<String> = extra
        .iter()
        .copied()
        .chain(cursor.map(|c| ("cursor", c)))
        .chain(limit.as_deref().map(|l| ("limit", l)))
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

impl BillingClient {
    /// One page of the gift catalog.
    pub async fn catalog_page(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<GiftItem>, ClientError> {
        self.get(&format!("/v1/gifts{}", query(&[], cursor, limit)), false)
            .await
    }

    /// One page of a leaderboard: `board` `gifters` or `receivers`, `period`
    /// `day` or `week`, `day` a unix day (default today), `room` one room
    /// (default all rooms).
    pub async fn leaderboard(
        &self,
        board: &str,
        period: &str,
        day: Option<i64>,
        room: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<LeaderboardEntry>, ClientError> {
        let day = day.map(|d| d.to_string());
        let mut extra = vec![("period", period)];
        if let Some(d) = &day {
            extra.push(("day", d));
        }
        if let Some(r) = room {
            extra.push(("room", r));
        }
        let path = format!("/v1/leaderboards/{board}{}", query(&extra, cursor, limit));
        self.get(&path, true).await
    }

    /// This member's level and medals; the signed statement is verified
    /// against the service key before it is returned (show it in rooms).
    pub async fn level(&mut self) -> Result<MemberLevel, ClientError> {
        let l: MemberLevel = self.get("/v1/level", true).await?;
        let sk = self.service_key().await?;
        let now = l.statement.body.iat;
        member::verify(&l.statement, &sk, &self.account(), now)?;
        Ok(l)
    }

    /// Just the signed statement of this member's level and medals.
    pub async fn member_statement(&mut self) -> Result<SignedMemberStatement, ClientError> {
        Ok(self.level().await?.statement)
    }

    /// One page of this member's medals.
    pub async fn medals(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<MedalEntry>, ClientError> {
        self.get(&format!("/v1/medals{}", query(&[], cursor, limit)), true)
            .await
    }

    /// This account's referral code and referrer.
    pub async fn referral(&self) -> Result<ReferralInfo, ClientError> {
        self.get("/v1/referral", true).await
    }

    /// Redeems a referrer's code (before the first purchase).
    pub async fn redeem_referral(&self, code: &str) -> Result<ReferralInfo, ClientError> {
        let body = RedeemReferralRequest { code: code.into() };
        self.post("/v1/referral/redeem", &body, true).await
    }

    /// One page of the accounts this one referred.
    pub async fn referrals(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<ReferralEntry>, ClientError> {
        self.get(&format!("/v1/referrals{}", query(&[], cursor, limit)), true)
            .await
    }
}
