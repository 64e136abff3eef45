//! The probe listeners, one at each relay of the room, on a thread of
//! their own (a current-thread runtime): their endpoints' receive paths do
//! not queue behind the thousands of listeners' tasks, so the same frame's
//! arrival at the origin's probe and at an edge's compares the relays'
//! paths more than this process's scheduler. Joining the probes is also
//! what makes each edge find the origin on the DHT and attach.

use std::time::{Duration, Instant};

use aura_crypto::Identity;
use rand::rngs::OsRng;
use tokio::sync::oneshot;

use super::members::{join_at, spawn_listener, At, Room};
use super::report::Heard;

/// The probes' thread.
pub(super) struct Probes {
    /// Each probe's time from join sent to keys installed, once all are in.
    pub(super) keyed: oneshot::Receiver<anyhow::Result<Vec<Duration>>>,
    /// Starts the window: (base, end, most frames noted per probe).
    pub(super) go: oneshot::Sender<(Instant, Instant, usize)>,
    /// What each probe heard, in the order of the relays.
    pub(super) done: oneshot::Receiver<Vec<Heard>>,
}

/// Starts the probes' thread: joins a probe at each of `at`, in order.
pub(super) fn spawn(room: Room, at: Vec<At>) -> Probes {
    let (keyed_tx, keyed) = oneshot::channel();
    let (go, go_rx) = oneshot::channel::<(Instant, Instant, usize)>();
    let (done_tx, done) = oneshot::channel();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = keyed_tx.send(Err(e.into()));
                return;
            }
        };
        rt.block_on(async move {
            let mut probes = Vec::new();
            let mut times = Vec::new();
            for (i, a) in at.iter().enumerate() {
                let id = Identity::generate(&mut OsRng);
                match join_at(&id, &room, *a, room.seated.len()).await {
                    Ok((l, Some(t))) => {
                        probes.push((l, i));
                        times.push(t);
                    }
                    Ok((_, None)) => {
                        let _ = keyed_tx.send(Err(anyhow::anyhow!(
                            "the probe at relay {i} never got its keys"
                        )));
                        return;
                    }
                    Err(e) => {
                        let _ = keyed_tx.send(Err(e.context(format!("the probe at relay {i}"))));
                        return;
                    }
                }
            }
            let _ = keyed_tx.send(Ok(times));
            let Ok((base, end, cap)) = go_rx.await else {
                return;
            };
            let tasks: Vec<_> = probes
                .into_iter()
                .map(|(l, i)| spawn_listener(l, i, true, base, end, cap))
                .collect();
            let mut heard = Vec::new();
            let mut keep = Vec::new();
            for t in tasks {
                if let Ok((l, h)) = t.await {
                    heard.push(h);
                    keep.push(l);
                }
            }
            let _ = done_tx.send(heard);
            drop(keep);
        });
    });
    Probes { keyed, go, done }
}
