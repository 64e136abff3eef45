//! Invite text form and the error each kind of bad invite gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{Hint, Invite, InviteError, Role};
use common::{group, ident, TestRng, NOW};

fn invite(max_uses: u32, hints: Vec<Hint>) -> (Vec<aura_crypto::GroupSession>, Invite) {
    let mut rng = TestRng(11);
    let g = group(2, &mut rng);
    let inv = Invite::create(
        g[0].roster(),
        &ident(1),
        NOW + 60_000,
        max_uses,
        hints,
        &mut rng,
    )
    .unwrap();
    (g, inv)
}

#[test]
fn text_roundtrip_is_short_and_case_insensitive() {
    let (g, inv) = invite(3, vec![]);
    let text = inv.to_text().unwrap();
    assert!(text.starts_with("aura1"));
    assert!(text.len() < 300, "invite text is {} chars", text.len());
    assert_eq!(Invite::parse(&text, NOW).unwrap(), inv);
    // QR alphanumeric mode is upper case: accepted too.
    assert_eq!(Invite::parse(&text.to_ascii_uppercase(), NOW).unwrap(), inv);
    assert_eq!(g[0].roster().check_invite(&inv, NOW), Ok(()));
    assert_eq!(inv.body.group_name, "test");
}

#[test]
fn hints_roundtrip() {
    let hints = vec![Hint {
        peer: "12D3KooWGzh8dD8fGLM4nQ9mMZt4rHb3YfQPn8GgWeqzNuJ5Pk7c".into(),
        addrs: vec!["/ip4/192.0.2.7/udp/4001/quic-v1".into()],
    }];
    let (_, inv) = invite(1, hints.clone());
    let parsed = Invite::parse(&inv.to_text().unwrap(), NOW).unwrap();
    assert_eq!(parsed.body.hints, hints);
}

#[test]
fn each_bad_invite_says_what_is_wrong() {
    let (_, inv) = invite(1, vec![]);
    let text = inv.to_text().unwrap();
    assert_eq!(
        Invite::parse("https://example.com/x", NOW),
        Err(InviteError::WrongPrefix)
    );
    assert_eq!(Invite::parse("", NOW), Err(InviteError::WrongPrefix));
    assert_eq!(
        Invite::parse("aura1!!!!!!!!", NOW),
        Err(InviteError::BadEncoding)
    );
    assert_eq!(
        Invite::parse(&text[..text.len() - 40], NOW),
        Err(InviteError::Truncated)
    );
    assert_eq!(
        Invite::parse(&text[..text.len() / 2], NOW),
        Err(InviteError::Truncated)
    );
    assert_eq!(
        Invite::parse(&text, NOW + 60_000),
        Err(InviteError::Expired)
    );
    let long = format!("{text}{}", "a".repeat(3000));
    assert_eq!(Invite::parse(&long, NOW), Err(InviteError::TooLong));
    // Trailing bytes after the signature.
    let mut bytes = inv.to_bytes().unwrap();
    bytes.extend_from_slice(&[0; 5]);
    assert_eq!(Invite::from_bytes(&bytes), Err(InviteError::Malformed));
}

#[test]
fn used_up_and_wrong_group() {
    let (mut g, inv) = invite(1, vec![]);
    let newcomer = ident(70).member_id();
    g[0].roster().check_invite(&inv, NOW).unwrap();
    g[0].add_member(newcomer, Role::Member, Some(inv.redemption()), NOW)
        .unwrap();
    assert_eq!(
        g[0].roster().check_invite(&inv, NOW),
        Err(InviteError::UsedUp)
    );
    // An invite for another group.
    let mut rng = TestRng(12);
    let (other, _) = aura_crypto::GroupSession::create(ident(1), "x", NOW, &mut rng).unwrap();
    let foreign = Invite::create(other.roster(), &ident(1), NOW + 1, 1, vec![], &mut rng).unwrap();
    assert_eq!(
        g[0].roster().check_invite(&foreign, NOW),
        Err(InviteError::WrongGroup)
    );
}

#[test]
fn invite_from_demoted_admin_refused() {
    let (mut g, _) = invite(1, vec![]);
    let mut rng = TestRng(13);
    let by_admin =
        Invite::create(g[0].roster(), &ident(2), NOW + 1000, 5, vec![], &mut rng).unwrap();
    assert_eq!(g[0].roster().check_invite(&by_admin, NOW), Ok(()));
    g[0].propose(
        aura_crypto::OpKind::SetRole {
            member: ident(2).member_id(),
            role: Role::Member,
        },
        NOW,
    )
    .unwrap();
    assert_eq!(
        g[0].roster().check_invite(&by_admin, NOW),
        Err(InviteError::InviterNotAdmin)
    );
}
