//! Fuzzes a group's gossip messages as the node reads them: the size-limited
//! postcard decode of `GossipMsg` (with a decode → encode → decode round
//! trip), then what each variant is decoded into (a sealed frame's header,
//! key envelopes).
#![no_main]

use aura_crypto::{FrameHeader, KeyEnvelope};
use aura_node::wire::{self, GossipMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(msg) = wire::decode::<GossipMsg>(data) else {
        return;
    };
    let bytes = wire::encode(&msg);
    let again = wire::decode::<GossipMsg>(&bytes).expect("re-decode");
    assert_eq!(wire::encode(&again), bytes, "gossip round trip");
    match msg {
        GossipMsg::Frame(f) => {
            let _ = FrameHeader::parse(&f);
        }
        GossipMsg::Keys(list) => {
            for e in &list {
                let _ = KeyEnvelope::decode(e);
            }
        }
    }
});
