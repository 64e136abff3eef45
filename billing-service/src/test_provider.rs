//! A stand-in payment provider: it builds events the way the real one does
//! and delivers them with a correct `Aura-Signature`, so the whole purchase
//! and subscription flow runs locally (`aura-billing test-provider ...`).
use rand::RngCore;

use crate::{
    api::{WebhookData, WebhookEvent},
    service::payments::WebhookAck,
    webhook_sig,
};

/// Delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// HTTP failure.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The service refused the event.
    #[error("service answered {0}: {1}")]
    Refused(u16, String),
    /// Encoding failure.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A `checkout.completed` event for `account` buying `pack`.
pub fn checkout_completed(account: &str, pack: &str, checkout_id: Option<&str>) -> WebhookEvent {
    WebhookEvent {
        id: random_id("evt"),
        kind: "checkout.completed".into(),
        created: now_s(),
        data: WebhookData {
            checkout_id: Some(checkout_id.map_or_else(|| random_id("co"), String::from)),
            account: account.into(),
            pack: Some(pack.into()),
            ..Default::default()
        },
    }
}

/// A `subscription.renewed` event: `plan` paid until `period_end`.
pub fn subscription_renewed(account: &str, plan: &str, period_end: i64) -> WebhookEvent {
    WebhookEvent {
        id: random_id("evt"),
        kind: "subscription.renewed".into(),
        created: now_s(),
        data: WebhookData {
            subscription_id: Some(format!("sub_{}", &account[..account.len().min(16)])),
            account: account.into(),
            plan: Some(plan.into()),
            period_end: Some(period_end),
            ..Default::default()
        },
    }
}

/// A `subscription.canceled` event.
pub fn subscription_canceled(account: &str) -> WebhookEvent {
    WebhookEvent {
        id: random_id("evt"),
        kind: "subscription.canceled".into(),
        created: now_s(),
        data: WebhookData {
            account: account.into(),
            ..Default::default()
        },
    }
}

/// Sends already-encoded `body` with the given signature header.
pub async fn deliver_raw(
    base_url: &str,
    body: Vec<u8>,
    signature: &str,
) -> Result<WebhookAck, ProviderError> {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v1/webhooks/payments",
            base_url.trim_end_matches('/')
        ))
        .header(webhook_sig::HEADER, signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    if !status.is_success() {
        return Err(ProviderError::Refused(
            status.as_u16(),
            r.text().await.unwrap_or_default(),
        ));
    }
    Ok(r.json().await?)
}

/// Signs `event` with `secret` now and delivers it.
pub async fn deliver(
    base_url: &str,
    secret: &str,
    event: &WebhookEvent,
) -> Result<WebhookAck, ProviderError> {
    let body = serde_json::to_vec(event)?;
    let sig = webhook_sig::sign(secret.as_bytes(), now_s(), &body);
    deliver_raw(base_url, body, &sig).await
}
