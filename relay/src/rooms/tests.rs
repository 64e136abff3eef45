use std::collections::HashMap;

use aura_crypto::room::{
    Access, RoomError, RoomId, RoomKeyAuthority, RoomOp, RoomOpKind, RoomSession, RoomState,
    RoomTicket, SignedRoomOp,
};
use aura_crypto::{Identity, MemberId};
use rand::rngs::OsRng;

use super::*;

/// What each test and helper returns: an error fails the test.
type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000_000;

fn id(n: u8) -> Identity {
    Identity::from_secret_bytes(&[n; 32])
}

fn signed(
    who: &Identity,
    room: RoomId,
    at_ms: u64,
    kind: RoomOpKind,
) -> Result<SignedRoomOp, RoomError> {
    RoomOp {
        room,
        author: who.member_id(),
        at_ms,
        kind,
    }
    .sign(who)
}

fn op_msg(op: &SignedRoomOp) -> Result<ClientMsg, RoomError> {
    Ok(ClientMsg::Op(op.encode()?))
}

/// A hub with one ticket room; every member's deliveries collected.
struct Bed {
    hub: Hub,
    host: Identity,
    room: RoomId,
    ticket: RoomTicket,
    now: u64,
    inbox: HashMap<MemberId, Vec<ServerMsg>>,
    forward: Vec<ForwardChange>,
}

impl Bed {
    fn new() -> TestResult<Self> {
        let host = id(1);
        let create = signed(
            &host,
            RoomId::default(),
            T0,
            RoomOpKind::Create {
                name: "stage".into(),
                access: Access::Ticket,
                seats: 4,
                vip_seats: 0,
                vip_only: false,
                nonce: [1; 16],
            },
        )?;
        let room = create.created_room().ok_or("not a create op")?;
        let mut bed = Self {
            hub: Hub::new(HubLimits::default(), Box::new(RelayAdmission::default())),
            ticket: RoomTicket::issue(room, &host, T0 + 3_600_000),
            host,
            room,
            now: T0,
            inbox: HashMap::new(),
            forward: Vec::new(),
        };
        let h = bed.host.member_id();
        bed.send(&h, op_msg(&create)?)?;
        Ok(bed)
    }

    fn send(&mut self, from: &MemberId, msg: ClientMsg) -> Result<usize, HubError> {
        self.now += 1;
        let fx = self.hub.on_message(from, msg, self.now)?;
        let mut n = 0;
        for d in fx.sends {
            for m in d.to {
                n += 1;
                self.inbox.entry(m).or_default().push(d.msg.clone());
            }
        }
        self.forward.extend(fx.forward);
        Ok(n)
    }

    fn act(&mut self, who: &Identity, kind: RoomOpKind) -> Result<usize, HubError> {
        let op = signed(who, self.room, self.now + 1, kind)?;
        self.send(&who.member_id(), op_msg(&op)?)
    }

    fn join(&mut self, who: &Identity) -> Result<usize, HubError> {
        let kind = RoomOpKind::Join {
            ticket: Some(self.ticket.clone()),
            entitlement: None,
        };
        self.act(who, kind)
    }

    fn seat(&mut self, who: &Identity, seat: u8) -> TestResult {
        let host = self.host.clone();
        let member = who.member_id();
        self.act(&host, RoomOpKind::InviteToSeat { member, seat })?;
        self.act(who, RoomOpKind::TakeSeat { seat })?;
        Ok(())
    }

    fn header(&self) -> [u8; 8] {
        self.room.header_id()
    }
}

/// A member's own check of what it received: the listener view.
fn view_of(msgs: &[ServerMsg]) -> TestResult<(RoomState, usize)> {
    let mut state: Option<RoomState> = None;
    let mut skipped = 0;
    for m in msgs {
        let ServerMsg::Op {
            accepted_ms, op, ..
        } = m
        else {
            continue;
        };
        let op = SignedRoomOp::decode(op)?;
        match &mut state {
            None => state = Some(RoomState::create(&op)?),
            Some(s) => {
                if s.apply(&op, *accepted_ms, &RelayAdmission::default())
                    .is_err()
                {
                    skipped += 1;
                }
            }
        }
    }
    Ok((state.ok_or("no create op")?, skipped))
}

#[test]
fn a_join_storm_costs_each_member_nothing_and_the_staff_one_message_per_join() -> TestResult {
    let mut bed = Bed::new()?;
    let listeners: Vec<Identity> = (10..210).map(id).collect();
    let mut sent = 0;
    for l in &listeners {
        sent += bed.join(l)?;
    }
    // Per join: the host hears of it, the joiner gets welcome, log and its join.
    assert_eq!(sent, listeners.len() * 4);
    let first = listeners[0].member_id();
    assert_eq!(
        bed.inbox[&first].len(),
        3,
        "no other audience join reached it"
    );
    assert_eq!(bed.inbox[&bed.host.member_id()].len(), 2 + listeners.len());
    assert_eq!(
        bed.hub.state(&bed.room).ok_or("no room")?.member_count(),
        201
    );
    Ok(())
}

#[test]
fn listeners_check_seat_and_role_ops_from_their_view_and_reach_the_relays_seats() -> TestResult {
    let mut bed = Bed::new()?;
    let (a, b, c) = (id(2), id(3), id(4));
    bed.join(&a)?;
    bed.join(&b)?;
    bed.seat(&a, 0)?;
    bed.join(&c)?;
    let host = bed.host.clone();
    bed.act(
        &host,
        RoomOpKind::SetModerator {
            member: b.member_id(),
            on: true,
        },
    )?;
    bed.act(&b, RoomOpKind::TakeSeat { seat: 1 })?;
    bed.act(
        &b,
        RoomOpKind::MuteSeat {
            seat: 0,
            muted: true,
        },
    )?;
    let relay = bed.hub.state(&bed.room).ok_or("no room")?.clone();
    for who in [&a, &b, &c] {
        let (view, skipped) = view_of(&bed.inbox[&who.member_id()])?;
        assert_eq!(view.seats(), relay.seats(), "seats as the relay has them");
        assert!(view.is_moderator(&b.member_id()));
        assert_eq!(skipped, 0);
    }
    // A later joiner rebuilds the same from its welcome alone.
    let d = id(5);
    bed.join(&d)?;
    let (view, _) = view_of(&bed.inbox[&d.member_id()])?;
    assert_eq!(view.seats(), relay.seats());
    // Only b speaks now (a is muted), and the forwarder was told.
    assert_eq!(
        bed.forward.last(),
        Some(&ForwardChange::Speakers(bed.header(), vec![b.member_id()]))
    );
    Ok(())
}

#[test]
fn a_kicked_member_is_expelled_from_forwarding_at_once() -> TestResult {
    let mut bed = Bed::new()?;
    let (a, b) = (id(2), id(3));
    bed.join(&a)?;
    bed.join(&b)?;
    bed.seat(&a, 0)?;
    let host = bed.host.clone();
    bed.forward.clear();
    bed.act(
        &host,
        RoomOpKind::Kick {
            member: a.member_id(),
        },
    )?;
    assert_eq!(
        bed.forward,
        vec![
            ForwardChange::Expel(bed.header(), a.member_id()),
            ForwardChange::Speakers(bed.header(), vec![]),
        ]
    );
    // A seated member's kick reaches everyone, the kicked one included.
    let kick_seen = |m: &MemberId, bed: &Bed| {
        bed.inbox[m].iter().any(|x| {
            matches!(x, ServerMsg::Op { op, .. }
                if SignedRoomOp::decode(op).is_ok_and(|o| matches!(o.op().kind, RoomOpKind::Kick { .. })))
        })
    };
    assert!(kick_seen(&a.member_id(), &bed) && kick_seen(&b.member_id(), &bed));
    // Its ops are refused from now on, so are key messages for it.
    assert_eq!(
        bed.act(&a, RoomOpKind::RaiseHand { up: true }),
        Err(HubError::Room(RoomError::NotPresent))
    );
    Ok(())
}

#[test]
fn a_forged_or_replayed_op_or_one_from_an_outsider_is_refused() -> TestResult {
    let mut bed = Bed::new()?;
    let (a, mallory) = (id(2), id(66));
    bed.join(&a)?;
    // Mallory submits an op signed by the host on its own connection.
    let kick = signed(
        &bed.host,
        bed.room,
        bed.now + 1,
        RoomOpKind::Kick {
            member: a.member_id(),
        },
    )?;
    assert_eq!(
        bed.send(&mallory.member_id(), op_msg(&kick)?),
        Err(HubError::NotAuthor)
    );
    // An op naming the host as author but signed by mallory.
    let mut forged = kick.encode()?;
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let host = bed.host.member_id();
    assert_eq!(
        bed.send(&host, ClientMsg::Op(forged)),
        Err(HubError::Room(RoomError::BadSignature))
    );
    // An outsider (no ticket) cannot join nor act.
    let no_ticket = RoomOpKind::Join {
        ticket: None,
        entitlement: None,
    };
    assert_eq!(
        bed.act(&mallory, no_ticket),
        Err(HubError::Room(RoomError::Ticket))
    );
    assert_eq!(
        bed.act(&mallory, RoomOpKind::TakeSeat { seat: 0 }),
        Err(HubError::Room(RoomError::NotPresent))
    );
    // The host's genuine kick passes once; replayed, it is refused.
    bed.send(&host, op_msg(&kick)?)?;
    bed.join(&a)?;
    assert_eq!(
        bed.send(&host, op_msg(&kick)?),
        Err(HubError::Room(RoomError::Replay))
    );
    assert!(bed
        .hub
        .state(&bed.room)
        .ok_or("no room")?
        .is_present(&a.member_id()));
    Ok(())
}

#[test]
fn key_messages_go_only_where_they_belong_and_the_relay_keeps_none() -> TestResult {
    let mut bed = Bed::new()?;
    let (a, b) = (id(2), id(3));
    bed.join(&a)?;
    bed.join(&b)?;
    let authority = RoomKeyAuthority::new(bed.host.clone(), bed.room, &mut OsRng);
    let env = authority.envelope_for(a.member_id(), &mut OsRng)?;
    let host = bed.host.member_id();
    // Only the host hands out room keys, and only to the member sealed to.
    assert_eq!(
        bed.send(&b.member_id(), ClientMsg::Envelope(env.encode())),
        Err(HubError::NotHost)
    );
    assert_eq!(bed.send(&host, ClientMsg::Envelope(env.encode())), Ok(1));
    assert!(matches!(
        bed.inbox[&a.member_id()].last(),
        Some(ServerMsg::Envelope(_))
    ));
    // A speaker key from a member not seated is refused; seated, it reaches all.
    let mut s = RoomSession::new(a.clone(), bed.room, host, T0, &mut OsRng);
    s.accept_room_key(&env)?;
    s.set_speakers([a.member_id()]);
    let key = s.speaker_key(&mut OsRng)?.encode();
    assert_eq!(
        bed.send(&a.member_id(), ClientMsg::SpeakerKey(key.clone())),
        Err(HubError::Room(RoomError::NotASpeaker))
    );
    bed.seat(&a, 0)?;
    assert_eq!(bed.send(&a.member_id(), ClientMsg::SpeakerKey(key)), Ok(2));
    // What the relay holds is ops, nothing sealed: every logged entry
    // decodes as a signed op.
    let fx = bed
        .hub
        .on_message(&b.member_id(), ClientMsg::Op(vec![]), bed.now);
    assert!(fx.is_err());
    assert!(bed.hub.log_len(&bed.room).ok_or("no room")? >= 3);
    let d = id(9);
    bed.join(&d)?;
    for m in &bed.inbox[&d.member_id()] {
        if let ServerMsg::Op { op, .. } = m {
            SignedRoomOp::decode(op)?;
        }
    }
    Ok(())
}

#[test]
fn a_reconnected_member_is_welcomed_again_without_a_second_join() -> TestResult {
    let mut bed = Bed::new()?;
    let a = id(2);
    bed.join(&a)?;
    bed.inbox.clear();
    bed.forward.clear();
    bed.join(&a)?;
    assert!(matches!(
        bed.inbox[&a.member_id()][0],
        ServerMsg::Welcome { .. }
    ));
    assert!(bed
        .forward
        .contains(&ForwardChange::Admit(bed.header(), a.member_id())));
    assert!(!bed.inbox.contains_key(&bed.host.member_id()));
    Ok(())
}

#[test]
fn control_messages_roundtrip_and_malformed_ones_are_refused() -> TestResult {
    let msgs = [
        ClientMsg::Op(vec![1; 40]),
        ClientMsg::Chat(RoomId([2; 32]), vec![3; 10]),
    ];
    for m in msgs {
        let b = m.encode();
        let mut r = Reader::default();
        r.feed(&b[..3]);
        assert_eq!(r.next_message(), Ok(None));
        r.feed(&b[3..]);
        let body = r.next_message()?.ok_or("no message")?;
        assert_eq!(ClientMsg::decode(&body), Ok(m));
    }
    let s = ServerMsg::Refused {
        room: RoomId([1; 32]),
        at_ms: 7,
        code: 4,
    };
    assert_eq!(ServerMsg::decode(&s.encode()[2..]), Ok(s));
    let mut r = Reader::default();
    r.feed(&[0xff, 0xff, 1]);
    assert_eq!(r.next_message(), Err(WireError::Length(0xffff)));
    assert_eq!(ClientMsg::decode(&[0x02, 1, 2]), Err(WireError::Body(2)));
    assert_eq!(ClientMsg::decode(&[0x7f]), Err(WireError::Tag(0x7f)));
    Ok(())
}

#[test]
fn a_member_away_past_the_grace_is_reported_to_the_host_once_and_one_back_in_time_is_not(
) -> TestResult {
    let mut bed = Bed::new()?;
    let (gone, back) = (id(2), id(3));
    bed.join(&gone)?;
    bed.join(&back)?;
    let grace = HubLimits::default().absent_after_ms;
    let t = bed.now;
    bed.hub.disconnected(&gone.member_id(), t);
    bed.hub.disconnected(&back.member_id(), t);
    // An outsider's closed connection is not tracked.
    bed.hub.disconnected(&id(9).member_id(), t);
    assert_eq!(bed.hub.away_count(), 2);
    assert!(bed.hub.sweep(t + grace - 1).is_empty(), "reported early");
    // `back` reconnects (through another relay, say) and speaks.
    bed.act(&back, RoomOpKind::RaiseHand { up: true })?;
    let due = bed.hub.sweep(t + grace);
    let host = bed.host.member_id();
    let room = bed.room;
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].1.sends,
        vec![Delivery {
            to: vec![host],
            msg: ServerMsg::Absent(room, gone.member_id()),
        }]
    );
    assert!(bed.hub.sweep(t + 10 * grace).is_empty(), "reported twice");
    assert_eq!(bed.hub.away_count(), 0);
    Ok(())
}

#[test]
fn a_member_whose_connection_to_an_edge_closed_is_away_at_the_origin() -> TestResult {
    let mut bed = Bed::new()?;
    let member = id(2);
    bed.join(&member)?;
    let m = member.member_id();
    // The edge it was connected through relays its departure.
    let mut edge = Follower::default();
    let _ = edge.follow(bed.room, bed.host.member_id());
    edge.on_link(&bed.host.member_id(), ServerMsg::Admit(bed.room, m))?;
    assert_eq!(edge.rooms_of(&m), vec![bed.room]);
    assert!(edge.rooms_of(&id(9).member_id()).is_empty());
    bed.send(&m, ClientMsg::Away(bed.room))?;
    assert_eq!(bed.hub.away_count(), 1);
    let grace = HubLimits::default().absent_after_ms;
    let due = bed.hub.sweep(bed.now + grace);
    assert_eq!(due.len(), 1, "not reported");
    Ok(())
}

mod restore;
