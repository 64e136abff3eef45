//! Thin handlers: decode, call the service, encode.
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::IntoResponse,
    Json,
};

use super::{Admin, AppState, Authed, Public};
use crate::{
    api::{
        ChallengeRequest, ChallengeResponse, CheckoutRequest, CheckoutResponse,
        EntitlementResponse, GiftItem, LoginRequest, LoginResponse, RewardClaim, SendGiftRequest,
        SendGiftResponse, ServiceKey, Wallet,
    },
    ledger::InvariantReport,
    service::{
        admin::{ChainRequest, ChainResponse},
        payments::WebhookAck,
        ServiceError,
    },
    webhook_sig,
};

type R<T> = Result<Json<T>, ServiceError>;

/// `GET /health`
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /metrics`
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

/// The committed OpenAPI document.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /openapi.json`
pub async fn openapi(_p: Public) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `GET /v1/service-key`
pub async fn service_key(State(s): State<AppState>, _p: Public) -> Json<ServiceKey> {
    Json(ServiceKey {
        public_key: s.public_key_hex(),
    })
}

/// `POST /v1/auth/challenge`
pub async fn challenge(
    State(s): State<AppState>,
    _p: Public,
    Json(r): Json<ChallengeRequest>,
) -> R<ChallengeResponse> {
    s.challenge(&r).map(Json)
}

/// `POST /v1/auth/login`
pub async fn login(
    State(s): State<AppState>,
    Public(ip): Public,
    Json(r): Json<LoginRequest>,
) -> R<LoginResponse> {
    s.check_login_rate(ip)?;
    s.login(&r).map(Json)
}

/// `GET /v1/wallet`
pub async fn wallet(State(s): State<AppState>, Authed(k): Authed) -> R<Wallet> {
    s.wallet(&k).await.map(Json)
}

/// `POST /v1/gifts/send`
pub async fn send_gift(
    State(s): State<AppState>,
    Authed(k): Authed,
    Json(r): Json<SendGiftRequest>,
) -> R<SendGiftResponse> {
    let out = s.send_gift(&k, &r).await;
    s.metrics
        .request("send_gift", if out.is_ok() { "ok" } else { "refused" });
    out.map(Json)
}

/// `GET /v1/entitlement`
pub async fn entitlement(State(s): State<AppState>, Authed(k): Authed) -> R<EntitlementResponse> {
    s.entitlement(&k).await.map(Json)
}

/// `POST /v1/rewards/daily/claim`
pub async fn claim_reward(State(s): State<AppState>, Authed(k): Authed) -> R<RewardClaim> {
    s.claim_reward(&k).await.map(Json)
}

/// `POST /v1/purchases/checkout`
pub async fn checkout(
    State(s): State<AppState>,
    Authed(k): Authed,
    Json(r): Json<CheckoutRequest>,
) -> R<CheckoutResponse> {
    s.checkout(&k, &r).map(Json)
}

/// `POST /v1/webhooks/payments`: the raw body is what the signature covers.
pub async fn webhook(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> R<WebhookAck> {
    let sig = headers
        .get(webhook_sig::HEADER)
        .and_then(|v| v.to_str().ok());
    s.webhook(sig, &body).await.map(Json)
}

/// `PUT /v1/admin/gifts/{id}`
pub async fn put_gift(
    State(s): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    Json(mut g): Json<GiftItem>,
) -> R<GiftItem> {
    g.id = id;
    s.admin_put_gift(g).await.map(Json)
}

/// `DELETE /v1/admin/gifts/{id}`
pub async fn delete_gift(
    State(s): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ServiceError> {
    s.admin_delete_gift(&id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/transfers`
pub async fn admin_transfers(
    State(s): State<AppState>,
    _a: Admin,
    Json(r): Json<ChainRequest>,
) -> R<ChainResponse> {
    s.admin_chain(r).await.map(Json)
}

/// `GET /v1/admin/invariant`
pub async fn invariant(State(s): State<AppState>, _a: Admin) -> R<InvariantReport> {
    s.invariant().await.map(Json)
}
