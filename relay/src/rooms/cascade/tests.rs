use aura_crypto::room::{Access, RoomOp, RoomOpKind, RoomTicket, SignedRoomOp};
use aura_crypto::Identity;

use super::*;
use crate::rooms::{ClientMsg, Hub, HubLimits, RelayAdmission};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0: u64 = 1_800_000_000_000;

fn op(
    who: &Identity,
    room: RoomId,
    at_ms: u64,
    kind: RoomOpKind,
) -> Result<ClientMsg, Box<dyn std::error::Error>> {
    let o: SignedRoomOp = RoomOp {
        room,
        author: who.member_id(),
        at_ms,
        kind,
    }
    .sign(who)?;
    Ok(ClientMsg::Op(o.encode()?))
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An origin hub with a room, two edges following it, three listeners
/// behind the first and two behind the second.
struct Bed {
    hub: Hub,
    origin: Origin,
    host: Identity,
    room: RoomId,
    edges: [MemberId; 2],
    behind: [Vec<Identity>; 2],
    now: u64,
}

impl Bed {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let host = Identity::from_secret_bytes(&[1; 32]);
        let create = RoomOp {
            room: RoomId::default(),
            author: host.member_id(),
            at_ms: T0,
            kind: RoomOpKind::Create {
                name: "cascade".into(),
                access: Access::Ticket,
                seats: 4,
                vip_seats: 0,
                vip_only: false,
                nonce: [1; 16],
            },
        }
        .sign(&host)?;
        let room = create.created_room().ok_or("not a create op")?;
        let mut hub = Hub::new(HubLimits::default(), Box::new(RelayAdmission::default()));
        hub.on_message(&host.member_id(), ClientMsg::Op(create.encode()?), T0)?;
        let edges = [MemberId([0xe1; 32]), MemberId([0xe2; 32])];
        let mut origin = Origin::default();
        origin.attach(edges[0], addr(1), room)?;
        origin.attach(edges[1], addr(2), room)?;
        let ticket = RoomTicket::issue(room, &host, T0 + 3_600_000);
        let mut bed = Self {
            hub,
            origin,
            host,
            room,
            edges,
            behind: [Vec::new(), Vec::new()],
            now: T0,
        };
        for (e, n) in [(0usize, 3u8), (1, 2)] {
            for i in 0..n {
                let l = Identity::from_secret_bytes(&[10 + 10 * e as u8 + i; 32]);
                let join = op(
                    &l,
                    room,
                    T0 + 1,
                    RoomOpKind::Join {
                        ticket: Some(ticket.clone()),
                        entitlement: None,
                    },
                )?;
                bed.step(&l.member_id(), join, Some(edges[e]))?;
                bed.behind[e].push(l);
            }
        }
        Ok(bed)
    }

    /// One message through the hub as the server does it: routed after.
    fn step(
        &mut self,
        from: &MemberId,
        msg: ClientMsg,
        via: Option<MemberId>,
    ) -> Result<Routed, HubError> {
        self.now += 1;
        let fx = self.hub.on_message(from, msg, self.now)?;
        self.origin.set_route(*from, via);
        Ok(self.origin.route(self.room, fx))
    }
}

#[test]
fn a_seat_op_crosses_each_edge_link_once_and_a_kick_expels_at_the_edge_first() -> TestResult {
    let mut bed = Bed::new()?;
    let host = bed.host.member_id();
    let room = bed.room;
    let seat = op(&bed.host, room, T0 + 10, RoomOpKind::TakeSeat { seat: 0 })?;
    let r = bed.step(&host, seat, None)?;
    // One `fan` per edge, nothing per member; the host's copy stays here.
    assert_eq!(r.links.len(), 2, "{:?}", r.links);
    assert!(r
        .links
        .iter()
        .all(|(_, m)| matches!(m, ServerMsg::Fan(x, _) if *x == room)));
    assert_eq!(r.local.len(), 1);
    assert_eq!(r.local[0].to, vec![host]);
    // The first edge hands it to its three listeners.
    let mut f = Follower::default();
    assert_eq!(
        f.follow(room, MemberId([9; 32])),
        ForwardChange::Open(room.header_id())
    );
    for l in &bed.behind[0] {
        f.on_link(&MemberId([9; 32]), ServerMsg::Admit(room, l.member_id()))?;
    }
    let (_, fan) = r
        .links
        .iter()
        .find(|(e, _)| *e == bed.edges[0])
        .ok_or("no fan")?;
    let fx = f.on_link(&MemberId([9; 32]), fan.clone())?;
    assert_eq!(fx.sends.len(), 1);
    assert_eq!(fx.sends[0].to.len(), 3);
    // The host kicks a listener of the first edge: that edge is told to
    // expel it before anything else of the step; the other edge is not.
    let victim = bed.behind[0][0].member_id();
    let kick = op(
        &bed.host,
        room,
        T0 + 11,
        RoomOpKind::Kick { member: victim },
    )?;
    let r = bed.step(&host, kick, None)?;
    let first = r
        .links
        .iter()
        .find(|(e, _)| *e == bed.edges[0])
        .map(|(_, m)| m.clone());
    assert_eq!(first, Some(ServerMsg::Expel(room, victim)));
    assert!(!r
        .links
        .iter()
        .any(|(e, m)| *e == bed.edges[1] && matches!(m, ServerMsg::Expel(..))));
    let fx = f.on_link(&MemberId([9; 32]), ServerMsg::Expel(room, victim))?;
    assert_eq!(
        fx.forward,
        vec![ForwardChange::Expel(room.header_id(), victim)]
    );
    assert_eq!(f.members(&room), 2);
    // Loads: the host here, two and two at the edges.
    let state = bed.hub.state(&room).ok_or("no room")?;
    let us = RelayLoad {
        relay: MemberId([0xa0; 32]),
        addr: addr(3),
        members: 0,
    };
    let loads: Vec<u32> = bed
        .origin
        .relays(&room, state, us)
        .iter()
        .map(|r| r.members)
        .collect();
    assert_eq!(loads, vec![1, 2, 2]);
    Ok(())
}

#[test]
fn an_edge_takes_nothing_from_another_origin_and_a_room_takes_a_bounded_number_of_edges(
) -> TestResult {
    let room = RoomId([5; 32]);
    let (o1, o2) = (MemberId([1; 32]), MemberId([2; 32]));
    let mut f = Follower::default();
    f.follow(room, o1);
    let m = MemberId([7; 32]);
    // Another origin cannot admit, fan out or close in a room we follow from o1.
    assert!(f.on_link(&o2, ServerMsg::Admit(room, m)).is_err());
    assert!(f.on_link(&o2, ServerMsg::Closed(room)).is_err());
    assert!(f
        .on_link(&o2, ServerMsg::Fan(room, Box::new(ServerMsg::Closed(room))))
        .is_err());
    // A member's message on a link is not for an edge.
    let welcome = ServerMsg::Welcome { room, next_seq: 1 };
    assert_eq!(f.on_link(&o1, welcome), Err(HubError::NotHere));
    // The origin's link ending: its rooms' members must move.
    f.on_link(&o1, ServerMsg::Admit(room, m))?;
    assert_eq!(f.lost(&o1), vec![(room, vec![m])]);
    assert_eq!(f.room_count(), 0);
    // At most MAX_EDGES edges follow one room.
    let mut origin = Origin::default();
    for i in 0..MAX_EDGES {
        origin.attach(MemberId([i as u8; 32]), addr(1), room)?;
    }
    assert_eq!(
        origin.attach(MemberId([0xff; 32]), addr(1), room),
        Err(HubError::TooManyEdges)
    );
    // Members reached through a gone edge are no longer routed there.
    origin.set_route(m, Some(MemberId([0; 32])));
    assert_eq!(origin.edge_of(&m), Some(MemberId([0; 32])));
    assert_eq!(origin.edge_gone(&MemberId([0; 32])), vec![room]);
    assert_eq!(origin.edge_of(&m), None);
    Ok(())
}

#[test]
fn a_hostile_edge_replaying_a_members_rejoin_cannot_pull_the_member_back_to_it() -> TestResult {
    let mut bed = Bed::new()?;
    let l = bed.behind[0][0].clone();
    let m = l.member_id();
    let room = bed.room;
    let ticket = RoomTicket::issue(room, &bed.host, T0 + 3_600_000);
    let join = |at| {
        op(
            &l,
            room,
            at,
            RoomOpKind::Join {
                ticket: Some(ticket.clone()),
                entitlement: None,
            },
        )
    };
    let [e0, e1] = bed.edges;
    // It moves to edge 1, back to edge 0 (which sees that rejoin), then to edge 1 again.
    bed.step(&m, join(T0 + 20)?, Some(e1))?;
    let seen_by_e0 = join(T0 + 30)?;
    bed.step(&m, seen_by_e0.clone(), Some(e0))?;
    bed.step(&m, join(T0 + 40)?, Some(e1))?;
    assert_eq!(bed.origin.edge_of(&m), Some(e1));
    // Edge 0 replays the rejoin it saw: refused, the member stays reached through edge 1.
    assert_eq!(
        bed.step(&m, seen_by_e0, Some(e0)),
        Err(HubError::Room(aura_crypto::room::RoomError::Replay))
    );
    assert_eq!(bed.origin.edge_of(&m), Some(e1));
    Ok(())
}
