//! Adversarial tests, each named after the attacker it defeats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{
    EnvelopeError, FrameHeader, FrameKind, GroupSession, Invite, InviteError, KeyEnvelope, Op,
    OpKind, OpenError, Role, Roster, RosterError, SignedOp, Verdict, HEADER_LEN,
};
use common::{group, ident, TestRng, NOW};

#[test]
fn non_member_cannot_open() {
    let mut rng = TestRng(1);
    let mut g = group(3, &mut rng);
    // Mallory knows the roster (it is not secret) and captures every frame
    // and every envelope on the wire, but is not a member.
    let mallory_id = ident(200);
    let roster = Roster::from_ops(g[0].roster().ops().cloned().collect()).unwrap();
    let mut mallory = GroupSession::from_roster(mallory_id.clone(), roster, NOW, &mut rng);

    let chat = g[0].seal(FrameKind::Chat, b"meet at the hut", NOW).unwrap();
    let voice = g[0].seal_voice(b"opus-bytes", NOW).unwrap().frame;
    assert_eq!(mallory.open(&chat, NOW), Err(OpenError::UnknownEpoch));
    assert_eq!(mallory.open(&voice, NOW), Err(OpenError::UnknownEpoch));

    // Nobody will seal a key to her.
    assert_eq!(
        g[0].envelope_for(mallory_id.member_id(), &mut rng)
            .unwrap_err(),
        EnvelopeError::RecipientNotMember
    );
    // Envelopes captured on the wire are addressed to members only.
    let bob = g[1].member_id();
    let env = g[0].envelope_for(bob, &mut rng).unwrap();
    assert_eq!(
        mallory.accept_envelope(&env),
        Err(EnvelopeError::WrongRecipient)
    );
    // Re-addressing the envelope to herself breaks the sender's signature.
    let mut readdressed = env.clone();
    readdressed.recipient = mallory_id.member_id();
    assert_eq!(
        mallory.accept_envelope(&readdressed),
        Err(EnvelopeError::BadSignature)
    );
    // She cannot open frames even with a key she made up and sent herself.
    let (mut own, _) = GroupSession::create(ident(201), "fake", NOW, &mut rng).unwrap();
    let fake = own.seal(FrameKind::Chat, b"x", NOW).unwrap();
    assert_eq!(g[1].open(&fake, NOW), Err(OpenError::UnknownGroup));
}

#[test]
fn removed_member_cannot_open_after_rotation() {
    let mut rng = TestRng(2);
    let mut g = group(4, &mut rng);
    let carol = g[3].member_id();
    // Before removal Carol reads Alice's frames.
    let f = g[0].seal(FrameKind::Chat, b"before", NOW).unwrap();
    assert_eq!(g[3].open(&f, NOW).unwrap().payload, b"before");

    let op = g[0].remove_member(carol, NOW + 1).unwrap();
    for s in g.iter_mut().take(3).skip(1) {
        s.apply_op(op.clone()).unwrap();
    }
    // Carol ignores the removal op (worst case: she keeps her old state).
    for s in g.iter().take(3) {
        assert!(s.needs_rotation(NOW + 1), "removal must force rotation");
    }
    let mut envelopes = Vec::new();
    for s in g.iter_mut().take(3) {
        let r = s.rotate(NOW + 2, &mut rng).unwrap();
        assert!(r.envelopes.iter().all(|e| e.recipient != carol));
        assert_eq!(r.envelopes.len(), 2);
        envelopes.extend(r.envelopes);
    }
    for e in &envelopes {
        let to = g.iter().position(|s| s.member_id() == e.recipient).unwrap();
        g[to].accept_envelope(e).unwrap();
        // Carol captures every rotation envelope too.
        assert!(g[3].accept_envelope(e).is_err());
    }
    for sender in 0..3 {
        let chat = g[sender].seal(FrameKind::Chat, b"after", NOW + 3).unwrap();
        let voice = g[sender].seal_voice(b"after-voice", NOW + 3).unwrap().frame;
        assert_eq!(g[3].open(&chat, NOW + 3), Err(OpenError::UnknownEpoch));
        assert_eq!(g[3].open(&voice, NOW + 3), Err(OpenError::UnknownEpoch));
        let other = (sender + 1) % 3;
        assert_eq!(g[other].open(&chat, NOW + 3).unwrap().payload, b"after");
    }
    // And the remaining members no longer accept frames from Carol.
    let from_carol = g[3].seal(FrameKind::Chat, b"still here", NOW + 3).unwrap();
    assert_eq!(
        g[0].open(&from_carol, NOW + 3),
        Err(OpenError::UnknownSender)
    );
}

#[test]
fn member_cannot_forge_another_members_frame() {
    let mut rng = TestRng(3);
    let mut g = group(3, &mut rng);
    let alice = g[0].member_id();
    // Mallory (member 2) holds Alice's sender key, as every member does.
    // 1. A chat frame as Alice: the inner signature cannot be made.
    let forged = g[2]
        .forge_as(
            alice,
            FrameKind::Chat,
            0,
            &[b"pay mallory".as_slice(), &[0u8; 64]].concat(),
        )
        .unwrap();
    assert_eq!(g[1].open(&forged, NOW), Err(OpenError::BadSignature));
    // Mallory signs with her own key instead: still refused.
    let mut pt = b"pay mallory".to_vec();
    pt.extend_from_slice(&g[2].identity().sign(b"whatever").to_bytes());
    let forged = g[2].forge_as(alice, FrameKind::Location, 1, &pt).unwrap();
    assert_eq!(g[1].open(&forged, NOW), Err(OpenError::BadSignature));

    // 2. Voice: the forged frame plays (voice cannot wait) but Alice's batch
    // signature reveals it within one batch; it took nothing from Alice.
    g[0].set_voice_batch(4);
    let mut sig_frame = None;
    let mut genuine = Vec::new();
    for i in 0..4 {
        let sv = g[0].seal_voice(&[i; 40], NOW).unwrap();
        genuine.push(sv.frame);
        sig_frame = sv.sig_frame.or(sig_frame);
    }
    let c2 = FrameHeader::parse(&genuine[2]).unwrap().counter;
    let fake = g[2]
        .forge_as(alice, FrameKind::Voice, c2, b"forged audio")
        .unwrap();
    let c3 = c2 + 1;
    // Bob receives the forgery before the genuine frame 2; frame 3 is lost.
    for (i, f) in genuine.iter().enumerate() {
        match i {
            2 => {
                let o = g[1].open(&fake, NOW).unwrap();
                assert_eq!(o.authenticity, aura_crypto::Authenticity::Pending);
                let o = g[1].open(f, NOW).unwrap();
                assert_eq!(o.authenticity, aura_crypto::Authenticity::Pending);
            }
            3 => {}
            _ => {
                g[1].open(f, NOW).unwrap();
            }
        }
    }
    g[1].open(&sig_frame.unwrap(), NOW).unwrap();
    let reports = g[1].take_auth_reports();
    let forged: Vec<_> = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Forged)
        .collect();
    assert_eq!(forged.len(), 1);
    assert_eq!(forged[0].counter, c2);
    assert_eq!(forged[0].sender, alice);
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.verdict == Verdict::Verified)
            .count(),
        3
    );
    // A forgery arriving after the batch that covers its counter is refused.
    let late = g[2].forge_as(alice, FrameKind::Voice, c3, b"late").unwrap();
    assert_eq!(g[1].open(&late, NOW), Err(OpenError::BadSignature));
    // 3. A forged batch signature is refused.
    let mut body = 0u32.to_be_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&[0u8; 64]);
    let fake_sig = g[2]
        .forge_as(alice, FrameKind::VoiceSig, c3 + 10, &body)
        .unwrap();
    assert_eq!(g[1].open(&fake_sig, NOW), Err(OpenError::BadSignature));
}

/// A frame opened with `open_from` skips its own signature only when the
/// member the connection authenticated is the frame's sender: a member that
/// hands over a frame claiming another sender is checked as before.
#[test]
fn forged_frame_handed_over_by_its_forger_is_still_refused() {
    let mut rng = TestRng(5);
    let mut g = group(3, &mut rng);
    let (alice, mallory) = (g[0].member_id(), g[2].member_id());
    let forged = g[2]
        .forge_as(
            alice,
            FrameKind::Location,
            0,
            &[b"alice is here".as_slice(), &[0u8; 64]].concat(),
        )
        .unwrap();
    // Mallory's connection proves Mallory, not Alice.
    assert_eq!(
        g[1].open_from(&forged, NOW, Some(mallory)),
        Err(OpenError::BadSignature)
    );
    // Alice's own frame on Alice's connection: authentic without the check.
    let genuine = g[0]
        .seal(FrameKind::Location, b"alice is here", NOW)
        .unwrap();
    let opened = g[1].open_from(&genuine, NOW, Some(alice)).unwrap();
    assert_eq!(opened.authenticity, aura_crypto::Authenticity::Connection);
    assert_eq!(opened.payload, b"alice is here");
}

#[test]
fn relay_sees_only_header() {
    let mut rng = TestRng(4);
    let mut g = group(2, &mut rng);
    let secret = b"the cache is under the third pine, north side".repeat(3);
    let frame = g[0].seal(FrameKind::Location, &secret, NOW).unwrap();
    // The relay reads the routing header with no key at all.
    let h = FrameHeader::parse(&frame).unwrap();
    assert_eq!(h.kind, FrameKind::Location);
    assert_eq!(h.room, g[0].group_id().room());
    assert_eq!(h.sender, g[0].member_id().short_id());
    assert_eq!(h.counter, 0);
    assert_eq!(&frame[..HEADER_LEN], &h.to_bytes());
    // Nothing of the plaintext, the sender's full key or the signature is visible.
    let body = &frame[HEADER_LEN..];
    for w in secret.windows(8) {
        assert!(!body.windows(8).any(|b| b == w), "plaintext leaked");
    }
    let me = g[0].member_id().0;
    assert!(
        !frame.windows(8).any(|b| b == &me[..8]),
        "member key leaked"
    );
    // A relay that rewrites the header (e.g. to reroute it as another sender
    // or counter) breaks authentication.
    let mut rerouted = frame.clone();
    rerouted[18] ^= 1;
    assert_eq!(g[1].open(&rerouted, NOW), Err(OpenError::Decrypt));
    assert_eq!(g[1].open(&frame, NOW).unwrap().payload, secret);
}

#[test]
fn non_admin_forged_invite_refused() {
    let mut rng = TestRng(5);
    let g = group(3, &mut rng);
    let member = ident(3); // g[2], a plain member
                           // The API refuses to let a member create one.
    assert_eq!(
        Invite::create(g[0].roster(), &member, NOW + 1000, 1, vec![], &mut rng).unwrap_err(),
        InviteError::InviterNotAdmin
    );
    // Signed by hand anyway: it parses (it is a real signature) but the
    // roster check refuses it.
    let valid = Invite::create(g[0].roster(), &ident(1), NOW + 1000, 1, vec![], &mut rng).unwrap();
    let mut body = valid.body.clone();
    body.inviter = member.member_id();
    let by_member = Invite::sign(body, &member).unwrap();
    let parsed = Invite::parse(&by_member.to_text().unwrap(), NOW).unwrap();
    assert_eq!(
        g[0].roster().check_invite(&parsed, NOW),
        Err(InviteError::InviterNotAdmin)
    );
    // A non-member claiming the owner as inviter cannot produce the signature.
    let mallory = ident(200);
    let mut body = valid.body.clone();
    body.max_uses = 1000;
    let mut forged = Invite::sign(body, &mallory).unwrap();
    forged.body.inviter = ident(1).member_id();
    assert_eq!(
        Invite::parse(&forged.to_text().unwrap(), NOW).unwrap_err(),
        InviteError::BadSignature
    );
}

#[test]
fn non_admin_altered_invite_refused() {
    let mut rng = TestRng(6);
    let g = group(2, &mut rng);
    let valid = Invite::create(g[0].roster(), &ident(1), NOW + 1000, 1, vec![], &mut rng).unwrap();
    // Altering any signed field breaks the signature.
    for alter in 0..4 {
        let mut inv = valid.clone();
        match alter {
            0 => inv.body.max_uses = 99,
            1 => inv.body.expires_at_ms += 10_000_000,
            2 => inv.body.group_name = "free coins".into(),
            _ => inv.body.hints.push(aura_crypto::Hint {
                peer: "12D3KooWEvil".into(),
                addrs: vec!["/ip4/6.6.6.6/udp/1/quic-v1".into()],
            }),
        }
        let text = inv.to_text().unwrap();
        assert_eq!(
            Invite::parse(&text, NOW).unwrap_err(),
            InviteError::BadSignature
        );
        assert_eq!(
            g[0].roster().check_invite(&inv, NOW),
            Err(InviteError::BadSignature)
        );
    }
    // Byte-level alteration of the text form: every position is caught.
    let text = valid.to_text().unwrap();
    for i in 5..text.len() {
        let mut b = text.clone().into_bytes();
        b[i] = if b[i] == b'a' { b'b' } else { b'a' };
        let altered = String::from_utf8(b).unwrap();
        assert!(
            Invite::parse(&altered, NOW).is_err(),
            "alteration at {i} accepted"
        );
    }
}

#[test]
fn non_admin_roster_op_refused() {
    let mut rng = TestRng(7);
    let mut g = group(3, &mut rng);
    let group_id = g[0].group_id();
    let heads = g[0].roster().heads();
    let mallory = ident(200);
    let op = |author: &aura_crypto::Identity, kind: OpKind| -> SignedOp {
        Op {
            group: group_id,
            parents: heads.clone(),
            author: author.member_id(),
            at_ms: NOW,
            kind,
        }
        .sign(author)
        .unwrap()
    };
    let add_mallory = OpKind::Add {
        member: mallory.member_id(),
        role: Role::Member,
        invite: None,
    };
    // A plain member adds someone.
    let by_member = op(&ident(3), add_mallory.clone());
    assert!(matches!(
        g[0].apply_op(by_member),
        Err(RosterError::Unauthorised(_))
    ));
    // A non-member (relay, bootstrap node, billing service) adds itself:
    // an author no add names is not even stored.
    let by_outsider = op(&mallory, add_mallory.clone());
    assert!(matches!(
        g[0].apply_op(by_outsider),
        Err(RosterError::UnknownAuthor)
    ));
    // An outsider signs an op naming the owner as author.
    let mut stolen = op(&mallory, add_mallory);
    stolen.op.author = ident(1).member_id();
    let bytes = stolen.encode().unwrap();
    assert_eq!(SignedOp::decode(&bytes), Err(RosterError::BadSignature));
    // An admin cannot remove the owner, add an admin or take ownership.
    let admin = ident(2);
    for kind in [
        OpKind::Remove {
            member: ident(1).member_id(),
        },
        OpKind::Add {
            member: mallory.member_id(),
            role: Role::Admin,
            invite: None,
        },
        OpKind::TransferOwnership {
            to: admin.member_id(),
        },
        OpKind::SetRole {
            member: ident(3).member_id(),
            role: Role::Admin,
        },
    ] {
        assert!(matches!(
            g[0].apply_op(op(&admin, kind)),
            Err(RosterError::Unauthorised(_))
        ));
    }
    // A member cannot remove another member.
    let rm = op(
        &ident(3),
        OpKind::Remove {
            member: ident(2).member_id(),
        },
    );
    assert!(matches!(
        g[0].apply_op(rm),
        Err(RosterError::Unauthorised(_))
    ));
    assert_eq!(g[0].roster().len(), 3);
    assert!(!g[0].roster().is_member(&mallory.member_id()));
}

#[test]
fn replaying_attacker_rejected() {
    let mut rng = TestRng(8);
    let mut g = group(2, &mut rng);
    let f = g[0].seal(FrameKind::Chat, b"once", NOW).unwrap();
    let v = g[0].seal_voice(b"voice", NOW).unwrap().frame;
    g[1].open(&f, NOW).unwrap();
    g[1].open(&v, NOW).unwrap();
    assert_eq!(g[1].open(&f, NOW), Err(OpenError::Replay));
    assert_eq!(g[1].open(&v, NOW), Err(OpenError::Replay));
    // Frames that fell out of the window are refused as too old.
    let old = g[0].seal(FrameKind::Chat, b"old", NOW).unwrap();
    for _ in 0..1100 {
        let x = g[0].seal_voice(b"v", NOW).unwrap();
        g[1].open(&x.frame, NOW).unwrap();
        if let Some(s) = x.sig_frame {
            g[1].open(&s, NOW).unwrap();
        }
    }
    assert_eq!(g[1].open(&old, NOW), Err(OpenError::TooOld));
    // Replaying a roster op changes nothing.
    let op = g[0].roster().ops().last().cloned().unwrap();
    let head = g[1].roster().head_hash();
    assert_eq!(
        g[1].apply_op(op).unwrap().applied,
        aura_crypto::Applied::Known
    );
    assert_eq!(g[1].roster().head_hash(), head);
    // Replaying envelopes changes nothing, and an epoch once dropped is
    // never reinstalled.
    let bob = g[1].member_id();
    let old_env: KeyEnvelope = g[0].envelope_for(bob, &mut rng).unwrap();
    assert_eq!(g[1].accept_envelope(&old_env).unwrap(), Some(0));
    assert_eq!(g[1].accept_envelope(&old_env).unwrap(), None);
    for epoch in 1..=2 {
        let r = g[0].rotate(NOW, &mut rng).unwrap();
        assert_eq!(g[1].accept_envelope(&r.envelopes[0]).unwrap(), Some(epoch));
        assert_eq!(g[1].accept_envelope(&r.envelopes[0]).unwrap(), None);
    }
    assert_eq!(g[1].accept_envelope(&old_env).unwrap(), None);
    let stale = g[0].seal(FrameKind::Chat, b"new", NOW).unwrap();
    assert_eq!(g[1].open(&stale, NOW).unwrap().epoch, 2);
}
