-- Levels, medals, referrals and leaderboards.

-- Per-member counters behind experience and levels, kept from the gifts
-- committed (storage/derived.rs).
CREATE TABLE member_stats (
    account TEXT PRIMARY KEY NOT NULL,
    coins_spent INTEGER NOT NULL DEFAULT 0,
    coins_received INTEGER NOT NULL DEFAULT 0,
    gifts_sent INTEGER NOT NULL DEFAULT 0,
    gifts_received INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Gifts committed before this migration count too.
INSERT INTO member_stats (account, coins_spent, coins_received, gifts_sent, gifts_received)
SELECT account, SUM(spent), SUM(received), SUM(sent), SUM(got) FROM (
    SELECT substr(debit_account, 3, 64) AS account, amount AS spent, 0 AS received,
           1 AS sent, 0 AS got
        FROM transfers WHERE code = 1 AND debit_account LIKE 'u:%:coins'
    UNION ALL
    SELECT json_extract(user_data, '$.to'), 0, amount, 0, 1
        FROM transfers WHERE code = 1 AND debit_account LIKE 'u:%:coins'
) g WHERE account IS NOT NULL GROUP BY account;

-- Gifts committed but not yet folded into member_stats and leaderboard:
-- one row per ledger batch, appended in its transaction, folded and deleted
-- in one transaction by the folder (storage/derived.rs).
CREATE TABLE aggregate_journal (
    id INTEGER PRIMARY KEY,
    facts TEXT NOT NULL
);

-- Leaderboards: one row per (board, account), kept from the gifts
-- committed; read in rank order through leaderboard_rank (no scan).
-- Clustered by key (WITHOUT ROWID): an upsert touches two B-trees, not three.
CREATE TABLE leaderboard (
    board TEXT NOT NULL,
    account TEXT NOT NULL,
    score INTEGER NOT NULL,
    PRIMARY KEY (board, account)
) WITHOUT ROWID;
CREATE INDEX leaderboard_rank ON leaderboard (board, score, account);

-- Medals are award transfers (code 5) credited to the member's wallet: found
-- by wallet, in id order (referral rewards are found by their ids).
CREATE INDEX transfers_medals ON transfers (credit_account, id) WHERE code = 5;

-- One referral code per account (made when first asked for).
CREATE TABLE referral_codes (
    code TEXT PRIMARY KEY NOT NULL,
    account TEXT NOT NULL UNIQUE
);
-- Who referred whom: at most one referrer per account.
CREATE TABLE referrals (
    account TEXT PRIMARY KEY NOT NULL,
    referrer TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX referrals_by_referrer ON referrals (referrer, account);
