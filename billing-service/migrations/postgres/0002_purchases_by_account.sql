-- Purchases by the wallet they credited: daily rewards are paid only to
-- accounts that bought coins once (a partial index: gifts do not touch it).
CREATE INDEX transfers_purchases ON transfers (credit_account) WHERE code = 2;
