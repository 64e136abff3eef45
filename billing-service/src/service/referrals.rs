//! Referrals. Every account has one code (16 hex digits, a MAC of its key,
//! stored when first asked for). A new account redeems one code before its
//! first purchase; the purchase that is then credited carries two award
//! transfers (code [`code::REFERRAL`]), to the new account and to its
//! referrer, with ids named by the new account (`ref:<account>:referee`,
//! `ref:<account>:referrer`): paid in the purchase's transaction, once,
//! and only for real money, so fresh keys redeeming a code earn nothing.
use hmac::{Hmac, Mac};

use super::{page::PageRequest, Service, ServiceError};
use crate::{
    api::{Page, ReferralEntry, ReferralInfo},
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{code, Transfer, TransferKind},
    storage::{people::PeopleStore, Storage},
};

/// Length of a referral code (hex digits).
const CODE_LEN: usize = 16;

fn award_id(referee: &str, side: &str) -> String {
    format!("ref:{referee}:{side}")
}

impl Service {
    /// The account's referral code: a MAC of its key (so every instance
    /// computes the same one).
    fn referral_code(&self, key: &DeviceKey) -> Result<String, ServiceError> {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&self.session_key)
            .map_err(|_| ServiceError::Internal)?;
        m.update(b"aura-billing-referral-code/v1\n");
        m.update(&key.0);
        let tag = m.finalize().into_bytes();
        Ok(hex::encode(&tag[..CODE_LEN / 2]))
    }

    /// The caller's code (stored on first call) and who referred it.
    pub async fn referral(&self, key: &DeviceKey) -> Result<ReferralInfo, ServiceError> {
        let code = self.referral_code(key)?;
        let me = key.to_hex();
        let owner = self.store.claim_referral_code(&code, &me).await?;
        if owner.as_deref() != Some(me.as_str()) {
            tracing::error!(account = %me, "referral code collision");
            return Err(ServiceError::Internal);
        }
        Ok(ReferralInfo {
            code,
            referred_by: self.store.referrer_of(&me).await?,
        })
    }

    /// Records that the caller was referred by the owner of `code`. Refused
    /// for a malformed or unknown code, the caller's own code, an account
    /// that already bought coins, or one already referred by someone else;
    /// redeeming the same code again answers as the first time.
    pub async fn redeem_referral(
        &self,
        key: &DeviceKey,
        code: &str,
    ) -> Result<ReferralInfo, ServiceError> {
        let well_formed = code.len() == CODE_LEN
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(ServiceError::BadRequest(
                "code: 16 lower-case hex digits".into(),
            ));
        }
        let referrer = self
            .store
            .referral_code_owner(code)
            .await?
            .ok_or(ServiceError::NotFound("referral code"))?;
        let me = key.to_hex();
        if referrer == me {
            return Err(ServiceError::BadRequest(
                "code: an account cannot refer itself".into(),
            ));
        }
        if self
            .store
            .has_purchase(&user_account(key, Currency::Coins))
            .await?
        {
            return Err(ServiceError::Conflict("already_purchased"));
        }
        let now = self.clock.now_s();
        match self.store.add_referral(&me, &referrer, now).await? {
            Some(r) if r == referrer => Ok(ReferralInfo {
                code: self.referral_code(key)?,
                referred_by: Some(r),
            }),
            _ => Err(ServiceError::Conflict("already_referred")),
        }
    }

    /// The award transfers a purchase by `buyer` carries: both referral
    /// rewards when it was referred and they are not paid yet (a primary-key
    /// lookup of the referral row and of one award).
    pub(crate) async fn referral_awards(
        &self,
        buyer: &DeviceKey,
    ) -> Result<Vec<Transfer>, ServiceError> {
        let me = buyer.to_hex();
        let Some(referrer) = self.store.referrer_of(&me).await? else {
            return Ok(Vec::new());
        };
        let paid = self.store.transfers(&[award_id(&me, "referee")]).await?;
        if !paid.is_empty() {
            return Ok(Vec::new());
        }
        let referrer_key =
            DeviceKey::parse_hex_unchecked(&referrer).map_err(|_| ServiceError::Internal)?;
        let data = format!("{{\"referee\":{me:?},\"referrer\":{referrer:?}}}");
        let p = &self.config.people;
        let award = |side: &str, to: &DeviceKey, coins: i64| Transfer {
            id: award_id(&me, side),
            debit_account: platform::REWARDS.into(),
            credit_account: user_account(to, Currency::Coins),
            amount: coins,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::REFERRAL,
            user_data: data.clone(),
        };
        Ok(vec![
            award("referee", buyer, p.referral_referee_coins),
            award("referrer", &referrer_key, p.referral_referrer_coins),
        ])
    }

    /// One page of the accounts the caller referred, in key order, each with
    /// whether its purchase paid the rewards.
    pub async fn referrals(
        &self,
        key: &DeviceKey,
        page: &PageRequest,
    ) -> Result<Page<ReferralEntry>, ServiceError> {
        let after = page.after.as_deref().unwrap_or("");
        let rows = self
            .store
            .referrals(&key.to_hex(), after, page.fetch())
            .await?;
        let ids: Vec<String> = rows.iter().map(|r| award_id(&r.0, "referrer")).collect();
        let paid = self.store.transfers(&ids).await?;
        let items = rows
            .into_iter()
            .map(|(account, redeemed_at)| {
                let id = award_id(&account, "referrer");
                ReferralEntry {
                    rewarded: paid.iter().any(|t| t.transfer.id == id),
                    account,
                    redeemed_at,
                }
            })
            .collect();
        Ok(page.page(items, |e| e.account.clone()))
    }
}
