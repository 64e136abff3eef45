//! Fuzzes the relay's room control plane: the stream reader and the
//! control message decoders on arbitrary bytes, then what decodes into one
//! sans-IO `Hub` (a room created by a known host) from a few members, and
//! restores into a second, empty one (a relay taking a room over). No
//! input may panic, a refused message may deliver nothing, and the room
//! stays within its limits.
#![no_main]

use arbitrary::Arbitrary;
use aura_crypto::room::{Access, RoomId, RoomOp, RoomOpKind};
use aura_crypto::Identity;
use aura_relay::rooms::{ClientMsg, Hub, HubLimits, Reader, RelayAdmission, ServerMsg};
use libfuzzer_sys::fuzz_target;

const T0: u64 = 1_800_000_000_000;

#[derive(Arbitrary, Debug)]
struct Input {
    chunks: Vec<(u8, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let host = Identity::from_secret_bytes(&[1; 32]);
    let members = [host.member_id(), Identity::from_secret_bytes(&[2; 32]).member_id()];
    let limits = HubLimits {
        max_rooms: 2,
        members_per_room: 4,
        max_log: 16,
        rooms_per_host: 1,
        absent_after_ms: 1_000,
    };
    let mut hub = Hub::new(limits.clone(), Box::new(RelayAdmission::default()));
    let Ok(create) = (RoomOp {
        room: RoomId::default(),
        author: host.member_id(),
        at_ms: T0,
        kind: RoomOpKind::Create {
            name: "f".into(),
            access: Access::Ticket,
            seats: 2,
            vip_seats: 0,
            vip_only: false,
            nonce: [0; 16],
        },
    })
    .sign(&host) else {
        return;
    };
    let Ok(bytes) = create.encode() else { return };
    if hub.on_message(&members[0], ClientMsg::Op(bytes), T0).is_err() {
        return;
    }
    let mut fresh = Hub::new(limits.clone(), Box::new(RelayAdmission::default()));
    let mut readers = [Reader::default(), Reader::default()];
    for (i, (who, chunk)) in input.chunks.into_iter().take(64).enumerate() {
        let w = usize::from(who & 1);
        let _ = ServerMsg::decode(&chunk);
        let r = &mut readers[w];
        r.feed(&chunk);
        loop {
            match r.next_message() {
                Ok(Some(m)) => {
                    let now = T0 + i as u64;
                    let msg = match ClientMsg::decode(&m) {
                        Ok(ClientMsg::Restore { room, accepted_ms, op }) => {
                            if let Ok(fx) = fresh.restore(&members[w], room, accepted_ms, op, now) {
                                assert!(fx.sends.is_empty(), "a restore sent something");
                            }
                            None
                        }
                        Ok(ClientMsg::Restored(room)) => {
                            let _ = fresh.end_restore(&members[w], &room, now);
                            None
                        }
                        Ok(msg) => Some(msg),
                        Err(_) => None,
                    };
                    if let Some(msg) = msg {
                        if let Ok(fx) = hub.on_message(&members[w], msg, now) {
                            for d in &fx.sends {
                                assert!(d.msg.encode().len() <= 2 + aura_relay::rooms::MAX_MESSAGE);
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    *r = Reader::default();
                    break;
                }
            }
        }
        assert!(r.pending() <= 2 + aura_relay::rooms::MAX_MESSAGE + chunk.len());
        assert!(hub.room_count() <= limits.max_rooms);
        assert!(fresh.room_count() <= limits.max_rooms);
        // A chunk whose first byte is odd closes the other member's
        // connection; absent members are swept as time goes on.
        let now = T0 + i as u64 * 100;
        if chunk.first().is_some_and(|b| b & 1 == 1) {
            hub.disconnected(&members[1 - w], now);
        }
        for (_, fx) in hub.sweep(now) {
            for d in &fx.sends {
                assert_eq!(d.to, vec![members[0]], "only the host is told");
            }
        }
    }
});
