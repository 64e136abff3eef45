//! Fuzzes the sealed-frame decoder: the key-free header (and its re-encoding)
//! and `GroupSession::open` on arbitrary bytes (with the room id and a real
//! sender patched in so open reaches the replay window and the AEAD).
#![no_main]

use std::sync::Mutex;

use aura_crypto::{FrameHeader, GroupSession, Identity, Role, Roster, HEADER_LEN};
use libfuzzer_sys::fuzz_target;
use rand_core::OsRng;

static SESSION: Mutex<Option<(GroupSession, [u8; 8], u32)>> = Mutex::new(None);

fn setup() -> (GroupSession, [u8; 8], u32) {
    let now = 1_700_000_000_000;
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let (mut sa, _) = GroupSession::create(a, "fuzz", now, &mut OsRng).expect("create");
    sa.add_member(b.member_id(), Role::Member, None, now)
        .expect("add");
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect()).expect("roster");
    let mut sb = GroupSession::from_roster(b.clone(), roster, now, &mut OsRng);
    let env = sa.envelope_for(b.member_id(), &mut OsRng).expect("env");
    sb.accept_envelope(&env).expect("accept");
    let room = sa.group_id().room();
    let sender = sa.member_id().short_id().0;
    (sb, room, sender)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = FrameHeader::parse(data) {
        assert_eq!(h.to_bytes()[..], data[..HEADER_LEN], "header re-encodes");
    }
    let mut guard = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    let (s, room, sender) = guard.get_or_insert_with(setup);
    let mut bytes = data.to_vec();
    if bytes.len() >= HEADER_LEN {
        bytes[1..9].copy_from_slice(room);
        bytes[9..13].copy_from_slice(&sender.to_be_bytes());
    }
    let _ = s.open(&bytes, 0);
    let _ = s.take_auth_reports();
});
