//! Fuzzes what the node decodes from an opened location, chat or control
//! frame (a member's plaintext), with round trips, and what it does with
//! each control message: roster ops, addresses, geofences, gift receipts.
#![no_main]

use std::net::SocketAddr;

use aura_crypto::{GroupId, MemberId, SignedOp};
use aura_node::{
    gift,
    location::{FenceSet, FenceTracker, Position},
    wire::{self, ChatMsg, ControlMsg, LocationMsg},
};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};

/// Decodes as the node does; if it decodes, re-encoding is stable.
fn decode<T: Serialize + DeserializeOwned>(data: &[u8]) -> Option<T> {
    let v = wire::decode::<T>(data)?;
    let bytes = wire::encode(&v);
    let again = wire::decode::<T>(&bytes).expect("re-decode");
    assert_eq!(wire::encode(&again), bytes, "payload round trip");
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    if let Some(m) = decode::<LocationMsg>(data) {
        if let Some(fix) = m.to_fix() {
            let _ = LocationMsg::from_fix(&fix);
        }
    }
    if let Some(m) = decode::<ChatMsg>(data) {
        let _ = m.text.len() <= wire::MAX_CHAT_BYTES;
    }
    let Some(c) = decode::<ControlMsg>(data) else {
        return;
    };
    match c {
        ControlMsg::Op(b) => {
            let _ = SignedOp::decode(&b);
        }
        ControlMsg::Addrs(addrs) => {
            for a in addrs.iter().take(8) {
                let _ = a.parse::<libp2p::Multiaddr>();
            }
        }
        ControlMsg::MediaAddr(a) => {
            let _ = a.parse::<SocketAddr>();
        }
        ControlMsg::Fence(fence) => {
            // As the node keeps it: only a valid fence joins the group's set.
            let mut set = FenceSet::default();
            let kept = set.upsert(fence.clone()).is_ok();
            assert_eq!(kept, fence.validate().is_ok());
            let mut t = FenceTracker::new(25.0);
            for (lat, lon) in [(0.0, 0.0), (45.9, 6.87), (-89.9, 179.9)] {
                if let Some(p) = Position::new(lat, lon) {
                    let _ = t.update(set.as_slice(), &1u8, &p);
                    // Even a fence never validated must not panic a tracker.
                    let _ = t.update(std::slice::from_ref(&fence), &2u8, &p);
                }
            }
        }
        ControlMsg::FenceRemoved(name) => {
            let mut set = FenceSet::default();
            let _ = set.remove(&name);
            let mut t = FenceTracker::<u8>::new(25.0);
            t.forget_fence(&name);
        }
        ControlMsg::Gift(b) => {
            let service = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
            let _ = gift::check_receipt(&b, Some(&service), GroupId([3; 32]), MemberId([2; 32]));
        }
        ControlMsg::Profile(b) => {
            let sender = aura_crypto::MemberId([2; 32]);
            let _ = aura_node::people::SignedProfile::open(&b, &sender);
        }
        ControlMsg::KeyRequest | ControlMsg::Presence { .. } => {}
    }
});
