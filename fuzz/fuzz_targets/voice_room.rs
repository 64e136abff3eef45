//! Fuzzes a voice stream from a member, past the AEAD: member A's room
//! seals voice payloads with any flags, sequence numbers, timestamps and
//! Opus bytes (as a hostile member can), and member B's room opens them at
//! any arrival time, feeds its jitter buffer and decodes what falls due.
//! Nothing may panic.
#![no_main]

use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use aura_crypto::{GroupSession, Identity, Role, Roster};
use aura_node::{media::MediaRoom, voice::VoicePayload};
use libfuzzer_sys::fuzz_target;
use rand::{rngs::StdRng, SeedableRng};

const NOW_MS: u64 = 1_700_000_000_000;
const MAX_STEPS: usize = 200;

#[derive(Arbitrary, Debug)]
enum Step {
    /// A sends a payload; it reaches B `delay_ms` later than the last event.
    Send {
        flags: u8,
        seq: u16,
        ts: u32,
        opus: Vec<u8>,
        delay_ms: u8,
    },
    /// A's end-of-spurt batch signature reaches B.
    Flush,
    /// B's playout clock moves on and B takes what is due.
    Poll(u16),
    /// A frame A sent earlier reaches B again.
    Replay(u8),
}

fn rooms() -> Option<(MediaRoom, MediaRoom)> {
    let mut rng = StdRng::seed_from_u64(1);
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let (mut sa, _) = GroupSession::create(a, "fuzz", NOW_MS, &mut rng).ok()?;
    sa.add_member(b.member_id(), Role::Member, None, NOW_MS)
        .ok()?;
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect()).ok()?;
    let mut sb = GroupSession::from_roster(b, roster, NOW_MS, &mut rng);
    let env = sa.envelope_for(sb.member_id(), &mut rng).ok()?;
    sb.accept_envelope(&env).ok()?;
    Some((
        MediaRoom::new(Arc::new(Mutex::new(sa))),
        MediaRoom::new(Arc::new(Mutex::new(sb))),
    ))
}

fuzz_target!(|steps: Vec<Step>| {
    let Some((mut a, mut b)) = rooms() else {
        return;
    };
    let mut now_us = 0u64;
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for step in steps.into_iter().take(MAX_STEPS) {
        let frames = match step {
            Step::Send {
                flags,
                seq,
                ts,
                mut opus,
                delay_ms,
            } => {
                opus.truncate(1_600);
                now_us += u64::from(delay_ms) * 1_000;
                a.seal(
                    &VoicePayload {
                        flags,
                        seq,
                        ts,
                        opus,
                    },
                    NOW_MS,
                )
                .unwrap_or_default()
            }
            Step::Flush => a.flush().ok().flatten().into_iter().collect(),
            Step::Poll(ms) => {
                now_us += u64::from(ms) * 1_000;
                vec![]
            }
            Step::Replay(i) if !sent.is_empty() => vec![sent[i as usize % sent.len()].clone()],
            Step::Replay(_) => vec![],
        };
        for f in frames {
            let _ = b.on_frame(&f, now_us, NOW_MS);
            if sent.len() < 64 {
                sent.push(f);
            }
        }
        let _ = b.poll(now_us);
    }
    let _ = b.stats();
    let _ = b.reports();
});
