//! GroupSession flows: identities, joins, rotation policy, voice batch
//! verdicts, forward secrecy and persistence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{
    Authenticity, FrameHeader, FrameKind, GroupSession, Identity, MemberId, OpenError, Role,
    Roster, RotationPolicy, Verdict,
};
use common::{group, ident, TestRng, NOW};

#[test]
fn identity_maps_to_peer_id_and_hides_secrets() {
    let id = ident(7);
    let peer = id.peer_id();
    assert_eq!(MemberId::from_peer_id(&peer), Some(id.member_id()));
    // The PeerId written out by hand is libp2p's own, both ways.
    for n in 0..32u8 {
        let id = ident(n);
        let kp = libp2p_identity::Keypair::ed25519_from_bytes(*id.to_secret_bytes()).unwrap();
        assert_eq!(id.peer_id(), kp.public().to_peer_id());
        assert_eq!(
            MemberId::from_peer_id(&kp.public().to_peer_id()),
            Some(id.member_id())
        );
    }
    // A PeerId that inlines no ed25519 key names no member.
    let mut sha256 = vec![0x12, 0x20];
    sha256.extend_from_slice(&[7; 32]);
    let hashed = libp2p_identity::PeerId::from_bytes(&sha256).unwrap();
    assert_eq!(MemberId::from_peer_id(&hashed), None);
    let secret_hex = hex::encode(*id.to_secret_bytes());
    let dbg = format!("{id:?}");
    assert!(
        !dbg.contains(&secret_hex) && !dbg.contains("[7, 7"),
        "{dbg}"
    );
    let mut rng = TestRng(1);
    let (s, _) = GroupSession::create(id.clone(), "g", NOW, &mut rng).unwrap();
    assert!(!format!("{s:?}").contains(&secret_hex));
    // The X25519 pair derived from the ed25519 key matches.
    let xs = x25519_dalek::PublicKey::from(&id.x25519_secret());
    assert_eq!(xs, id.member_id().x25519_public().unwrap());
    assert_eq!(
        Identity::from_secret_bytes(&id.to_secret_bytes()).member_id(),
        id.member_id()
    );
}

#[test]
fn new_member_cannot_read_frames_sent_before_joining() {
    let mut rng = TestRng(2);
    let mut g = group(2, &mut rng);
    let before: Vec<_> = (0..10)
        .map(|i| g[0].seal(FrameKind::Chat, &[i], NOW).unwrap())
        .collect();
    let dave = ident(40);
    g[0].add_member(dave.member_id(), Role::Member, None, NOW)
        .unwrap();
    let roster = Roster::from_ops(g[0].roster().ops().cloned().collect()).unwrap();
    let mut d = GroupSession::from_roster(dave.clone(), roster, NOW, &mut rng);
    let env = g[0].envelope_for(dave.member_id(), &mut rng).unwrap();
    d.accept_envelope(&env).unwrap();
    for f in &before {
        assert_eq!(d.open(f, NOW), Err(OpenError::TooOld));
    }
    let after = g[0].seal(FrameKind::Chat, b"welcome", NOW).unwrap();
    assert_eq!(d.open(&after, NOW).unwrap().payload, b"welcome");
    // Existing members follow the step jump.
    assert_eq!(g[1].open(&after, NOW).unwrap().payload, b"welcome");
}

#[test]
fn rotation_policy_age_and_volume() {
    let mut rng = TestRng(3);
    let mut g = group(2, &mut rng);
    g[0].set_policy(RotationPolicy {
        max_age_ms: 1000,
        max_frames: 10,
    });
    assert!(!g[0].needs_rotation(NOW + 999));
    assert!(g[0].needs_rotation(NOW + 1000));
    for _ in 0..10 {
        g[0].seal_voice(b"v", NOW).unwrap();
    }
    assert!(g[0].needs_rotation(NOW));
    let r = g[0].rotate(NOW + 5, &mut rng).unwrap();
    assert_eq!(r.epoch, 1);
    assert!(
        r.final_sig_frame.is_some(),
        "old epoch's voice batch closed"
    );
    assert!(!g[0].needs_rotation(NOW + 5));
    // The final batch of the old epoch still verifies at the receiver.
    g[1].accept_envelope(&r.envelopes[0]).unwrap();
    let f = g[0].seal_voice(b"new", NOW).unwrap().frame;
    assert_eq!(FrameHeader::parse(&f).unwrap().epoch, 1);
    assert_eq!(g[1].open(&f, NOW).unwrap().payload, b"new");
}

#[test]
fn lost_batch_signature_reports_unverified() {
    let mut rng = TestRng(4);
    let mut g = group(2, &mut rng);
    g[0].set_voice_batch(4);
    let mut sigs = Vec::new();
    for i in 0..12u8 {
        let s = g[0].seal_voice(&[i], NOW).unwrap();
        let o = g[1].open(&s.frame, NOW).unwrap();
        assert_eq!(o.authenticity, Authenticity::Pending);
        sigs.extend(s.sig_frame);
    }
    assert_eq!(sigs.len(), 3);
    // The first batch is lost; the next two arrive.
    g[1].open(&sigs[1], NOW).unwrap();
    g[1].open(&sigs[2], NOW).unwrap();
    let reports = g[1].take_auth_reports();
    let count = |v| reports.iter().filter(|r| r.verdict == v).count();
    assert_eq!(count(Verdict::Verified), 8);
    assert_eq!(count(Verdict::Unverified), 4);
    assert_eq!(count(Verdict::Forged), 0);
}

#[test]
fn flush_at_end_of_talk_spurt_verifies_tail() {
    let mut rng = TestRng(5);
    let mut g = group(2, &mut rng);
    for i in 0..5u8 {
        let s = g[0].seal_voice(&[i], NOW).unwrap();
        assert!(s.sig_frame.is_none());
        g[1].open(&s.frame, NOW).unwrap();
    }
    // A chat frame in between uses a counter inside the batch range.
    let chat = g[0].seal(FrameKind::Chat, b"brb", NOW).unwrap();
    g[1].open(&chat, NOW).unwrap();
    let s = g[0].seal_voice(&[9], NOW).unwrap();
    g[1].open(&s.frame, NOW).unwrap();
    let sig = g[0].flush_voice_sig().unwrap().unwrap();
    assert!(g[0].flush_voice_sig().unwrap().is_none());
    let o = g[1].open(&sig, NOW).unwrap();
    assert_eq!(o.kind, FrameKind::VoiceSig);
    let reports = g[1].take_auth_reports();
    assert_eq!(reports.len(), 6);
    assert!(reports.iter().all(|r| r.verdict == Verdict::Verified));
}

#[test]
fn compromised_state_does_not_reveal_earlier_steps() {
    let mut rng = TestRng(6);
    let mut g = group(2, &mut rng);
    let early = g[0].seal_voice(b"yesterday", NOW).unwrap().frame;
    g[1].open(&early, NOW).unwrap();
    // Ten steps of traffic later, Bob's device is seized.
    for _ in 0..(10 * GroupSession::STEP_FRAMES) {
        let s = g[0].seal_voice(b"x", NOW).unwrap();
        g[1].open(&s.frame, NOW).unwrap();
        if let Some(f) = s.sig_frame {
            g[1].open(&f, NOW).unwrap();
        }
    }
    let seized = g[1].export_state().unwrap();
    let mut thief = GroupSession::import_state(&seized).unwrap();
    // The captured early frame cannot be opened with the seized state: its
    // step key was overwritten (see the unit test
    // `sender_key::tests::old_step_keys_are_gone`), not merely refused by the window.
    assert_eq!(thief.open(&early, NOW), Err(OpenError::TooOld));
}

#[test]
fn export_import_keeps_keys_and_replay_window() {
    let mut rng = TestRng(7);
    let mut g = group(3, &mut rng);
    let f1 = g[0].seal(FrameKind::Chat, b"one", NOW).unwrap();
    g[1].open(&f1, NOW).unwrap();
    let saved = g[1].export_state().unwrap();
    let mut restored = GroupSession::import_state(&saved).unwrap();
    assert_eq!(restored.member_id(), g[1].member_id());
    assert_eq!(restored.roster().head_hash(), g[1].roster().head_hash());
    assert_eq!(restored.open(&f1, NOW), Err(OpenError::Replay));
    let f2 = g[0].seal(FrameKind::Chat, b"two", NOW).unwrap();
    assert_eq!(restored.open(&f2, NOW).unwrap().payload, b"two");
    // Our own sender key survives too: others can still open what we seal.
    let mine = restored.seal(FrameKind::Chat, b"back", NOW).unwrap();
    assert_eq!(g[2].open(&mine, NOW).unwrap().payload, b"back");
    assert!(GroupSession::import_state(&saved[..saved.len() / 2]).is_err());
}

#[test]
fn receiver_far_behind_recovers_with_fresh_envelope() {
    let mut rng = TestRng(8);
    let mut g = group(2, &mut rng);
    // Bob is offline while Alice sends 300 steps of voice.
    for _ in 0..(300 * GroupSession::STEP_FRAMES) {
        g[0].seal_voice(b"", NOW).unwrap();
    }
    let f = g[0].seal(FrameKind::Chat, b"hi", NOW).unwrap();
    assert_eq!(g[1].open(&f, NOW), Err(OpenError::TooFarAhead));
    let bob = g[1].member_id();
    let env = g[0].envelope_for(bob, &mut rng).unwrap();
    assert_eq!(g[1].accept_envelope(&env).unwrap(), Some(0));
    let f = g[0].seal(FrameKind::Chat, b"hi again", NOW).unwrap();
    assert_eq!(g[1].open(&f, NOW).unwrap().payload, b"hi again");
}

#[test]
fn removed_self_cannot_seal() {
    let mut rng = TestRng(9);
    let mut g = group(3, &mut rng);
    let carol = g[2].member_id();
    let op = g[0].remove_member(carol, NOW).unwrap();
    let change = g[2].apply_op(op).unwrap();
    assert_eq!(change.removed, vec![g[2].member_id()]);
    assert_eq!(
        g[2].seal(FrameKind::Chat, b"x", NOW),
        Err(aura_crypto::SealError::NotAMember)
    );
}

#[test]
fn readded_member_must_rotate_and_old_frames_stay_dead() {
    let mut rng = TestRng(10);
    let mut g = group(3, &mut rng);
    let carol = g[2].member_id();
    let old = g[2].seal(FrameKind::Chat, b"before removal", NOW).unwrap();
    g[0].open(&old, NOW).unwrap();
    let alice = g[0].member_id();
    let old_env = g[2].envelope_for(alice, &mut rng).unwrap();
    let rm = g[0].remove_member(carol, NOW).unwrap();
    g[2].apply_op(rm).unwrap();
    let add = g[0].add_member(carol, Role::Member, None, NOW).unwrap();
    g[2].apply_op(add).unwrap();
    // Carol's old epoch is refused; a replay of her old frame finds no key.
    assert_eq!(g[0].accept_envelope(&old_env).unwrap(), None);
    assert_eq!(g[0].open(&old, NOW), Err(OpenError::UnknownEpoch));
    assert!(
        g[2].needs_rotation(NOW),
        "being removed makes us rotate too"
    );
    let r = g[2].rotate(NOW, &mut rng).unwrap();
    let to_alice = r
        .envelopes
        .iter()
        .find(|e| e.recipient == g[0].member_id())
        .unwrap();
    assert_eq!(g[0].accept_envelope(to_alice).unwrap(), Some(1));
    assert_eq!(g[0].open(&old, NOW), Err(OpenError::UnknownEpoch));
    let new = g[2].seal(FrameKind::Chat, b"back", NOW).unwrap();
    assert_eq!(g[0].open(&new, NOW).unwrap().payload, b"back");
}

/// A new epoch started quietly (after a join) seals nothing; members read
/// our frames once each got its envelope of that epoch.
#[test]
fn start_epoch_seals_to_nobody_until_asked() {
    let mut rng = TestRng(5);
    let mut s = group(2, &mut rng);
    let before = s[0].epoch();
    let epoch = s[0].start_epoch(NOW, &mut rng).unwrap();
    assert_eq!(epoch, before + 1);
    let frame = s[0].seal(FrameKind::Chat, b"hi", NOW).unwrap();
    assert!(s[1].open(&frame, NOW).is_err(), "read without the new key");
    let bob = s[1].member_id();
    let env = s[0].envelope_for(bob, &mut rng).unwrap();
    assert_eq!(env.epoch, epoch);
    s[1].accept_envelope(&env).unwrap();
    let frame = s[0].seal(FrameKind::Chat, b"again", NOW).unwrap();
    assert_eq!(s[1].open(&frame, NOW).unwrap().payload, b"again");
}
