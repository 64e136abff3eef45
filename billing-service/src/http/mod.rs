//! The HTTP skin: error mapping, the authentication extractors, thin
//! handlers and the one router.
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    api::ErrorBody,
    ids::DeviceKey,
    service::{Service, ServiceError},
};

pub mod handlers;
pub mod people;
pub mod router;

/// Shared state of every handler.
pub type AppState = Arc<Service>;

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ServiceError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request".to_string()),
            ServiceError::Unauthorized(r) => (StatusCode::UNAUTHORIZED, (*r).to_string()),
            ServiceError::Forbidden => (StatusCode::FORBIDDEN, "forbidden".into()),
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found".into()),
            ServiceError::Refused(e) => (
                StatusCode::CONFLICT,
                serde_json::to_value(e)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            ),
            ServiceError::Conflict(c) => (StatusCode::CONFLICT, (*c).to_string()),
            ServiceError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()),
            ServiceError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable".into()),
            ServiceError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal".into()),
        };
        (
            status,
            Json(ErrorBody {
                error: code,
                message: self.to_string(),
            }),
        )
            .into_response()
    }
}

/// An authenticated device: `Authorization: Bearer <session token>`,
/// counted against its rate limit.
#[derive(Debug, Clone, Copy)]
pub struct Authed(pub DeviceKey);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        svc: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let h = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                svc.metrics.auth_failure("missing_token");
                ServiceError::Unauthorized("missing_token")
            })?;
        let key = svc.authenticate(h.trim())?;
        svc.check_rate(&key)?;
        Ok(Authed(key))
    }
}

/// An authenticated device listed as admin.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub DeviceKey);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        svc: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authed(k) = Authed::from_request_parts(parts, svc).await?;
        if svc.is_admin(&k) {
            Ok(Admin(k))
        } else {
            tracing::warn!(account = %k, "admin endpoint refused");
            Err(ServiceError::Forbidden)
        }
    }
}

/// The client's address (the peer's, or the last `X-Forwarded-For` entry
/// when the peer is a trusted proxy), its unauthenticated request counted
/// against the per-address limit. A router served without connect info
/// (in-process tests) counts everyone as `0.0.0.0`.
#[derive(Debug, Clone, Copy)]
pub struct Public(pub IpAddr);

/// The address a request is counted under.
pub fn client_ip(parts: &Parts, trusted_proxies: &[IpAddr]) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

impl FromRequestParts<AppState> for Public {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        svc: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, &svc.config.trusted_proxies);
        svc.check_public_rate(ip)?;
        Ok(Public(ip))
    }
}
