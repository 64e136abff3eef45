-- The ledger: accounts with TigerBeetle's four balances, transfers by client id.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    currency TEXT NOT NULL,
    no_overdraft INTEGER NOT NULL,
    debits_pending INTEGER NOT NULL DEFAULT 0,
    debits_posted INTEGER NOT NULL DEFAULT 0,
    credits_pending INTEGER NOT NULL DEFAULT 0,
    credits_posted INTEGER NOT NULL DEFAULT 0,
    CHECK (no_overdraft = 0 OR debits_posted + debits_pending <= credits_posted)
) WITHOUT ROWID;

CREATE TABLE transfers (
    id TEXT PRIMARY KEY NOT NULL,
    debit_account TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    kind INTEGER NOT NULL,
    pending_id TEXT NOT NULL DEFAULT '',
    timeout_s INTEGER NOT NULL DEFAULT 0,
    code INTEGER NOT NULL,
    user_data TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    expires_at_us INTEGER NOT NULL DEFAULT 0,
    pending_state INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX transfers_pending_expiry ON transfers (expires_at_us)
    WHERE pending_state = 1 AND expires_at_us > 0;

CREATE TABLE gifts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    price_coins INTEGER NOT NULL,
    diamond_value INTEGER NOT NULL,
    region TEXT NOT NULL,
    animation_id TEXT NOT NULL
);
INSERT INTO gifts VALUES
    ('rose', 'Rose', 1, 1, 'global', 'anim.rose'),
    ('heart', 'Heart', 10, 10, 'global', 'anim.heart'),
    ('rocket', 'Rocket', 500, 500, 'global', 'anim.rocket');

CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    created INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);

CREATE TABLE subscriptions (
    account TEXT PRIMARY KEY NOT NULL,
    plan TEXT NOT NULL,
    status TEXT NOT NULL,
    period_end INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
