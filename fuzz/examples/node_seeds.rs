//! Writes the seed corpora (a handful of valid encodings per target) into
//! `corpus/<target>/`. Run from `fuzz/`:
//! `cargo run --example node_seeds` (stable is enough).

mod common;

use common::{write, Res};
use std::sync::{Arc, Mutex};

use aura_billing::signed::{GiftReceipt, Signed};
use aura_crypto::{FrameKind, GroupId, GroupSession, Hint, Identity, Invite, Role, Roster};
use aura_node::{
    config::Config,
    gift,
    location::{Geofence, Position, Precision, Shape},
    media::MediaRoom,
    net::{rpc_codec, GROUP_PROTOCOL},
    voice::{payload, ReceiverReport, VoicePayload},
    wire::{self, ChatMsg, ControlMsg, GossipMsg, LocationMsg, Request, Response},
};
use ed25519_dalek::SigningKey;
use futures::{executor::block_on, io::Cursor};
use libp2p::{request_response::Codec, StreamProtocol};
use rand::{rngs::StdRng, SeedableRng};

fn rpc_request(r: Request) -> Res<Vec<u8>> {
    let mut out = Cursor::new(vec![0u8]);
    out.set_position(1);
    block_on(rpc_codec().write_request(&StreamProtocol::new(GROUP_PROTOCOL), &mut out, r))?;
    Ok(out.into_inner())
}

fn rpc_response(r: Response) -> Res<Vec<u8>> {
    let mut out = Cursor::new(vec![1u8]);
    out.set_position(1);
    block_on(rpc_codec().write_response(&StreamProtocol::new(GROUP_PROTOCOL), &mut out, r))?;
    Ok(out.into_inner())
}

fn main() -> Res<()> {
    let now = 1_700_000_000_000;
    let mut rng = StdRng::seed_from_u64(1);
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let (mut sa, _) = GroupSession::create(a.clone(), "fuzz", now, &mut rng)?;
    sa.add_member(b.member_id(), Role::Member, None, now)?;
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect())?;
    let mut sb = GroupSession::from_roster(b.clone(), roster, now, &mut rng);
    let env = sa.envelope_for(b.member_id(), &mut rng)?;
    sb.accept_envelope(&env)?;
    let gid = sa.group_id();

    // Gossip.
    let chat = wire::encode(&ChatMsg {
        at_ms: now,
        text: "hello".into(),
    });
    let frame = sa.seal(FrameKind::Chat, &chat, now)?;
    write("gossip", "frame", &wire::encode(&GossipMsg::Frame(frame)))?;
    write(
        "gossip",
        "keys",
        &wire::encode(&GossipMsg::Keys(vec![env.encode()])),
    )?;

    // Frame payloads.
    let pos = Position::new(45.9, 6.87).ok_or("position")?;
    let fix = aura_node::location::Fix {
        pos,
        at_ms: now,
        precision: Precision::Approx100m,
    };
    write(
        "frame_payload",
        "location",
        &wire::encode(&LocationMsg::from_fix(&fix)),
    )?;
    write("frame_payload", "chat", &chat)?;
    let op = sa.roster().ops().last().ok_or("op")?.encode()?;
    let service = SigningKey::from_bytes(&[1; 32]);
    let body = GiftReceipt {
        v: 1,
        receipt_id: format!("{}/g1", hex(&[2; 32])),
        sender: hex(&[2; 32]),
        receiver: hex(&[7; 32]),
        room: gift::room_id(GroupId([3; 32])),
        gift: "rose".into(),
        animation: "rose.json".into(),
        coins: 10,
        diamonds: 7,
        ts_ms: 1,
    };
    let receipt = gift::encode_receipt(&Signed::sign(body.clone(), &service)?)?;
    let controls = [
        ("op", ControlMsg::Op(op.clone())),
        (
            "addrs",
            ControlMsg::Addrs(vec!["/ip4/192.0.2.1/udp/4001/quic-v1".into()]),
        ),
        ("media-addr", ControlMsg::MediaAddr("192.0.2.1:5000".into())),
        ("key-request", ControlMsg::KeyRequest),
        (
            "fence-circle",
            ControlMsg::Fence(Geofence {
                name: "home".into(),
                shape: Shape::Circle {
                    center: pos,
                    radius_m: 150.0,
                },
            }),
        ),
        (
            "fence-polygon",
            ControlMsg::Fence(Geofence {
                name: "park".into(),
                shape: Shape::Polygon(vec![
                    pos,
                    pos.offset_m(100.0, 0.0),
                    pos.offset_m(0.0, 100.0),
                ]),
            }),
        ),
        ("fence-removed", ControlMsg::FenceRemoved("home".into())),
        ("gift", ControlMsg::Gift(receipt.clone())),
    ];
    for (name, c) in &controls {
        write("frame_payload", name, &wire::encode(c))?;
    }

    // Join, sync and keys.
    let invite = Invite::create(
        sa.roster(),
        &a,
        u64::MAX,
        5,
        vec![Hint {
            peer: a.peer_id().to_string(),
            addrs: vec!["/ip4/192.0.2.1/tcp/4001".into()],
        }],
        &mut rng,
    )?;
    let text = invite.to_text()?;
    write(
        "rpc",
        "join",
        &rpc_request(Request::Join {
            invite: text.clone(),
        })?,
    )?;
    let heads = sa.roster().heads().iter().map(|h| h.0).collect();
    write(
        "rpc",
        "sync",
        &rpc_request(Request::Sync {
            group: gid.0,
            heads,
        })?,
    )?;
    write(
        "rpc",
        "keys",
        &rpc_request(Request::Keys {
            group: gid.0,
            envelopes: vec![env.encode()],
        })?,
    )?;
    write(
        "rpc",
        "avatar",
        &rpc_request(Request::Avatar {
            group: gid.0,
            hash: [7; 32],
        })?,
    )?;
    let ops = sa
        .roster()
        .ops()
        .map(|o| o.encode())
        .collect::<Result<Vec<_>, _>>()?;
    let peers = vec![(
        a.peer_id().to_string(),
        vec!["/ip4/192.0.2.1/tcp/4001".into()],
    )];
    write(
        "rpc",
        "welcome",
        &rpc_response(Response::Welcome {
            ops,
            envelopes: vec![env.encode()],
            peers,
        })?,
    )?;
    write(
        "rpc",
        "refused",
        &rpc_response(Response::Refused("no".into()))?,
    )?;
    write("rpc", "ack", &rpc_response(Response::Ack)?)?;

    // Media: voice payloads, sealed voice frames, receiver reports.
    let mut room = MediaRoom::new(Arc::new(Mutex::new(sa)));
    let payloads = [
        VoicePayload {
            flags: 0,
            seq: 1,
            ts: 960,
            opus: vec![0xf8, 0xff, 0xfe],
        },
        VoicePayload {
            flags: payload::FLAG_MUSIC | payload::FLAG_10MS,
            seq: 2,
            ts: 1440,
            opus: vec![0xfc; 40],
        },
        VoicePayload {
            flags: payload::FLAG_END,
            seq: 3,
            ts: 2400,
            opus: vec![0x08, 1, 2, 3],
        },
    ];
    for (i, p) in payloads.iter().enumerate() {
        write("voice_payload", &i.to_string(), &p.to_bytes())?;
        for (j, f) in room.seal(p, now)?.iter().enumerate() {
            write("media_datagram", &format!("voice-{i}-{j}"), f)?;
        }
    }
    if let Some(sig) = room.flush()? {
        write("media_datagram", "voice-sig", &sig)?;
    }
    // A's signed report to B about B's stream (as the target's rig expects).
    let report = ReceiverReport {
        expected: 50,
        lost: 5,
        jitter_100us: 12,
        delay_100us: 40,
    };
    let signed =
        aura_media::SignedReport::sign(&a, room.room_id(), b.member_id().short_id(), 1, &report);
    write("media_datagram", "report", &signed)?;
    write("voice_room", "zeros", &[0; 64])?;
    write("voice_room", "ramp", &(0..=255).collect::<Vec<u8>>())?;

    // Config files.
    write(
        "node_config",
        "default",
        toml::to_string(&Config::default())?.as_bytes(),
    )?;
    write(
        "node_config",
        "loopback",
        toml::to_string(&Config::loopback("/tmp/aura".into()))?.as_bytes(),
    )?;
    let mut c = Config::default();
    c.bootstrap = vec![format!("/ip4/192.0.2.1/tcp/4001/p2p/{}", a.peer_id())];
    c.billing_service_key = Some(hex(&service.verifying_key().to_bytes()));
    c.billing_url = Some("https://ledger.example".into());
    write("node_config", "full", toml::to_string(&c)?.as_bytes())?;
    write(
        "node_config",
        "partial",
        b"retention_days = 3\nbootstrap = [\"/ip4/1.2.3.4/tcp/1\"]\n",
    )?;

    // Invite codes (text, and a body for the structured path).
    write("invite_code", "text", text.as_bytes())?;
    write("invite_code", "body", &postcard::to_allocvec(&invite.body)?)?;

    // Gift receipts (the signed JSON, and bodies for the structured path).
    write("node_gift_receipt", "signed", &receipt)?;
    write("node_gift_receipt", "body", &serde_json::to_vec(&body)?)?;
    let mut spaced = b" ".to_vec();
    spaced.extend(serde_json::to_vec(&body)?);
    write("node_gift_receipt", "body-here", &spaced)?;

    // Profiles (a signed one, and a body for the structured path).
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(64, 0);
    let avatar = aura_node::people::AvatarRef::of(&png)?;
    let profile = aura_node::people::Profile::new(
        b.member_id(),
        now,
        "Ben",
        Some("on the ridge"),
        Some(avatar),
    )?;
    write("profile", "body", &postcard::to_allocvec(&profile)?)?;
    write("profile", "signed", &profile.sign(&b)?.encode())?;

    // Voice models blobs: records as libopus lays them out (a 64-byte head,
    // the data padded to its block size), one and two of them.
    let one = model_record("x", &[1, 2, 3, 4]);
    write("voice_models", "one_record", &one)?;
    let mut two = one.clone();
    two.extend(model_record("y", &[7; 100]));
    write("voice_models", "two_records", &two)?;
    Ok(())
}

/// One record of libopus's weights blob: magic, version 0, type 1 (int8),
/// size, block size (the size rounded up to 64), a NUL-terminated name in
/// 44 bytes, then the data padded to the block size.
fn model_record(name: &str, data: &[u8]) -> Vec<u8> {
    let block = data.len().div_ceil(64) * 64;
    let mut r = b"DNNw".to_vec();
    for v in [0u32, 1, data.len() as u32, block as u32] {
        r.extend(v.to_le_bytes());
    }
    let mut field = [0u8; 44];
    field[..name.len()].copy_from_slice(name.as_bytes());
    r.extend(field);
    r.extend(data);
    r.resize(64 + block, 0);
    r
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
