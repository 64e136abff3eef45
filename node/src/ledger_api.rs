//! The billing part of the [`Node`] API: the node's own ledger client,
//! gifts in groups, the wallet and catalog, and the entitlement token the
//! node presents to relays and carries in VIP room joins.

use aura_crypto::{GroupId, MemberId};

use crate::{command::Command, Node, NodeError};

impl Node {
    /// Presents `token` (the billing ledger's entitlement token for this
    /// device) to relays from now on, as voice does with the token it
    /// fetches from `billing_url`: a relay in `token` access mode forwards
    /// for, and reserves for, members that present a valid one.
    pub fn set_relay_token(
        &self,
        token: &aura_billing::signed::EntitlementToken,
    ) -> Result<(), NodeError> {
        self.relay_pass().set(token)
    }

    /// Fetches this device's entitlement token from the billing ledger
    /// (its signature checked against the ledger's key).
    pub async fn entitlement(&self) -> Result<aura_billing::signed::EntitlementToken, NodeError> {
        let ledger = self.ledger();
        let got = ledger.client().await?.entitlement().await;
        match got {
            Ok(t) => Ok(t),
            Err(e) if ledger.retry_after(&e).await => {
                Ok(ledger.client().await?.entitlement().await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a gift to `to` through the billing ledger (the node's own
    /// client, see [`Node::billing_client`]) and broadcasts the signed
    /// receipt to `group`. `id` is chosen by the caller: retrying with the
    /// same id after an error never pays twice (the ledger returns the
    /// original receipt, members drop the duplicate).
    pub async fn send_gift(
        &self,
        group: GroupId,
        to: MemberId,
        gift: &str,
        id: &str,
    ) -> Result<aura_billing::signed::SignedReceipt, NodeError> {
        let receipt = self
            .pay_gift(&crate::gift::room_id(group), to, gift, id)
            .await?;
        self.broadcast_gift(group, receipt.clone()).await?;
        Ok(receipt)
    }

    /// Pays for a gift to `to` shown in the ledger room `room`; the
    /// ledger's signed receipt.
    pub(crate) async fn pay_gift(
        &self,
        room: &str,
        to: MemberId,
        gift: &str,
        id: &str,
    ) -> Result<aura_billing::signed::SignedReceipt, NodeError> {
        let req = aura_billing::api::SendGiftRequest {
            id: id.to_owned(),
            gift: gift.to_owned(),
            to: hex::encode(to.0),
            room: room.to_owned(),
        };
        let ledger = self.ledger();
        let sent = ledger.client().await?.send_gift(&req).await;
        match sent {
            Ok(r) => Ok(r.receipt),
            Err(e) if ledger.retry_after(&e).await => {
                Ok(ledger.client().await?.send_gift(&req).await?.receipt)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// This device's wallet at the ledger.
    pub async fn wallet(&self) -> Result<aura_billing::api::Wallet, NodeError> {
        let ledger = self.ledger();
        let got = ledger.client().await?.wallet().await;
        match got {
            Ok(w) => Ok(w),
            Err(e) if ledger.retry_after(&e).await => Ok(ledger.client().await?.wallet().await?),
            Err(e) => Err(e.into()),
        }
    }

    /// The ledger's gift catalog.
    pub async fn gift_catalog(&self) -> Result<Vec<aura_billing::api::GiftItem>, NodeError> {
        let ledger = self.ledger();
        let got = ledger.client().await?.catalog().await;
        match got {
            Ok(c) => Ok(c),
            Err(e) if ledger.retry_after(&e).await => Ok(ledger.client().await?.catalog().await?),
            Err(e) => Err(e.into()),
        }
    }

    /// A new billing-ledger client of its own, logged in with this node's
    /// identity key at the configured `billing_url`, its key checked against
    /// `billing_service_key` when set (for ledger calls the node does not
    /// wrap: checkout, rewards, entitlements).
    pub async fn billing_client(&self) -> Result<aura_billing::client::BillingClient, NodeError> {
        self.ledger().connect().await
    }

    /// Broadcasts a gift receipt we obtained from the ledger to `group`
    /// (checked first: it must name us as sender and `group` as room).
    pub async fn broadcast_gift(
        &self,
        group: GroupId,
        receipt: aura_billing::signed::SignedReceipt,
    ) -> Result<(), NodeError> {
        self.ask(|reply| Command::BroadcastGift {
            group,
            receipt,
            reply,
        })
        .await?
    }

    /// Gift receipts shown in `group`, oldest first.
    pub async fn gifts(
        &self,
        group: GroupId,
    ) -> Result<Vec<aura_billing::signed::SignedReceipt>, NodeError> {
        self.ask(|r| Command::Gifts(group, r)).await?
    }
}
