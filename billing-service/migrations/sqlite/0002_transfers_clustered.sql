-- Transfers clustered by id (WITHOUT ROWID): one B-tree holds the rows in id
-- order, instead of a rowid table plus a separate unique index on id. With
-- time-ordered client ids (what `ids::new_client_id` makes) each batch then
-- appends to the right edge of that one tree: a 64-gift commit rewrites a few
-- pages instead of one index page per sender.
CREATE TABLE transfers_by_id (
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
) WITHOUT ROWID;

INSERT INTO transfers_by_id SELECT id, debit_account, credit_account, amount, currency,
    kind, pending_id, timeout_s, code, user_data, ts_us, expires_at_us, pending_state
    FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_by_id RENAME TO transfers;
CREATE INDEX transfers_pending_expiry ON transfers (expires_at_us)
    WHERE pending_state = 1 AND expires_at_us > 0;
