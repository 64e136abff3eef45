//! Carried gossip for members in background mode (sans-IO).
//!
//! A phone in background mode that publishes to a group itself sends one
//! packet per member for each message (gossip is one hop, see
//! `net::behaviour`), and acknowledges every message any member publishes:
//! in a group of ten, about twenty packets a minute, each of which may
//! wake the cellular radio. Instead it leaves its groups' gossip topics and
//! hands what it publishes to one connected member that is subscribed (its
//! *carrier*), which publishes it for the group and keeps what the group
//! publishes meanwhile in a mailbox, handed back in the same answer. A
//! minute in the background then costs the phone one request and one
//! acknowledgement. The carrier learns nothing it would not see anyway: the
//! messages are the group's sealed, signed frames and key envelopes.
//!
//! - [`Outbox`]: the phone's side, per group: what waits, the request in
//!   flight, when to ask for the mailbox again.
//! - [`Mailboxes`]: the carrier's side: one bounded mailbox per (group,
//!   member), open while the member keeps asking (a lease). A mailbox keeps
//!   each member's newest location only ([`Latest`]): a phone in the
//!   background is told where everyone is now, not every step they took
//!   meanwhile, and its answer (and the acknowledgements it sends for it)
//!   shrinks from a minute of the group's fixes to one per member. Answers
//!   are numbered and the phone's next request confirms the last it got:
//!   until then the carrier keeps what it handed out and sends it again,
//!   so an answer lost with its connection (the away logic closing it, a
//!   network change) loses nothing.

use std::collections::{HashMap, VecDeque};

use libp2p::PeerId;

/// Most messages in one carry request.
pub const MAX_CARRIED: usize = 16;
/// Most messages waiting on the phone for its carrier; older ones go first.
pub const MAX_WAITING: usize = 64;
/// Most messages one mailbox keeps, and one answer holds; older ones go
/// first. (A mailbox also keeps its last answer until it is confirmed: at
/// most twice these bounds per member.)
pub const MAILBOX_MESSAGES: usize = 64;
/// Most bytes one mailbox keeps and one answer holds (well under the RPC
/// limit).
pub const MAILBOX_BYTES: usize = 256 * 1024;
/// Most mailboxes a carrier keeps open.
pub const MAX_MAILBOXES: usize = 64;
/// A mailbox closes this long after its member last asked, ms.
pub const LEASE_MS: u64 = 5 * 60_000;
/// The phone asks for its mailbox at least this often, ms. Its own fix, at
/// most once a minute in the background, is an exchange too and resets the
/// wait: a phone on the move publishes every minute and never polls (a poll
/// every 60 s would come just before each publish, two exchanges where one
/// does), a phone lying still polls. And sooner than a connection with no
/// stream open is closed (see `net::behaviour::IDLE_CONNECTION_TIMEOUT`),
/// so its exchanges keep the carrier's connection instead of each one
/// dialling it again.
pub const POLL_EVERY_MS: u64 = 75_000;
/// After a failed or refused request the next one waits this long, ms,
/// doubling with each failure in a row up to [`POLL_EVERY_MS`].
pub const RETRY_AFTER_MS: u64 = 2_000;

/// The phone's side of one group.
#[derive(Debug, Default)]
pub struct Outbox {
    waiting: VecDeque<Vec<u8>>,
    in_flight: bool,
    last_exchange_ms: u64,
    /// No request before this (after failures), unix ms.
    retry_at_ms: u64,
    /// The wait after the last failure, ms (0: the last request was answered).
    backoff_ms: u64,
    /// The member that carries for us, while it stays connected and subscribed.
    pub carrier: Option<PeerId>,
    /// The number of the last answer we got, and from which carrier.
    confirmed: Option<(PeerId, u32)>,
}

impl Outbox {
    /// Queues a message for the carrier.
    pub fn push(&mut self, msg: Vec<u8>) {
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(msg);
    }

    /// Messages waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Takes everything waiting (to publish it ourselves).
    pub fn drain(&mut self) -> Vec<Vec<u8>> {
        self.waiting.drain(..).collect()
    }

    /// The messages of the next request, if one may go now: none is in
    /// flight, no failure holds requests back, and something waits or the
    /// mailbox is due.
    pub fn due(&mut self, now_ms: u64) -> Option<Vec<Vec<u8>>> {
        if self.in_flight || now_ms < self.retry_at_ms {
            return None;
        }
        let poll = now_ms.saturating_sub(self.last_exchange_ms) >= POLL_EVERY_MS;
        if self.waiting.is_empty() && !poll {
            return None;
        }
        let n = self.waiting.len().min(MAX_CARRIED);
        self.in_flight = true;
        self.last_exchange_ms = now_ms;
        Some(self.waiting.drain(..n).collect())
    }

    /// What a request to `carrier` confirms: the number of the last answer
    /// it gave us (0: none, or another carrier's).
    pub fn confirmed_for(&self, carrier: PeerId) -> u32 {
        match self.confirmed {
            Some((peer, n)) if peer == carrier => n,
            _ => 0,
        }
    }

    /// `carrier` answered with its answer number `answer`.
    pub fn answered_by(&mut self, carrier: PeerId, answer: u32) {
        self.confirmed = Some((carrier, answer));
        self.answered();
    }

    /// The request was answered.
    pub fn answered(&mut self) {
        self.in_flight = false;
        self.backoff_ms = 0;
        self.retry_at_ms = 0;
    }

    /// The request failed or was refused at `now_ms`: its messages wait
    /// again, for another carrier, and the next request waits a while (a
    /// carrier that refuses is not asked again every tick).
    pub fn failed(&mut self, msgs: Vec<Vec<u8>>, now_ms: u64) {
        self.in_flight = false;
        self.carrier = None;
        self.backoff_ms = (self.backoff_ms * 2).clamp(RETRY_AFTER_MS, POLL_EVERY_MS);
        self.retry_at_ms = now_ms.saturating_add(self.backoff_ms);
        for m in msgs.into_iter().rev() {
            if self.waiting.len() >= MAX_WAITING {
                break;
            }
            self.waiting.push_front(m);
        }
    }
}

/// A message of which a mailbox keeps only the newest of its slot (a
/// member's location): `order` says which is newer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latest {
    /// The slot (one per sender).
    pub slot: u64,
    /// Higher is newer (the sender's key epoch and frame counter).
    pub order: u64,
}

#[derive(Debug, Default)]
struct Mailbox {
    until_ms: u64,
    msgs: VecDeque<(Option<Latest>, Vec<u8>)>,
    bytes: usize,
    /// The number of the last answer (0: none yet).
    answer: u32,
    /// What the last answer held, until a request confirms it.
    sent: Vec<(Option<Latest>, Vec<u8>)>,
}

impl Mailbox {
    /// Keeps `msg`, within the bounds (oldest out first); a newer message
    /// of the same slot replaces the one kept, an older one is not kept.
    fn keep(&mut self, msg: &[u8], latest: Option<Latest>) {
        if let Some(l) = latest {
            let same = |k: &Option<Latest>| k.is_some_and(|k| k.slot == l.slot);
            if let Some(i) = self.msgs.iter().position(|(k, _)| same(k)) {
                if self.msgs[i].0.is_some_and(|k| k.order >= l.order) {
                    return;
                }
                if let Some((_, old)) = self.msgs.remove(i) {
                    self.bytes -= old.len();
                }
            }
        }
        while self.msgs.len() >= MAILBOX_MESSAGES || self.bytes + msg.len() > MAILBOX_BYTES {
            match self.msgs.pop_front() {
                Some((_, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
        self.bytes += msg.len();
        self.msgs.push_back((latest, msg.to_vec()));
    }
}

/// The carrier's side: mailboxes of the members it carries for.
#[derive(Debug, Default)]
pub struct Mailboxes {
    boxes: HashMap<([u8; 32], PeerId), Mailbox>,
}

impl Mailboxes {
    /// Opens (or renews) the mailbox of `member` in `group`; `false` when
    /// every slot is taken by a live lease.
    pub fn open(&mut self, group: [u8; 32], member: PeerId, now_ms: u64) -> bool {
        self.boxes.retain(|_, b| b.until_ms > now_ms);
        let full = self.boxes.len() >= MAX_MAILBOXES;
        match self.boxes.get_mut(&(group, member)) {
            Some(b) => b.until_ms = now_ms + LEASE_MS,
            None if full => return false,
            None => {
                self.boxes.insert(
                    (group, member),
                    Mailbox {
                        until_ms: now_ms + LEASE_MS,
                        ..Default::default()
                    },
                );
            }
        }
        true
    }

    /// Whether `member` has a live mailbox in `group`.
    pub fn is_open(&self, group: [u8; 32], member: PeerId, now_ms: u64) -> bool {
        self.boxes
            .get(&(group, member))
            .is_some_and(|b| b.until_ms > now_ms)
    }

    /// Keeps messages for `member` alone (what reached nobody before its
    /// mailbox opened).
    pub fn seed(&mut self, group: [u8; 32], member: PeerId, msgs: &[Vec<u8>]) {
        if let Some(b) = self.boxes.get_mut(&(group, member)) {
            for m in msgs.iter().rev().take(MAILBOX_MESSAGES).rev() {
                if b.bytes + m.len() <= MAILBOX_BYTES {
                    b.bytes += m.len();
                    b.msgs.push_back((None, m.clone()));
                }
            }
        }
    }

    /// Keeps a message of `group` for every member with an open mailbox
    /// there, except `author` (who has it); `latest`: only the newest of its
    /// slot is kept.
    pub fn deliver(
        &mut self,
        group: [u8; 32],
        msg: &[u8],
        author: Option<PeerId>,
        latest: Option<Latest>,
        now_ms: u64,
    ) {
        if msg.len() > MAILBOX_BYTES {
            return;
        }
        for ((g, member), b) in self.boxes.iter_mut() {
            if *g != group || Some(*member) == author || b.until_ms <= now_ms {
                continue;
            }
            b.keep(msg, latest);
        }
    }

    /// The next answer for `member` in `group`, and its number: what the
    /// mailbox kept, after what the last answer held unless the request
    /// confirms it got that one (`confirmed`: the number of the last answer
    /// it received). What an answer hands out is kept until then, so an
    /// answer lost with its connection goes out again (the member drops
    /// what it already has as replays). Bounded as the mailbox is.
    pub fn answer(
        &mut self,
        group: [u8; 32],
        member: PeerId,
        confirmed: u32,
    ) -> (u32, Vec<Vec<u8>>) {
        let Some(b) = self.boxes.get_mut(&(group, member)) else {
            return (0, Vec::new());
        };
        let unconfirmed = std::mem::take(&mut b.sent);
        let mut out: VecDeque<(Option<Latest>, Vec<u8>)> = b.msgs.drain(..).collect();
        b.bytes = 0;
        if confirmed != b.answer {
            // Older than what waits: first, unless a newer one of its slot waits.
            for (latest, msg) in unconfirmed.into_iter().rev() {
                let superseded = latest.is_some_and(|l| {
                    out.iter()
                        .any(|(k, _)| k.is_some_and(|k| k.slot == l.slot && k.order >= l.order))
                });
                if !superseded {
                    out.push_front((latest, msg));
                }
            }
        }
        let mut bytes: usize = out.iter().map(|(_, m)| m.len()).sum();
        while out.len() > MAILBOX_MESSAGES || bytes > MAILBOX_BYTES {
            match out.pop_front() {
                Some((_, m)) => bytes -= m.len(),
                None => break,
            }
        }
        b.answer = b.answer.wrapping_add(1).max(1);
        b.sent = out.iter().cloned().collect();
        (b.answer, out.into_iter().map(|(_, m)| m).collect())
    }

    /// Whether any mailbox of `group` is open (so its gossip is worth keeping).
    pub fn any_open(&self, group: [u8; 32], now_ms: u64) -> bool {
        self.boxes
            .iter()
            .any(|((g, _), b)| *g == group && b.until_ms > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: [u8; 32] = [7; 32];

    /// The next answer, confirming the last (the member got it).
    fn take(m: &mut Mailboxes, group: [u8; 32], member: PeerId) -> Vec<Vec<u8>> {
        let last = m.boxes.get(&(group, member)).map_or(0, |b| b.answer);
        m.answer(group, member, last).1
    }

    #[test]
    fn an_answer_not_confirmed_goes_out_again_with_the_next() {
        let mut m = Mailboxes::default();
        let phone = PeerId::random();
        assert!(m.open(G, phone, 0));
        m.deliver(G, b"chat", None, None, 1);
        let (first, got) = m.answer(G, phone, 0);
        assert_eq!((first, got), (1, vec![b"chat".to_vec()]));
        // The answer was lost with its connection: the phone confirms 0.
        m.deliver(G, b"later", None, None, 2);
        let (second, got) = m.answer(G, phone, 0);
        assert_eq!(second, 2);
        assert_eq!(got, vec![b"chat".to_vec(), b"later".to_vec()]);
        // Confirmed: nothing again.
        assert_eq!(m.answer(G, phone, second), (3, vec![]));
        // A lost answer of locations goes out again unless a newer fix of
        // the same member waits.
        let fix = |order| Some(Latest { slot: 9, order });
        m.deliver(G, b"fix 1", None, fix(1), 3);
        m.deliver(G, b"fix A", None, Some(Latest { slot: 8, order: 1 }), 3);
        assert_eq!(m.answer(G, phone, 3).1.len(), 2);
        m.deliver(G, b"fix 2", None, fix(2), 4);
        assert_eq!(
            m.answer(G, phone, 3).1,
            vec![b"fix A".to_vec(), b"fix 2".to_vec()],
            "the lost fix 1 is superseded by fix 2; fix A goes again"
        );
    }

    #[test]
    fn the_phone_confirms_the_last_answer_of_its_carrier_only() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut o = Outbox::default();
        assert_eq!(o.confirmed_for(a), 0);
        o.answered_by(a, 5);
        assert_eq!(o.confirmed_for(a), 5);
        assert_eq!(o.confirmed_for(b), 0, "another carrier's numbers");
        o.failed(vec![], 0);
        assert_eq!(o.confirmed_for(a), 5, "kept across a failed request");
    }

    #[test]
    fn outbox_sends_what_waits_at_once_and_polls_once_a_minute() {
        let mut o = Outbox::default();
        assert!(o.due(POLL_EVERY_MS).is_some(), "first poll");
        o.answered();
        assert!(
            o.due(POLL_EVERY_MS + 1).is_none(),
            "nothing waits, poll not due"
        );
        o.push(vec![1]);
        assert_eq!(o.due(POLL_EVERY_MS + 2), Some(vec![vec![1]]));
        o.push(vec![2]);
        assert!(o.due(POLL_EVERY_MS + 3).is_none(), "one request in flight");
        o.failed(vec![vec![1]], POLL_EVERY_MS + 3);
        assert_eq!(o.carrier, None, "a failed carrier is dropped");
        let t = POLL_EVERY_MS + 3 + RETRY_AFTER_MS;
        assert!(o.due(t - 1).is_none(), "a failure holds requests back");
        assert_eq!(o.due(t), Some(vec![vec![1], vec![2]]), "in order");
        o.answered();
        assert!(o.due(t + POLL_EVERY_MS - 1).is_none());
        assert!(
            o.due(t + POLL_EVERY_MS).is_some(),
            "poll due a poll interval after"
        );
    }

    /// The phone's exchanges come often enough that its connection to the
    /// carrier never sits idle long enough to be closed (by either end).
    #[test]
    fn polls_come_well_before_an_idle_connection_closes() {
        let idle = crate::net::behaviour::IDLE_CONNECTION_TIMEOUT.as_millis() as u64;
        // The housekeeping tick (1 s in the background) may delay a poll.
        assert!(POLL_EVERY_MS + 5_000 <= idle);
    }

    /// A carrier that refuses every request is asked again after 2, 4, 8 s
    /// and so on, at most once a poll interval: not at every tick.
    #[test]
    fn failures_in_a_row_space_requests_out_up_to_the_poll_interval() {
        let mut o = Outbox::default();
        o.push(vec![1]);
        let mut now = 0;
        let mut sent = 0;
        while now < 600_000 {
            if let Some(msgs) = o.due(now) {
                sent += 1;
                o.failed(msgs, now);
            }
            now += 1_000;
        }
        // 2 + 4 + 8 + 16 + 32 s, then one every 50 s: 5 + 11 in ten minutes.
        assert!(sent <= 16, "{sent} requests in ten minutes");
        assert_eq!(o.waiting(), 1, "the message still waits");
        o.answered();
        o.push(vec![2]);
        assert!(o.due(now).is_some(), "an answer ends the wait");
    }

    #[test]
    fn outbox_and_requests_are_bounded() {
        let mut o = Outbox::default();
        for i in 0..(MAX_WAITING + 10) {
            o.push(vec![i as u8]);
        }
        assert_eq!(o.waiting(), MAX_WAITING);
        let first = o.due(POLL_EVERY_MS).unwrap_or_default();
        assert_eq!(first.len(), MAX_CARRIED);
        assert_eq!(first[0], vec![10u8], "the oldest went first");
    }

    #[test]
    fn mailbox_keeps_the_groups_messages_for_its_member_only_while_leased() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut m = Mailboxes::default();
        m.deliver(G, b"early", None, None, 0);
        assert!(m.open(G, a, 1_000));
        assert!(m.open(G, b, 1_000));
        m.deliver(G, b"x", Some(a), None, 2_000);
        m.deliver([8; 32], b"other group", None, None, 2_000);
        assert!(take(&mut m, G, a).is_empty(), "not its own message");
        assert!(m.is_open(G, a, 1_000) && !m.is_open(G, a, 1_000 + LEASE_MS));
        m.seed(G, a, &[b"missed".to_vec()]);
        assert_eq!(take(&mut m, G, a), vec![b"missed".to_vec()]);
        assert_eq!(take(&mut m, G, b), vec![b"x".to_vec()]);
        assert!(take(&mut m, G, b).is_empty(), "taken once");
        m.deliver(G, b"late", None, None, 1_000 + LEASE_MS);
        assert!(take(&mut m, G, a).is_empty(), "the lease ran out");
        assert!(!m.any_open(G, 1_000 + LEASE_MS));
    }

    #[test]
    fn a_mailbox_keeps_each_members_newest_location_and_every_other_message() {
        let (phone, walker) = (PeerId::random(), PeerId::random());
        let mut m = Mailboxes::default();
        assert!(m.open(G, phone, 0));
        let loc = |slot, order| Some(Latest { slot, order });
        m.deliver(G, b"a1", Some(walker), loc(1, 1), 1);
        m.deliver(G, b"chat", Some(walker), None, 2);
        m.deliver(G, b"b1", None, loc(2, 7), 3);
        m.deliver(G, b"a3", Some(walker), loc(1, 3), 4);
        // Gossip may reorder: an older fix does not replace a newer one.
        m.deliver(G, b"a2", Some(walker), loc(1, 2), 5);
        m.deliver(G, b"chat2", Some(walker), None, 6);
        assert_eq!(
            take(&mut m, G, phone),
            vec![
                b"chat".to_vec(),
                b"b1".to_vec(),
                b"a3".to_vec(),
                b"chat2".to_vec()
            ]
        );
    }

    #[test]
    fn mailboxes_are_bounded_in_number_messages_and_bytes() {
        let mut m = Mailboxes::default();
        for _ in 0..MAX_MAILBOXES {
            assert!(m.open(G, PeerId::random(), 0));
        }
        let late = PeerId::random();
        assert!(!m.open(G, late, 1), "every slot is leased");
        assert!(m.open(G, late, LEASE_MS), "expired leases free their slots");
        for i in 0..(MAILBOX_MESSAGES + 5) {
            m.deliver(G, &[i as u8; 8], None, None, LEASE_MS);
        }
        let got = take(&mut m, G, late);
        assert_eq!(got.len(), MAILBOX_MESSAGES);
        assert_eq!(got[0], vec![5u8; 8], "the oldest were dropped");
        let big = vec![0u8; MAILBOX_BYTES / 2 + 1];
        m.deliver(G, &big, None, None, LEASE_MS);
        m.deliver(G, &big, None, None, LEASE_MS);
        assert_eq!(take(&mut m, G, late).len(), 1, "bytes bounded too");
    }
}
