//! Attacks on voice authentication and on replay protection across a
//! restart; each test is named after the attack it defeats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::group::MAX_UNSIGNED_RUN;
use aura_crypto::{
    Authenticity, FrameHeader, FrameKind, GroupSession, OpenError, ReplayFloor, Verdict,
};
use common::{group, TestRng, NOW};

/// Alice (0) sends one frame of every kind; Bob (1) must accept each.
fn alice_is_heard_by_bob(g: &mut [GroupSession]) {
    let voice = g[0].seal_voice(b"genuine audio", NOW).unwrap();
    let o = g[1].open(&voice.frame, NOW).unwrap();
    assert_eq!(o.payload, b"genuine audio");
    for kind in [FrameKind::Chat, FrameKind::Location, FrameKind::Control] {
        let f = g[0].seal(kind, b"genuine", NOW).unwrap();
        let o = g[1].open(&f, NOW).unwrap();
        assert_eq!((o.kind, o.authenticity), (kind, Authenticity::Verified));
    }
    if let Some(sig) = g[0].flush_voice_sig().unwrap() {
        g[1].open(&sig, NOW).unwrap();
    }
}

#[test]
fn forged_voice_far_ahead_cannot_silence_sender() {
    let mut rng = TestRng(41);
    let mut g = group(3, &mut rng);
    let alice = g[0].member_id();
    alice_is_heard_by_bob(&mut g);
    let next = g[0].seal(FrameKind::Chat, b"x", NOW).unwrap();
    let c = FrameHeader::parse(&next).unwrap().counter;
    g[1].open(&next, NOW).unwrap();
    // Mallory (2) holds Alice's sender key and seals voice as Alice far
    // ahead of her counter, hoping to push Bob's window and chain past it.
    for ahead in [4096, 600, 2] {
        let fake = g[2]
            .forge_as(alice, FrameKind::Voice, c + ahead, b"forged")
            .unwrap();
        match g[1].open(&fake, NOW) {
            Ok(o) => assert_eq!(o.authenticity, Authenticity::Pending),
            Err(e) => assert_eq!(e, OpenError::TooFarAhead, "ahead {ahead}"),
        }
    }
    // Every kind of Alice's genuine frames is still accepted (an admin's
    // op travels as a control frame).
    for _ in 0..3 {
        alice_is_heard_by_bob(&mut g);
    }
    assert_eq!(g[1].stats().replays, 0);
}

#[test]
fn forged_voice_of_a_silent_member_plays_for_at_most_one_batch() {
    let mut rng = TestRng(42);
    let mut g = group(3, &mut rng);
    let alice = g[0].member_id();
    g[0].set_voice_batch(16);
    // Alice is silent; Mallory speaks as her through a relay.
    let mut played = 0;
    for c in 0..(3 * MAX_UNSIGNED_RUN as u32) {
        let fake = g[2]
            .forge_as(alice, FrameKind::Voice, c, b"forged")
            .unwrap();
        match g[1].open(&fake, NOW) {
            Ok(_) => played += 1,
            Err(e) => assert_eq!(e, OpenError::AwaitingSignature),
        }
    }
    assert_eq!(played, MAX_UNSIGNED_RUN);
    // Alice starts talking: her first batch signature exposes the forgeries
    // it covers, named as frames claiming to be hers, and her voice gets
    // through from the next batch on.
    let mut heard = 0;
    for _ in 0..64 {
        let sv = g[0].seal_voice(b"genuine", NOW).unwrap();
        if g[1].open(&sv.frame, NOW).is_ok() {
            heard += 1;
        }
        if let Some(s) = sv.sig_frame {
            g[1].open(&s, NOW).unwrap();
        }
    }
    let reports = g[1].take_auth_reports();
    let forged = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Forged && r.sender == alice)
        .count();
    assert!(forged >= 16, "forged reports: {forged}");
    assert!(heard >= 32, "genuine frames heard: {heard}");
}

#[test]
fn replay_after_unclean_restart_is_refused() {
    let mut rng = TestRng(43);
    let mut g = group(2, &mut rng);
    let bob = g[1].member_id();
    // Bob's store holds the session as of the last key event.
    let saved = g[1].export_state().unwrap();
    let mut stored_floors: Vec<ReplayFloor> = Vec::new();
    let mut seen = Vec::new();
    for text in [&b"chat 1"[..], b"chat 2", b"chat 3"] {
        let f = g[0].seal(FrameKind::Chat, text, NOW).unwrap();
        g[1].open(&f, NOW).unwrap();
        // The node stores moved floors durably before showing the frame.
        if let Some(fl) = g[1].take_replay_floors() {
            stored_floors = fl;
        }
        seen.push(f);
    }
    let v = g[0].seal_voice(b"audio", NOW).unwrap();
    g[1].open(&v.frame, NOW).unwrap();
    let sig = g[0].flush_voice_sig().unwrap().unwrap();
    g[1].open(&sig, NOW).unwrap();
    if let Some(fl) = g[1].take_replay_floors() {
        stored_floors = fl;
    }
    seen.push(v.frame);
    seen.push(sig);
    // Bob is killed without a clean shutdown and restarts from the store.
    let mut bob_again = GroupSession::import_state(&saved).unwrap();
    bob_again.restore_replay_floors(&stored_floors);
    for f in &seen {
        let r = bob_again.open(f, NOW);
        assert!(
            matches!(r, Err(OpenError::Replay | OpenError::TooOld)),
            "replayed frame accepted: {r:?}"
        );
    }
    // Bob asks for keys after a restart; Alice's answer moves her to the
    // next step, past the floor, and she is heard again at once.
    let env = g[0].envelope_for(bob, &mut rng).unwrap();
    bob_again.accept_envelope(&env).unwrap();
    let f = g[0].seal(FrameKind::Chat, b"after restart", NOW).unwrap();
    assert_eq!(bob_again.open(&f, NOW).unwrap().payload, b"after restart");
}

#[test]
fn replay_floor_costs_one_durable_write_per_step() {
    let mut rng = TestRng(44);
    let mut g = group(2, &mut rng);
    let mut writes = 0;
    for _ in 0..(4 * aura_crypto::sender_key::STEP) {
        let f = g[0].seal(FrameKind::Location, b"here", NOW).unwrap();
        g[1].open(&f, NOW).unwrap();
        if g[1].take_replay_floors().is_some() {
            writes += 1;
        }
    }
    assert_eq!(writes, 4);
}

#[test]
fn clean_restart_with_settled_floors_hears_the_sender_at_once() {
    let mut rng = TestRng(45);
    let mut g = group(2, &mut rng);
    let f = g[0].seal(FrameKind::Chat, b"before", NOW).unwrap();
    g[1].open(&f, NOW).unwrap();
    // Clean shutdown: the session is saved, then the floors are settled.
    let saved = g[1].export_state().unwrap();
    let floors = g[1].settle_replay_floors();
    let mut bob_again = GroupSession::import_state(&saved).unwrap();
    bob_again.restore_replay_floors(&floors);
    assert_eq!(bob_again.open(&f, NOW), Err(OpenError::Replay));
    let next = g[0].seal(FrameKind::Chat, b"after", NOW).unwrap();
    assert_eq!(bob_again.open(&next, NOW).unwrap().payload, b"after");
}
