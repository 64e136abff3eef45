//! The routes, the state handlers share, and the layers every request
//! goes through (guard, hardening headers, body limit).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use axum::{
    extract::{DefaultBodyLimit, Query, State},
    middleware,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use tokio::sync::{watch, Semaphore};

use super::{
    actions, assets,
    guard::{self, Guard},
    live,
    presence::Presence,
    snapshot::Snapshot,
    voice::VoiceRooms,
    WebError, MAX_BODY, MAX_STREAMS,
};
use crate::Node;

/// What every handler gets (cheap to clone).
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) node: Node,
    pub(crate) guard: Arc<Guard>,
    pub(crate) presence: Arc<Presence>,
    pub(crate) voice: Arc<VoiceRooms>,
    pub(crate) streams: Arc<Semaphore>,
    pub(crate) stop: watch::Receiver<bool>,
    refused: Arc<AtomicU64>,
}

impl AppState {
    pub(crate) fn new(
        node: Node,
        guard: Guard,
        presence: Arc<Presence>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            node,
            guard: Arc::new(guard),
            presence,
            voice: Arc::new(VoiceRooms::default()),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            stop,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a refused request.
    pub(crate) fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

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
            guard::token_required,
        ));
    let public = Router::new()
        .route("/assets/{name}", get(assets::asset))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            guard::site_only,
        ));
    api.merge(public)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(guard::harden))
        .with_state(app)
}
