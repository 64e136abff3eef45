//! The node's web page (`aura run --web`): one page served by the node
//! itself, its assets embedded in the binary, live updates over server-sent
//! events, everything done through the node's public API ([`Node`]).
//!
//! The page shows the group on a map drawn as SVG (members with their
//! precision circles, our position and proximity ring, geofences, a scale
//! bar; no tile server), the members (roles, path, last seen; admins
//! invite with a QR code, remove, change roles), chat with its history,
//! voice (per-member loss, jitter, MOS, who is talking; mute and volumes)
//! and, when the ledger is configured, the wallet and gifts.
//!
//! Safe by default (see `guard`): bind it to localhost; every request but
//! the constant assets needs the random token of [`WebServer::url`]; a
//! change (POST) takes it only from the `Authorization` header (no cookie,
//! no form), and a request whose `Origin`, `Sec-Fetch-Site` or (on a
//! loopback bind) `Host` says it comes from another site is refused.
//!
//! ```no_run
//! # async fn demo(node: aura_node::Node) -> Result<(), aura_node::web::WebError> {
//! let listener = tokio::net::TcpListener::bind(aura_node::web::DEFAULT_ADDR).await?;
//! let web = aura_node::web::WebServer::start(node, listener)?;
//! tracing::info!(url = %web.url(), "open the page");
//! web.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod actions;
mod assets;
mod error;
mod guard;
mod layers;
mod live;
mod presence;
mod qr;
mod router;
mod snapshot;
mod state;
mod voice;

use std::net::SocketAddr;

use rand::RngCore;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use error::Refusal;
pub use error::WebError;

use crate::Node;

/// Where `aura run --web` listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// Most live-update streams (open pages) served at once.
pub const MAX_STREAMS: usize = 8;

/// Largest request body accepted, bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// A running web server. [`WebServer::shutdown`] stops it and waits;
/// dropping it stops it too, without waiting.
pub struct WebServer {
    addr: SocketAddr,
    token: String,
    stop: watch::Sender<bool>,
    app: state::AppState,
    server: JoinHandle<()>,
    presence: JoinHandle<()>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("addr", &self.addr)
            .field("token", &"<hidden>")
            .finish_non_exhaustive()
    }
}

impl WebServer {
    /// Serves `node`'s page on `listener` with a new random token.
    pub fn start(node: Node, listener: TcpListener) -> Result<WebServer, WebError> {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::start_with_token(node, listener, hex::encode(bytes))
    }

    /// Serves `node`'s page on `listener`, requiring `token` (at least 16
    /// characters of `[0-9A-Za-z_-]`).
    pub fn start_with_token(
        node: Node,
        listener: TcpListener,
        token: String,
    ) -> Result<WebServer, WebError> {
        let ok = token.len() >= 16
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(WebError::BadInput(
                "the token must be at least 16 characters of [0-9A-Za-z_-]".into(),
            ));
        }
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let (presence, presence_task) = presence::Presence::spawn(&node, stopped.clone());
        let app = state::AppState::new(
            node,
            guard::Guard::new(token.clone(), addr),
            presence,
            stopped.clone(),
        );
        let mut signal = stopped;
        let routes = router::router(app.clone());
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, routes).with_graceful_shutdown(async move {
                let _ = signal.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "web server stopped");
            }
        });
        Ok(WebServer {
            addr,
            token,
            stop,
            app,
            server,
            presence: presence_task,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token every request must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The page's address with its token, as `aura run --web` prints it.
    pub fn url(&self) -> String {
        let host = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
            SocketAddr::V6(a) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
            a => a.to_string(),
        };
        format!("http://{host}/?token={}", self.token)
    }

    /// Requests refused so far (token, host, origin).
    pub fn refused(&self) -> u64 {
        self.app.refused()
    }

    /// Closes the live streams, leaves the voice the page joined and stops
    /// serving.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.app.voice.leave_all().await;
        let _ = self.server.await;
        let _ = self.presence.await;
    }
}
