//! The one router. [`ROUTES`] lists every route; a test checks that each is
//! in the committed `openapi.json` and answered by this router.
use axum::{
    extract::DefaultBodyLimit,
    routing::{get, post, put},
    Router,
};
use tower_http::trace::TraceLayer;

use super::{handlers as h, people as p, AppState};

/// Every route as (method, OpenAPI path).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/service-key"),
    ("post", "/v1/auth/challenge"),
    ("post", "/v1/auth/login"),
    ("get", "/v1/wallet"),
    ("get", "/v1/gifts"),
    ("post", "/v1/gifts/send"),
    ("get", "/v1/entitlement"),
    ("post", "/v1/rewards/daily/claim"),
    ("post", "/v1/purchases/checkout"),
    ("post", "/v1/webhooks/payments"),
    ("put", "/v1/admin/gifts/{id}"),
    ("delete", "/v1/admin/gifts/{id}"),
    ("post", "/v1/admin/transfers"),
    ("get", "/v1/admin/invariant"),
    ("get", "/v1/leaderboards/{board}"),
    ("get", "/v1/level"),
    ("get", "/v1/medals"),
    ("get", "/v1/referral"),
    ("post", "/v1/referral/redeem"),
    ("get", "/v1/referrals"),
];

/// Builds the router over the service state. Request spans (`TraceLayer`)
/// are only added when DEBUG events are enabled when the router is built:
/// they cost CPU on every request and are all DEBUG level.
pub fn router(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
    let r = Router::new()
        .route("/health", get(h::health))
        .route("/metrics", get(h::metrics))
        .route("/openapi.json", get(h::openapi))
        .route("/v1/service-key", get(h::service_key))
        .route("/v1/auth/challenge", post(h::challenge))
        .route("/v1/auth/login", post(h::login))
        .route("/v1/wallet", get(h::wallet))
        .route("/v1/gifts", get(p::catalog))
        .route("/v1/gifts/send", post(h::send_gift))
        .route("/v1/entitlement", get(h::entitlement))
        .route("/v1/rewards/daily/claim", post(h::claim_reward))
        .route("/v1/purchases/checkout", post(h::checkout))
        .route("/v1/webhooks/payments", post(h::webhook))
        .route(
            "/v1/admin/gifts/{id}",
            put(h::put_gift).delete(h::delete_gift),
        )
        .route("/v1/admin/transfers", post(h::admin_transfers))
        .route("/v1/admin/invariant", get(h::invariant))
        .route("/v1/leaderboards/{board}", get(p::leaderboard))
        .route("/v1/level", get(p::level))
        .route("/v1/medals", get(p::medals))
        .route("/v1/referral", get(p::referral))
        .route("/v1/referral/redeem", post(p::redeem_referral))
        .route("/v1/referrals", get(p::referrals))
        .layer(DefaultBodyLimit::max(limit));
    let r = if tracing::enabled!(tracing::Level::DEBUG) {
        r.layer(TraceLayer::new_for_http())
    } else {
        r
    };
    r.with_state(state)
}
