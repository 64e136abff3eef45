//! Fuzzes a datagram (or a frame read from a stream) arriving at B on A's
//! media connection, dispatched as the endpoint and B's voice engine do:
//! routed by aura-media's `RoutingTable` (size limit, frame or report
//! header, room, sender), then a receiver report through B's `ReportInbox`
//! (signature, sequence), else the sealed frame into B's `MediaRoom` (with
//! the room id and A's short id patched in so that it reaches the session).
#![no_main]

use std::sync::{Arc, Mutex};

use aura_crypto::{GroupSession, Identity, MemberId, Role, Roster, HEADER_LEN};
use aura_media::{Header, ReportInbox, RoutingTable};
use aura_node::media::MediaRoom;
use libfuzzer_sys::fuzz_target;
use rand::{rngs::StdRng, SeedableRng};

struct Rig {
    room: MediaRoom,
    table: RoutingTable<()>,
    inbox: ReportInbox,
    a: MemberId,
    id: [u8; 8],
    now_us: u64,
}

static RIG: Mutex<Option<Rig>> = Mutex::new(None);

fn rig() -> Rig {
    let now = 1_700_000_000_000;
    let mut rng = StdRng::seed_from_u64(1);
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let (mut sa, _) = GroupSession::create(a.clone(), "fuzz", now, &mut rng).expect("create");
    sa.add_member(b.member_id(), Role::Member, None, now)
        .expect("add");
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect()).expect("roster");
    let mut sb = GroupSession::from_roster(b.clone(), roster, now, &mut rng);
    let env = sa.envelope_for(sb.member_id(), &mut rng).expect("env");
    sb.accept_envelope(&env).expect("accept");
    let room = MediaRoom::new(Arc::new(Mutex::new(sb)));
    let id = room.room_id();
    let mut table = RoutingTable::new();
    table.open(id, (), room.members()).expect("open the room");
    Rig {
        inbox: ReportInbox::new(id, &b.member_id()),
        room,
        table,
        a: a.member_id(),
        id,
        now_us: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut guard = RIG.lock().unwrap_or_else(|e| e.into_inner());
    let r = guard.get_or_insert_with(rig);
    let mut bytes = data.to_vec();
    if bytes.len() >= HEADER_LEN && bytes[0] >> 4 == aura_crypto::frame::FRAME_VERSION {
        bytes[1..9].copy_from_slice(&r.id);
        bytes[9..13].copy_from_slice(&r.a.short_id().0.to_be_bytes());
    }
    let header = match r.table.route(&r.a, &bytes) {
        Ok(routed) => routed.header,
        Err(_) => return, // the endpoint drops it and counts it
    };
    match header {
        Header::Report(_) => {
            let (room, inbox) = (&r.room, &mut r.inbox);
            let _ = inbox.on_report(&bytes, |m| room.is_member(m));
        }
        Header::Sealed(_) => {
            r.now_us += 20_000;
            let _ = r.room.on_frame_from(&r.a, &bytes, r.now_us, 0);
            let _ = r.room.poll(r.now_us);
        }
    }
});
