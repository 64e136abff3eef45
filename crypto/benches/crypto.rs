//! Criterion benchmarks for the group security core:
//! `cargo bench -p aura-crypto`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;

use aura_crypto::room::{RoomId, RoomKeyAuthority, RoomSession, SpeakerKey};
use aura_crypto::{FrameKind, GroupSession, Identity, Role, Roster, SignedOp};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::OsRng;

const NOW: u64 = 1_700_000_000_000;

fn pair(k: usize) -> (GroupSession, RefCell<GroupSession>) {
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let (mut a, _) = GroupSession::create(alice, "bench", NOW, &mut OsRng).unwrap();
    a.add_member(bob.member_id(), Role::Member, None, NOW)
        .unwrap();
    let roster = Roster::from_ops(a.roster().ops().cloned().collect()).unwrap();
    let mut b = GroupSession::from_roster(bob, roster, NOW, &mut OsRng);
    let env = a.envelope_for(b.member_id(), &mut OsRng).unwrap();
    b.accept_envelope(&env).unwrap();
    a.set_voice_batch(k);
    (a, RefCell::new(b))
}

/// Seals a voice frame, rotating (and re-keying `b`) when the epoch is spent.
fn seal_voice(
    a: &mut GroupSession,
    b: &RefCell<GroupSession>,
    p: &[u8],
) -> aura_crypto::SealedVoice {
    match a.seal_voice(p, NOW) {
        Ok(s) => s,
        Err(_) => {
            let r = a.rotate(NOW, &mut OsRng).unwrap();
            b.borrow_mut().accept_envelope(&r.envelopes[0]).unwrap();
            a.seal_voice(p, NOW).unwrap()
        }
    }
}

fn frames(c: &mut Criterion) {
    let payload = [0x42u8; 100];
    let mut g = c.benchmark_group("voice_100B");
    g.throughput(Throughput::Elements(1));

    g.bench_function("aead_rustcrypto_baseline", |bch| {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&[7u8; 32]));
        let mut n = 0u64;
        bch.iter(|| {
            n += 1;
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&n.to_be_bytes());
            let mut buf = payload;
            let tag = cipher
                .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[0u8; 19], &mut buf)
                .unwrap();
            std::hint::black_box((buf, tag))
        })
    });

    g.bench_function("aead_ring_baseline", |bch| {
        use ring::aead::{Aad, LessSafeKey, Nonce as RNonce, UnboundKey, CHACHA20_POLY1305};
        let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).unwrap());
        let mut n = 0u64;
        bch.iter(|| {
            n += 1;
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&n.to_be_bytes());
            let mut buf = payload;
            let tag = key
                .seal_in_place_separate_tag(
                    RNonce::assume_unique_for_key(nonce),
                    Aad::from([0u8; 19]),
                    &mut buf,
                )
                .unwrap();
            std::hint::black_box((buf, tag))
        })
    });

    for k in [16usize, 32] {
        let (mut a, b) = pair(k);
        g.bench_function(format!("seal_k{k}_amortised"), |bch| {
            bch.iter(|| std::hint::black_box(seal_voice(&mut a, &b, &payload)))
        });
        let (mut a, b) = pair(k);
        let mut pending = Vec::new();
        g.bench_function(format!("open_k{k}_amortised"), |bch| {
            bch.iter_batched(
                || {
                    let s = seal_voice(&mut a, &b, &payload);
                    pending.clear();
                    pending.push(s.frame);
                    pending.extend(s.sig_frame);
                    std::mem::take(&mut pending)
                },
                |fs| {
                    let mut b = b.borrow_mut();
                    for f in fs {
                        std::hint::black_box(b.open(&f, NOW).unwrap());
                    }
                    b.take_auth_reports();
                },
                BatchSize::SmallInput,
            )
        });
    }

    // Per-frame seal cost without the batch signature: each call is timed
    // alone and calls that also signed a batch are left out (includes ~30 ns
    // of timer overhead).
    let (mut a, b) = pair(64);
    g.bench_function("seal_frame_only", |bch| {
        bch.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut counted = 0u64;
            while counted < iters {
                let t = std::time::Instant::now();
                let s = seal_voice(&mut a, &b, &payload);
                let e = t.elapsed();
                if s.sig_frame.is_none() {
                    total += e;
                    counted += 1;
                }
                std::hint::black_box(s);
            }
            total
        })
    });

    // Without the batch signature (K = 64, signature cost amortised away):
    // the per-frame cost of AEAD + header + replay window + digest.
    let (mut a, b) = pair(64);
    g.bench_function("open_frame_only", |bch| {
        bch.iter_batched(
            || {
                let s = seal_voice(&mut a, &b, &payload);
                if let Some(sig) = s.sig_frame {
                    // Verify batches outside the measurement.
                    b.borrow_mut().open(&sig, NOW).unwrap();
                }
                s.frame
            },
            |f| {
                let mut b = b.borrow_mut();
                let o = b.open(&f, NOW).unwrap();
                b.take_auth_reports();
                std::hint::black_box(o)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let (mut a, _) = pair(16);
    let mut g = c.benchmark_group("chat_100B");
    g.bench_function("seal_signed", |bch| {
        bch.iter(|| std::hint::black_box(a.seal(FrameKind::Chat, &payload, NOW).unwrap()))
    });
    let (mut a, b) = pair(16);
    let mut b = b.into_inner();
    g.bench_function("open_signed", |bch| {
        bch.iter_batched(
            || a.seal(FrameKind::Chat, &payload, NOW).unwrap(),
            |f| std::hint::black_box(b.open(&f, NOW).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    // The batch signature cost that seal/open amortise over K voice frames.
    let id = Identity::generate(&mut OsRng);
    let msg = [0x17u8; 200];
    let sig = id.sign(&msg);
    let m = id.member_id();
    c.bench_function("ed25519_sign_200B", |bch| {
        bch.iter(|| std::hint::black_box(id.sign(&msg)))
    });
    c.bench_function("ed25519_verify_200B", |bch| {
        bch.iter(|| assert!(m.verify(&msg, &sig)))
    });
}

fn rotation(c: &mut Criterion) {
    let owner = Identity::generate(&mut OsRng);
    let (mut s, _) = GroupSession::create(owner, "big", NOW, &mut OsRng).unwrap();
    for _ in 0..99 {
        let m = Identity::generate(&mut OsRng).member_id();
        s.add_member(m, Role::Member, None, NOW).unwrap();
    }
    c.bench_function("rotate_to_100_members", |bch| {
        bch.iter(|| {
            let r = s.rotate(NOW, &mut OsRng).unwrap();
            assert_eq!(r.envelopes.len(), 99);
            std::hint::black_box(r)
        })
    });
}

fn roster(c: &mut Criterion) {
    let owner = Identity::generate(&mut OsRng);
    let (mut r, create) = Roster::create(&owner, "log", NOW).unwrap();
    let mut ops: Vec<SignedOp> = vec![create];
    let mut members = Vec::new();
    while ops.len() < 1000 {
        let m = Identity::generate(&mut OsRng).member_id();
        ops.push(r.add(&owner, m, Role::Member, None, NOW).unwrap());
        members.push(m);
        if ops.len() % 3 == 0 {
            let gone = members.remove(0);
            ops.push(r.remove(&owner, gone, NOW).unwrap());
        }
    }
    ops.truncate(1000);
    let encoded: Vec<Vec<u8>> = ops.iter().map(|o| o.encode().unwrap()).collect();
    c.bench_function("verify_1000_op_roster", |bch| {
        bch.iter(|| {
            let ops: Vec<SignedOp> = encoded
                .iter()
                .map(|b| SignedOp::decode(b).unwrap())
                .collect();
            std::hint::black_box(Roster::from_ops(ops).unwrap())
        })
    });
}

/// Room keys: what a join costs the host, what a departure costs the host
/// (rotation to 1,000 listeners) and each speaker (one speaker key), and
/// what installing a speaker key costs a listener.
fn room_keys(c: &mut Criterion) {
    let host = Identity::generate(&mut OsRng);
    let room = RoomId([5; 32]);
    let mut authority = RoomKeyAuthority::new(host.clone(), room, &mut OsRng);
    let joiner = Identity::generate(&mut OsRng).member_id();
    c.bench_function("room_join_host_envelope", |bch| {
        bch.iter(|| std::hint::black_box(authority.envelope_for(joiner, &mut OsRng).unwrap()))
    });
    let audience: Vec<_> = (0..1000)
        .map(|_| Identity::generate(&mut OsRng).member_id())
        .collect();
    c.bench_function("room_rotate_to_1000_listeners", |bch| {
        bch.iter(|| {
            let envs = authority
                .rotate(audience.iter().copied(), &mut OsRng)
                .unwrap();
            assert_eq!(envs.len(), 1000);
            std::hint::black_box(envs)
        })
    });
    let speaker = Identity::generate(&mut OsRng);
    let listener = Identity::generate(&mut OsRng);
    let keyed = |id: &Identity| {
        let mut s = RoomSession::new(id.clone(), room, host.member_id(), NOW, &mut OsRng);
        let env = authority.envelope_for(id.member_id(), &mut OsRng).unwrap();
        s.accept_room_key(&env).unwrap();
        s.set_speakers([speaker.member_id()]);
        s
    };
    let mut sp = keyed(&speaker);
    c.bench_function("room_speaker_key_seal", |bch| {
        bch.iter(|| std::hint::black_box(sp.speaker_key(&mut OsRng).unwrap()))
    });
    let bytes = sp.speaker_key(&mut OsRng).unwrap().encode();
    let mut l = keyed(&listener);
    c.bench_function("room_speaker_key_install", |bch| {
        bch.iter(|| {
            let k = SpeakerKey::decode(&bytes).unwrap();
            std::hint::black_box(l.accept_speaker_key(&k).unwrap())
        })
    });
}

criterion_group!(benches, frames, signatures, rotation, roster, room_keys);
criterion_main!(benches);
