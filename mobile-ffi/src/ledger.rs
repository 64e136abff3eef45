//! Gifts and the wallet, through the node's own billing-ledger client
//! (`billing_url` and `billing_service_key` in the node config).

use aura_billing::{api, signed::SignedReceipt};

use crate::{
    error::AuraError,
    node::AuraNode,
    types::{group_id, member_id},
};

/// A gift as the ledger signed it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct GiftReceiptInfo {
    /// Ledger receipt id.
    pub receipt_id: String,
    /// Sender account (hex member id).
    pub sender: String,
    /// Receiver account (hex member id).
    pub receiver: String,
    /// Gift id.
    pub gift: String,
    /// Animation to play.
    pub animation: String,
    /// Price, coins.
    pub coins: i64,
    /// Diamonds credited to the receiver.
    pub diamonds: i64,
    /// When, unix ms.
    pub ts_ms: i64,
}

impl From<&SignedReceipt> for GiftReceiptInfo {
    fn from(r: &SignedReceipt) -> Self {
        let b = &r.body;
        Self {
            receipt_id: b.receipt_id.clone(),
            sender: b.sender.clone(),
            receiver: b.receiver.clone(),
            gift: b.gift.clone(),
            animation: b.animation.clone(),
            coins: b.coins,
            diamonds: b.diamonds,
            ts_ms: b.ts_ms,
        }
    }
}

/// This device's wallet: spendable balances and subscription tier.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletInfo {
    /// Account (hex member id).
    pub account: String,
    /// Coins available now.
    pub coins: i64,
    /// Diamonds available now.
    pub diamonds: i64,
    /// Subscription tier.
    pub tier: String,
}

/// One gift of the ledger's catalog.
#[derive(Debug, Clone, uniffi::Record)]
pub struct GiftItemInfo {
    /// Id to send.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Price, coins.
    pub price_coins: i64,
    /// Diamonds the receiver gets.
    pub diamond_value: i64,
    /// Animation to play.
    pub animation_id: String,
}

impl From<&api::GiftItem> for GiftItemInfo {
    fn from(g: &api::GiftItem) -> Self {
        Self {
            id: g.id.clone(),
            name: g.name.clone(),
            price_coins: g.price_coins,
            diamond_value: g.diamond_value,
            animation_id: g.animation_id.clone(),
        }
    }
}

#[uniffi::export]
impl AuraNode {
    /// Sends gift `gift` to member `to` in `group` through the ledger and
    /// shows the receipt to the group. `id` is the app's idempotency key:
    /// retrying with the same id never pays twice.
    pub async fn send_gift(
        &self,
        group: String,
        to: String,
        gift: String,
        id: String,
    ) -> Result<GiftReceiptInfo, AuraError> {
        let (group, to) = (group_id(&group)?, member_id(&to)?);
        let r = self
            .call(|n| async move { n.send_gift(group, to, &gift, &id).await })
            .await?;
        Ok((&r).into())
    }

    /// Gift receipts shown in `group`, oldest first.
    pub async fn gifts(&self, group: String) -> Result<Vec<GiftReceiptInfo>, AuraError> {
        let group = group_id(&group)?;
        let got = self.call(|n| async move { n.gifts(group).await }).await?;
        Ok(got.iter().map(GiftReceiptInfo::from).collect())
    }

    /// This device's wallet at the ledger.
    pub async fn wallet(&self) -> Result<WalletInfo, AuraError> {
        let w = self.call(|n| async move { n.wallet().await }).await?;
        Ok(WalletInfo {
            account: w.account,
            coins: w.coins.available,
            diamonds: w.diamonds.available,
            tier: w.tier,
        })
    }

    /// The ledger's gift catalog.
    pub async fn gift_catalog(&self) -> Result<Vec<GiftItemInfo>, AuraError> {
        let got = self.call(|n| async move { n.gift_catalog().await }).await?;
        Ok(got.iter().map(GiftItemInfo::from).collect())
    }
}
