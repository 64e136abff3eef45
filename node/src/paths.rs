//! The path of each open connection (direct, or through a circuit relay),
//! kept from the node's own events from its start, for
//! [`crate::Node::connections`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use libp2p::PeerId;
use tokio::sync::broadcast;

use crate::Event;

/// Connected peers and whether each is relayed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    peers: Arc<Mutex<HashMap<PeerId, bool>>>,
}

impl Paths {
    /// Follows `events` (subscribed before the node task starts, so no
    /// connection is missed) until the node stops.
    pub(crate) fn follow(mut events: broadcast::Receiver<Event>) -> Self {
        let me = Self::default();
        let peers = me.peers.clone();
        tokio::spawn(async move {
            loop {
                let e = match events.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "connection paths missed events");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let mut map = match peers.lock() {
                    Ok(m) => m,
                    Err(poisoned) => poisoned.into_inner(),
                };
                match e {
                    Event::PeerConnected { peer, relayed } => {
                        map.insert(peer, relayed);
                    }
                    Event::PeerDisconnected { peer } => {
                        map.remove(&peer);
                    }
                    _ => {}
                }
            }
        });
        me
    }

    /// Each connected peer, relayed (true) or direct.
    pub(crate) fn list(&self) -> Vec<(PeerId, bool)> {
        match self.peers.lock() {
            Ok(m) => m.iter().map(|(p, r)| (*p, *r)).collect(),
            Err(poisoned) => poisoned
                .into_inner()
                .iter()
                .map(|(p, r)| (*p, *r))
                .collect(),
        }
    }
}
