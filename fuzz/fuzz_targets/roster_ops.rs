//! Fuzzes roster merging with validly signed ops: four known identities
//! (the owner is 0) sign ops of any kind, with any parents among the ops
//! seen so far (or an unknown one) and any clock, as hostile members would.
//! Applying must never panic, and the accepted ops, replayed in reverse
//! order into a fresh roster, must give the same state (deterministic merge).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use aura_crypto::{
    GroupId, Identity, InviteUse, MemberId, Op, OpHash, OpKind, Role, Roster, SignedOp,
};
use libfuzzer_sys::fuzz_target;

const PEOPLE: usize = 4;
const MAX_STEPS: usize = 24;

#[derive(Arbitrary, Debug)]
enum Kind {
    Add {
        member: u8,
        role: u8,
        invite: Option<(u8, u8)>,
    },
    Remove {
        member: u8,
    },
    SetRole {
        member: u8,
        role: u8,
    },
    Leave,
    Transfer {
        to: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Step {
    author: u8,
    /// Indices into the ops known so far; 255 names an unknown op.
    parents: Vec<u8>,
    at_ms: u64,
    kind: Kind,
}

fn people() -> &'static [Identity] {
    static P: OnceLock<Vec<Identity>> = OnceLock::new();
    P.get_or_init(|| {
        (1..=PEOPLE as u8)
            .map(|i| Identity::from_secret_bytes(&[i; 32]))
            .collect()
    })
}

fn member(i: u8) -> MemberId {
    people()[i as usize % PEOPLE].member_id()
}

fn role(r: u8) -> Role {
    match r % 3 {
        0 => Role::Member,
        1 => Role::Admin,
        _ => Role::Owner,
    }
}

fn kind(k: &Kind) -> OpKind {
    match *k {
        Kind::Add {
            member: m,
            role: r,
            invite,
        } => OpKind::Add {
            member: member(m),
            role: role(r),
            invite: invite.map(|(id, max_uses)| InviteUse {
                id: [id % 4; 16],
                max_uses: u32::from(max_uses % 4),
            }),
        },
        Kind::Remove { member: m } => OpKind::Remove { member: member(m) },
        Kind::SetRole { member: m, role: r } => OpKind::SetRole {
            member: member(m),
            role: role(r),
        },
        Kind::Leave => OpKind::Leave,
        Kind::Transfer { to } => OpKind::TransferOwnership { to: member(to) },
    }
}

fn sign(group: GroupId, known: &[OpHash], s: &Step) -> Option<SignedOp> {
    let mut parents: Vec<OpHash> = s
        .parents
        .iter()
        .take(8)
        .map(|&i| {
            if i == 255 {
                OpHash([0xee; 32])
            } else {
                known[i as usize % known.len()]
            }
        })
        .collect();
    parents.sort();
    parents.dedup();
    if parents.is_empty() {
        parents.push(*known.last()?);
    }
    let author = &people()[s.author as usize % PEOPLE];
    let op = Op {
        group,
        parents,
        author: author.member_id(),
        at_ms: s.at_ms,
        kind: kind(&s.kind),
    };
    op.sign(author).ok()
}

fuzz_target!(|steps: Vec<Step>| {
    let Ok((mut roster, create)) = Roster::create(&people()[0], "fuzz", 0) else {
        return;
    };
    let group = roster.group_id();
    let mut known = vec![create.hash()];
    let mut accepted = vec![create];
    for s in steps.iter().take(MAX_STEPS) {
        let Some(op) = sign(group, &known, s) else {
            continue;
        };
        if roster.apply(op.clone()).is_ok() && !known.contains(&op.hash()) {
            known.push(op.hash());
            accepted.push(op);
        }
    }
    accepted.reverse();
    let again = Roster::from_ops(accepted).expect("accepted ops replay in any order");
    assert_eq!(
        again.head_hash(),
        roster.head_hash(),
        "merge is order-independent"
    );
    let mut a: Vec<_> = again.members().collect();
    let mut b: Vec<_> = roster.members().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "same members whatever the order");
});
