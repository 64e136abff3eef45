//! Fuzzes the talker's receiver-report inbox against forgers and
//! replayers: members A and B sign reports with any sequence numbers and
//! counts; the attacker alters bytes of them, swaps authors, replays old
//! ones, or sends raw bytes. The inbox accepts a report exactly when it is
//! byte for byte one its named author signed, about us, in our room, with a
//! sequence number above everything accepted from that author before.
#![no_main]

use std::collections::{HashMap, HashSet};

use arbitrary::Arbitrary;
use aura_crypto::{Identity, MemberId};
use aura_media::{ReceiverReport, ReportInbox, SignedReport, REPORT_LEN};
use libfuzzer_sys::fuzz_target;

const ROOM: [u8; 8] = [7; 8];

#[derive(Arbitrary, Debug)]
enum Op {
    /// A member (0, 1; 2 is an outsider) signs a report about us.
    Sign { who: u8, seq: u64, counts: [u16; 4], other_room: bool, about_other: bool },
    /// Re-send a report signed earlier.
    Replay { index: u16 },
    /// Alter one byte of a report signed earlier.
    Flip { index: u16, at: u8, xor: u8 },
    /// Put another member's key as the author of a report signed earlier.
    SwapAuthor { index: u16, to: u8 },
    /// Raw bytes.
    Raw(Vec<u8>),
}

fn ids() -> [Identity; 3] {
    [1u8, 2, 9].map(|n| Identity::from_secret_bytes(&[n; 32]))
}

fuzz_target!(|ops: Vec<Op>| {
    let ids = ids();
    let me = Identity::from_secret_bytes(&[3; 32]).member_id();
    let members: HashSet<MemberId> = [ids[0].member_id(), ids[1].member_id(), me].into();
    let mut inbox = ReportInbox::new(ROOM, &me);
    let mut signed: Vec<[u8; REPORT_LEN]> = Vec::new();
    // Every report a real author signed about us in our room (genuine).
    let mut genuine: HashSet<[u8; REPORT_LEN]> = HashSet::new();
    let mut last: HashMap<MemberId, u64> = HashMap::new();
    for op in ops.into_iter().take(256) {
        let bytes: Vec<u8> = match op {
            Op::Sign { who, seq, counts, other_room, about_other } => {
                let r = ReceiverReport {
                    expected: counts[0],
                    lost: counts[1],
                    jitter_100us: counts[2],
                    delay_100us: counts[3],
                };
                let room = if other_room { [8; 8] } else { ROOM };
                let about = if about_other { ids[0].member_id() } else { me };
                let who = usize::from(who % 3);
                let b = SignedReport::sign(&ids[who], room, about.short_id(), seq, &r);
                if !other_room && !about_other && who < 2 && r.lost <= r.expected {
                    genuine.insert(b);
                }
                signed.push(b);
                b.to_vec()
            }
            Op::Replay { index } if !signed.is_empty() => {
                signed[usize::from(index) % signed.len()].to_vec()
            }
            Op::Flip { index, at, xor } if !signed.is_empty() => {
                let mut b = signed[usize::from(index) % signed.len()];
                b[usize::from(at) % REPORT_LEN] ^= xor;
                b.to_vec()
            }
            Op::SwapAuthor { index, to } if !signed.is_empty() => {
                let mut b = signed[usize::from(index) % signed.len()];
                b[9..41].copy_from_slice(&ids[usize::from(to % 3)].member_id().0);
                b.to_vec()
            }
            Op::Raw(b) => b,
            _ => continue,
        };
        let r = inbox.on_report(&bytes, |m| members.contains(m));
        let is_genuine = <[u8; REPORT_LEN]>::try_from(&bytes[..])
            .is_ok_and(|b| genuine.contains(&b));
        match r {
            Ok(v) => {
                assert!(is_genuine, "accepted a report its author did not sign");
                let prev = last.insert(v.header.author, v.seq);
                assert!(prev.is_none_or(|p| v.seq > p), "accepted a stale or replayed report");
            }
            Err(_) if is_genuine => {
                // Refused only as not new.
                let author = MemberId(bytes[9..41].try_into().expect("32 bytes"));
                let seq = u64::from_be_bytes(bytes[45..53].try_into().expect("8 bytes"));
                assert!(
                    last.get(&author).is_some_and(|&p| seq <= p),
                    "refused a fresh genuine report"
                );
            }
            Err(_) => {}
        }
    }
});
