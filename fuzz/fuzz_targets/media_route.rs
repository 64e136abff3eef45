//! Fuzzes a datagram arriving on the media endpoint, as the endpoint and a
//! talker handle it (and, first, as a relay splits a room frame's level): `RoutingTable::route` (framing, frame or report header,
//! room, membership, direct or relay hop), then a routed report through the
//! talker's `ReportInbox`. The first input byte picks the connection's peer
//! (a member of both rooms, a member of one, a relay, an outsider); the
//! second, whether the known room id and the peer's short id are patched
//! in so that inputs get past the room and sender checks.
#![no_main]

use aura_crypto::{FrameHeader, Identity, MemberId, HEADER_LEN};
use aura_media::{Header, Hop, ReportInbox, RoutingTable};
use libfuzzer_sys::fuzz_target;

const ROOMS: [[u8; 8]; 2] = [[1; 8], [2; 8]];

fn id(n: u8) -> MemberId {
    Identity::from_secret_bytes(&[n; 32]).member_id()
}

fuzz_target!(|data: &[u8]| {
    if let Ok((level, frame)) = aura_media::level::split_level(data) {
        assert!(level <= aura_media::level::SILENCE);
        assert_eq!(aura_media::level::with_level(level, frame), data);
    }
    let [who, patch, rest @ ..] = data else {
        return;
    };
    let members = [id(1), id(2), id(3)];
    let relay = id(5);
    let peer = match who % 4 {
        0 => members[0],
        1 => members[1],
        2 => relay,
        _ => id(9),
    };
    let mut t = RoutingTable::new();
    t.open(ROOMS[0], 0usize, members).expect("open");
    t.open(ROOMS[1], 1usize, [members[0], members[2]]).expect("open");
    t.add_relay(relay).expect("relay");
    let mut bytes = rest.to_vec();
    let room = ROOMS[usize::from(patch & 1)];
    if patch & 2 != 0 && bytes.len() >= HEADER_LEN {
        bytes[1..9].copy_from_slice(&room);
        if bytes.len() >= 41 && bytes[0] == aura_media::report::REPORT_TAG {
            bytes[9..41].copy_from_slice(&peer.0);
        } else {
            bytes[9..13].copy_from_slice(&peer.short_id().0.to_be_bytes());
        }
    }
    let Ok(r) = t.route(&peer, &bytes) else {
        return;
    };
    let (room, sender, hop, header) = (r.room, r.sender, r.hop, r.header);
    assert!(t.is_member(&room, &sender), "routed from a non-member");
    assert!(hop == Hop::Relay || sender == peer, "direct peer spoke for another");
    assert_eq!(hop == Hop::Relay, peer == relay);
    match header {
        Header::Sealed(h) => {
            assert_eq!(h.room, room);
            assert_eq!(h.to_bytes()[..], bytes[..HEADER_LEN], "header re-encodes");
            assert_eq!(FrameHeader::parse(&bytes).ok(), Some(h));
        }
        Header::Report(h) => {
            assert_eq!((h.room, h.author), (room, sender));
            // The talker it is about verifies it end to end.
            let Some(talker) = members.iter().find(|m| m.short_id() == h.about) else {
                return;
            };
            let mut inbox = ReportInbox::new(room, talker);
            if let Ok(v) = inbox.on_report(&bytes, |m| t.is_member(&room, m)) {
                assert_eq!(v.header, h);
                assert!(v.report.lost <= v.report.expected);
            }
        }
    }
});
