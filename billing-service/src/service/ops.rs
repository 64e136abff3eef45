//! Wallets, gifts, entitlement tokens and daily rewards.
use serde::{Deserialize, Serialize};

use super::{receipt_batcher::BatchError, Service, ServiceError, StartError};
use crate::{
    api::{
        Balance, EntitlementResponse, GiftItem, RewardClaim, SendGiftRequest, SendGiftResponse,
        Wallet,
    },
    ids::{check_client_id, gift_transfer_base, platform, user_account, Currency, DeviceKey},
    ledger::{code, ChainOutcome, StoredTransfer, Transfer, TransferError, TransferKind},
    signed::{Entitlement, EntitlementToken, GiftReceipt, Signed},
    storage::{derived::GiftData, Storage},
};

/// What a reward transfer stores.
#[derive(Debug, Serialize, Deserialize)]
struct RewardData {
    day: i64,
    streak: i64,
}

fn balance(a: Option<&crate::ledger::Account>) -> Balance {
    a.map_or(Balance::default(), |a| Balance {
        available: a.available(),
        posted: a.credits_posted - a.debits_posted,
        held: a.debits_pending,
    })
}

fn json<T: Serialize>(v: &T) -> Result<String, ServiceError> {
    serde_json::to_string(v).map_err(|_| ServiceError::Internal)
}

impl Service {
    /// The gift catalog.
    pub fn catalog(&self) -> Vec<GiftItem> {
        let c = self.catalog.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<GiftItem> = c.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub(super) fn catalog_set(&self, g: Option<GiftItem>, remove: &str) {
        let mut c = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        c.remove(remove);
        if let Some(g) = g {
            c.insert(g.id.clone(), g);
        }
    }

    /// The caller's balances and tier.
    pub async fn wallet(&self, key: &DeviceKey) -> Result<Wallet, ServiceError> {
        let ids = [
            user_account(key, Currency::Coins),
            user_account(key, Currency::Diamonds),
        ];
        let accts = self.store.accounts(&ids).await?;
        let find = |id: &str| accts.iter().find(|a| a.id == id);
        let (tier, ..) = self.tier(key).await?;
        Ok(Wallet {
            account: key.to_hex(),
            coins: balance(find(&ids[0])),
            diamonds: balance(find(&ids[1])),
            tier,
        })
    }

    async fn receipt(
        &self,
        sender: &DeviceKey,
        client_id: &str,
        t: &StoredTransfer,
    ) -> Result<Signed<GiftReceipt>, ServiceError> {
        let d: GiftData =
            serde_json::from_str(&t.transfer.user_data).map_err(|_| ServiceError::Internal)?;
        let body = GiftReceipt {
            v: 1,
            receipt_id: format!("{}/{client_id}", sender.to_hex()),
            sender: sender.to_hex(),
            receiver: d.to,
            room: d.room,
            gift: d.gift,
            animation: d.animation,
            coins: t.transfer.amount,
            diamonds: d.diamonds,
            ts_ms: t.ts_us / 1000,
        };
        self.receipts.sign(body).await.map_err(|e| match e {
            BatchError::Overloaded | BatchError::Closed => {
                tracing::warn!(error = %e, "gift receipt not signed");
                ServiceError::Unavailable
            }
            BatchError::Sign(e) => {
                tracing::error!(error = %e, "gift receipt not signed");
                ServiceError::Internal
            }
        })
    }

    /// Sends a gift: debits the sender's coins and credits the receiver's
    /// diamonds (minus the platform share) in one linked chain, and returns a
    /// signed receipt. Retrying the same id returns the original receipt.
    pub async fn send_gift(
        &self,
        sender: &DeviceKey,
        req: &SendGiftRequest,
    ) -> Result<SendGiftResponse, ServiceError> {
        check_client_id(&req.id).map_err(|e| ServiceError::BadRequest(format!("id: {e}")))?;
        let to = self
            .receiver_key(&req.to)
            .map_err(|_| ServiceError::BadRequest("to: not a hex ed25519 key".into()))?;
        if to == *sender {
            return Err(ServiceError::BadRequest(
                "to: cannot send a gift to yourself".into(),
            ));
        }
        if req.room.is_empty() || req.room.len() > 128 || req.room.chars().any(char::is_control) {
            return Err(ServiceError::BadRequest(
                "room: 1..=128 printable characters".into(),
            ));
        }
        let gift = self
            .catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&req.gift)
            .cloned();
        let gift = gift.ok_or(ServiceError::NotFound("gift"))?;
        let share = gift
            .diamond_value
            .saturating_mul(self.config.platform_share_bps)
            / 10_000;
        let diamonds = gift.diamond_value - share;
        let data = json(&GiftData {
            gift: gift.id.clone(),
            to: to.to_hex(),
            room: req.room.clone(),
            animation: gift.animation_id.clone(),
            diamonds,
        })?;
        let base = gift_transfer_base(sender, &req.id);
        let mut chain = vec![Transfer {
            id: format!("{base}:c"),
            debit_account: user_account(sender, Currency::Coins),
            credit_account: platform::GIFT_REVENUE.into(),
            amount: gift.price_coins,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::GIFT,
            user_data: data,
        }];
        if diamonds > 0 {
            chain.push(Transfer {
                id: format!("{base}:d"),
                debit_account: platform::DIAMOND_ISSUER.into(),
                credit_account: user_account(&to, Currency::Diamonds),
                amount: diamonds,
                currency: Currency::Diamonds,
                kind: TransferKind::Single,
                code: code::GIFT,
                user_data: String::new(),
            });
        }
        let award = self.first_gift_award(sender).await?;
        let awarded = award.is_some();
        chain.extend(award);
        let outcome = self.ledger.submit(chain).await?;
        if awarded && matches!(outcome, ChainOutcome::Created(_)) {
            self.first_gift_holders.insert(*sender);
        }
        let (status, ts) = match &outcome {
            ChainOutcome::Created(t) => ("created", t),
            ChainOutcome::Exists(t) => ("replayed", t),
            ChainOutcome::Failed { error, .. } => {
                self.metrics.transfer("refused");
                return Err(ServiceError::Refused(error.clone()));
            }
        };
        self.metrics.transfer(status);
        let first = ts.first().ok_or(ServiceError::Internal)?;
        Ok(SendGiftResponse {
            status: status.into(),
            receipt: self.receipt(sender, &req.id, first).await?,
        })
    }

    /// The caller's tier, capabilities, room size and end of paid period.
    async fn tier(
        &self,
        key: &DeviceKey,
    ) -> Result<(String, Vec<String>, u32, Option<i64>), ServiceError> {
        let now = self.clock.now_s();
        if let Some(s) = self.store.subscription(&key.to_hex()).await? {
            let plan = self.config.plans.iter().find(|p| p.id == s.plan);
            if let (Some(p), true) = (plan, s.status == "active" && s.period_end > now) {
                return Ok((
                    p.tier.clone(),
                    p.allows.clone(),
                    p.max_room_size,
                    Some(s.period_end),
                ));
            }
        }
        Ok((
            "free".into(),
            Vec::new(),
            self.config.free_max_room_size,
            None,
        ))
    }

    /// A short-lived signed token naming the caller's peer id and tier.
    pub async fn entitlement(&self, key: &DeviceKey) -> Result<EntitlementResponse, ServiceError> {
        let (tier, allows, max_room_size, until) = self.tier(key).await?;
        let now = self.clock.now_s();
        let mut exp = now + self.config.entitlement_ttl_s;
        if let Some(u) = until {
            exp = exp.min(u);
        }
        let body = Entitlement {
            v: 1,
            peer: key.to_hex(),
            peer_id: key.peer_id().unwrap_or_default(),
            tier,
            allows,
            max_room_size,
            iat: now,
            exp,
        };
        let token: EntitlementToken = self.signer.sign(body).map_err(|_| ServiceError::Internal)?;
        Ok(EntitlementResponse { token })
    }

    /// Claims today's reward: a 7-day cycle, a missed day restarts it, twice
    /// a day is refused. Paid from the rewards pool through the ledger, and
    /// only to paying accounts (a purchase once, or a subscription): keys
    /// cost nothing to make, so rewards to fresh keys gifted on to one
    /// collector would mint diamonds at the scale of key generation.
    pub async fn claim_reward(&self, key: &DeviceKey) -> Result<RewardClaim, ServiceError> {
        let day = self.clock.now_s().div_euclid(86_400);
        let wallet = user_account(key, Currency::Coins);
        if !self.store.has_purchase(&wallet).await?
            && self.store.subscription(&key.to_hex()).await?.is_none()
        {
            return Err(ServiceError::Conflict("purchase_required"));
        }
        let id = |d: i64| format!("r:{}:{d}", key.to_hex());
        // Today's and yesterday's claims are found by id: no scan, no extra index.
        let found = self.store.transfers(&[id(day), id(day - 1)]).await?;
        let claim = |d: i64| {
            found
                .iter()
                .find(|t| t.transfer.id == id(d))
                .and_then(|t| serde_json::from_str::<RewardData>(&t.transfer.user_data).ok())
        };
        if claim(day).is_some() {
            return Err(ServiceError::Conflict("already_claimed_today"));
        }
        let streak = claim(day - 1).map_or(1, |l| l.streak % 7 + 1);
        let idx = usize::try_from(streak - 1).unwrap_or(0).min(6);
        let coins = self.config.daily_rewards[idx];
        let t = Transfer {
            id: id(day),
            debit_account: platform::REWARDS.into(),
            credit_account: wallet,
            amount: coins,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::REWARD,
            user_data: json(&RewardData { day, streak })?,
        };
        let mut chain = vec![t];
        if streak == 7 {
            chain.push(self.medal_award(super::medals::name::STREAK_7, key, None)?);
        }
        match self.ledger.submit(chain).await? {
            ChainOutcome::Created(_) => Ok(RewardClaim { day, streak, coins }),
            ChainOutcome::Exists(_)
            | ChainOutcome::Failed {
                error: TransferError::ExistsWithDifferentFields,
                ..
            } => Err(ServiceError::Conflict("already_claimed_today")),
            ChainOutcome::Failed { error, .. } => Err(ServiceError::Refused(error)),
        }
    }

    pub(super) async fn seed_rewards_pool(&self) -> Result<(), StartError> {
        if self.config.rewards_pool_initial <= 0 {
            return Ok(());
        }
        let t = Transfer {
            id: "seed:rewards-pool".into(),
            debit_account: platform::COIN_ISSUER.into(),
            credit_account: platform::REWARDS.into(),
            amount: self.config.rewards_pool_initial,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::ADMIN,
            user_data: String::new(),
        };
        match self.ledger.submit(vec![t]).await {
            Ok(ChainOutcome::Created(_) | ChainOutcome::Exists(_)) => Ok(()),
            // A different amount configured later: the first seed stands.
            Ok(ChainOutcome::Failed {
                error: TransferError::ExistsWithDifferentFields,
                ..
            }) => Ok(()),
            Ok(ChainOutcome::Failed { error, .. }) => Err(StartError::Seed(error.to_string())),
            Err(e) => Err(StartError::Seed(e.to_string())),
        }
    }
}
