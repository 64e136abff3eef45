//! Offline checks of the ledger's signed member statement (level and
//! medals), as a node or relay runs them before showing them in a room.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aura_billing::{
    ids::DeviceKey,
    member::{self, MedalCount, MemberStatement, SignedMemberStatement},
    signed::{EntitlementToken, Signed, VerifyError},
};
use ed25519_dalek::SigningKey;

fn ledger() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn member_key() -> DeviceKey {
    DeviceKey(SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes())
}

fn body() -> MemberStatement {
    MemberStatement {
        v: 1,
        account: member_key().to_hex(),
        level: 4,
        xp: 12_000,
        medals: vec![MedalCount {
            medal: "first_gift".into(),
            count: 1,
        }],
        iat: 1_000,
        exp: 2_000,
    }
}

fn signed() -> SignedMemberStatement {
    Signed::sign(body(), &ledger()).unwrap()
}

#[test]
fn a_genuine_statement_verifies() {
    let s = signed();
    let b = member::verify(&s, &ledger().verifying_key(), &member_key(), 1_500).unwrap();
    assert_eq!((b.level, b.medals.len()), (4, 1));
}

#[test]
fn a_statement_forged_with_another_key_is_refused() {
    let forger = SigningKey::from_bytes(&[9; 32]);
    let s: SignedMemberStatement = Signed::sign(body(), &forger).unwrap();
    let e = member::verify(&s, &ledger().verifying_key(), &member_key(), 1_500).unwrap_err();
    assert_eq!(e, VerifyError::BadSignature);
}

#[test]
fn a_tampered_level_or_medal_list_is_refused() {
    let mut s = signed();
    s.body.level = 40;
    let k = ledger().verifying_key();
    assert_eq!(
        member::verify(&s, &k, &member_key(), 1_500).unwrap_err(),
        VerifyError::BadSignature
    );
    let mut s = signed();
    s.body.medals[0].count = 9;
    assert_eq!(
        member::verify(&s, &k, &member_key(), 1_500).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn an_expired_or_not_yet_issued_statement_is_refused() {
    let s = signed();
    let k = ledger().verifying_key();
    assert_eq!(
        member::verify(&s, &k, &member_key(), 2_000).unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(
        member::verify(
            &s,
            &k,
            &member_key(),
            1_000 - aura_billing::signed::CLOCK_SKEW_S - 1
        )
        .unwrap_err(),
        VerifyError::Expired
    );
}

#[test]
fn another_members_statement_is_refused() {
    let s = signed();
    let other = DeviceKey(SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes());
    assert_eq!(
        member::verify(&s, &ledger().verifying_key(), &other, 1_500).unwrap_err(),
        VerifyError::WrongPeer
    );
}

/// Another kind of ledger statement (an entitlement token) signed over the
/// same JSON cannot pass as a member statement: the domain tags differ.
#[test]
fn a_statement_of_another_kind_cannot_pass_as_one() {
    let token: EntitlementToken = Signed::sign(
        aura_billing::signed::Entitlement {
            v: 1,
            peer: member_key().to_hex(),
            peer_id: String::new(),
            tier: "vip".into(),
            allows: vec![],
            max_room_size: 1,
            iat: 1_000,
            exp: 2_000,
        },
        &ledger(),
    )
    .unwrap();
    let s = SignedMemberStatement {
        body: body(),
        signature: token.signature,
        batch: None,
    };
    assert_eq!(
        member::verify(&s, &ledger().verifying_key(), &member_key(), 1_500).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn an_oversized_medal_list_is_refused() {
    let mut b = body();
    b.medals = (0..=member::MAX_MEDAL_KINDS)
        .map(|i| MedalCount {
            medal: format!("m{i}"),
            count: 1,
        })
        .collect();
    let s: SignedMemberStatement = Signed::sign(b, &ledger()).unwrap();
    assert_eq!(
        member::verify(&s, &ledger().verifying_key(), &member_key(), 1_500).unwrap_err(),
        VerifyError::TooLong
    );
}
