//! What both the rooms' control streams and the cascade links do to the
//! forwarding table: apply a change the hub decided, and the bound of a
//! relay-to-relay link's outbox.

use super::Shared;
use crate::forward::Forwarder;
use crate::rooms::ForwardChange;

/// Messages queued to an edge relay's link (it carries many members').
pub(super) const LINK_OUTBOX: usize = 16_384;

pub(super) fn apply(t: &mut Forwarder<quinn::Connection>, s: &Shared, change: ForwardChange) {
    match change {
        ForwardChange::Open(r) => t.gate_room(r),
        ForwardChange::Admit(r, m) => {
            if let Err(e) = t.admit(r, &m) {
                s.metrics.refuse("media", e.as_str());
            }
        }
        ForwardChange::Expel(r, m) => t.expel(r, &m),
        ForwardChange::Speakers(r, v) => t.set_speakers(r, v),
        ForwardChange::Close(r) => t.close_gated(r),
    }
}
