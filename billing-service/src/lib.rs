//! Aura's one central service: a double-entry ledger for coins and diamonds,
//! gifts, purchases, VIP subscriptions and daily rewards. It signs gift
//! receipts and entitlement tokens that peers verify offline.
