//! Rooms: roles, seats, tickets, VIP admission, and the attacks on them
//! (forged, replayed and unauthorised ops, banned and kicked members).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use aura_crypto::room::{
    Access, Admission, RoomChange, RoomError, RoomId, RoomOp, RoomOpKind, RoomState, RoomTicket,
    SignedRoomOp, FRESH_MS, MAX_ROOM_OP_BYTES,
};
use aura_crypto::{GroupId, Identity, MemberId};
use rand::rngs::OsRng;

const T0: u64 = 1_800_000_000_000;

/// The group roster and the ledger's token check, as a test sees them.
#[derive(Default)]
struct Outside {
    group: HashSet<MemberId>,
    vip: HashSet<MemberId>,
}

impl Admission for Outside {
    fn in_group(&self, _group: &GroupId, member: &MemberId) -> bool {
        self.group.contains(member)
    }
    fn is_vip(&self, member: &MemberId, token: &[u8], _now_ms: u64) -> bool {
        token == b"vip-token" && self.vip.contains(member)
    }
}

fn op(who: &Identity, room: RoomId, at_ms: u64, kind: RoomOpKind) -> SignedRoomOp {
    RoomOp {
        room,
        author: who.member_id(),
        at_ms,
        kind,
    }
    .sign(who)
    .expect("sign")
}

fn create(host: &Identity, access: Access, vip_seats: u8, vip_only: bool) -> RoomState {
    let create = op(
        host,
        RoomId::default(),
        T0,
        RoomOpKind::Create {
            name: "friday night".into(),
            access,
            seats: 8,
            vip_seats,
            vip_only,
            nonce: [7; 16],
        },
    );
    RoomState::create(&create).expect("create")
}

fn join_kind(ticket: Option<RoomTicket>, token: Option<&[u8]>) -> RoomOpKind {
    RoomOpKind::Join {
        ticket,
        entitlement: token.map(<[u8]>::to_vec),
    }
}

struct Room {
    state: RoomState,
    host: Identity,
    outside: Outside,
    now: u64,
}

impl Room {
    fn ticket_room() -> Self {
        let host = Identity::generate(&mut OsRng);
        Self {
            state: create(&host, Access::Ticket, 0, false),
            host,
            outside: Outside::default(),
            now: T0,
        }
    }

    fn apply(&mut self, who: &Identity, kind: RoomOpKind) -> Result<RoomChange, RoomError> {
        self.now += 1;
        let o = op(who, self.state.id(), self.now, kind);
        self.state.apply(&o, self.now, &self.outside)
    }

    fn ticket(&self) -> RoomTicket {
        RoomTicket::issue(self.state.id(), &self.host, self.now + 3_600_000)
    }

    fn join(&mut self) -> Identity {
        let who = Identity::generate(&mut OsRng);
        let t = self.ticket();
        self.apply(&who, join_kind(Some(t), None)).expect("join");
        who
    }
}

#[test]
fn a_ticket_signed_by_the_host_admits_and_nothing_else_does() {
    let mut r = Room::ticket_room();
    let bob = Identity::generate(&mut OsRng);
    let mallory = Identity::generate(&mut OsRng);
    assert_eq!(r.apply(&bob, join_kind(None, None)), Err(RoomError::Ticket));
    // A ticket signed by someone who is not host or moderator.
    let own = RoomTicket::issue(r.state.id(), &mallory, r.now + 60_000);
    assert_eq!(
        r.apply(&bob, join_kind(Some(own), None)),
        Err(RoomError::Ticket)
    );
    // Expired, and for another room.
    let expired = RoomTicket::issue(r.state.id(), &r.host, r.now);
    assert_eq!(
        r.apply(&bob, join_kind(Some(expired), None)),
        Err(RoomError::Ticket)
    );
    let other = RoomTicket::issue(RoomId([9; 32]), &r.host, r.now + 60_000);
    assert_eq!(
        r.apply(&bob, join_kind(Some(other), None)),
        Err(RoomError::Ticket)
    );
    // A host-signed ticket whose expiry was stretched by its holder.
    let mut stretched = r.ticket();
    stretched.expires_at_ms += 1;
    assert_eq!(
        r.apply(&bob, join_kind(Some(stretched), None)),
        Err(RoomError::Ticket)
    );
    assert!(!r.state.is_present(&bob.member_id()));
    // The real one, through its text form.
    let text = r.ticket().to_text().expect("text");
    let t = RoomTicket::parse(&text).expect("parse");
    assert_eq!(
        r.apply(&bob, join_kind(Some(t), None)),
        Ok(RoomChange::Joined(bob.member_id()))
    );
    assert_eq!(r.state.member_count(), 2);
}

#[test]
fn a_group_room_admits_only_the_groups_members() {
    let host = Identity::generate(&mut OsRng);
    let mut state = create(&host, Access::Group(GroupId([3; 32])), 0, false);
    let member = Identity::generate(&mut OsRng);
    let outsider = Identity::generate(&mut OsRng);
    let outside = Outside {
        group: HashSet::from([member.member_id()]),
        ..Outside::default()
    };
    let j = |who: &Identity| op(who, state.id(), T0 + 5, join_kind(None, None));
    let (jm, jo) = (j(&member), j(&outsider));
    assert_eq!(
        state.apply(&jo, T0 + 5, &outside),
        Err(RoomError::NotInGroup)
    );
    assert!(state.apply(&jm, T0 + 5, &outside).is_ok());
}

#[test]
fn vip_rooms_and_seats_need_a_valid_entitlement() {
    let host = Identity::generate(&mut OsRng);
    let mut r = Room {
        state: create(&host, Access::Ticket, 2, false),
        host,
        outside: Outside::default(),
        now: T0,
    };
    let vip = Identity::generate(&mut OsRng);
    let plain = Identity::generate(&mut OsRng);
    r.outside.vip.insert(vip.member_id());
    let t = r.ticket();
    r.apply(&vip, join_kind(Some(t.clone()), Some(b"vip-token")))
        .expect("vip joins");
    // A token that is not a valid entitlement of this member counts for nothing.
    r.apply(&plain, join_kind(Some(t), Some(b"vip-token")))
        .expect("plain joins the audience");
    let host = r.host.clone();
    for (who, seat) in [(&vip, 0), (&plain, 1)] {
        r.apply(
            &host,
            RoomOpKind::InviteToSeat {
                member: who.member_id(),
                seat,
            },
        )
        .expect("invite");
    }
    assert!(r.apply(&vip, RoomOpKind::TakeSeat { seat: 0 }).is_ok());
    assert_eq!(
        r.apply(&plain, RoomOpKind::TakeSeat { seat: 1 }),
        Err(RoomError::VipRequired)
    );

    // A VIP-only room.
    let host2 = Identity::generate(&mut OsRng);
    let mut r2 = Room {
        state: create(&host2, Access::Ticket, 0, true),
        host: host2,
        outside: Outside::default(),
        now: T0,
    };
    r2.outside.vip.insert(vip.member_id());
    let t2 = r2.ticket();
    assert_eq!(
        r2.apply(&plain, join_kind(Some(t2.clone()), None)),
        Err(RoomError::VipRequired)
    );
    assert!(r2
        .apply(&vip, join_kind(Some(t2), Some(b"vip-token")))
        .is_ok());
}

#[test]
fn a_listener_takes_a_seat_only_when_invited() {
    let mut r = Room::ticket_room();
    let bob = r.join();
    let carol = r.join();
    assert!(matches!(
        r.apply(&bob, RoomOpKind::TakeSeat { seat: 0 }),
        Err(RoomError::NotAllowed(_))
    ));
    r.apply(&bob, RoomOpKind::RaiseHand { up: true })
        .expect("hand");
    // A listener cannot invite anyone, itself included.
    assert!(matches!(
        r.apply(
            &carol,
            RoomOpKind::InviteToSeat {
                member: carol.member_id(),
                seat: 0
            }
        ),
        Err(RoomError::NotAllowed(_))
    ));
    let host = r.host.clone();
    r.apply(
        &host,
        RoomOpKind::InviteToSeat {
            member: bob.member_id(),
            seat: 0,
        },
    )
    .expect("invite");
    // The invitation is Bob's, not Carol's.
    assert!(r.apply(&carol, RoomOpKind::TakeSeat { seat: 0 }).is_err());
    assert_eq!(
        r.apply(&bob, RoomOpKind::TakeSeat { seat: 0 }),
        Ok(RoomChange::Seated(0, Some(bob.member_id())))
    );
    assert_eq!(r.state.seat_of(&bob.member_id()), Some(0));
    assert_eq!(
        r.state.speakers().collect::<Vec<_>>(),
        vec![bob.member_id()]
    );
    assert_eq!(
        r.apply(&host, RoomOpKind::TakeSeat { seat: 0 }),
        Err(RoomError::Seat)
    );
    assert_eq!(
        r.apply(&host, RoomOpKind::TakeSeat { seat: 8 }),
        Err(RoomError::Seat)
    );
    assert!(r.apply(&host, RoomOpKind::TakeSeat { seat: 1 }).is_ok());
}

#[test]
fn a_speaker_muted_by_a_moderator_cannot_unmute_itself() {
    let mut r = Room::ticket_room();
    let bob = r.join();
    let host = r.host.clone();
    let invite = RoomOpKind::InviteToSeat {
        member: bob.member_id(),
        seat: 2,
    };
    r.apply(&host, invite).expect("invite");
    r.apply(&bob, RoomOpKind::TakeSeat { seat: 2 })
        .expect("seat");
    let mute = |muted| RoomOpKind::MuteSeat { seat: 2, muted };
    r.apply(&bob, mute(true)).expect("self mute");
    r.apply(&bob, mute(false)).expect("self unmute");
    r.apply(&host, mute(true)).expect("host mutes");
    assert!(r.state.speakers().next().is_none());
    assert!(matches!(
        r.apply(&bob, mute(false)),
        Err(RoomError::NotAllowed(_))
    ));
    r.apply(&host, mute(false)).expect("host unmutes");
    assert_eq!(r.state.speakers().count(), 1);
}

#[test]
fn only_the_host_and_moderators_remove_and_a_moderator_cannot_remove_the_host() {
    let mut r = Room::ticket_room();
    let (bob, carol, dave) = (r.join(), r.join(), r.join());
    let host = r.host.clone();
    let kick = |m: &Identity| RoomOpKind::Kick {
        member: m.member_id(),
    };
    assert!(matches!(
        r.apply(&bob, kick(&carol)),
        Err(RoomError::NotAllowed(_))
    ));
    assert!(matches!(
        r.apply(
            &bob,
            RoomOpKind::SetModerator {
                member: bob.member_id(),
                on: true
            }
        ),
        Err(RoomError::NotAllowed(_))
    ));
    r.apply(
        &host,
        RoomOpKind::SetModerator {
            member: bob.member_id(),
            on: true,
        },
    )
    .expect("moderator");
    r.apply(
        &host,
        RoomOpKind::SetModerator {
            member: dave.member_id(),
            on: true,
        },
    )
    .expect("moderator");
    assert!(matches!(
        r.apply(&bob, kick(&host)),
        Err(RoomError::NotAllowed(_))
    ));
    assert!(matches!(
        r.apply(&bob, kick(&dave)),
        Err(RoomError::NotAllowed(_))
    ));
    assert_eq!(
        r.apply(&bob, kick(&carol)),
        Ok(RoomChange::Departed {
            member: carol.member_id(),
            removed: true
        })
    );
    assert!(!r.state.is_present(&carol.member_id()));
    // Removed, the member can no longer act in the room.
    assert_eq!(
        r.apply(&carol, RoomOpKind::RaiseHand { up: true }),
        Err(RoomError::NotPresent)
    );
}

#[test]
fn a_banned_member_cannot_come_back_until_unbanned() {
    let mut r = Room::ticket_room();
    let bob = r.join();
    let host = r.host.clone();
    r.apply(
        &host,
        RoomOpKind::Ban {
            member: bob.member_id(),
        },
    )
    .expect("ban");
    assert!(!r.state.is_present(&bob.member_id()));
    let t = r.ticket();
    assert_eq!(
        r.apply(&bob, join_kind(Some(t.clone()), None)),
        Err(RoomError::Banned)
    );
    r.apply(
        &host,
        RoomOpKind::Unban {
            member: bob.member_id(),
        },
    )
    .expect("unban");
    assert!(r.apply(&bob, join_kind(Some(t), None)).is_ok());
}

#[test]
fn a_replayed_join_does_not_bring_a_kicked_listener_back() {
    let mut r = Room::ticket_room();
    let bob = Identity::generate(&mut OsRng);
    r.now += 1;
    let join = op(&bob, r.state.id(), r.now, join_kind(Some(r.ticket()), None));
    r.state.apply(&join, r.now, &r.outside).expect("join");
    let host = r.host.clone();
    r.apply(
        &host,
        RoomOpKind::Kick {
            member: bob.member_id(),
        },
    )
    .expect("kick");
    // Within the freshness window the author's clock has moved past it...
    assert_eq!(
        r.state.apply(&join, r.now, &r.outside),
        Err(RoomError::Replay)
    );
    // ...and after it the op is simply too old, whatever was forgotten.
    let later = r.now + FRESH_MS + 1;
    assert_eq!(
        r.state.apply(&join, later, &r.outside),
        Err(RoomError::Stale)
    );
    assert!(!r.state.is_present(&bob.member_id()));
    // An op dated ahead of the applier's clock is refused too.
    let ahead = op(
        &bob,
        r.state.id(),
        r.now + 2 * FRESH_MS,
        join_kind(Some(r.ticket()), None),
    );
    assert_eq!(
        r.state.apply(&ahead, r.now, &r.outside),
        Err(RoomError::Stale)
    );
}

#[test]
fn a_forged_or_tampered_op_is_refused_before_it_reaches_the_state() {
    let r = Room::ticket_room();
    let mallory = Identity::generate(&mut OsRng);
    // Mallory signs a close op in the host's name.
    let forged = RoomOp {
        room: r.state.id(),
        author: r.host.member_id(),
        at_ms: T0 + 1,
        kind: RoomOpKind::Close,
    };
    assert_eq!(forged.sign(&mallory), Err(RoomError::BadSignature));
    // A genuine op with one byte changed on the wire.
    let good = op(
        &r.host,
        r.state.id(),
        T0 + 1,
        RoomOpKind::Kick {
            member: mallory.member_id(),
        },
    );
    let bytes = good.encode().expect("encode");
    assert_eq!(SignedRoomOp::decode(&bytes).as_ref(), Ok(&good));
    for i in 0..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x20;
        assert!(
            SignedRoomOp::decode(&t).is_err(),
            "byte {i} flipped still decodes"
        );
    }
    assert_eq!(
        SignedRoomOp::decode(&vec![0u8; MAX_ROOM_OP_BYTES + 1]),
        Err(RoomError::TooLarge)
    );
    assert!(SignedRoomOp::decode(&[]).is_err());
}

#[test]
fn a_closed_room_refuses_everything_and_only_its_host_closes_it() {
    let mut r = Room::ticket_room();
    let bob = r.join();
    assert!(matches!(
        r.apply(&bob, RoomOpKind::Close),
        Err(RoomError::NotAllowed(_))
    ));
    let host = r.host.clone();
    assert_eq!(r.apply(&host, RoomOpKind::Close), Ok(RoomChange::Closed));
    assert_eq!(r.apply(&bob, RoomOpKind::Leave), Err(RoomError::Closed));
    let t = r.ticket();
    assert_eq!(
        r.apply(&Identity::generate(&mut OsRng), join_kind(Some(t), None)),
        Err(RoomError::Closed)
    );
}

#[test]
fn every_holder_that_applies_the_same_ops_holds_the_same_room() {
    let mut r = Room::ticket_room();
    let mut log = Vec::new();
    let mut replica = r.state.clone();
    let people: Vec<Identity> = (0..20).map(|_| Identity::generate(&mut OsRng)).collect();
    let host = r.host.clone();
    for (i, p) in people.iter().enumerate() {
        r.now += 1;
        let mut ops = vec![op(
            p,
            r.state.id(),
            r.now,
            join_kind(Some(r.ticket()), None),
        )];
        if i % 3 == 0 {
            let seat = u8::try_from(i / 3).expect("seat");
            r.now += 1;
            ops.push(op(
                &host,
                r.state.id(),
                r.now,
                RoomOpKind::InviteToSeat {
                    member: p.member_id(),
                    seat,
                },
            ));
            r.now += 1;
            ops.push(op(p, r.state.id(), r.now, RoomOpKind::TakeSeat { seat }));
        }
        if i % 5 == 4 {
            r.now += 1;
            ops.push(op(
                &host,
                r.state.id(),
                r.now,
                RoomOpKind::Kick {
                    member: p.member_id(),
                },
            ));
        }
        for o in ops {
            r.state.apply(&o, r.now, &r.outside).expect("applies");
            log.push((o, r.now));
        }
    }
    for (o, at) in &log {
        replica.apply(o, *at, &r.outside).expect("replica applies");
    }
    assert_eq!(replica.seats(), r.state.seats());
    let members = |s: &RoomState| {
        let mut m: Vec<MemberId> = s.members().map(|(m, _)| *m).collect();
        m.sort();
        m
    };
    assert_eq!(members(&replica), members(&r.state));
    assert_eq!(r.state.member_count(), 1 + 20 - 4);
}

#[test]
fn a_full_room_refuses_joins() {
    let mut r = Room::ticket_room();
    r.state.set_max_members(3);
    r.join();
    r.join();
    let t = r.ticket();
    assert_eq!(
        r.apply(&Identity::generate(&mut OsRng), join_kind(Some(t), None)),
        Err(RoomError::Full)
    );
}
