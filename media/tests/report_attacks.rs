//! Receiver-report attackers: a member forging or altering another's report,
//! a replayer, an outsider, and a relay in the middle. A report is believed
//! only when its author's signature verifies, its author is a member and its
//! sequence number is above the author's last; through a forwarder that
//! leaves it unchanged it still verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use aura_crypto::{Identity, MemberId};
use aura_media::{
    Config, Header, Hop, MediaEndpoint, ReceiverReport, ReportError, ReportInbox, RoomConfig,
    SignedReport,
};
use bytes::Bytes;

const ROOM: [u8; 8] = [7; 8];

fn id(n: u8) -> Identity {
    Identity::from_secret_bytes(&[n; 32])
}

fn heavy_loss() -> ReceiverReport {
    ReceiverReport {
        expected: 50,
        lost: 25,
        jitter_100us: 30,
        delay_100us: 600,
    }
}

/// Talker T (3) with listeners A (1) and B (2).
fn inbox() -> (ReportInbox, impl Fn(&MemberId) -> bool) {
    let members = [id(1).member_id(), id(2).member_id(), id(3).member_id()];
    (
        ReportInbox::new(ROOM, &id(3).member_id()),
        move |m: &MemberId| members.contains(m),
    )
}

#[test]
fn forged_receiver_report_is_refused() {
    let (mut inbox, members) = inbox();
    let (a, b, t) = (id(1), id(2), id(3).member_id());
    // B signs a report with its own key but names A as its author.
    let mut forged = SignedReport::sign(&b, ROOM, t.short_id(), 1, &heavy_loss());
    forged[9..41].copy_from_slice(&a.member_id().0);
    assert_eq!(
        inbox.on_report(&forged, &members),
        Err(ReportError::BadSignature(a.member_id()))
    );
    // B alters A's genuine report of no loss into heavy loss.
    let mut altered = SignedReport::sign(&a, ROOM, t.short_id(), 2, &ReceiverReport::default());
    altered[53..61]
        .copy_from_slice(&SignedReport::sign(&a, ROOM, t.short_id(), 2, &heavy_loss())[53..61]);
    assert_eq!(
        inbox.on_report(&altered, &members),
        Err(ReportError::BadSignature(a.member_id()))
    );
    assert_eq!(inbox.stats().bad_signature, 2);
    assert_eq!(inbox.stats().accepted, 0);
}

#[test]
fn forged_report_far_ahead_cannot_silence_the_author() {
    // An unverified report never moves the author's sequence: a forgery
    // with the largest sequence number does not make A's next report stale.
    let (mut inbox, members) = inbox();
    let (a, b, t) = (id(1), id(2), id(3).member_id());
    let mut forged = SignedReport::sign(&b, ROOM, t.short_id(), u64::MAX, &heavy_loss());
    forged[9..41].copy_from_slice(&a.member_id().0);
    assert!(inbox.on_report(&forged, &members).is_err());
    let genuine = SignedReport::sign(&a, ROOM, t.short_id(), 5, &heavy_loss());
    let r = inbox.on_report(&genuine, &members).unwrap();
    assert_eq!((r.header.author, r.seq), (a.member_id(), 5));
}

#[test]
fn replayed_receiver_report_is_refused() {
    let (mut inbox, members) = inbox();
    let (a, t) = (id(1), id(3).member_id());
    let old = SignedReport::sign(&a, ROOM, t.short_id(), 10, &heavy_loss());
    let new = SignedReport::sign(&a, ROOM, t.short_id(), 11, &ReceiverReport::default());
    assert!(inbox.on_report(&old, &members).is_ok());
    assert_eq!(
        inbox.on_report(&old, &members),
        Err(ReportError::Replayed(10))
    );
    assert!(inbox.on_report(&new, &members).is_ok());
    // The old report of heavy loss, replayed after a newer one: stale.
    assert_eq!(
        inbox.on_report(&old, &members),
        Err(ReportError::Stale { seq: 10, last: 11 })
    );
    assert_eq!(inbox.stats().replayed, 2);
    assert_eq!(inbox.stats().accepted, 2);
}

#[test]
fn report_from_a_non_member_is_refused_even_when_well_signed() {
    let (mut inbox, members) = inbox();
    let outsider = id(9);
    let r = SignedReport::sign(
        &outsider,
        ROOM,
        id(3).member_id().short_id(),
        1,
        &heavy_loss(),
    );
    assert_eq!(
        inbox.on_report(&r, &members),
        Err(ReportError::NotMember(outsider.member_id()))
    );
}

#[test]
fn report_about_another_talker_cannot_be_redirected() {
    // A's report about B's stream, sent on to T: the addressee is signed.
    let (mut inbox, members) = inbox();
    let r = SignedReport::sign(&id(1), ROOM, id(2).member_id().short_id(), 1, &heavy_loss());
    assert_eq!(inbox.on_report(&r, &members), Err(ReportError::NotForUs));
}

async fn recv(rx: &mut tokio::sync::mpsc::Receiver<aura_media::Incoming>) -> aura_media::Incoming {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing arrived in 5 s")
        .expect("room closed")
}

/// Listener A reports to talker T through a forwarder F (a relay: not a
/// member, trusted by nobody for content). The report F forwards unchanged
/// verifies at T as A's; one F alters is refused.
#[tokio::test]
async fn report_through_a_forwarder_still_verifies() {
    let (a, f, t) = (id(1), id(5), id(3));
    let (am, fm, tm) = (a.member_id(), f.member_id(), t.member_id());
    let any = "127.0.0.1:0".parse().unwrap();
    let ea = MediaEndpoint::bind(&a, any, Config::default()).unwrap();
    let ef = MediaEndpoint::bind(&f, any, Config::default()).unwrap();
    let et = MediaEndpoint::bind(&t, any, Config::default()).unwrap();
    let _ra = ea.open_room(ROOM, [am, tm], RoomConfig::default()).unwrap();
    ea.add_relay(fm).unwrap();
    // The relay routes the room's members' datagrams.
    let mut rf = ef.open_room(ROOM, [am, tm], RoomConfig::default()).unwrap();
    let mut rt = et.open_room(ROOM, [am, tm], RoomConfig::default()).unwrap();
    et.add_relay(fm).unwrap();
    ea.connect(fm, ef.local_addr().unwrap()).await.unwrap();
    ef.connect(tm, et.local_addr().unwrap()).await.unwrap();

    let report = SignedReport::sign(&a, ROOM, tm.short_id(), 1, &heavy_loss());
    ea.send(&fm, Bytes::copy_from_slice(&report)).unwrap();
    let at_f = recv(&mut rf).await;
    assert_eq!((at_f.from, at_f.hop), (am, Hop::Direct));
    ef.send(&tm, at_f.frame.clone()).unwrap();
    let at_t = recv(&mut rt).await;
    assert_eq!((at_t.from, at_t.sender, at_t.hop), (fm, am, Hop::Relay));
    assert!(matches!(at_t.header, Header::Report(h) if h.author == am));
    let mut inbox = ReportInbox::new(ROOM, &tm);
    let members = |m: &MemberId| *m == am || *m == tm;
    let v = inbox.on_report(&at_t.frame, members).unwrap();
    assert_eq!((v.header.author, v.report), (am, heavy_loss()));

    // The forwarder turns A's next report into one of no loss: refused.
    let next = SignedReport::sign(&a, ROOM, tm.short_id(), 2, &heavy_loss());
    ea.send(&fm, Bytes::copy_from_slice(&next)).unwrap();
    let mut altered = recv(&mut rf).await.frame.to_vec();
    altered[55..57].copy_from_slice(&0u16.to_be_bytes());
    ef.send(&tm, altered.into()).unwrap();
    let at_t = recv(&mut rt).await;
    assert_eq!(
        inbox.on_report(&at_t.frame, members),
        Err(ReportError::BadSignature(am))
    );
    for e in [ea, ef, et] {
        e.close();
    }
}
