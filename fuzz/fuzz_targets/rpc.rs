//! Fuzzes the join/sync/keys protocol (`/aura/group/1`) as the node reads
//! it: the node's own request-response codec (CBOR, size-limited) decodes a
//! request (first byte even) or a response (odd), with a write → read round
//! trip, then the contents are decoded as the node does (invites, heads,
//! key envelopes, roster ops and a roster built from them, peer addresses,
//! carried gossip).
#![no_main]

use aura_crypto::{Invite, KeyEnvelope, Roster, SignedOp};
use aura_node::{
    net::{rpc_codec, GROUP_PROTOCOL},
    wire::{Request, Response},
};
use futures::{executor::block_on, io::Cursor};
use libfuzzer_sys::fuzz_target;
use libp2p::{request_response::Codec, PeerId, StreamProtocol};

fn on_request(r: Request) {
    match r {
        Request::Join { invite } => {
            let _ = Invite::parse(&invite, 0);
        }
        Request::Sync { heads, .. } => {
            let _ = heads.into_iter().take(64).count();
        }
        Request::Keys { envelopes, .. } => {
            for e in envelopes.iter().take(16) {
                let _ = KeyEnvelope::decode(e);
            }
        }
        Request::Avatar { .. } => {}
        Request::Carry { messages, .. } => {
            for m in messages.iter().take(16) {
                let _ = aura_node::wire::decode::<aura_node::wire::GossipMsg>(m);
            }
        }
    }
}

fn on_response(r: Response) {
    if let Response::Welcome {
        ops,
        envelopes,
        peers,
    } = r
    {
        let ops: Vec<SignedOp> = ops
            .iter()
            .filter_map(|b| SignedOp::decode(b).ok())
            .collect();
        let _ = Roster::from_ops(ops);
        for e in &envelopes {
            let _ = KeyEnvelope::decode(e);
        }
        for (p, addrs) in peers.into_iter().take(64) {
            let _ = p.parse::<PeerId>();
            for a in addrs.iter().take(8) {
                let _ = a.parse::<libp2p::Multiaddr>();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let proto = StreamProtocol::new(GROUP_PROTOCOL);
    let mut codec = rpc_codec();
    block_on(async {
        if which % 2 == 0 {
            let Ok(req) = codec.read_request(&proto, &mut Cursor::new(body)).await else {
                return;
            };
            let mut out = Cursor::new(Vec::new());
            codec
                .write_request(&proto, &mut out, req.clone())
                .await
                .expect("write");
            let bytes = out.into_inner();
            let again = codec
                .read_request(&proto, &mut Cursor::new(&bytes))
                .await
                .expect("re-read");
            let mut out2 = Cursor::new(Vec::new());
            codec
                .write_request(&proto, &mut out2, again)
                .await
                .expect("re-write");
            assert_eq!(out2.into_inner(), bytes, "request round trip");
            on_request(req);
        } else {
            let Ok(resp) = codec.read_response(&proto, &mut Cursor::new(body)).await else {
                return;
            };
            let mut out = Cursor::new(Vec::new());
            codec
                .write_response(&proto, &mut out, resp.clone())
                .await
                .expect("write");
            let bytes = out.into_inner();
            let again = codec
                .read_response(&proto, &mut Cursor::new(&bytes))
                .await
                .expect("re-read");
            let mut out2 = Cursor::new(Vec::new());
            codec
                .write_response(&proto, &mut out2, again)
                .await
                .expect("re-write");
            assert_eq!(out2.into_inner(), bytes, "response round trip");
            on_response(resp);
        }
    });
});
