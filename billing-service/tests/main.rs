//! The crate's integration tests, one module per file, built as one test
//! binary: one link instead of one per file (each links the whole stack).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod account_cache;
mod concurrency;
mod crash;
mod entitlement;
mod fuzz_seeds;
mod leaderboards;
mod ledger_api;
mod levels_medals;
mod loadgen;
mod login_flood;
mod login_oracle;
mod member_statement;
mod migrations;
mod openapi;
mod pagination;
mod receipts;
mod referrals;
mod rewards;
mod storage_retries;
mod tokens;
mod webhook_secret;
mod webhooks;
