//! A lean load generator for `POST /v1/gifts/send`: the phones of the ledger
//! bench. Connections opened directly on a `TcpStream` (HTTP/1.1 through
//! hyper, or h2c through `h2` where many senders share one connection and
//! each drives its own stream: no extra task per request), headers built once, the
//! request body serialized once per sender with only the transfer id
//! changing. Every answer must be `200` with status `created`; one in
//! `verify_every` receipts is decoded and its signature (with its batch
//! inclusion proof), sender, receiver and id checked, so the bench proves the receipts are real without spending
//! its CPU budget on it. [`crate::client::BillingClient`] stays the client
//! of nodes and tests.
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use ed25519_dalek::VerifyingKey;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    client::conn::http1,
    header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST},
    Method, Request, StatusCode, Uri,
};
use hyper_util::rt::TokioIo;

use crate::{api::SendGiftRequest, api::SendGiftResponse, ids::DeviceKey};

/// The path every gift is posted to.
pub const SEND_PATH: &str = "/v1/gifts/send";
/// The id placeholder in the body template.
const MARK: &str = "\u{1}id\u{1}";
/// Largest answer body read (a receipt is about 1 KB).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The start of a fresh gift's answer (the service serializes `status` first).
const CREATED: &[u8] = br#"{"status":"created""#;

/// Why a gift request failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Connecting to the service.
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    /// HTTP protocol or connection error.
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// HTTP/2 protocol or connection error.
    #[error("h2: {0}")]
    H2(#[from] h2::Error),
    /// A request could not be built (bad token or address).
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The service answered with another status than 200.
    #[error("status {0}")]
    Status(StatusCode),
    /// The answer is not a fresh gift's receipt.
    #[error("unexpected answer")]
    Unexpected,
    /// The answer's body is larger than [`MAX_ANSWER_BYTES`].
    #[error("answer over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    /// A sampled receipt does not verify or names another gift.
    #[error("bad receipt: {0}")]
    BadReceipt(&'static str),
}

/// HTTP version of a [`Connection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.1: one request in flight per connection.
    Http1,
    /// h2c with prior knowledge: many concurrent streams per connection.
    Http2,
}

/// One connection to the service. An HTTP/2 one is shared with [`Connection::share`].
#[derive(Debug)]
pub struct Connection {
    send: Send,
    addr: SocketAddr,
}

#[derive(Debug)]
enum Send {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(h2::client::SendRequest<Bytes>),
}

/// Opens a connection to the service at `addr` (TCP_NODELAY) and drives it
/// on a spawned task.
pub async fn connect(addr: SocketAddr, version: Version) -> Result<Connection, LoadError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let send = match version {
        Version::Http1 => {
            let (send, conn) = http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "load connection closed");
                }
            });
            Send::H1(send)
        }
        Version::Http2 => {
            let (send, conn) = h2::client::Builder::new()
                .initial_window_size(1 << 20)
                .initial_connection_window_size(4 << 20)
                .handshake(tcp)
                .await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "load connection closed");
                }
            });
            Send::H2(send)
        }
    };
    Ok(Connection { send, addr })
}

impl Connection {
    /// Another handle on the same HTTP/2 connection; `None` for HTTP/1.1.
    pub fn share(&self) -> Option<Connection> {
        match &self.send {
            Send::H1(_) => None,
            Send::H2(s) => Some(Connection {
                send: Send::H2(s.clone()),
                addr: self.addr,
            }),
        }
    }

    async fn round_trip(&mut self, req: Request<Bytes>) -> Result<Bytes, LoadError> {
        let (status, body) = match &mut self.send {
            Send::H1(s) => {
                s.ready().await?;
                let resp = s.send_request(req.map(Full::new)).await?;
                let status = resp.status();
                let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map_err(|e| match e.downcast::<hyper::Error>() {
                        Ok(e) => LoadError::Http(*e),
                        Err(_) => LoadError::TooLarge,
                    })?;
                (status, body.to_bytes())
            }
            Send::H2(s) => {
                std::future::poll_fn(|cx| s.poll_ready(cx)).await?;
                let (head, body) = req.into_parts();
                let (resp, mut stream) = s.send_request(Request::from_parts(head, ()), false)?;
                stream.send_data(body, true)?;
                let resp = resp.await?;
                let status = resp.status();
                (status, read_h2_body(resp.into_body()).await?)
            }
        };
        if status != StatusCode::OK {
            return Err(LoadError::Status(status));
        }
        Ok(body)
    }
}

/// Reads an HTTP/2 answer body of at most [`MAX_ANSWER_BYTES`], giving the
/// flow-control window back as it goes. An answer in one frame (the usual
/// case) is returned without a copy.
async fn read_h2_body(mut rx: h2::RecvStream) -> Result<Bytes, LoadError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = rx.data().await {
        let chunk = chunk?;
        rx.flow_control().release_capacity(chunk.len())?;
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(LoadError::TooLarge);
        }
        if body.is_empty() && rx.is_end_stream() {
            return Ok(chunk);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// One sender (a phone): its session, its receiver and its body template.
#[derive(Debug)]
pub struct GiftSender {
    conn: Connection,
    uri: Uri,
    host: HeaderValue,
    auth: HeaderValue,
    json: HeaderValue,
    head: Bytes,
    tail: Bytes,
    buf: BytesMut,
    id_prefix: String,
    sender: String,
    service_key: VerifyingKey,
    template: SendGiftRequest,
    verify_every: u64,
    sent: u64,
    last_id: String,
}

impl GiftSender {
    /// A sender that posts `template` as `sender` with session `token`,
    /// checking its first receipt and one in `verify_every` against
    /// `service_key` (0: none).
    /// Each gift's id is time-ordered like [`crate::ids::new_client_id`]:
    /// 12 hex digits of Unix milliseconds, `id_prefix`, then a counter.
    pub fn new(
        conn: Connection,
        token: &str,
        sender: &DeviceKey,
        service_key: VerifyingKey,
        template: SendGiftRequest,
        id_prefix: &str,
        verify_every: u64,
    ) -> Result<Self, LoadError> {
        let mut marked = template.clone();
        marked.id = MARK.into();
        let body = serde_json::to_string(&marked).map_err(|_| LoadError::Unexpected)?;
        let mark = serde_json::to_string(MARK).map_err(|_| LoadError::Unexpected)?;
        let mark = &mark[1..mark.len() - 1];
        let at = body.find(mark).ok_or(LoadError::Unexpected)?;
        let uri = match conn.send {
            Send::H1(_) => Uri::from_static(SEND_PATH),
            Send::H2(_) => format!("http://{}{SEND_PATH}", conn.addr)
                .parse::<Uri>()
                .map_err(hyper::http::Error::from)?,
        };
        Ok(GiftSender {
            host: HeaderValue::from_str(&conn.addr.to_string())
                .map_err(hyper::http::Error::from)?,
            auth: HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(hyper::http::Error::from)?,
            json: HeaderValue::from_static("application/json"),
            conn,
            uri,
            head: Bytes::copy_from_slice(&body.as_bytes()[..at]),
            tail: Bytes::copy_from_slice(&body.as_bytes()[at + mark.len()..]),
            buf: BytesMut::with_capacity(4096),
            id_prefix: id_prefix.into(),
            sender: sender.to_hex(),
            service_key,
            template,
            verify_every,
            sent: 0,
            last_id: String::new(),
        })
    }

    /// Gifts sent so far (answered or not).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sends the next gift and waits for its receipt; `Ok(true)` when this
    /// receipt was one of the sampled and verified ones.
    pub async fn send_next(&mut self) -> Result<bool, LoadError> {
        self.sent += 1;
        let n = self.sent;
        let id = crate::ids::time_ordered_id(format_args!("{}{n}", self.id_prefix));
        let answer = self.post(&id).await;
        self.last_id = id;
        let answer = answer?;
        // Each sender checks its first receipt and one in `verify_every`.
        if self.verify_every == 0 || (n != 1 && n % self.verify_every != 0) {
            return Ok(false);
        }
        self.verify(&answer, &self.last_id)?;
        Ok(true)
    }

    /// Sends the last gift again with the same id (a retry after a lost
    /// answer): the ledger answers `replayed`, which is not a new gift, so
    /// this returns [`LoadError::Unexpected`] and nothing is counted.
    pub async fn resend_last(&mut self) -> Result<(), LoadError> {
        let id = std::mem::take(&mut self.last_id);
        let sent = self.post(&id).await.map(|_| ());
        self.last_id = id;
        sent
    }

    /// Posts one gift with `id`; the answer's bytes when it was created.
    async fn post(&mut self, id: &str) -> Result<Bytes, LoadError> {
        self.buf
            .reserve(self.head.len() + self.tail.len() + id.len());
        self.buf.extend_from_slice(&self.head);
        self.buf.extend_from_slice(id.as_bytes());
        self.buf.extend_from_slice(&self.tail);
        let body = self.buf.split().freeze();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .body(body)?;
        let h = req.headers_mut();
        if matches!(self.conn.send, Send::H1(_)) {
            h.insert(HOST, self.host.clone());
        }
        h.insert(AUTHORIZATION, self.auth.clone());
        h.insert(CONTENT_TYPE, self.json.clone());
        let answer = self.conn.round_trip(req).await?;
        if !answer.starts_with(CREATED) {
            return Err(LoadError::Unexpected);
        }
        Ok(answer)
    }

    fn verify(&self, answer: &[u8], id: &str) -> Result<(), LoadError> {
        let r: SendGiftResponse =
            serde_json::from_slice(answer).map_err(|_| LoadError::BadReceipt("not JSON"))?;
        let body = r
            .receipt
            .verify_signature(&self.service_key)
            .map_err(|_| LoadError::BadReceipt("signature"))?;
        if body.receipt_id != format!("{}/{id}", self.sender) || body.sender != self.sender {
            return Err(LoadError::BadReceipt("another gift"));
        }
        if body.receiver != self.template.to
            || body.gift != self.template.gift
            || body.room != self.template.room
        {
            return Err(LoadError::BadReceipt("other fields"));
        }
        Ok(())
    }
}
