//! The ledger's storage alone, without HTTP, sessions or signatures: batches
//! of gift chains (sender coins -> revenue, issuer -> receiver diamonds)
//! applied the way the ledger writer applies them on its own thread
//! (`SqliteStore::apply_batch_blocking`) on a fresh SQLite file, one batch
//! after another. Prints chains per second and the CPU one
//! chain costs, the figures the group-commit writer is bounded by:
//! `cargo run --release -p aura-billing --example storage_bench -- --json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aura_billing::bench::process_cpu_s;
use std::time::{Duration, Instant};

use aura_billing::{
    ids::{gift_transfer_base, new_client_id, platform, user_account, Currency, DeviceKey},
    ledger::{code, ChainOutcome, Transfer, TransferKind},
    storage::{derived, people::PeopleStore, sqlite::SqliteStore, Storage},
};
use clap::Parser;
use rand::{rngs::OsRng, RngCore};

#[global_allocator]
static ALLOC: aura_billing::MiMalloc = aura_billing::MiMalloc;

#[derive(Parser)]
struct Cli {
    /// Measurement time, seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Gift chains per batch (one transaction each).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Distinct senders (and as many receivers).
    #[arg(long, default_value_t = 128)]
    senders: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also fold the aggregate journal (member statistics, leaderboards)
    /// into its tables every this many batches, on the same thread, as the
    /// service's folder does every second; 0: never (the writer alone).
    #[arg(long, default_value_t = 0)]
    fold_every: u64,
    /// Then fold everything and time this many leaderboard page reads (50
    /// rows, following cursors down the day's all-rooms gifters board,
    /// which holds one row per sender).
    #[arg(long, default_value_t = 0)]
    read_pages: usize,
}

fn key() -> DeviceKey {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    DeviceKey(b)
}

fn gift(sender: &DeviceKey, receiver: &DeviceKey) -> Vec<Transfer> {
    let base = gift_transfer_base(sender, &new_client_id());
    let data = format!(
        r#"{{"gift":"rose","to":"{}","room":"bench-room","animation":"anim.rose","diamonds":1}}"#,
        receiver.to_hex()
    );
    vec![
        Transfer {
            id: format!("{base}:c"),
            debit_account: user_account(sender, Currency::Coins),
            credit_account: platform::GIFT_REVENUE.into(),
            amount: 1,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: code::GIFT,
            user_data: data,
        },
        Transfer {
            id: format!("{base}:d"),
            debit_account: platform::DIAMOND_ISSUER.into(),
            credit_account: user_account(receiver, Currency::Diamonds),
            amount: 1,
            currency: Currency::Diamonds,
            kind: TransferKind::Single,
            code: code::GIFT,
            user_data: String::new(),
        },
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::open(&url).await?;
    let senders: Vec<DeviceKey> = (0..cli.senders).map(|_| key()).collect();
    let receivers: Vec<DeviceKey> = (0..cli.senders).map(|_| key()).collect();
    let funding: Vec<Vec<Transfer>> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![Transfer {
                id: format!("fund:{i}"),
                debit_account: platform::COIN_ISSUER.into(),
                credit_account: user_account(s, Currency::Coins),
                amount: 1_000_000_000,
                currency: Currency::Coins,
                kind: TransferKind::Single,
                code: code::ADMIN,
                user_data: String::new(),
            }]
        })
        .collect();
    store.apply_batch_blocking(&funding, 0, false)?;
    let (mut chains, mut batches) = (0u64, 0u64);
    let mut next = 0usize;
    let mut batch_ms = Vec::new();
    let mut fold_ms: Vec<f64> = Vec::new();
    let (cpu0, t0) = (process_cpu_s(), Instant::now());
    while t0.elapsed() < Duration::from_secs(cli.seconds) {
        let batch: Vec<Vec<Transfer>> = (0..cli.batch)
            .map(|_| {
                next = (next + 1) % senders.len();
                gift(&senders[next], &receivers[(next * 7) % receivers.len()])
            })
            .collect();
        let started = Instant::now();
        let out = store.apply_batch_blocking(&batch, 1, false)?;
        batch_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let created = out
            .iter()
            .filter(|o| matches!(o, ChainOutcome::Created(_)))
            .count();
        anyhow::ensure!(created == batch.len(), "a chain was refused: {out:?}");
        chains += batch.len() as u64;
        batches += 1;
        if cli.fold_every > 0 && batches % cli.fold_every == 0 {
            let started = Instant::now();
            while store.fold_blocking()? > 0 {}
            fold_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (cpu, wall) = (process_cpu_s() - cpu0, t0.elapsed().as_secs_f64());
    batch_ms.sort_by(f64::total_cmp);
    let p50 = batch_ms[batch_ms.len() / 2];
    let inv = store.check_invariant().await?;
    let (read_p50, read_p99) = read_pages(&store, cli.read_pages).await?;
    let fig = serde_json::json!({
        "suite": "storage",
        "backend": "sqlite",
        "batch": cli.batch,
        "chains_per_s": chains as f64 / wall,
        "cpu_us_per_chain": cpu * 1e6 / chains as f64,
        "batch_p50_ms": p50,
        "batches": batches,
        "fold_every": cli.fold_every,
        "folds": fold_ms.len(),
        "fold_max_ms": fold_ms.iter().copied().fold(0.0, f64::max),
        "invariant_ok": inv.ok,
        "read_pages": cli.read_pages,
        "page_read_p50_us": read_p50,
        "page_read_p99_us": read_p99,
    });
    if cli.json {
        println!("{fig}");
    } else {
        println!("{}", serde_json::to_string_pretty(&fig)?);
    }
    Ok(())
}

/// Folds the journal, then times `n` leaderboard pages of 50 rows read
/// through the pool (as `GET /v1/leaderboards/gifters` reads them), walking
/// down the board by cursor and starting over at its end; p50 and p99 in µs.
async fn read_pages(store: &SqliteStore, n: usize) -> anyhow::Result<(f64, f64)> {
    if n == 0 {
        return Ok((0.0, 0.0));
    }
    while store.fold_blocking()? > 0 {}
    let board = derived::board_key(false, false, 0, None);
    let mut us = Vec::with_capacity(n);
    let mut after = None;
    for _ in 0..n {
        let started = Instant::now();
        let page = store.board_page(&board, after.take(), 51).await?;
        us.push(started.elapsed().as_secs_f64() * 1e6);
        if page.len() == 51 {
            after = page
                .get(49)
                .map(|(account, score)| (*score, account.clone()));
        }
    }
    us.sort_by(f64::total_cmp);
    Ok((us[us.len() / 2], us[us.len() * 99 / 100]))
}
