//! Coin purchases and VIP subscriptions through the payment provider's
//! signed webhooks (deduplicated by event id; coin credits are also
//! idempotent by checkout id, so no event can credit twice).
use rand::RngCore;
use serde::Serialize;

use super::{Service, ServiceError};
use crate::{
    api::{CheckoutRequest, CheckoutResponse, Subscription, WebhookEvent},
    ids::{check_client_id, platform, user_account, Currency, DeviceKey},
    ledger::{code, ChainOutcome, Transfer, TransferKind},
    storage::{Storage, SubscriptionEvent},
    webhook_sig,
};

/// What the webhook endpoint answers.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WebhookAck {
    /// `processed`, `duplicate` or `ignored`.
    pub status: String,
}

fn ack(s: &str) -> WebhookAck {
    WebhookAck { status: s.into() }
}

impl Service {
    /// Starts a checkout for a coin pack: the id the provider echoes back.
    pub fn checkout(
        &self,
        key: &DeviceKey,
        req: &CheckoutRequest,
    ) -> Result<CheckoutResponse, ServiceError> {
        let pack = self
            .config
            .packs
            .iter()
            .find(|p| p.id == req.pack)
            .ok_or(ServiceError::NotFound("pack"))?;
        let mut id = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut id);
        Ok(CheckoutResponse {
            checkout_id: format!("co_{}", hex::encode(id)),
            account: key.to_hex(),
            pack: pack.id.clone(),
            coins: pack.coins,
            price_cents: pack.price_cents,
        })
    }

    /// Handles a provider webhook: verifies the signature over the raw body,
    /// then applies the event once.
    pub async fn webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookAck, ServiceError> {
        let refuse = |reason: &'static str| {
            self.metrics.webhook(reason);
            tracing::warn!(reason, "webhook refused");
            ServiceError::Unauthorized(reason)
        };
        let header = signature.ok_or_else(|| refuse("missing_signature"))?;
        let now = self.clock.now_s();
        webhook_sig::verify(
            header,
            body,
            &self.webhook_secrets,
            now,
            self.config.webhook_tolerance_s,
        )
        .map_err(|e| match e {
            webhook_sig::SignatureError::Stale => refuse("stale_timestamp"),
            webhook_sig::SignatureError::Malformed => refuse("malformed_signature"),
            webhook_sig::SignatureError::NoMatch => refuse("bad_signature"),
        })?;
        let ev: WebhookEvent = serde_json::from_slice(body)
            .map_err(|e| ServiceError::BadRequest(format!("event: {e}")))?;
        check_client_id(&ev.id).map_err(|_| ServiceError::BadRequest("event id".into()))?;
        let account = DeviceKey::parse_hex(&ev.data.account)
            .map_err(|_| ServiceError::BadRequest("data.account".into()))?;
        let r = match ev.kind.as_str() {
            "checkout.completed" => self.checkout_completed(&ev, &account, now).await?,
            "subscription.renewed" | "subscription.canceled" => {
                self.subscription_event(&ev, &account, now).await?
            }
            _ => {
                self.store
                    .record_event(&ev.id, &ev.kind, ev.created, now)
                    .await?;
                ack("ignored")
            }
        };
        self.metrics.webhook(if r.status == "duplicate" {
            "duplicate"
        } else {
            "processed"
        });
        tracing::info!(event = %ev.id, kind = %ev.kind, status = %r.status, "webhook");
        Ok(r)
    }

    async fn checkout_completed(
        &self,
        ev: &WebhookEvent,
        account: &DeviceKey,
        now: i64,
    ) -> Result<WebhookAck, ServiceError> {
        let checkout = ev
            .data
            .checkout_id
            .as_deref()
            .ok_or_else(|| ServiceError::BadRequest("data.checkout_id".into()))?;
        check_client_id(checkout)
            .map_err(|_| ServiceError::BadRequest("data.checkout_id".into()))?;
        let pack_id = ev.data.pack.as_deref().unwrap_or_default();
        let pack = self
            .config
            .packs
            .iter()
            .find(|p| p.id == pack_id)
            .ok_or(ServiceError::NotFound("pack"))?;
        let t = Transfer {
            id: format!("purchase:{checkout}"),
            debit_account: platform::COIN_ISSUER.into(),
            credit_account: user_account(account, Currency::Coins),
            amount: pack.coins,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::PURCHASE,
            user_data: format!("{{\"pack\":{:?}}}", pack.id),
        };
        let mut chain = vec![t];
        chain.extend(self.referral_awards(account).await?);
        let outcome = self.ledger.submit(chain).await?;
        let first_event = self
            .store
            .record_event(&ev.id, &ev.kind, ev.created, now)
            .await?;
        match outcome {
            ChainOutcome::Created(_) => Ok(ack("processed")),
            ChainOutcome::Exists(_) => Ok(ack("duplicate")),
            ChainOutcome::Failed { error, .. } => {
                tracing::error!(event = %ev.id, first_event, %error, "purchase credit refused");
                Err(ServiceError::Refused(error))
            }
        }
    }

    async fn subscription_event(
        &self,
        ev: &WebhookEvent,
        account: &DeviceKey,
        now: i64,
    ) -> Result<WebhookAck, ServiceError> {
        let plan = ev.data.plan.clone().unwrap_or_default();
        let renewed = ev.kind == "subscription.renewed";
        if renewed && !self.config.plans.iter().any(|p| p.id == plan) {
            return Err(ServiceError::NotFound("plan"));
        }
        let period_end = if renewed {
            ev.data
                .period_end
                .ok_or_else(|| ServiceError::BadRequest("data.period_end".into()))?
        } else {
            ev.created
        };
        let e = SubscriptionEvent {
            event_id: ev.id.clone(),
            kind: ev.kind.clone(),
            created: ev.created,
            subscription: Subscription {
                account: account.to_hex(),
                plan,
                status: if renewed { "active" } else { "canceled" }.into(),
                period_end,
                updated_at: ev.created,
            },
        };
        let new = self.store.apply_subscription_event(&e, now).await?;
        Ok(ack(if new { "processed" } else { "duplicate" }))
    }
}
