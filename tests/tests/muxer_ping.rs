//! The muxer of every TCP connection (Yamux, `vendor/yamux`) sends its
//! round-trip ping only while a stream's window is used up: a small
//! exchange, like a background phone's request to its carrier once a
//! minute, costs no ping and no pong; a bulk transfer is still measured.
//!
//! Two real Yamux connections over an in-memory pipe; every byte each end
//! writes is kept and read back as Yamux frames.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::poll_fn;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// Yamux frame type of a ping (and of its pong).
const PING: u8 = 2;
/// Yamux frame type of data (its length field counts the body after it).
const DATA: u8 = 0;

/// A pipe end that keeps a copy of everything written to it.
struct Recorded {
    io: Compat<tokio::io::DuplexStream>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Recorded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.written.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

/// The types of the Yamux frames in `bytes` (12-byte headers: version,
/// type, flags, stream id, length; a data frame's body follows its header).
fn frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let kind = bytes[at + 1];
        let len = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        types.push(kind);
        at += 12 + if kind == DATA { len } else { 0 };
    }
    assert_eq!(at, bytes.len(), "whole frames");
    types
}

/// A client and a server connection; the server answers each stream with
/// `answer_len` bytes once the client closed its side. Returns what each
/// end wrote after the client's one request of `request_len` bytes.
async fn exchange(request_len: usize, answer_len: usize) -> (Vec<u8>, Vec<u8>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let (client_out, server_out) = (Arc::default(), Arc::default());
    let cfg = yamux::Config::default;
    let client_io = Recorded {
        io: a.compat(),
        written: Arc::clone(&client_out),
    };
    let server_io = Recorded {
        io: b.compat(),
        written: Arc::clone(&server_out),
    };
    let mut client = yamux::Connection::new(client_io, cfg(), yamux::Mode::Client);
    let mut server = yamux::Connection::new(server_io, cfg(), yamux::Mode::Server);
    tokio::spawn(async move {
        while let Some(Ok(mut stream)) = poll_fn(|cx| server.poll_next_inbound(cx)).await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                stream.read_to_end(&mut request).await.unwrap();
                stream.write_all(&vec![7; answer_len]).await.unwrap();
                stream.close().await.unwrap();
            });
        }
    });
    let mut stream = poll_fn(|cx| client.poll_new_outbound(cx)).await.unwrap();
    // The client's connection is driven by its own task from here on.
    tokio::spawn(async move { poll_fn(|cx| client.poll_next_inbound(cx)).await });
    stream.write_all(&vec![1; request_len]).await.unwrap();
    stream.close().await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer.len(), answer_len);
    // Let both ends write what they still would (a pong, a window update).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let client_bytes = client_out.lock().unwrap().clone();
    let server_bytes = server_out.lock().unwrap().clone();
    (client_bytes, server_bytes)
}

/// Upstream Yamux pings with the first frame of a connection and again
/// with the first frame after each 10 s of silence, and the other end
/// pongs: on a phone's connection to its carrier, two of its packets of
/// every exchange.
#[tokio::test]
async fn a_small_exchange_sends_no_round_trip_ping() {
    let (client, server) = exchange(300, 2_000).await;
    let (client, server) = (frame_types(&client), frame_types(&server));
    assert!(!client.contains(&PING), "client frames {client:?}");
    assert!(!server.contains(&PING), "server frames {server:?}");
}

/// A stream that receives more than half its window (256 KiB) grants a
/// window update, and the round trip is measured for it, so the window can
/// still grow for bulk transfers.
#[tokio::test]
async fn a_bulk_transfer_is_still_measured() {
    let (client, server) = exchange(300, 1 << 20).await;
    let (client, server) = (frame_types(&client), frame_types(&server));
    assert!(client.contains(&PING), "the receiver pings: {client:?}");
    assert!(server.contains(&PING), "and is answered: {server:?}");
}
