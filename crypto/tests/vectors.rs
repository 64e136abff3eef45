//! Known-answer vectors: the frame, envelope, roster-op and invite formats
//! produced from fixed keys and a fixed RNG must match the committed files
//! byte for byte. A format change therefore means regenerating them on
//! purpose: `AURA_REGEN_VECTORS=1 cargo nextest run -p aura-crypto --test integration vectors::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{
    FrameHeader, FrameKind, GroupSession, Invite, KeyEnvelope, Role, Roster, SignedOp,
};
use common::{ident, TestRng, NOW};
use serde_json::{json, Value};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Builds every vector from fixed inputs.
fn generate() -> (Value, Value, Value) {
    let mut rng = TestRng(0x5eed);
    let (alice, bob) = (ident(1), ident(2));
    let (mut a, create) = GroupSession::create(alice.clone(), "vectors", NOW, &mut rng).unwrap();
    let add = a
        .add_member(bob.member_id(), Role::Member, None, NOW + 1)
        .unwrap();
    let roster = Roster::from_ops(a.roster().ops().cloned().collect()).unwrap();
    let mut b = GroupSession::from_roster(bob.clone(), roster, NOW, &mut rng);
    let env = a.envelope_for(bob.member_id(), &mut rng).unwrap();
    b.accept_envelope(&env).unwrap();
    a.set_voice_batch(2);
    let mut frames = Vec::new();
    let mut push = |kind: &str, payload: &[u8], frame: Vec<u8>| {
        frames.push(json!({
            "kind": kind,
            "payload_hex": hex::encode(payload),
            "frame_hex": hex::encode(frame),
        }));
    };
    let chat = b"hello aura".to_vec();
    push("chat", &chat, a.seal(FrameKind::Chat, &chat, NOW).unwrap());
    let voice = vec![0x55u8; 100];
    let v1 = a.seal_voice(&voice, NOW).unwrap();
    push("voice", &voice, v1.frame);
    let loc = b"47.3769,8.5417".to_vec();
    push(
        "location",
        &loc,
        a.seal(FrameKind::Location, &loc, NOW).unwrap(),
    );
    let v2 = a.seal_voice(&voice, NOW).unwrap();
    push("voice", &voice, v2.frame);
    push("voice_sig", &[], v2.sig_frame.unwrap());
    let frames = json!({
        "description": "aura sealed frames v1: header(19) || ChaCha20-Poly1305(ct) || tag(16); sender = alice (secret 0x01*32), receiver = bob (secret 0x02*32), TestRng(0x5eed) SplitMix64, now = 1700000000000, voice batch K = 2",
        "sender_secret_hex": hex::encode([1u8; 32]),
        "receiver_secret_hex": hex::encode([2u8; 32]),
        "frames": frames,
    });
    let envelope = json!({
        "description": "aura key envelope v1 (247 bytes) from alice to bob, epoch 0 step 0",
        "sender_secret_hex": hex::encode([1u8; 32]),
        "recipient_secret_hex": hex::encode([2u8; 32]),
        "envelope_hex": hex::encode(env.encode()),
    });
    let invite = Invite::create(a.roster(), &alice, NOW + 86_400_000, 3, vec![], &mut rng).unwrap();
    let roster = json!({
        "description": "roster ops (postcard) and an invite text for the same group",
        "create_hex": hex::encode(create.encode().unwrap()),
        "add_hex": hex::encode(add.encode().unwrap()),
        "short_head": a.roster().short_head(),
        "invite_text": invite.to_text().unwrap(),
    });
    (frames, envelope, roster)
}

fn check(name: &str, v: &Value) {
    let path = dir().join(name);
    let text = serde_json::to_string_pretty(v).unwrap() + "\n";
    if std::env::var_os("AURA_REGEN_VECTORS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        committed, text,
        "{name}: format changed; regenerate deliberately with AURA_REGEN_VECTORS=1"
    );
}

#[test]
fn vectors_reproduce_byte_for_byte() {
    let (frames, envelope, roster) = generate();
    check("frames.json", &frames);
    check("envelope.json", &envelope);
    check("roster.json", &roster);
}

#[test]
fn committed_vectors_open() {
    let load = |n: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir().join(n)).unwrap()).unwrap()
    };
    let h = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let roster = load("roster.json");
    let ops = vec![
        SignedOp::decode(&h(&roster["create_hex"])).unwrap(),
        SignedOp::decode(&h(&roster["add_hex"])).unwrap(),
    ];
    let r = Roster::from_ops(ops).unwrap();
    assert_eq!(r.short_head(), roster["short_head"].as_str().unwrap());
    let invite = Invite::parse(roster["invite_text"].as_str().unwrap(), NOW).unwrap();
    assert_eq!(invite.body.group, r.group_id());
    let mut b = GroupSession::from_roster(ident(2), r, NOW, &mut TestRng(9));
    let env = KeyEnvelope::decode(&h(&load("envelope.json")["envelope_hex"])).unwrap();
    assert_eq!(b.accept_envelope(&env).unwrap(), Some(0));
    let frames = load("frames.json");
    for (i, f) in frames["frames"].as_array().unwrap().iter().enumerate() {
        let bytes = h(&f["frame_hex"]);
        let hdr = FrameHeader::parse(&bytes).unwrap();
        assert_eq!(hdr.counter, i as u32);
        let o = b.open(&bytes, NOW).unwrap();
        assert_eq!(o.payload, h(&f["payload_hex"]));
    }
    let reports = b.take_auth_reports();
    assert_eq!(reports.len(), 2);
    assert!(reports
        .iter()
        .all(|r| r.verdict == aura_crypto::Verdict::Verified));
}
