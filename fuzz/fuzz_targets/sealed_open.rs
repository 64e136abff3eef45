//! Fuzzes opening sealed frames past the AEAD: member A seals genuine voice,
//! signature and signed frames, while member B, who holds A's sender key,
//! forges frames as A with any kind, counter and plaintext (as a hostile
//! member can), replays and corrupts earlier frames. B opens each one: batch
//! signatures, signature splitting, replay windows and the voice verifier
//! see hostile input that decrypts. Nothing may panic, and every genuine
//! frame of A, delivered in order for the first time, opens whatever B
//! received before it: a forgery never moves A's replay window or key chain
//! (a member cannot silence another).
#![no_main]

use arbitrary::Arbitrary;
use aura_crypto::{FrameKind, GroupSession, Identity, Role, Roster};
use libfuzzer_sys::fuzz_target;
use rand::{rngs::StdRng, SeedableRng};

const NOW: u64 = 1_700_000_000_000;
const MAX_STEPS: usize = 64;

#[derive(Arbitrary, Debug)]
enum Step {
    /// A seals a voice frame with this payload.
    Voice(Vec<u8>),
    /// A emits the batch signature of its recent voice frames.
    Flush,
    /// A seals a signed frame (location, chat, control).
    Signed(u8, Vec<u8>),
    /// B forges a frame as A (kind nibble, counter, plaintext verbatim).
    Forge(u8, u32, Vec<u8>),
    /// An earlier frame again.
    Replay(u8),
    /// An earlier frame with one byte changed.
    Corrupt(u8, u16, u8),
    /// A rotates its key and B accepts the new envelope.
    Rotate,
}

fn kind(n: u8) -> FrameKind {
    match n % 5 {
        0 => FrameKind::Voice,
        1 => FrameKind::Location,
        2 => FrameKind::Chat,
        3 => FrameKind::Control,
        _ => FrameKind::VoiceSig,
    }
}

fn sessions(rng: &mut StdRng) -> Option<(GroupSession, GroupSession)> {
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let (mut sa, _) = GroupSession::create(a, "fuzz", NOW, rng).ok()?;
    sa.add_member(b.member_id(), Role::Member, None, NOW).ok()?;
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect()).ok()?;
    let mut sb = GroupSession::from_roster(b.clone(), roster, NOW, rng);
    let env = sa.envelope_for(b.member_id(), rng).ok()?;
    sb.accept_envelope(&env).ok()?;
    Some((sa, sb))
}

fuzz_target!(|steps: Vec<Step>| {
    let mut rng = StdRng::seed_from_u64(7);
    let Some((mut a, mut b)) = sessions(&mut rng) else {
        return;
    };
    let victim = a.member_id();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    // Every frame B was handed: a "forgery" can be byte for byte A's next
    // frame (same key, counter and plaintext), which then is not new to B.
    let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for step in steps.into_iter().take(MAX_STEPS) {
        // (frame, sealed by A and new to B)
        let frames: Vec<(Vec<u8>, bool)> = match step {
            Step::Voice(p) => match a.seal_voice(&p, NOW) {
                Ok(sv) => std::iter::once(sv.frame)
                    .chain(sv.sig_frame)
                    .map(|f| (f, true))
                    .collect(),
                Err(_) => vec![],
            },
            Step::Flush => a
                .flush_voice_sig()
                .ok()
                .flatten()
                .map(|f| (f, true))
                .into_iter()
                .collect(),
            Step::Signed(k, p) => a
                .seal(kind(k), &p, NOW)
                .map(|f| (f, true))
                .into_iter()
                .collect(),
            Step::Forge(k, counter, p) => b
                .forge_as(victim, kind(k), counter, &p)
                .map(|f| (f, false))
                .into_iter()
                .collect(),
            Step::Replay(i) if !sent.is_empty() => {
                vec![(sent[i as usize % sent.len()].clone(), false)]
            }
            Step::Corrupt(i, at, x) if !sent.is_empty() => {
                let mut f = sent[i as usize % sent.len()].clone();
                let n = f.len();
                if n > 0 {
                    f[at as usize % n] ^= x.max(1);
                }
                vec![(f, false)]
            }
            Step::Rotate => match a.rotate(NOW, &mut rng) {
                Ok(r) => {
                    for e in &r.envelopes {
                        let _ = b.accept_envelope(e);
                    }
                    r.final_sig_frame.map(|f| (f, true)).into_iter().collect()
                }
                Err(_) => vec![],
            },
            _ => vec![],
        };
        for (f, genuine) in frames {
            let r = b.open(&f, NOW);
            let new_to_b = seen.insert(f.clone());
            if genuine && new_to_b {
                if let Err(e) = r {
                    panic!("A's genuine frame refused after B's forgeries: {e}");
                }
            }
            let _ = b.take_auth_reports();
            if sent.len() < 256 {
                sent.push(f);
            }
        }
    }
    let _ = b.stats();
});
