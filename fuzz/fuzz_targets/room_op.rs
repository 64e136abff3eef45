//! Fuzzes the room op, ticket, speaker key and opened chat line decoders,
//! and applying decoded ops to a room.
#![no_main]

use aura_crypto::room::chat::ChatLine;
use aura_crypto::room::{
    Access, Admission, RoomId, RoomOp, RoomOpKind, RoomState, RoomTicket, SignedRoomOp, SpeakerKey,
};
use aura_crypto::{GroupId, Identity, MemberId};
use libfuzzer_sys::fuzz_target;

struct Everyone;

impl Admission for Everyone {
    fn in_group(&self, _: &GroupId, _: &MemberId) -> bool {
        true
    }
    fn is_vip(&self, _: &MemberId, _: &[u8], _: u64) -> bool {
        true
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = SpeakerKey::decode(data) {
        assert_eq!(k.encode(), data);
    }
    if let Ok(line) = ChatLine::decode(data) {
        assert_eq!(line.encode().expect("encode"), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = RoomTicket::parse(text) {
            let again = RoomTicket::parse(&t.to_text().expect("text")).expect("parse");
            assert_eq!(again, t);
        }
    }
    if let Ok(op) = SignedRoomOp::decode(data) {
        let bytes = op.encode().expect("encode");
        assert_eq!(SignedRoomOp::decode(&bytes).as_ref(), Ok(&op));
        let host = Identity::from_secret_bytes(&[1; 32]);
        let create = RoomOp {
            room: RoomId::default(),
            author: host.member_id(),
            at_ms: 0,
            kind: RoomOpKind::Create {
                name: "fuzz".into(),
                access: Access::Group(GroupId::default()),
                seats: 8,
                vip_seats: 2,
                vip_only: false,
                nonce: [0; 16],
            },
        }
        .sign(&host)
        .expect("sign");
        let mut room = RoomState::create(&create).expect("create");
        let _ = room.apply(&op, op.op().at_ms, &Everyone);
        if let Some(id) = op.created_room() {
            assert!(RoomState::create(&op).is_ok_and(|r| r.id() == id));
        }
    }
});
