//! The state every handler and layer of the page shares.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::sync::{watch, Semaphore};

use super::{guard::Guard, presence::Presence, voice::VoiceRooms, MAX_STREAMS};
use crate::Node;

/// What every handler gets (cheap to clone).
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) node: Node,
    pub(crate) guard: Arc<Guard>,
    pub(crate) presence: Arc<Presence>,
    pub(crate) voice: Arc<VoiceRooms>,
    pub(crate) streams: Arc<Semaphore>,
    pub(crate) stop: watch::Receiver<bool>,
    refused: Arc<AtomicU64>,
}

impl AppState {
    pub(crate) fn new(
        node: Node,
        guard: Guard,
        presence: Arc<Presence>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            node,
            guard: Arc::new(guard),
            presence,
            voice: Arc::new(VoiceRooms::default()),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            stop,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a refused request.
    pub(crate) fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}
