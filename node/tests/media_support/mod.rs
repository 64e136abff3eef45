//! Shared helpers for the media tests: a real group (aura-crypto sessions
//! with exchanged sender keys) and real quinn endpoints on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod nodes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_crypto::{GroupSession, Identity, MemberId, Role, Roster};
use aura_media::{Config, Incoming, MediaEndpoint, RoomConfig};
use aura_node::media::MediaRoom;
use aura_node::voice::{payload::VoicePayload, SlotKind, TalkMode, VoiceSender};
use rand::rngs::OsRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

pub const NOW: u64 = 1_700_000_000_000;

/// `n` members of one group, every pair holding each other's sender key.
pub fn group(n: usize) -> Vec<Arc<Mutex<GroupSession>>> {
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut OsRng)).collect();
    let (mut owner, _) = GroupSession::create(ids[0].clone(), "voice", NOW, &mut OsRng).unwrap();
    for id in &ids[1..] {
        owner
            .add_member(id.member_id(), Role::Member, None, NOW)
            .unwrap();
    }
    let ops: Vec<_> = owner.roster().ops().cloned().collect();
    let mut sessions = vec![owner];
    for id in &ids[1..] {
        let roster = Roster::from_ops(ops.clone()).unwrap();
        sessions.push(GroupSession::from_roster(
            id.clone(),
            roster,
            NOW,
            &mut OsRng,
        ));
    }
    exchange_keys(&mut sessions);
    sessions
        .into_iter()
        .map(|s| Arc::new(Mutex::new(s)))
        .collect()
}

/// Every member gives every other its current sender key.
pub fn exchange_keys(sessions: &mut [GroupSession]) {
    for i in 0..sessions.len() {
        for j in 0..sessions.len() {
            if i != j {
                let to = sessions[j].member_id();
                let env = sessions[i].envelope_for(to, &mut OsRng).unwrap();
                sessions[j].accept_envelope(&env).unwrap();
            }
        }
    }
}

pub fn member(s: &Arc<Mutex<GroupSession>>) -> MemberId {
    s.lock().unwrap().member_id()
}

/// A media endpoint on loopback with the group's room open to its roster.
pub fn endpoint(
    s: &Arc<Mutex<GroupSession>>,
    cfg: Config,
) -> (MediaEndpoint, mpsc::Receiver<Incoming>) {
    let (id, room, members) = {
        let s = s.lock().unwrap();
        let members: Vec<MemberId> = s.roster().members().map(|(m, _)| m).collect();
        (s.identity().clone(), s.group_id().room(), members)
    };
    let ep = MediaEndpoint::bind(&id, "127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    let rx = ep.open_room(room, members, RoomConfig::default()).unwrap();
    (ep, rx)
}

/// Talks `pcm` into the room in real time (20 ms pacing), dropping each
/// sealed frame with probability `loss` before it hits the network.
pub async fn talk(
    ep: &MediaEndpoint,
    room: &mut MediaRoom,
    sender: &mut VoiceSender,
    pcm: &[i16],
    loss: f64,
    seed: u64,
) -> usize {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0;
    for chunk in pcm.chunks(sender.frame_len()) {
        tick.tick().await;
        let mut f = chunk.to_vec();
        f.resize(sender.frame_len(), 0);
        if let Some(p) = sender.process(&f).unwrap() {
            for frame in room.seal(&p, NOW).unwrap() {
                if rng.gen::<f64>() >= loss {
                    sent += ep.broadcast(&room.room_id(), &frame.into());
                }
            }
        }
    }
    if let Ok(Some(sig)) = room.flush() {
        ep.broadcast(&room.room_id(), &sig.into());
    }
    sent
}

/// Listens for `dur`, returning what the member would play, placed by
/// media timestamp (time-aligned with the talker's input), per talker.
pub async fn listen(
    rx: &mut mpsc::Receiver<Incoming>,
    room: &mut MediaRoom,
    dur: Duration,
    len: usize,
) -> std::collections::HashMap<MemberId, (Vec<i16>, u64)> {
    let start = Instant::now();
    let mut out: std::collections::HashMap<MemberId, (Vec<i16>, u64)> = Default::default();
    let mut first_ts: std::collections::HashMap<MemberId, u64> = Default::default();
    while start.elapsed() < dur {
        let now_us = start.elapsed().as_micros() as u64;
        let wait = room
            .next_due_us()
            .map(|d| Duration::from_micros(d.saturating_sub(now_us)))
            .unwrap_or(Duration::from_millis(5))
            .min(Duration::from_millis(5));
        if let Ok(Some(inc)) = tokio::time::timeout(wait, rx.recv()).await {
            let t = inc.at.duration_since(start).as_micros() as u64;
            let _ = room.on_frame(&inc.frame, t, NOW);
        }
        for (m, slot) in room.poll(start.elapsed().as_micros() as u64) {
            // Sender timestamps start at 2^32 after unwrapping; place by offset.
            let base = *first_ts.entry(m).or_insert(slot.ts & !0xffff_ffff);
            let pos = (slot.ts - base) as usize;
            let e = out.entry(m).or_insert_with(|| (vec![0; len], 0));
            if slot.kind != SlotKind::Decoded {
                e.1 += 1;
            }
            if pos + slot.pcm.len() <= len {
                e.0[pos..pos + slot.pcm.len()].copy_from_slice(&slot.pcm);
            }
        }
    }
    out
}

pub fn open_mic_sender() -> VoiceSender {
    let mut s = VoiceSender::voice(Default::default(), TalkMode::PushToTalk).unwrap();
    s.gate.key_down = true;
    s
}

pub fn payload_roundtrip(p: &VoicePayload) -> VoicePayload {
    VoicePayload::parse(&p.to_bytes()).unwrap()
}
