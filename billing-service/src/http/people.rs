//! Thin handlers of levels, medals, referrals, leaderboards and the
//! paginated catalog. Query strings that do not parse get a typed 400.
use std::collections::HashMap;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    Json,
};

use super::{AppState, Authed, Public};
use crate::{
    api::{
        GiftItem, LeaderboardEntry, MedalEntry, MemberLevel, Page, RedeemReferralRequest,
        ReferralEntry, ReferralInfo,
    },
    service::{page::PageRequest, ServiceError},
};

type R<T> = Result<Json<T>, ServiceError>;
type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

fn query(q: Q) -> Result<HashMap<String, String>, ServiceError> {
    q.map(|Query(m)| m)
        .map_err(|e| ServiceError::BadRequest(format!("query: {}", e.body_text())))
}

/// `GET /v1/gifts`
pub async fn catalog(State(s): State<AppState>, _p: Public, q: Q) -> R<Page<GiftItem>> {
    s.catalog_page(&query(q)?).map(Json)
}

/// `GET /v1/leaderboards/{board}`
pub async fn leaderboard(
    State(s): State<AppState>,
    Authed(_k): Authed,
    Path(board): Path<String>,
    q: Q,
) -> R<Page<LeaderboardEntry>> {
    s.leaderboard(&board, &query(q)?).await.map(Json)
}

/// `GET /v1/level`
pub async fn level(State(s): State<AppState>, Authed(k): Authed) -> R<MemberLevel> {
    s.level(&k).await.map(Json)
}

/// `GET /v1/medals`
pub async fn medals(State(s): State<AppState>, Authed(k): Authed, q: Q) -> R<Page<MedalEntry>> {
    let page = PageRequest::parse(&query(q)?, &[])?;
    s.medals(&k, &page).await.map(Json)
}

/// `GET /v1/referral`
pub async fn referral(State(s): State<AppState>, Authed(k): Authed) -> R<ReferralInfo> {
    s.referral(&k).await.map(Json)
}

/// `POST /v1/referral/redeem`
pub async fn redeem_referral(
    State(s): State<AppState>,
    Authed(k): Authed,
    Json(r): Json<RedeemReferralRequest>,
) -> R<ReferralInfo> {
    s.redeem_referral(&k, &r.code).await.map(Json)
}

/// `GET /v1/referrals`
pub async fn referrals(
    State(s): State<AppState>,
    Authed(k): Authed,
    q: Q,
) -> R<Page<ReferralEntry>> {
    let page = PageRequest::parse(&query(q)?, &[])?;
    s.referrals(&k, &page).await.map(Json)
}
