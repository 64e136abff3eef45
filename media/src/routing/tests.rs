use aura_crypto::frame::TAG_LEN;
use aura_crypto::{FrameKind, Identity};

use super::*;
use crate::framing::MAX_FRAME;
use crate::report::{ReceiverReport, SignedReport};

fn id(n: u8) -> Identity {
    Identity::from_secret_bytes(&[n; 32])
}

/// A sealed frame's bytes as a relay sees them: header, then ciphertext.
fn frame(room: RoomId, sender: &MemberId) -> Vec<u8> {
    let h = FrameHeader {
        kind: FrameKind::Voice,
        room,
        sender: sender.short_id(),
        epoch: 1,
        counter: 9,
    };
    let mut b = h.to_bytes().to_vec();
    b.extend_from_slice(&[0u8; TAG_LEN + 20]);
    b
}

fn report(author: &Identity, room: RoomId, about: &MemberId) -> Vec<u8> {
    SignedReport::sign(
        author,
        room,
        about.short_id(),
        1,
        &ReceiverReport::default(),
    )
    .to_vec()
}

const A: RoomId = [1; 8];
const B: RoomId = [2; 8];

fn table() -> Result<RoutingTable<&'static str>, TableError> {
    let mut t = RoutingTable::new();
    t.open(A, "a", [id(1).member_id(), id(2).member_id()])?;
    t.open(B, "b", [id(1).member_id(), id(3).member_id()])?;
    Ok(t)
}

#[test]
fn frames_and_reports_go_to_their_room() -> Result<(), Box<dyn std::error::Error>> {
    let mut t = table()?;
    let m1 = id(1).member_id();
    let r = t.route(&m1, &frame(A, &m1))?;
    assert_eq!((*r.target, r.sender, r.hop), ("a", m1, Hop::Direct));
    assert!(matches!(r.header, Header::Sealed(h) if h.room == A));
    let r = t.route(&m1, &frame(B, &m1))?;
    assert_eq!(*r.target, "b");
    let r = t.route(&m1, &report(&id(1), B, &id(3).member_id()))?;
    assert_eq!((*r.target, r.sender), ("b", m1));
    assert!(matches!(r.header, Header::Report(h) if h.about == id(3).member_id().short_id()));
    assert_eq!(t.stats().routed, 3);
    Ok(())
}

#[test]
fn frame_for_a_room_not_open_is_refused() -> Result<(), Box<dyn std::error::Error>> {
    let mut t = table()?;
    let m1 = id(1).member_id();
    assert_eq!(
        t.route(&m1, &frame([9; 8], &m1)).err(),
        Some(RouteError::UnknownRoom)
    );
    assert_eq!(t.stats().unknown_room, 1);
    Ok(())
}

#[test]
fn direct_peer_claiming_another_members_frame_or_report_is_refused(
) -> Result<(), Box<dyn std::error::Error>> {
    let mut t = table()?;
    let (m1, m2) = (id(1).member_id(), id(2).member_id());
    assert_eq!(
        t.route(&m2, &frame(A, &m1)).err(),
        Some(RouteError::WrongSender)
    );
    // A genuine report of member 1, replayed by member 2 on its own connection.
    assert_eq!(
        t.route(&m2, &report(&id(1), A, &m2)).err(),
        Some(RouteError::WrongSender)
    );
    assert_eq!(t.stats().wrong_sender, 2);
    Ok(())
}

#[test]
fn member_of_another_room_cannot_send_into_this_one() -> Result<(), Box<dyn std::error::Error>> {
    let mut t = table()?;
    let m3 = id(3).member_id();
    // 3 is in room B only.
    assert_eq!(
        t.route(&m3, &frame(A, &m3)).err(),
        Some(RouteError::NotMember)
    );
    assert_eq!(
        t.route(&m3, &report(&id(3), A, &id(1).member_id())).err(),
        Some(RouteError::NotMember)
    );
    assert_eq!(t.stats().not_member, 2);
    Ok(())
}

#[test]
fn relay_forwards_any_members_datagrams_but_no_outsiders() -> Result<(), Box<dyn std::error::Error>>
{
    let mut t = table()?;
    let relay = id(9).member_id();
    assert!(!t.admits(&relay));
    t.add_relay(relay)?;
    assert!(t.admits(&relay));
    let (m1, m2) = (id(1).member_id(), id(2).member_id());
    let r = t.route(&relay, &frame(A, &m2))?;
    assert_eq!((r.sender, r.hop), (m2, Hop::Relay));
    let r = t.route(&relay, &report(&id(2), A, &m1))?;
    assert_eq!((r.sender, r.hop), (m2, Hop::Relay));
    assert_eq!(
        t.route(&relay, &frame(A, &id(7).member_id())).err(),
        Some(RouteError::NotMember)
    );
    t.remove_relay(&relay);
    assert_eq!(
        t.route(&relay, &frame(A, &m2)).err(),
        Some(RouteError::WrongSender)
    );
    Ok(())
}

#[test]
fn report_naming_a_key_that_is_not_the_members_is_refused() -> Result<(), Box<dyn std::error::Error>>
{
    // The author field carries a full key: a key whose short id matches
    // no member, or that is not the member's own key, is not a member.
    let mut t = table()?;
    let relay = id(9).member_id();
    t.add_relay(relay)?;
    let mut r = report(&id(2), A, &id(1).member_id());
    r[40] ^= 1; // author's last byte
    assert_eq!(t.route(&relay, &r).err(), Some(RouteError::NotMember));
    Ok(())
}

#[test]
fn membership_follows_the_roster_and_open_rooms() -> Result<(), Box<dyn std::error::Error>> {
    let mut t = table()?;
    let (m2, m3) = (id(2).member_id(), id(3).member_id());
    assert!(t.admits(&m2) && t.is_member(&A, &m2) && !t.is_member(&B, &m2));
    t.set_members(&A, [id(1).member_id()])?;
    assert!(!t.admits(&m2));
    assert_eq!(
        t.route(&m2, &frame(A, &m2)).err(),
        Some(RouteError::NotMember)
    );
    assert_eq!(t.close(&B), Some("b"));
    assert!(!t.admits(&m3));
    assert_eq!(t.open(A, "again", []), Err(TableError::RoomOpen));
    assert_eq!(t.set_members(&B, []), Err(TableError::UnknownRoom));
    Ok(())
}

#[test]
fn malformed_datagrams_are_refused_and_counted() -> Result<(), Box<dyn std::error::Error>> {
    let mut t = table()?;
    let m1 = id(1).member_id();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x11; MAX_FRAME + 1],
        vec![0xA1; 17], // the unsigned report of earlier versions
        vec![0x11; 10], // truncated frame header
        vec![0x1f; 40], // unknown frame kind
        vec![0xA2; 30], // short report
    ];
    for c in &cases {
        assert!(t.route(&m1, c).is_err(), "{c:?} routed");
    }
    assert_eq!(t.stats().malformed, cases.len() as u64);
    Ok(())
}

#[test]
fn tables_are_bounded() -> Result<(), Box<dyn std::error::Error>> {
    let mut t: RoutingTable<()> = RoutingTable::new();
    for i in 0..MAX_ROOMS {
        t.open((i as u64).to_be_bytes(), (), [])?;
    }
    assert_eq!(t.open([0xff; 8], (), []), Err(TableError::Full));
    for i in 0..MAX_RELAYS {
        t.add_relay(id(i as u8).member_id())?;
    }
    assert_eq!(t.add_relay(id(200).member_id()), Err(TableError::Full));
    Ok(())
}
