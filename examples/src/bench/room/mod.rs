//! The `room` benchmark suite: one voice room, seated speakers and many
//! light listeners on loopback, through one relay ([`datagram`], the
//! default) or a cascade of relays ([`cascade`], `--relays N`).
//!
//! It also prints what room keys cost for the joiners, measured on the real
//! `aura-crypto` code: the host sealing the room key to each listener, each
//! listener opening it and installing every speaker's key (and, through the
//! control plane, the time from a join sent to its keys installed).

use std::time::Instant;

use aura_crypto::room::{RoomId, RoomKeyAuthority, RoomSession, SpeakerKey};
use aura_crypto::Identity;
use rand::rngs::OsRng;

mod cascade;
mod datagram;
mod light;
mod members;
mod probes;
mod report;

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
    /// Listeners (light clients).
    #[arg(long, default_value_t = 1_000)]
    pub listeners: usize,
    /// Seated speakers talking at once (the relay forwards the loudest 3).
    #[arg(long, default_value_t = 3)]
    pub speakers: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Bytes of each sealed frame (a 24 kb/s Opus frame sealed is ~95).
    #[arg(long, default_value_t = 96)]
    pub frame_bytes: usize,
    /// Relays of the room: 1 is one relay with datagram joins; more is a
    /// cascade (the origin and edges found on the DHT) joined through the
    /// room control plane.
    #[arg(long, default_value_t = 1)]
    pub relays: usize,
    /// With `--relays 1`: join through the room control plane too.
    #[arg(long)]
    pub control_plane: bool,
    /// Listeners joining at once (control plane).
    #[arg(long, default_value_t = 32)]
    pub join_parallel: usize,
}

/// What the room keys cost the joiners (CPU on this thread, no network).
struct KeyCost {
    host_per_join_us: f64,
    listener_ready_us: f64,
    bytes_per_join: usize,
}

impl KeyCost {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "key_host_us_per_join": self.host_per_join_us,
            "key_listener_ready_us": self.listener_ready_us,
            "key_bytes_per_join": self.bytes_per_join,
        })
    }
}

fn key_cost(listeners: usize, speakers: usize) -> anyhow::Result<KeyCost> {
    let host = Identity::generate(&mut OsRng);
    let room = RoomId([3; 32]);
    let authority = RoomKeyAuthority::new(host.clone(), room, &mut OsRng);
    let mut seated = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..speakers {
        let id = Identity::generate(&mut OsRng);
        let mut s = RoomSession::new(id.clone(), room, host.member_id(), 0, &mut OsRng);
        s.accept_room_key(&authority.envelope_for(id.member_id(), &mut OsRng)?)?;
        s.set_speakers([id.member_id()]);
        keys.push(s.speaker_key(&mut OsRng)?.encode());
        seated.push(id.member_id());
    }
    let n = listeners.clamp(1, 200);
    let joiners: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut OsRng)).collect();
    let t = Instant::now();
    let envs = joiners
        .iter()
        .map(|j| authority.envelope_for(j.member_id(), &mut OsRng))
        .collect::<Result<Vec<_>, _>>()?;
    let host_per_join_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for (j, env) in joiners.iter().zip(&envs) {
        let mut s = RoomSession::new(j.clone(), room, host.member_id(), 0, &mut OsRng);
        s.accept_room_key(env)?;
        s.set_speakers(seated.iter().copied());
        for k in &keys {
            s.accept_speaker_key(&SpeakerKey::decode(k)?)?;
        }
    }
    Ok(KeyCost {
        host_per_join_us,
        listener_ready_us: t.elapsed().as_secs_f64() * 1e6 / n as f64,
        bytes_per_join: envs.first().map(|e| e.encode().len()).unwrap_or(0)
            + keys.iter().map(Vec::len).sum::<usize>(),
    })
}

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let keys = key_cost(args.listeners, args.speakers)?;
    if args.relays <= 1 && !args.control_plane {
        datagram::run(args, keys).await
    } else {
        cascade::run(args, keys).await
    }
}
