use std::collections::HashSet;

use aura_crypto::frame::TAG_LEN;
use aura_crypto::{FrameKind, Identity};
use aura_media::{ReceiverReport, SignedReport};

use super::*;

type R = Result<(), Box<dyn std::error::Error>>;

fn id(n: u8) -> Identity {
    Identity::from_secret_bytes(&[n; 32])
}

const ROOM: RoomId = [7; 8];

fn frame(room: RoomId, sender: &MemberId) -> Vec<u8> {
    let h = FrameHeader {
        kind: FrameKind::Voice,
        room,
        sender: sender.short_id(),
        epoch: 1,
        counter: 1,
    };
    let mut b = h.to_bytes().to_vec();
    b.extend_from_slice(&[0u8; TAG_LEN + 40]);
    b
}

fn join(room: RoomId) -> Vec<u8> {
    RelayControl::Join(room).to_vec()
}

fn targets(o: Outcome<'_, u8>) -> Vec<u8> {
    match o {
        Outcome::Forward(f) => {
            let mut v: Vec<u8> = f.copied().collect();
            v.sort();
            v
        }
        _ => Vec::new(),
    }
}

/// Members 1, 2, 3 connected (targets 1, 2, 3) and joined to ROOM.
fn three() -> Result<(Forwarder<u8>, Instant), Box<dyn std::error::Error>> {
    let now = Instant::now();
    let mut f = Forwarder::new(Limits::default(), Access::Everyone);
    for n in 1..=3 {
        let m = id(n).member_id();
        f.connect(m, n, now)?;
        assert!(matches!(
            f.on_datagram(&m, &join(ROOM), now, 0)?,
            Outcome::Joined(ROOM)
        ));
    }
    Ok((f, now))
}

#[test]
fn frame_goes_to_every_other_joined_member() -> R {
    let (mut f, now) = three()?;
    let m1 = id(1).member_id();
    assert_eq!(
        targets(f.on_datagram(&m1, &frame(ROOM, &m1), now, 0)?),
        [2, 3]
    );
    // Member 4 is connected but not joined: nothing reaches it, and it
    // cannot send into the room.
    let m4 = id(4).member_id();
    f.connect(m4, 4, now)?;
    assert_eq!(
        targets(f.on_datagram(&m1, &frame(ROOM, &m1), now, 0)?),
        [2, 3]
    );
    assert_eq!(
        f.on_datagram(&m4, &frame(ROOM, &m4), now, 0).err(),
        Some(DropReason::NotJoined)
    );
    Ok(())
}

#[test]
fn frame_naming_another_sender_than_the_connection_is_dropped() -> R {
    let (mut f, now) = three()?;
    let (m1, m2) = (id(1).member_id(), id(2).member_id());
    assert_eq!(
        f.on_datagram(&m2, &frame(ROOM, &m1), now, 0).err(),
        Some(DropReason::WrongSender)
    );
    // A genuine report of member 1, replayed on member 2's connection.
    let r = SignedReport::sign(&id(1), ROOM, m2.short_id(), 1, &ReceiverReport::default());
    assert_eq!(
        f.on_datagram(&m2, r.as_ref(), now, 0).err(),
        Some(DropReason::WrongSender)
    );
    Ok(())
}

#[test]
fn report_goes_to_the_talker_it_is_about_only() -> R {
    let (mut f, now) = three()?;
    let m3 = id(3).member_id();
    let r = SignedReport::sign(&id(1), ROOM, m3.short_id(), 1, &ReceiverReport::default());
    assert_eq!(
        targets(f.on_datagram(&id(1).member_id(), r.as_ref(), now, 0)?),
        [3]
    );
    Ok(())
}

#[test]
fn leave_and_disconnect_stop_forwarding() -> R {
    let (mut f, now) = three()?;
    let (m1, m2, m3) = (id(1).member_id(), id(2).member_id(), id(3).member_id());
    f.on_datagram(&m2, &RelayControl::Leave(ROOM).to_vec(), now, 0)?;
    assert_eq!(targets(f.on_datagram(&m1, &frame(ROOM, &m1), now, 0)?), [3]);
    // A stale connection's end does not remove the member's new session.
    f.disconnect(&m3, |t| *t == 99);
    assert_eq!(targets(f.on_datagram(&m1, &frame(ROOM, &m1), now, 0)?), [3]);
    f.disconnect(&m3, |t| *t == 3);
    assert!(targets(f.on_datagram(&m1, &frame(ROOM, &m1), now, 0)?).is_empty());
    f.disconnect(&m1, |_| true);
    assert_eq!(
        f.counts(),
        Counts {
            sessions: 1,
            rooms: 0,
            joins: 0
        }
    );
    Ok(())
}

#[test]
fn limits_refuse_sessions_rooms_and_joins() -> R {
    let now = Instant::now();
    let limits = Limits {
        max_sessions: 2,
        rooms_per_member: 1,
        members_per_room: 1,
        max_rooms: 2,
        ..Limits::default()
    };
    let mut f = Forwarder::new(limits, Access::Everyone);
    let (m1, m2) = (id(1).member_id(), id(2).member_id());
    f.connect(m1, 1u8, now)?;
    f.connect(m2, 2, now)?;
    assert_eq!(f.connect(id(3).member_id(), 3, now), Err(Refusal::Sessions));
    // A second connection of a member replaces the first.
    assert_eq!(f.connect(m1, 11, now), Ok(Some(1)));
    f.on_datagram(&m1, &join(ROOM), now, 0)?;
    assert!(matches!(
        f.on_datagram(&m1, &join([8; 8]), now, 0)?,
        Outcome::Refused(Refusal::RoomsPerMember)
    ));
    assert!(matches!(
        f.on_datagram(&m2, &join(ROOM), now, 0)?,
        Outcome::Refused(Refusal::RoomFull)
    ));
    f.on_datagram(&m2, &join([8; 8]), now, 0)?;
    assert_eq!(f.counts().rooms, 2);
    Ok(())
}

#[test]
fn a_connection_over_its_bandwidth_is_dropped_until_the_bucket_refills() -> R {
    let now = Instant::now();
    let limits = Limits {
        bytes_per_s: 10_000,
        burst_bytes: 1_000,
        ..Limits::default()
    };
    let mut f = Forwarder::new(limits, Access::Everyone);
    let m1 = id(1).member_id();
    f.connect(m1, 1u8, now)?;
    f.on_datagram(&m1, &join(ROOM), now, 0)?;
    let fr = frame(ROOM, &m1); // 75 bytes
    let sent = (0..100)
        .filter(|_| f.on_datagram(&m1, &fr, now, 0).is_ok())
        .count();
    assert_eq!(sent, 13); // 1,000 bytes of burst less the join
    assert_eq!(
        f.on_datagram(&m1, &fr, now, 0).err(),
        Some(DropReason::RateLimited)
    );
    let later = now + Duration::from_millis(100); // 1,000 bytes more
    let sent = (0..100)
        .filter(|_| f.on_datagram(&m1, &fr, later, 0).is_ok())
        .count();
    assert_eq!(sent, 13);
    Ok(())
}

#[test]
fn allow_list_refuses_others_at_connect() -> R {
    let now = Instant::now();
    let m1 = id(1).member_id();
    let access = Access::AllowList(HashSet::from([m1]));
    let mut f = Forwarder::new(Limits::default(), access);
    f.connect(m1, 1u8, now)?;
    assert_eq!(
        f.connect(id(2).member_id(), 2, now),
        Err(Refusal::NotAllowed)
    );
    Ok(())
}

#[test]
fn malformed_datagrams_are_dropped() -> R {
    let (mut f, now) = three()?;
    let m1 = id(1).member_id();
    for d in [
        vec![],
        vec![0x11; 5],
        vec![0x1f; 60],
        vec![0xA2; 20],
        vec![0xA3, 1],
        vec![0x77; 30],
    ] {
        assert_eq!(
            f.on_datagram(&m1, &d, now, 0).err(),
            Some(DropReason::Malformed),
            "{d:?}"
        );
    }
    assert_eq!(
        f.on_datagram(&id(9).member_id(), &frame(ROOM, &m1), now, 0)
            .err(),
        Some(DropReason::NoSession)
    );
    Ok(())
}

#[test]
fn only_the_loudest_seats_reach_the_audience_without_their_level() -> R {
    let now = Instant::now();
    let mut f = Forwarder::new(Limits::default(), Access::Everyone);
    // Members 1..=5 speak (1 loudest), 6..=9 listen.
    for n in 1..=9 {
        let m = id(n).member_id();
        f.connect(m, n, now)?;
        f.on_datagram(&m, &join(ROOM), now, 0)?;
    }
    let mut reached = [0u32; 6];
    for tick in 0..50u64 {
        let t = now + Duration::from_millis(tick * 20);
        for n in 1..=5u8 {
            let m = id(n).member_id();
            let d = aura_media::level::with_level(10 * n, &frame(ROOM, &m));
            match f.on_datagram(&m, &d, t, 0) {
                Ok(Outcome::Forward(fan)) => {
                    assert_eq!(fan.payload_start(), 2, "the level is not forwarded");
                    assert_eq!(fan.count(), 8);
                    reached[usize::from(n)] += 1;
                }
                Err(DropReason::NotSelected) => {}
                other => return Err(format!("unexpected {other:?}").into()),
            }
        }
    }
    assert_eq!(reached[1..], [50, 50, 50, 0, 0]);
    // A level prefixed to a frame in another member's name is dropped.
    let m1 = id(1).member_id();
    let forged = aura_media::level::with_level(0, &frame(ROOM, &id(2).member_id()));
    assert_eq!(
        f.on_datagram(&m1, &forged, now, 0).err(),
        Some(DropReason::WrongSender)
    );
    assert_eq!(
        f.on_datagram(&m1, &[aura_media::level::LEVEL_TAG, 0], now, 0)
            .err(),
        Some(DropReason::Malformed)
    );
    Ok(())
}

#[test]
fn a_gated_room_forwards_only_its_speakers_to_admitted_members() -> R {
    let now = Instant::now();
    let mut f = Forwarder::new(Limits::default(), Access::Everyone);
    let (a, b, c) = (id(1).member_id(), id(2).member_id(), id(3).member_id());
    for (n, m) in [a, b, c].iter().enumerate() {
        f.connect(*m, n as u8 + 1, now)?;
    }
    f.gate_room(ROOM);
    // Joining by datagram is refused: the control plane admits.
    assert!(matches!(
        f.on_datagram(&c, &join(ROOM), now, 0)?,
        Outcome::Refused(Refusal::NotAllowed)
    ));
    f.admit(ROOM, &a)?;
    f.admit(ROOM, &b)?;
    // No speaker yet: nothing is forwarded.
    assert_eq!(
        f.on_datagram(&a, &frame(ROOM, &a), now, 0)
            .map(|_| ())
            .err(),
        Some(DropReason::NotSpeaker)
    );
    f.set_speakers(ROOM, vec![a]);
    assert_eq!(
        targets(f.on_datagram(&a, &frame(ROOM, &a), now, 0)?),
        vec![2]
    );
    assert_eq!(
        f.on_datagram(&b, &frame(ROOM, &b), now, 0)
            .map(|_| ())
            .err(),
        Some(DropReason::NotSpeaker)
    );
    // Expelled: b receives nothing more, at once.
    f.expel(ROOM, &b);
    assert!(targets(f.on_datagram(&a, &frame(ROOM, &a), now, 0)?).is_empty());
    assert!(!f.is_joined(&ROOM, &b));
    f.close_gated(ROOM);
    assert!(!f.is_joined(&ROOM, &a));
    Ok(())
}

fn entitlement(ledger: &ed25519_dalek::SigningKey, m: &MemberId, exp: i64) -> Vec<u8> {
    use aura_billing::ids::DeviceKey;
    use aura_billing::signed::{Entitlement, Signed};
    let key = DeviceKey(m.0);
    let body = Entitlement {
        v: 1,
        peer: key.to_hex(),
        peer_id: key.peer_id().unwrap_or_default(),
        tier: "free".into(),
        allows: vec![],
        max_room_size: 10,
        iat: exp - 300,
        exp,
    };
    Signed::sign(body, ledger)
        .ok()
        .and_then(|t| serde_json::to_vec(&t).ok())
        .unwrap_or_default()
}

#[test]
fn a_repeated_token_readmits_until_it_expires_and_a_relay_without_tokens_ignores_it() -> R {
    let now = Instant::now();
    let ledger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let access = Access::Token {
        ledger: ledger.verifying_key(),
        capability: None,
    };
    let m = id(1).member_id();
    let t = RelayControl::Token(&entitlement(&ledger, &m, 1_000)).to_vec();
    let mut f = Forwarder::new(Limits::default(), access);
    f.connect(m, 1, now)?;
    for unix in [900, 950, 999] {
        assert!(matches!(
            f.on_datagram(&m, &t, now, unix)?,
            Outcome::Admitted(1_000)
        ));
    }
    assert!(matches!(
        f.on_datagram(&m, &t, now, 1_000)?,
        Outcome::Refused(Refusal::TokenExpired)
    ));
    let mut open = Forwarder::new(Limits::default(), Access::Everyone);
    open.connect(m, 1, now)?;
    assert!(matches!(
        open.on_datagram(&m, &t, now, 900)?,
        Outcome::Unused
    ));
    Ok(())
}
