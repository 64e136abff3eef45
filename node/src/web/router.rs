//! The routes of the page and the layers they go through (guard, hardening
//! headers, body limit).

use axum::{
    extract::{DefaultBodyLimit, Query, State},
    middleware,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

use super::{
    actions, assets, layers, live, snapshot::Snapshot, state::AppState, WebError, MAX_BODY,
};

/// `?group=` of the state request.
#[derive(Debug, Deserialize)]
struct StateQuery {
    group: Option<String>,
}

async fn state(
    State(app): State<AppState>,
    Query(q): Query<StateQuery>,
) -> Result<Json<Snapshot>, WebError> {
    Ok(Json(Snapshot::read(&app, q.group.as_deref()).await?))
}

/// Every route of the page.
pub(crate) fn router(app: AppState) -> Router {
    let api = Router::new()
        .route("/", get(assets::index))
        .route("/api/state", get(state))
        .route("/api/events", get(live::events))
        .route("/api/ledger", get(actions::ledger))
        .route("/api/chat", post(actions::chat))
        .route("/api/remove", post(actions::remove))
        .route("/api/role", post(actions::role))
        .route("/api/invite", post(actions::invite))
        .route("/api/group", post(actions::group_add))
        .route("/api/position", post(actions::position))
        .route("/api/share", post(actions::share))
        .route("/api/fence", post(actions::fence))
        .route("/api/voice", post(actions::voice))
        .route("/api/gift", post(actions::gift))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            layers::token_required,
        ));
    let public = Router::new()
        .route("/assets/{name}", get(assets::asset))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            layers::site_only,
        ));
    api.merge(public)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(layers::harden))
        .with_state(app)
}
