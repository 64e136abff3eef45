//! Fuzzes a datagram (or a frame read from a stream) arriving on the media
//! endpoint, dispatched as the voice engine does: size-limited, a receiver
//! report by its tag, else a sealed media frame for the room (with the room
//! id and a real sender patched in so it reaches the session).
#![no_main]

use std::sync::{Arc, Mutex};

use aura_crypto::{GroupSession, Identity, Role, Roster, HEADER_LEN};
use aura_node::{
    media::{endpoint::MAX_FRAME, MediaRoom},
    voice::{feedback::is_report, FeedbackBook},
};
use libfuzzer_sys::fuzz_target;
use rand::{rngs::StdRng, SeedableRng};

struct Rig {
    room: MediaRoom,
    book: FeedbackBook<u8>,
    id: [u8; 8],
    sender: u32,
    now_us: u64,
}

static RIG: Mutex<Option<Rig>> = Mutex::new(None);

fn rig() -> Rig {
    let now = 1_700_000_000_000;
    let mut rng = StdRng::seed_from_u64(1);
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let (mut sa, _) = GroupSession::create(a, "fuzz", now, &mut rng).expect("create");
    sa.add_member(b.member_id(), Role::Member, None, now)
        .expect("add");
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect()).expect("roster");
    let mut sb = GroupSession::from_roster(b, roster, now, &mut rng);
    let env = sa.envelope_for(sb.member_id(), &mut rng).expect("env");
    sb.accept_envelope(&env).expect("accept");
    let room = MediaRoom::new(Arc::new(Mutex::new(sb)));
    Rig {
        id: room.room_id(),
        room,
        book: FeedbackBook::default(),
        sender: sa.member_id().short_id().0,
        now_us: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_FRAME {
        return; // the endpoint drops these before anyone reads them
    }
    let mut guard = RIG.lock().unwrap_or_else(|e| e.into_inner());
    let r = guard.get_or_insert_with(rig);
    if is_report(data) {
        let _ = r.book.on_datagram(0, data, r.id);
        let _ = r.book.take_losses();
        return;
    }
    let mut bytes = data.to_vec();
    if bytes.len() >= HEADER_LEN {
        bytes[1..9].copy_from_slice(&r.id);
        bytes[9..13].copy_from_slice(&r.sender.to_be_bytes());
    }
    r.now_us += 20_000;
    let _ = r.room.on_frame(&bytes, r.now_us, 0);
    let _ = r.room.poll(r.now_us);
});
