//! Unit tests of the ledger rules.
use super::*;
use crate::ids::{platform, user_account, Currency, DeviceKey};

fn user(n: u8) -> String {
    let k = ed25519_dalek::SigningKey::from_bytes(&[n; 32]).verifying_key();
    user_account(&DeviceKey(k.to_bytes()), Currency::Coins)
}

fn tr(id: &str, dr: &str, cr: &str, amount: i64, kind: TransferKind) -> Transfer {
    Transfer {
        id: id.into(),
        debit_account: dr.into(),
        credit_account: cr.into(),
        amount,
        currency: Currency::Coins,
        kind,
        code: 0,
        user_data: String::new(),
    }
}

fn run(st: &mut Loaded, chains: &[Vec<Transfer>], now: i64) -> Vec<ChainOutcome> {
    let out = apply(st.clone(), chains, &[], now);
    for t in &out.new_transfers {
        st.transfers.insert(t.transfer.id.clone(), t.clone());
    }
    for (id, s) in &out.pending_updates {
        if let Some(t) = st.transfers.get_mut(id) {
            t.pending_state = *s;
        }
    }
    for a in out.accounts {
        st.accounts.insert(a.id.clone(), a);
    }
    out.outcomes
}

fn bal(st: &Loaded, id: &str) -> i64 {
    st.accounts.get(id).map_or(0, Account::available)
}

#[test]
fn wallets_cannot_go_below_zero_and_ids_are_idempotent() {
    let mut st = Loaded::default();
    let (a, b) = (user(1), user(2));
    let fund = tr("f1", platform::COIN_ISSUER, &a, 100, TransferKind::Single);
    assert!(matches!(
        run(&mut st, &[vec![fund.clone()]], 1)[0],
        ChainOutcome::Created(_)
    ));
    assert!(matches!(
        run(&mut st, &[vec![fund.clone()]], 2)[0],
        ChainOutcome::Exists(_)
    ));
    let mut other = fund.clone();
    other.amount = 99;
    assert_eq!(
        run(&mut st, &[vec![other]], 3)[0],
        ChainOutcome::Failed {
            index: 0,
            error: TransferError::ExistsWithDifferentFields
        }
    );
    let over = tr("t1", &a, &b, 101, TransferKind::Single);
    assert_eq!(
        run(&mut st, &[vec![over]], 4)[0],
        ChainOutcome::Failed {
            index: 0,
            error: TransferError::InsufficientFunds
        }
    );
    assert_eq!(bal(&st, &a), 100);
    assert_eq!(bal(&st, platform::COIN_ISSUER), -100);
}

#[test]
fn linked_chain_is_all_or_nothing() {
    let mut st = Loaded::default();
    let (a, b) = (user(1), user(2));
    run(
        &mut st,
        &[vec![tr(
            "f",
            platform::COIN_ISSUER,
            &a,
            50,
            TransferKind::Single,
        )]],
        1,
    );
    let chain = vec![
        tr("c1", &a, &b, 30, TransferKind::Single),
        tr("c2", &a, &b, 30, TransferKind::Single),
    ];
    let o = run(&mut st, &[chain], 2);
    assert_eq!(
        o[0],
        ChainOutcome::Failed {
            index: 1,
            error: TransferError::InsufficientFunds
        }
    );
    assert_eq!(bal(&st, &a), 50);
    assert_eq!(bal(&st, &b), 0);
    assert!(!st.transfers.contains_key("c1"));
}

#[test]
fn holds_post_void_and_expire() {
    let mut st = Loaded::default();
    let a = user(1);
    run(
        &mut st,
        &[vec![tr(
            "f",
            platform::COIN_ISSUER,
            &a,
            100,
            TransferKind::Single,
        )]],
        1,
    );
    let hold = tr(
        "h1",
        &a,
        platform::HOLDS,
        60,
        TransferKind::Pending { timeout_s: 10 },
    );
    run(&mut st, &[vec![hold]], 1_000_000);
    assert_eq!(bal(&st, &a), 40);
    let spend = tr("s1", &a, platform::HOLDS, 50, TransferKind::Single);
    assert!(matches!(
        run(&mut st, &[vec![spend]], 2_000_000)[0],
        ChainOutcome::Failed { .. }
    ));
    let post = tr(
        "p1",
        "",
        "",
        20,
        TransferKind::PostPending {
            pending_id: "h1".into(),
        },
    );
    assert!(matches!(
        run(&mut st, &[vec![post]], 3_000_000)[0],
        ChainOutcome::Created(_)
    ));
    assert_eq!(bal(&st, &a), 80);
    let void = tr(
        "v1",
        "",
        "",
        0,
        TransferKind::VoidPending {
            pending_id: "h1".into(),
        },
    );
    assert_eq!(
        run(&mut st, &[vec![void]], 4_000_000)[0],
        ChainOutcome::Failed {
            index: 0,
            error: TransferError::PendingResolved
        }
    );
    let h2 = tr(
        "h2",
        &a,
        platform::HOLDS,
        80,
        TransferKind::Pending { timeout_s: 1 },
    );
    run(&mut st, &[vec![h2]], 5_000_000);
    assert_eq!(bal(&st, &a), 0);
    let late = tr(
        "p2",
        "",
        "",
        0,
        TransferKind::PostPending {
            pending_id: "h2".into(),
        },
    );
    assert_eq!(
        run(&mut st, &[vec![late]], 7_000_000)[0],
        ChainOutcome::Failed {
            index: 0,
            error: TransferError::PendingExpired
        }
    );
    let expired = st.transfers["h2"].clone();
    let out = apply(st.clone(), &[], &[expired], 7_000_000);
    assert_eq!(
        out.pending_updates,
        vec![("h2".to_string(), PendingState::Expired)]
    );
    let acct = out.accounts.iter().find(|x| x.id == a).unwrap();
    assert_eq!(acct.available(), 80);
}

fn award(id: &str, cr: &str, amount: i64) -> Transfer {
    Transfer {
        code: code::MEDAL,
        ..tr(id, platform::REWARDS, cr, amount, TransferKind::Single)
    }
}

#[test]
fn an_award_riding_with_an_event_is_granted_once_and_never_blocks_it() {
    let (a, b) = (user(1), user(2));
    let mut st = Loaded::default();
    run(
        &mut st,
        &[vec![
            tr(
                "fund-a",
                platform::COIN_ISSUER,
                &a,
                100,
                TransferKind::Single,
            ),
            tr(
                "fund-pool",
                platform::COIN_ISSUER,
                platform::REWARDS,
                15,
                TransferKind::Single,
            ),
        ]],
        1,
    );
    let gift = |id: &str| tr(id, &a, &b, 10, TransferKind::Single);
    // First event: the award is granted with it.
    let out = run(&mut st, &[vec![gift("g1"), award("m:first", &a, 10)]], 2);
    assert!(matches!(&out[0], ChainOutcome::Created(t) if t.len() == 2));
    assert_eq!(bal(&st, &a), 100);
    // A retry of the first event is known by its own transfers.
    let out = run(&mut st, &[vec![gift("g1"), award("m:first", &a, 10)]], 3);
    assert!(matches!(&out[0], ChainOutcome::Exists(t) if t.len() == 1));
    // A second event carrying the same award: the event commits, the award does not repeat.
    let out = run(&mut st, &[vec![gift("g2"), award("m:first", &a, 10)]], 4);
    assert!(matches!(&out[0], ChainOutcome::Created(t) if t.len() == 1));
    assert_eq!(bal(&st, &a), 90);
    // An award the pool cannot pay is left out; the event still commits.
    let out = run(&mut st, &[vec![gift("g3"), award("m:other", &a, 10)]], 5);
    assert!(matches!(&out[0], ChainOutcome::Created(t) if t.len() == 1));
    assert!(!st.transfers.contains_key("m:other"));
    // An award alone follows the all-or-nothing rules.
    let out = run(&mut st, &[vec![award("m:alone", &a, 10)]], 6);
    assert!(matches!(
        &out[0],
        ChainOutcome::Failed {
            error: TransferError::InsufficientFunds,
            ..
        }
    ));
    assert_eq!(bal(&st, &b), 30);
    // An award may move nothing (an item-only medal); other transfers may not.
    let out = run(&mut st, &[vec![gift("g4"), award("m:item", &a, 0)]], 7);
    assert!(matches!(&out[0], ChainOutcome::Created(t) if t.len() == 2));
    let out = run(
        &mut st,
        &[vec![
            gift("g5"),
            tr("zero", &a, &b, 0, TransferKind::Single),
        ]],
        8,
    );
    assert!(matches!(
        &out[0],
        ChainOutcome::Failed {
            error: TransferError::BadAmount,
            ..
        }
    ));
}
