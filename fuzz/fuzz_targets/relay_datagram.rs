//! Fuzzes what reaches the relay's media forwarder: a sequence of datagrams
//! (frames, reports, joins, leaves, tokens, junk) on the connections of a
//! few members and an outsider, into one sans-IO `Forwarder` with token
//! access and tight limits. Each op picks the connection, whether the
//! room id and the connection's own short id (or key) are patched in, and
//! how far the clock moves.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use aura_crypto::{FrameHeader, Identity, MemberId, HEADER_LEN};
use aura_media::{RelayControl, ReportHeader};
use aura_relay::selection::Selection;
use aura_relay::{Access, Forwarder, Limits, Outcome};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Op {
    who: u8,
    patch: u8,
    ms: u16,
    bytes: Vec<u8>,
}

const ROOMS: [[u8; 8]; 2] = [[1; 8], [2; 8]];

fn id(n: u8) -> MemberId {
    Identity::from_secret_bytes(&[n; 32]).member_id()
}

fuzz_target!(|ops: Vec<Op>| {
    let ledger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    let limits = Limits {
        max_sessions: 3,
        rooms_per_member: 1,
        members_per_room: 2,
        max_rooms: 2,
        bytes_per_s: 10_000,
        burst_bytes: 2_000,
        // Two seats for four members, so the loudest-speaker choice is fuzzed.
        selection: Selection {
            max_speakers: 2,
            ..Selection::default()
        },
    };
    let mut f: Forwarder<u8> = Forwarder::new(
        limits.clone(),
        Access::Token {
            ledger,
            capability: None,
        },
    );
    let mut now = Instant::now();
    let members = [id(1), id(2), id(3), id(4)];
    for (i, m) in members.iter().enumerate() {
        let _ = f.connect(*m, i as u8, now);
    }
    for op in ops.into_iter().take(256) {
        now += Duration::from_millis(u64::from(op.ms));
        let from = members[usize::from(op.who % 4)];
        let room = ROOMS[usize::from(op.patch & 1)];
        let mut b = op.bytes;
        match op.patch >> 1 & 3 {
            1 => b = RelayControl::Join(room).to_vec(),
            2 if b.len() >= HEADER_LEN => {
                b[0] = 0x11;
                b[1..9].copy_from_slice(&room);
                b[9..13].copy_from_slice(&from.short_id().0.to_be_bytes());
            }
            _ => {}
        }
        match f.on_datagram(&from, &b, now, 1_000) {
            Ok(Outcome::Forward(fan)) => {
                let targets: Vec<u8> = fan.copied().collect();
                let me = members.iter().position(|m| *m == from).map(|i| i as u8);
                assert!(
                    !targets.contains(&me.unwrap_or(255)),
                    "sent back to its sender"
                );
                if let Ok(h) = FrameHeader::parse(&b) {
                    assert_eq!(
                        h.sender,
                        from.short_id(),
                        "forwarded a frame of another sender"
                    );
                    assert!(
                        f.is_joined(&h.room, &from),
                        "forwarded from a member not joined"
                    );
                } else if let Ok(h) = ReportHeader::parse(&b) {
                    assert_eq!(h.author, from, "forwarded a report of another author");
                    assert!(targets.len() <= 1);
                }
            }
            Ok(Outcome::Admitted(_)) => panic!("a token verified without the ledger's key"),
            _ => {}
        }
        let c = f.counts();
        assert!(c.sessions <= limits.max_sessions && c.rooms <= limits.max_rooms);
        assert!(c.joins <= limits.members_per_room * limits.max_rooms);
    }
});
