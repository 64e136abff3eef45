//! A virtual network for tests: N cores, one seeded clock, messages
//! delivered after a fixed latency, connections made by dialling, members
//! taken offline and back, and a filter that drops or delays chosen messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use aura_crypto::{GroupId, Identity, MemberId};
use rand::{rngs::StdRng, SeedableRng};

use super::{Action, CoreEvent, GroupCore, RequestId};
use crate::wire::{self, Request, Response};

/// Virtual time of the first instant (unix ms, so invites do not expire).
pub(crate) const T0: u64 = 1_800_000_000_000;
/// One-way latency of every message, ms.
pub(crate) const LATENCY_MS: u64 = 10;
/// Longest virtual time between two checks of a `run_while` condition, ms.
const CHECK_EVERY_MS: u64 = 50;
/// How long a request to an offline member takes to fail, ms.
const FAIL_AFTER_MS: u64 = 100;

/// A message in flight.
#[derive(Debug)]
pub(crate) enum Msg {
    Gossip { group: GroupId, data: Vec<u8> },
    Request { id: RequestId, req: Request },
    Response { id: RequestId, resp: Response },
    Failed { id: RequestId },
    Connected,
}

/// One node: its core and what it reported.
pub(crate) struct SimNode {
    pub(crate) core: GroupCore<StdRng>,
    pub(crate) online: bool,
    pub(crate) events: Vec<CoreEvent>,
}

/// The fate of a message `from` → `to`: `None` drops it, `Some(ms)` delays
/// it by that much more.
type Filter = Box<dyn FnMut(usize, usize, &Msg) -> Option<u64>>;

/// The network.
pub(crate) struct Sim {
    pub(crate) now: u64,
    pub(crate) nodes: Vec<SimNode>,
    index: HashMap<MemberId, usize>,
    links: HashSet<(usize, usize)>,
    queue: BTreeMap<(u64, u64), (usize, usize, Msg)>,
    seq: u64,
    pub(crate) filter: Option<Filter>,
    /// Messages delivered so far.
    pub(crate) delivered: u64,
    /// Gossip arrives through a third party (as in gossip repair), not on
    /// its author's connection.
    pub(crate) gossip_via_others: bool,
    /// Each node's `poll_timeout`, refreshed after its every input.
    timers: Vec<Option<u64>>,
}

impl Sim {
    /// `n` nodes with identities and RNGs drawn from `seed`.
    pub(crate) fn new(n: usize, seed: u64) -> Self {
        let mut nodes = Vec::new();
        let mut index = HashMap::new();
        for i in 0..n {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003) + i as u64);
            let identity = Identity::generate(&mut rng);
            index.insert(identity.member_id(), i);
            let mut core = GroupCore::new(identity, rng);
            core.set_listen_addrs(vec![format!("sim/{i}")]);
            nodes.push(SimNode {
                core,
                online: true,
                events: Vec::new(),
            });
        }
        Self {
            now: T0,
            nodes,
            index,
            links: HashSet::new(),
            queue: BTreeMap::new(),
            seq: 0,
            filter: None,
            delivered: 0,
            gossip_via_others: false,
            timers: vec![None; n],
        }
    }

    pub(crate) fn id(&self, i: usize) -> MemberId {
        self.nodes[i].core.member_id()
    }

    fn link(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    pub(crate) fn connected(&self, a: usize, b: usize) -> bool {
        self.links.contains(&Self::link(a, b))
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg, delay: u64) {
        let extra = match self.filter.as_mut() {
            Some(f) => match f(from, to, &msg) {
                Some(ms) => ms,
                None => return,
            },
            None => 0,
        };
        self.seq += 1;
        self.queue
            .insert((self.now + delay + extra, self.seq), (from, to, msg));
    }

    /// Connects `a` and `b` (both online), as a dial would.
    pub(crate) fn connect(&mut self, a: usize, b: usize) {
        if a == b || self.connected(a, b) || !self.nodes[a].online || !self.nodes[b].online {
            return;
        }
        self.links.insert(Self::link(a, b));
        self.send(a, b, Msg::Connected, LATENCY_MS);
        self.send(b, a, Msg::Connected, LATENCY_MS);
    }

    /// Takes `i` offline: its connections close, nothing reaches it.
    pub(crate) fn set_offline(&mut self, i: usize) {
        self.nodes[i].online = false;
        let gone: Vec<_> = self
            .links
            .iter()
            .filter(|(a, b)| *a == i || *b == i)
            .copied()
            .collect();
        for (a, b) in gone {
            self.links.remove(&(a, b));
            let other = if a == i { b } else { a };
            let id = self.id(i);
            self.nodes[other].core.peer_disconnected(id);
            let id = self.id(other);
            self.nodes[i].core.peer_disconnected(id);
        }
    }

    /// Carries out what node `i` asked for (call after each input to it).
    pub(crate) fn drain(&mut self, i: usize) {
        self.drain_actions(i);
        let n = &self.nodes[i];
        self.timers[i] = n.online.then(|| n.core.poll_timeout()).flatten();
    }

    fn drain_actions(&mut self, i: usize) {
        while let Some(a) = self.nodes[i].core.poll() {
            match a {
                Action::Publish { group, msg } => {
                    let data = wire::encode(&msg);
                    let to: Vec<usize> = (0..self.nodes.len())
                        .filter(|j| self.connected(i, *j))
                        .filter(|j| self.nodes[*j].core.session(&group).is_some())
                        .collect();
                    for j in to {
                        let msg = Msg::Gossip {
                            group,
                            data: data.clone(),
                        };
                        self.send(i, j, msg, LATENCY_MS);
                    }
                }
                Action::Request { id, to, req } => {
                    let Some(&j) = self.index.get(&to) else {
                        continue;
                    };
                    if self.nodes[j].online {
                        self.connect(i, j);
                        self.send(i, j, Msg::Request { id, req }, LATENCY_MS);
                    } else {
                        self.send(j, i, Msg::Failed { id }, FAIL_AFTER_MS);
                    }
                }
                Action::Dial { member, .. } => {
                    if let Some(&j) = self.index.get(&member) {
                        self.connect(i, j);
                    }
                }
                Action::SaveGroup(_) | Action::SaveReplayFloors { .. } => {}
                Action::Event(e) => self.nodes[i].events.push(e),
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, msg: Msg) {
        if !self.nodes[to].online {
            return;
        }
        self.delivered += 1;
        if std::env::var("SIM_TRACE").is_ok() {
            let what = match &msg {
                Msg::Gossip { data, .. } => match wire::decode::<crate::wire::GossipMsg>(data) {
                    Some(crate::wire::GossipMsg::Keys(k)) => format!("keys x{}", k.len()),
                    _ => "frame".into(),
                },
                Msg::Request { id, req } => {
                    format!("req {} {:?}", id.0, std::mem::discriminant(req))
                }
                Msg::Response { id, resp } => match resp {
                    Response::Welcome { ops, envelopes, .. } => format!(
                        "resp {} welcome ops {} envs {}",
                        id.0,
                        ops.len(),
                        envelopes.len()
                    ),
                    other => format!("resp {} {other:?}", id.0),
                },
                other => format!("{other:?}"),
            };
            eprintln!("{} {from}->{to} {what}", self.now - T0);
        }
        let now = self.now;
        let peer = self.id(from);
        let linked = self.connected(from, to);
        let core = &mut self.nodes[to].core;
        match msg {
            Msg::Gossip { group, data } => {
                let origin = (!self.gossip_via_others).then_some(peer);
                let _ = core.handle_gossip(now, group, origin, &data);
            }
            Msg::Request { id, req } => {
                let resp = core.handle_request(now, peer, req);
                self.drain(to);
                self.send(to, from, Msg::Response { id, resp }, LATENCY_MS);
            }
            Msg::Response { id, resp } => core.handle_response(now, id, peer, resp),
            Msg::Failed { id } => core.request_failed(id, peer, "offline"),
            Msg::Connected => {
                if linked {
                    core.peer_addrs(peer, vec![format!("sim/{from}")]);
                    core.peer_connected(now, peer);
                }
            }
        }
        self.drain(to);
    }

    /// Runs until `until` (virtual ms since T0) or until nothing is due.
    pub(crate) fn run_until(&mut self, until: u64) {
        self.run_while(until, |_| true);
    }

    /// Runs while `go(self)` holds, up to `until`; returns whether it stopped
    /// because `go` turned false.
    pub(crate) fn run_while(&mut self, until: u64, mut go: impl FnMut(&Sim) -> bool) -> bool {
        let until = T0 + until;
        let mut checked = None;
        // Tests may have changed nodes directly; from here on every input
        // is followed by a drain of its node.
        for i in 0..self.nodes.len() {
            self.drain(i);
        }
        loop {
            let next_msg = self.queue.keys().next().map(|(t, _)| *t);
            let next_timer = self.timers.iter().flatten().min().copied();
            let next = next_msg.into_iter().chain(next_timer).min();
            // A check may cost O(N²): made before time moves 50 ms or more
            // past the last one, never twice at one instant.
            let due = checked
                .is_none_or(|t| t != self.now && next.is_none_or(|n| n >= t + CHECK_EVERY_MS));
            if due {
                checked = Some(self.now);
                if !go(self) {
                    return true;
                }
            }
            let Some(next) = next else {
                return false;
            };
            if next > until {
                self.now = until;
                return false;
            }
            self.now = self.now.max(next);
            if next_msg == Some(next) {
                if let Some((_, (from, to, msg))) = self.queue.pop_first() {
                    self.deliver(from, to, msg);
                }
                continue;
            }
            for i in 0..self.nodes.len() {
                let due = self.timers[i].is_some_and(|t| t <= self.now);
                if self.nodes[i].online && due {
                    let now = self.now;
                    self.nodes[i].core.handle_timeout(now);
                    let again = self.nodes[i].core.poll_timeout();
                    assert!(
                        again.is_none_or(|t| t > now),
                        "timer of node {i} did not move"
                    );
                    self.drain(i);
                }
            }
        }
    }

    /// Virtual ms since T0.
    pub(crate) fn elapsed(&self) -> u64 {
        self.now - T0
    }
}
