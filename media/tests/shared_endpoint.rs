//! One media endpoint serving two rooms: each room's datagrams reach that
//! room's queue only, a member of one room cannot send into the other, a
//! non-member cannot connect, and closing a room drops the peers that were
//! in no other room.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use aura_crypto::frame::TAG_LEN;
use aura_crypto::{FrameHeader, FrameKind, Identity, MemberId};
use aura_media::{Config, Header, Incoming, MediaEndpoint, MediaError, RoomConfig};
use bytes::Bytes;
use tokio::sync::mpsc::Receiver;

const A: [u8; 8] = [1; 8];
const B: [u8; 8] = [2; 8];

fn id(n: u8) -> Identity {
    Identity::from_secret_bytes(&[n; 32])
}

fn frame(room: [u8; 8], sender: &MemberId, counter: u32) -> Bytes {
    let h = FrameHeader {
        kind: FrameKind::Voice,
        room,
        sender: sender.short_id(),
        epoch: 0,
        counter,
    };
    let mut b = h.to_bytes().to_vec();
    b.extend_from_slice(&[0u8; TAG_LEN + 8]);
    b.into()
}

async fn recv(rx: &mut Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing arrived in 5 s")
        .expect("room closed")
}

fn counter(i: &Incoming) -> u32 {
    match i.header {
        Header::Sealed(h) => h.counter,
        Header::Report(_) => u32::MAX,
    }
}

#[tokio::test]
async fn one_endpoint_serves_every_room_and_keeps_them_apart() {
    let (x, y, z) = (id(1), id(2), id(3));
    let (xm, ym, zm) = (x.member_id(), y.member_id(), z.member_id());
    let any = "127.0.0.1:0".parse().unwrap();
    let ex = MediaEndpoint::bind(&x, any, Config::default()).unwrap();
    let mut ra = ex.open_room(A, [xm, ym], RoomConfig::default()).unwrap();
    let mut rb = ex.open_room(B, [xm, zm], RoomConfig::default()).unwrap();
    let ey = MediaEndpoint::bind(&y, any, Config::default()).unwrap();
    let _ = ey.open_room(A, [xm, ym], RoomConfig::default()).unwrap();
    let ez = MediaEndpoint::bind(&z, any, Config::default()).unwrap();
    let _ = ez.open_room(B, [xm, zm], RoomConfig::default()).unwrap();
    let addr = ex.local_addr().unwrap();
    ey.connect(xm, addr).await.unwrap();
    ez.connect(xm, addr).await.unwrap();

    // Y, a member of A only, tries room B first: dropped, not queued.
    ey.send(&xm, frame(B, &ym, 1)).unwrap();
    ey.send(&xm, frame(A, &ym, 2)).unwrap();
    ez.send(&xm, frame(B, &zm, 3)).unwrap();
    let got_a = recv(&mut ra).await;
    assert_eq!((got_a.sender, counter(&got_a)), (ym, 2));
    let got_b = recv(&mut rb).await;
    assert_eq!((got_b.sender, counter(&got_b)), (zm, 3));
    assert_eq!(ex.stats().unroutable.load(Ordering::Relaxed), 1);
    assert_eq!(ex.room_counters(&A).unwrap().delivered, 1);
    assert_eq!(ex.peers_in(&A), vec![ym]);
    assert_eq!(ex.peers_in(&B), vec![zm]);

    // Closing A drops Y (in no other room), keeps Z; Y can no longer dial.
    ex.close_room(&A);
    assert_eq!(ex.peers(), vec![zm]);
    assert!(ra.recv().await.is_none(), "room A's queue ends");
    let e = MediaEndpoint::bind(&id(4), any, Config::default()).unwrap();
    assert!(matches!(
        e.connect(xm, addr).await,
        Err(MediaError::NotMember(_))
    ));
    for e in [ex, ey, ez, e] {
        e.close();
    }
}

#[tokio::test]
async fn non_member_connection_is_refused_and_counted() {
    let (x, o) = (id(1), id(9));
    let any = "127.0.0.1:0".parse().unwrap();
    let ex = MediaEndpoint::bind(&x, any, Config::default()).unwrap();
    let _rx = ex
        .open_room(A, [x.member_id()], RoomConfig::default())
        .unwrap();
    let eo = MediaEndpoint::bind(&o, any, Config::default()).unwrap();
    let _ro = eo
        .open_room(A, [x.member_id(), o.member_id()], RoomConfig::default())
        .unwrap();
    let r = eo.connect(x.member_id(), ex.local_addr().unwrap()).await;
    // The handshake completes before the server refuses; wait for the close.
    if r.is_ok() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while eo.is_connected(&x.member_id()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "outsider stayed connected"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert_eq!(ex.stats().refused_peers.load(Ordering::Relaxed), 1);
    assert!(ex.peers().is_empty());
    ex.close();
    eo.close();
}

#[tokio::test]
async fn both_ends_dialling_at_once_then_one_dropping_the_other_leaves_no_connection_behind() {
    let (x, y) = (id(1), id(2));
    let (xm, ym) = (x.member_id(), y.member_id());
    let any = "127.0.0.1:0".parse().unwrap();
    let ex = MediaEndpoint::bind(&x, any, Config::default()).unwrap();
    let ey = MediaEndpoint::bind(&y, any, Config::default()).unwrap();
    let _rx = ex.open_room(A, [xm, ym], RoomConfig::default()).unwrap();
    let _ry = ey.open_room(A, [xm, ym], RoomConfig::default()).unwrap();
    let (ax, ay) = (ex.local_addr().unwrap(), ey.local_addr().unwrap());
    // Two connections: each end dialled the other; each end keeps the
    // last one it saw, which need not be the same one.
    let (a, b) = tokio::join!(ex.connect(ym, ay), ey.connect(xm, ax));
    a.unwrap();
    b.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // x closes the room: y is in no other room of x's and is dropped,
    // on every connection, so y does not keep one x stopped using.
    ex.close_room(&A);
    tokio::time::timeout(Duration::from_secs(3), async {
        while ey.is_connected(&xm) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("y still holds a live connection to x 3 s after x dropped it");
}
