//! A room restored from its host's journal at another relay.

use super::*;

/// Every op the host received, with the origin's clock: its journal.
fn journal_of(bed: &Bed) -> Vec<(u64, Vec<u8>)> {
    let inbox = bed.inbox.get(&bed.host.member_id());
    let ops = inbox.into_iter().flatten().filter_map(|m| match m {
        ServerMsg::Op {
            accepted_ms, op, ..
        } => Some((*accepted_ms, op.clone())),
        _ => None,
    });
    ops.collect()
}

/// A room, and a second hub with `limits` where its host has begun to
/// restore it (its create op).
fn restoring(limits: HubLimits) -> TestResult<(Bed, Hub, u64)> {
    let bed = Bed::new()?;
    let (at, create) = journal_of(&bed).first().cloned().ok_or("no create op")?;
    let mut b = Hub::new(limits, Box::new(RelayAdmission::default()));
    b.restore(&bed.host.member_id(), bed.room, at, create, bed.now)?;
    Ok((bed, b, at))
}

#[test]
fn a_room_restored_from_its_hosts_journal_has_its_state_and_log_and_takes_no_forgery() -> TestResult
{
    let mut bed = Bed::new()?;
    let (speaker, listener, troll) = (id(2), id(3), id(4));
    for m in [&speaker, &listener, &troll] {
        bed.join(m)?;
    }
    bed.seat(&speaker, 1)?;
    bed.act(
        &bed.host.clone(),
        RoomOpKind::MuteSeat {
            seat: 1,
            muted: true,
        },
    )?;
    let t = troll.member_id();
    bed.act(&bed.host.clone(), RoomOpKind::Ban { member: t })?;
    let journal = journal_of(&bed);
    let host = bed.host.member_id();
    let room = bed.room;
    let restore = |hub: &mut Hub, who: &MemberId, (at, op): &(u64, Vec<u8>), now| {
        hub.restore(who, room, *at, op.clone(), now)
    };
    let mut b = Hub::new(HubLimits::default(), Box::new(RelayAdmission::default()));
    let now = bed.now + 5_000;
    // Only the host starts a restore, with its room's create op.
    let first = &journal[0];
    assert_eq!(
        restore(&mut b, &listener.member_id(), first, now),
        Err(HubError::NotAuthor)
    );
    assert_eq!(
        restore(&mut b, &host, &journal[1], now),
        Err(HubError::NotRestoring)
    );
    restore(&mut b, &host, first, now)?;
    // While the host restores, the room takes no one else's ops or restore.
    assert_eq!(
        restore(&mut b, &listener.member_id(), &journal[1], now),
        Err(HubError::NotRestoring)
    );
    let join = signed(
        &listener,
        room,
        now,
        RoomOpKind::Join {
            ticket: Some(bed.ticket.clone()),
            entitlement: None,
        },
    )?;
    assert_eq!(
        b.on_message(&listener.member_id(), op_msg(&join)?, now)
            .err(),
        Some(HubError::Restoring)
    );
    for e in &journal[1..] {
        let fx = restore(&mut b, &host, e, now)?;
        assert!(fx.sends.is_empty(), "a restore sends nothing");
    }
    // The old origin's clock never runs backwards.
    assert_eq!(
        restore(&mut b, &host, &journal[1], now).err(),
        Some(HubError::Room(RoomError::Stale))
    );
    // An op the journal's author never could make is refused by the state:
    // the listener taking a seat it was not invited to.
    let forged = signed(&listener, room, now, RoomOpKind::TakeSeat { seat: 2 })?;
    let r = restore(&mut b, &host, &(now, forged.encode()?), now);
    assert!(
        matches!(r, Err(HubError::Room(RoomError::NotAllowed(_)))),
        "{r:?}"
    );
    b.end_restore(&host, &room, now)?;
    assert_eq!(
        b.end_restore(&host, &room, now),
        Err(HubError::NotRestoring)
    );
    let (a, s) = (bed.hub.state(&room).ok_or("a")?, b.state(&room).ok_or("b")?);
    assert_eq!(s.seats(), a.seats());
    assert_eq!(s.member_count(), a.member_count());
    assert!(s.is_banned(&t));
    assert_eq!(b.log_len(&room), bed.hub.log_len(&room));
    // A restore of a room served here is refused.
    assert_eq!(
        restore(&mut b, &host, first, now),
        Err(HubError::NotRestoring)
    );
    // The host rejoins: its welcome holds every member present, the
    // audience's joins too (it seals the next room key to each of them).
    let again = signed(
        &bed.host,
        room,
        now + 1,
        RoomOpKind::Join {
            ticket: None,
            entitlement: None,
        },
    )?;
    let fx = b.on_message(&host, op_msg(&again)?, now + 1)?;
    let mut view: Option<RoomState> = None;
    for d in fx.sends.iter().filter(|d| d.to == vec![host]) {
        if let ServerMsg::Op {
            accepted_ms, op, ..
        } = &d.msg
        {
            let op = SignedRoomOp::decode(op)?;
            match view.as_mut() {
                None => view = Some(RoomState::create(&op)?),
                Some(v) => {
                    v.apply(&op, *accepted_ms, &RelayAdmission::default())?;
                }
            }
        }
    }
    let view = view.ok_or("no log")?;
    assert!(
        view.is_present(&listener.member_id()),
        "the host's view lacks the audience"
    );
    assert_eq!(
        view.member_count(),
        b.state(&room).ok_or("b")?.member_count()
    );
    // The speaker rejoins: welcomed with the room's log; the listener never
    // comes back and is reported to the host after the grace.
    let rejoin = signed(
        &speaker,
        room,
        now + 1,
        RoomOpKind::Join {
            ticket: Some(bed.ticket.clone()),
            entitlement: None,
        },
    )?;
    let fx = b.on_message(&speaker.member_id(), op_msg(&rejoin)?, now + 1)?;
    let to_speaker = fx
        .sends
        .iter()
        .filter(|d| d.to == vec![speaker.member_id()])
        .count();
    assert!(
        to_speaker >= 1 + journal.len() - 3,
        "welcome and log: {to_speaker}"
    );
    let due = b.sweep(now + HubLimits::default().absent_after_ms);
    let told: Vec<_> = due
        .iter()
        .flat_map(|(_, fx)| fx.sends.iter().map(|d| d.msg.clone()))
        .collect();
    assert_eq!(told, vec![ServerMsg::Absent(room, listener.member_id())]);
    Ok(())
}

#[test]
fn a_journal_longer_than_any_room_here_drops_the_room() -> TestResult {
    let (bed, mut b, at) = restoring(HubLimits {
        max_log: 2,
        members_per_room: 1,
        ..HubLimits::default()
    })?;
    let host = bed.host.member_id();
    let mut last = Ok(Effects::default());
    for i in 0..10u64 {
        let up = i % 2 == 0;
        let raise = signed(
            &bed.host,
            bed.room,
            bed.now + i,
            RoomOpKind::RaiseHand { up },
        )?;
        last = b.restore(&host, bed.room, at + i, raise.encode()?, bed.now + i);
        if last.is_err() {
            break;
        }
    }
    assert_eq!(last, Err(HubError::LogFull));
    assert!(b.state(&bed.room).is_none(), "the room was not dropped");
    Ok(())
}

#[test]
fn a_host_gone_mid_restore_leaves_no_half_room() -> TestResult {
    let (bed, mut b, _) = restoring(HubLimits::default())?;
    let host = bed.host.member_id();
    assert!(b.restoring_by(&bed.room, &host));
    let dropped = b.abandon_restores_of(&host);
    assert_eq!(dropped.len(), 1);
    assert!(b.state(&bed.room).is_none());
    Ok(())
}
