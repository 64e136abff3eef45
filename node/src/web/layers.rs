//! The layers every request goes through: the guard's checks (refusals
//! counted) and the hardening headers on every answer.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{
    error::{Refusal, WebError},
    guard::seen,
    state::AppState,
};

/// Middleware of the assets: the site check only.
pub(crate) async fn site_only(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match app.guard.check_site(&seen(&req)) {
        Ok(()) => next.run(req).await,
        Err(r) => refuse(&app, r),
    }
}

/// Middleware of the page and the API: site and token.
pub(crate) async fn token_required(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match app.guard.check(&seen(&req)) {
        Ok(()) => next.run(req).await,
        Err(r) => refuse(&app, r),
    }
}

fn refuse(app: &AppState, r: Refusal) -> Response {
    app.count_refusal();
    tracing::debug!(refusal = %r, "web request refused");
    WebError::Refused(r).into_response()
}

/// Headers on every answer: no framing, no sniffing, no referrer (the
/// URL carries the token), nothing cached, scripts and styles from this
/// server only.
pub(crate) async fn harden(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
