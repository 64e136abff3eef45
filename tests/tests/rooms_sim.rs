//! Rooms without sockets: the node's sans-IO `RoomClient`s driven through
//! the relay's sans-IO `Hub`, message by message, so a whole room's life
//! (joins, seats, a kick with key rotation, a speaker restarting its app)
//! runs in milliseconds and repeats exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};

use aura_billing::ids::DeviceKey;
use aura_billing::signed::{Entitlement, GiftReceipt, Signed, SignedReceipt};
use aura_crypto::room::{Access, Admission, RoomId, RoomOp, RoomOpKind, RoomTicket};
use aura_crypto::{GroupId, Identity, MemberId};
use aura_media::room_control::ClientMsg;
use aura_node::gift;
use aura_node::rooms::{RoomClient, RoomEvent, ViewAdmission};
use aura_relay::rooms::{Hub, HubLimits, RelayAdmission};
use ed25519_dalek::SigningKey;

const T0: u64 = 1_800_000_000_000;

struct Sim {
    hub: Hub,
    clients: BTreeMap<MemberId, RoomClient>,
    ids: BTreeMap<MemberId, Identity>,
    room: RoomId,
    ticket: RoomTicket,
    host: MemberId,
    now: u64,
    /// What the members' views admit.
    view: ViewAdmission,
}

/// A hostile relay's admission: every token is a VIP's.
struct Lying;

impl Admission for Lying {
    fn in_group(&self, _: &GroupId, _: &MemberId) -> bool {
        true
    }
    fn is_vip(&self, _: &MemberId, _: &[u8], _: u64) -> bool {
        true
    }
}

impl Sim {
    fn new() -> Self {
        Self::with(
            0,
            Box::new(RelayAdmission::default()),
            ViewAdmission::default(),
        )
    }

    /// A room whose first `vip_seats` seats are VIP seats, the relay
    /// admitting with `relay`, the members' views with `view`.
    fn with(vip_seats: u8, relay: Box<dyn Admission + Send>, view: ViewAdmission) -> Self {
        let host = Identity::from_secret_bytes(&[1; 32]);
        let create = RoomOp {
            room: RoomId::default(),
            author: host.member_id(),
            at_ms: T0,
            kind: RoomOpKind::Create {
                name: "sim".into(),
                access: Access::Ticket,
                seats: 4,
                vip_seats,
                vip_only: false,
                nonce: [2; 16],
            },
        }
        .sign(&host)
        .unwrap();
        let room = create.created_room().unwrap();
        let mut sim = Self {
            hub: Hub::new(HubLimits::default(), relay),
            clients: BTreeMap::new(),
            ids: BTreeMap::new(),
            room,
            ticket: RoomTicket::issue(room, &host, T0 + 3_600_000),
            host: host.member_id(),
            now: T0,
            view,
        };
        let mut client = RoomClient::host(host.clone(), &create).unwrap();
        client.set_ledger(view.ledger);
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

    /// The relay's sweep for absent members at `now`, its messages
    /// delivered and everything that follows.
    fn sweep(&mut self, now: u64) {
        for (_, fx) in self.hub.sweep(now) {
            for d in fx.sends {
                for m in d.to {
                    let Some(c) = self.clients.get_mut(&m) else {
                        continue;
                    };
                    let _ = c.on_server(d.msg.clone(), self.now);
                    let mut out = Vec::new();
                    while let Some(o) = c.poll_out() {
                        out.push(o);
                    }
                    for o in out {
                        self.deliver(m, o);
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
        self.join_with(id, None);
    }

    /// Joins carrying `token` as its VIP entitlement.
    fn join_with(&mut self, id: &Identity, token: Option<Vec<u8>>) {
        let m = id.member_id();
        let mut client = RoomClient::member(id.clone(), self.room);
        client.set_ledger(self.view.ledger);
        self.clients.insert(m, client);
        self.ids.insert(m, id.clone());
        let kind = RoomOpKind::Join {
            ticket: Some(self.ticket.clone()),
            entitlement: token,
        };
        self.act(m, kind);
    }

    fn seat(&mut self, m: MemberId, seat: u8) {
        self.act(self.host, RoomOpKind::InviteToSeat { member: m, seat });
        self.act(m, RoomOpKind::TakeSeat { seat });
    }

    /// A speaker seated on seat 0 and `n` listeners, all joined.
    fn stage(&mut self, n: u8) -> (Identity, Vec<MemberId>) {
        let speaker = Identity::from_secret_bytes(&[3; 32]);
        self.join(&speaker);
        let listeners = (10..10 + n)
            .map(|i| {
                let id = Identity::from_secret_bytes(&[i; 32]);
                self.join(&id);
                id.member_id()
            })
            .collect();
        self.seat(speaker.member_id(), 0);
        (speaker, listeners)
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
    let (speaker, listeners) = sim.stage(6);
    let s = speaker.member_id();
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

/// `member`'s VIP token (allowing `vip_rooms`) signed by `ledger`, valid
/// around [`T0`].
fn vip_token(ledger: &SigningKey, member: &Identity) -> Vec<u8> {
    let peer = DeviceKey(member.member_id().0);
    let t0 = (T0 / 1000) as i64;
    let body = Entitlement {
        v: 1,
        peer: peer.to_hex(),
        peer_id: peer.peer_id().unwrap(),
        tier: "vip".into(),
        allows: vec!["vip_rooms".into()],
        max_room_size: 5000,
        iat: t0 - 60,
        exp: t0 + 3_600,
    };
    serde_json::to_vec(&Signed::sign(body, ledger).unwrap()).unwrap()
}

#[test]
fn a_relay_seating_a_member_without_a_vip_token_on_a_vip_seat_is_not_followed_by_the_views() {
    let ledger = SigningKey::from_bytes(&[42; 32]);
    let view = ViewAdmission {
        ledger: Some(ledger.verifying_key()),
    };
    let mut sim = Sim::with(1, Box::new(Lying), view);
    let vip = Identity::from_secret_bytes(&[3; 32]);
    let cheat = Identity::from_secret_bytes(&[4; 32]);
    let listener = Identity::from_secret_bytes(&[10; 32]);
    sim.join_with(&vip, Some(vip_token(&ledger, &vip)));
    // The cheat presents the VIP's token as its own; the relay takes it.
    sim.join_with(&cheat, Some(vip_token(&ledger, &vip)));
    sim.join(&listener);
    sim.seat(cheat.member_id(), 0);
    let relay = sim.hub.state(&sim.room).unwrap().clone();
    assert_eq!(
        relay.seat_of(&cheat.member_id()),
        Some(0),
        "relay seated it"
    );
    for m in [sim.host, listener.member_id(), vip.member_id()] {
        let v = sim.clients[&m].view().unwrap();
        assert_eq!(
            v.seat_of(&cheat.member_id()),
            None,
            "view of {m} seated the cheat"
        );
    }
    // The genuine VIP is seated on the VIP seat in every view (the seat
    // is free in the views, not at the lying relay: it takes seat 0 after
    // the cheat leaves it).
    sim.act(cheat.member_id(), RoomOpKind::LeaveSeat);
    sim.seat(vip.member_id(), 0);
    let relay = sim.hub.state(&sim.room).unwrap().clone();
    assert_eq!(relay.seat_of(&vip.member_id()), Some(0));
    for m in [sim.host, listener.member_id()] {
        let v = sim.clients[&m].view().unwrap();
        assert_eq!(v.seat_of(&vip.member_id()), Some(0), "view of {m}");
    }
}

/// A receipt of `ledger` for a gift paid by `sender` in ledger room `room`.
fn receipt(ledger: &SigningKey, sender: MemberId, room: String) -> SignedReceipt {
    let body = GiftReceipt {
        v: 1,
        receipt_id: format!("{}/g1", hex::encode(sender.0)),
        sender: hex::encode(sender.0),
        receiver: hex::encode([7u8; 32]),
        room,
        gift: "rose".into(),
        animation: "rose.json".into(),
        coins: 10,
        diamonds: 7,
        ts_ms: 1,
    };
    Signed::sign(body, ledger).unwrap()
}

impl Sim {
    /// The gifts `m`'s client shows from the chat lines it received.
    fn gifts_shown(&mut self, m: MemberId) -> Vec<(MemberId, SignedReceipt)> {
        let c = self.clients.get_mut(&m).unwrap();
        let mut shown = Vec::new();
        while let Some(e) = c.poll_event() {
            if let RoomEvent::Chat { from, sealed } = e {
                if let Ok(RoomEvent::Gift { from, receipt }) = c.open_line(&from, &sealed) {
                    shown.push((from, *receipt));
                }
            }
        }
        shown
    }
}

#[test]
fn a_gift_is_shown_only_if_the_ledger_signed_it_for_this_room_and_its_sender_paid() {
    let ledger = SigningKey::from_bytes(&[42; 32]);
    let view = ViewAdmission {
        ledger: Some(ledger.verifying_key()),
    };
    let mut sim = Sim::with(0, Box::new(RelayAdmission::default()), view);
    let (alice, mallory, bob) = (
        Identity::from_secret_bytes(&[3; 32]),
        Identity::from_secret_bytes(&[4; 32]),
        Identity::from_secret_bytes(&[10; 32]),
    );
    for id in [&alice, &mallory, &bob] {
        sim.join(id);
    }
    let (a, m, b) = (alice.member_id(), mallory.member_id(), bob.member_id());
    let here = gift::voice_room_id(&sim.room);
    let _ = sim.gifts_shown(b);
    // Alice's genuine receipt: shown to Bob, once.
    let genuine = receipt(&ledger, a, here.clone());
    let line = sim.clients[&a].seal_gift(&genuine).unwrap();
    sim.deliver(a, line);
    assert_eq!(sim.gifts_shown(b), vec![(a, genuine.clone())]);
    // Alice cannot show a receipt of another room, or not from the ledger.
    let elsewhere = receipt(&ledger, a, "room:00".into());
    assert!(sim.clients[&a].seal_gift(&elsewhere).is_err());
    // Mallory shows Alice's receipt as hers, one for another room, one she
    // signed herself: Bob shows none of them.
    let rogue = SigningKey::from_bytes(&[66; 32]);
    for bytes in [
        gift::encode_receipt(&genuine).unwrap(),
        gift::encode_receipt(&receipt(&ledger, m, "room:00".into())).unwrap(),
        gift::encode_receipt(&receipt(&rogue, m, here.clone())).unwrap(),
        b"not a receipt".to_vec(),
    ] {
        let line = sim.clients[&m].seal_unchecked_gift(bytes).unwrap();
        sim.deliver(m, line);
    }
    assert_eq!(sim.gifts_shown(b), vec![]);
}

#[test]
fn a_listener_gone_for_good_is_removed_by_the_host_and_opens_nothing_sent_after() {
    let mut sim = Sim::new();
    let (speaker, listeners) = sim.stage(3);
    let s = speaker.member_id();
    // A listener's phone dies: its connection closes and it never returns.
    let gone = listeners[2];
    let grace = aura_relay::rooms::HubLimits::default().absent_after_ms;
    sim.hub.disconnected(&gone, sim.now);
    sim.now += grace / 2;
    sim.sweep(sim.now);
    assert!(
        sim.hub.state(&sim.room).unwrap().is_present(&gone),
        "removed early"
    );
    sim.now += grace;
    sim.sweep(sim.now);
    let relay = sim.hub.state(&sim.room).unwrap().clone();
    assert!(!relay.is_present(&gone), "still present at the relay");
    assert!(!sim.clients[&sim.host].view().unwrap().is_present(&gone));
    // The host rotated the room key: the gone listener opens nothing new.
    let frames = sim.say(s, 5);
    assert_eq!(sim.heard(&listeners[..2], &frames), vec![5, 5]);
    assert_eq!(sim.heard(&[gone], &frames), vec![0]);
}
