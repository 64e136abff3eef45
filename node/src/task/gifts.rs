//! Gift receipts on the group: broadcasting ours, checking and recording
//! members' (see [`crate::gift`] for the checks).

use aura_billing::signed::SignedReceipt;
use aura_crypto::{GroupId, MemberId};

use super::Task;
use crate::group_core::{lock, Reject, Verdict};
use crate::{
    events::Event,
    gift::{self, GiftError},
    wire::ControlMsg,
    NodeError,
};

impl Task {
    fn billing_key(&self) -> Result<ed25519_dalek::VerifyingKey, GiftError> {
        let hex_key = self
            .config
            .billing_service_key
            .as_deref()
            .ok_or(GiftError::NoServiceKey)?;
        gift::parse_service_key(hex_key)
    }

    /// Checks our own receipt, records it and broadcasts it to the group.
    pub(crate) fn broadcast_gift(
        &mut self,
        gid: GroupId,
        receipt: SignedReceipt,
    ) -> Result<(), NodeError> {
        self.group(&gid)?;
        let me = self.identity.member_id();
        let key = self.billing_key()?;
        gift::check_signed(&receipt, Some(&key), gid, me)?;
        let bytes = gift::encode_receipt(&receipt)?;
        if self
            .store
            .record_gift(&gid.0, &receipt.body.receipt_id, &bytes)?
        {
            self.emit(Event::Gift {
                group: gid,
                from: me,
                label: self.label(&gid, &me),
                receipt: receipt.body.clone(),
            });
        }
        // Re-broadcast even when recorded before: the caller retries after a
        // lost publish; members drop duplicates by receipt id.
        self.send_control(&gid, &ControlMsg::Gift(bytes))
    }

    /// Gift receipts of `group` (ours and members'), oldest first.
    pub(crate) fn gifts(&self, gid: GroupId) -> Result<Vec<SignedReceipt>, NodeError> {
        self.group(&gid)?;
        let mut out: Vec<SignedReceipt> = self
            .store
            .gifts(&gid.0)?
            .iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .collect();
        out.sort_by_key(|r| r.body.ts_ms);
        Ok(out)
    }

    /// A member broadcast a receipt: check, deduplicate, record, show.
    pub(crate) fn on_gift(&mut self, gid: GroupId, sender: MemberId, bytes: &[u8]) -> Verdict {
        if self.is_blocked(&sender) {
            // Blocked here: neither shown nor kept.
            self.stats.blocked_dropped += 1;
            return Verdict::Ignore;
        }
        let key = match self.billing_key() {
            Ok(k) => k,
            Err(e) => {
                // Our configuration, not the sender's fault.
                tracing::debug!(error = %e, "gift receipt not checked");
                return Verdict::Ignore;
            }
        };
        let receipt = match gift::check_receipt(bytes, Some(&key), gid, sender) {
            Ok(r) => r,
            Err(e) => {
                self.stats.gifts_refused += 1;
                return Verdict::Reject(Reject::Forged, format!("gift receipt refused: {e}"));
            }
        };
        let to_member = self.groups.get(&gid).is_some_and(|g| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(&receipt.body.receiver, &mut b).is_ok()
                && lock(&g.session).roster().is_member(&MemberId(b))
        });
        if !to_member {
            // Valid, but the receiver is no longer with us (a race with a
            // removal): not the sender's fault, not shown.
            return Verdict::Ignore;
        }
        match self
            .store
            .record_gift(&gid.0, &receipt.body.receipt_id, bytes)
        {
            Ok(true) => {
                self.stats.gifts_received += 1;
                self.emit(Event::Gift {
                    group: gid,
                    from: sender,
                    label: self.label(&gid, &sender),
                    receipt: receipt.body,
                });
                Verdict::Accept
            }
            Ok(false) => Verdict::Ignore,
            Err(e) => {
                tracing::warn!(error = %e, "gift record write failed");
                Verdict::Ignore
            }
        }
    }
}
