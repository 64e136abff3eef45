//! What a web request can fail with, and the HTTP answer for each.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use crate::NodeError;

/// Errors of the web server and its requests.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The request was refused by the guard (token, host, origin).
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The node refused or failed the operation.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A field of the request is invalid.
    #[error("invalid request: {0}")]
    BadInput(String),
    /// Too many live pages are open.
    #[error("too many pages are open (at most {0}); close one")]
    Busy(usize),
    /// Socket error (binding, reading the local address).
    #[error("web server: {0}")]
    Io(#[from] std::io::Error),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::Refused(Refusal::NoToken | Refusal::BadToken) => StatusCode::UNAUTHORIZED,
            WebError::Refused(_) => StatusCode::FORBIDDEN,
            WebError::BadInput(_) => StatusCode::BAD_REQUEST,
            WebError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Node(e) => match e {
                NodeError::UnknownGroup(_) | NodeError::UnknownMember(_) => StatusCode::NOT_FOUND,
                NodeError::BillingNotConfigured => StatusCode::NOT_IMPLEMENTED,
                NodeError::Closed | NodeError::Network(_) | NodeError::Store(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::CONFLICT,
            },
            WebError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `Host` names another server (a DNS-rebinding page, a proxy).
    #[error("this server answers only to localhost names")]
    BadHost,
    /// `Origin` or `Sec-Fetch-Site` say another site sent it.
    #[error("cross-site requests are refused")]
    CrossSite,
    /// No token.
    #[error("the token is missing: open the URL that `aura run --web` printed")]
    NoToken,
    /// A token, but not ours.
    #[error("wrong token: open the URL that `aura run --web` printed")]
    BadToken,
}
