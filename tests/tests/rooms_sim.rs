//! Rooms without sockets: the node's sans-IO `RoomClient`s driven through
//! the relay's sans-IO `Hub`, message by message, so a whole room's life
//! (joins, seats, a kick with key rotation, a speaker restarting its app)
//! runs in milliseconds and repeats exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};

use aura_crypto::room::{Access, RoomId, RoomOp, RoomOpKind, RoomTicket};
use aura_crypto::{Identity, MemberId};
use aura_media::room_control::ClientMsg;
use aura_node::rooms::RoomClient;
use aura_relay::rooms::{Hub, HubLimits, RelayAdmission};

const T0: u64 = 1_800_000_000_000;

struct Sim {
    hub: Hub,
    clients: BTreeMap<MemberId, RoomClient>,
    ids: BTreeMap<MemberId, Identity>,
    room: RoomId,
    ticket: RoomTicket,
    host: MemberId,
    now: u64,
}

impl Sim {
    fn new() -> Self {
        let host = Identity::from_secret_bytes(&[1; 32]);
        let create = RoomOp {
            room: RoomId::default(),
            author: host.member_id(),
            at_ms: T0,
            kind: RoomOpKind::Create {
                name: "sim".into(),
                access: Access::Ticket,
                seats: 4,
                vip_seats: 0,
                vip_only: false,
                nonce: [2; 16],
            },
        }
        .sign(&host)
        .unwrap();
        let room = create.created_room().unwrap();
        let mut sim = Self {
            hub: Hub::new(HubLimits::default(), Box::new(RelayAdmission::default())),
            clients: BTreeMap::new(),
            ids: BTreeMap::new(),
            room,
            ticket: RoomTicket::issue(room, &host, T0 + 3_600_000),
            host: host.member_id(),
            now: T0,
        };
        let client = RoomClient::host(host.clone(), &create).unwrap();
        sim.clients.insert(host.member_id(), client);
        sim.ids.insert(host.member_id(), host);
        sim.deliver(sim.host, ClientMsg::Op(create.encode().unwrap()));
        sim
    }

    /// Hands `msg` to the hub and everything that follows to the clients,
    /// until nobody has anything more to send.
    fn deliver(&mut self, from: MemberId, msg: ClientMsg) {
        let mut queue = VecDeque::from([(from, msg)]);
        while let Some((from, msg)) = queue.pop_front() {
            self.now += 1;
            let Ok(fx) = self.hub.on_message(&from, msg, self.now) else {
                continue;
            };
            for d in fx.sends {
                for m in d.to {
                    if let Some(c) = self.clients.get_mut(&m) {
                        let _ = c.on_server(d.msg.clone(), self.now);
                        while let Some(out) = c.poll_out() {
                            queue.push_back((m, out));
                        }
                    }
                }
            }
        }
    }

    fn act(&mut self, who: MemberId, kind: RoomOpKind) {
        self.now += 1;
        let m = self
            .clients
            .get_mut(&who)
            .unwrap()
            .op(kind, self.now)
            .unwrap();
        self.deliver(who, m);
    }

    fn join(&mut self, id: &Identity) {
        let m = id.member_id();
        self.clients
            .insert(m, RoomClient::member(id.clone(), self.room));
        self.ids.insert(m, id.clone());
        let kind = RoomOpKind::Join {
            ticket: Some(self.ticket.clone()),
            entitlement: None,
        };
        self.act(m, kind);
    }

    fn seat(&mut self, m: MemberId, seat: u8) {
        self.act(self.host, RoomOpKind::InviteToSeat { member: m, seat });
        self.act(m, RoomOpKind::TakeSeat { seat });
    }

    /// `m` says `n` frames: what the relay would forward.
    fn say(&mut self, m: MemberId, n: u8) -> Vec<Vec<u8>> {
        let c = self.clients.get_mut(&m).unwrap();
        (0..n)
            .flat_map(|i| c.seal_voice(&[i; 40]).unwrap())
            .collect()
    }

    /// How many voice frames of `frames` each listener opens.
    fn heard(&mut self, listeners: &[MemberId], frames: &[Vec<u8>]) -> Vec<usize> {
        listeners
            .iter()
            .map(|l| {
                let c = self.clients.get_mut(l).unwrap();
                frames
                    .iter()
                    .filter(|f| c.open(f).is_ok_and(|o| !o.payload.is_empty()))
                    .count()
            })
            .collect()
    }
}

#[test]
fn a_speaker_restarting_its_app_is_heard_again_and_a_kicked_listener_reads_nothing() {
    let mut sim = Sim::new();
    let speaker = Identity::from_secret_bytes(&[3; 32]);
    let s = speaker.member_id();
    sim.join(&speaker);
    let listeners: Vec<MemberId> = (10..16u8)
        .map(|n| {
            let id = Identity::from_secret_bytes(&[n; 32]);
            sim.join(&id);
            id.member_id()
        })
        .collect();
    sim.seat(s, 0);
    let frames = sim.say(s, 10);
    assert_eq!(sim.heard(&listeners, &frames), vec![10; 6]);
    // A kick: the host rotates the room key, the speaker its sender key.
    let kicked = listeners[5];
    sim.act(sim.host, RoomOpKind::Kick { member: kicked });
    let staying = &listeners[..5];
    let frames = sim.say(s, 10);
    assert_eq!(sim.heard(staying, &frames), vec![10; 5]);
    assert_eq!(
        sim.heard(&[kicked], &frames),
        vec![0],
        "kicked listener opened a frame"
    );
    // The speaker's app restarts: it leaves and rejoins with a fresh
    // session (sender epoch 0, below the epoch 1 listeners remember).
    sim.act(s, RoomOpKind::Leave);
    sim.clients.remove(&s);
    sim.now += 1;
    sim.join(&speaker);
    sim.seat(s, 1);
    let frames = sim.say(s, 10);
    assert_eq!(
        sim.heard(staying, &frames),
        vec![10; 5],
        "rejoined speaker refused"
    );
    assert_eq!(sim.heard(&[kicked], &frames), vec![0]);
    // Every staying listener's view agrees with the relay's seats.
    let relay = sim.hub.state(&sim.room).unwrap().clone();
    for l in staying {
        let view = sim.clients[l].view().unwrap();
        assert_eq!(view.seats(), relay.seats());
    }
}

#[test]
fn a_listener_welcomed_again_through_another_relay_keeps_opening_the_speakers_frames() {
    let mut sim = Sim::new();
    let speaker = Identity::from_secret_bytes(&[3; 32]);
    let s = speaker.member_id();
    sim.join(&speaker);
    let listener = Identity::from_secret_bytes(&[10; 32]);
    let l = listener.member_id();
    sim.join(&listener);
    sim.seat(s, 0);
    let frames = sim.say(s, 10);
    assert_eq!(sim.heard(&[l], &frames), vec![10]);
    // Its relay stops; it joins again elsewhere (a member present: the
    // origin welcomes it again and replays the room's log and keys). The
    // replay must not drop the speaker's chain it already holds.
    sim.act(
        l,
        RoomOpKind::Join {
            ticket: Some(sim.ticket.clone()),
            entitlement: None,
        },
    );
    let frames = sim.say(s, 10);
    assert_eq!(sim.heard(&[l], &frames), vec![10], "moved listener deaf");
    let relay = sim.hub.state(&sim.room).unwrap().clone();
    assert_eq!(sim.clients[&l].view().unwrap().seats(), relay.seats());
}
