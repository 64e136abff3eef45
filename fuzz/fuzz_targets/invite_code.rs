//! Fuzzes invite codes as `aura join CODE` and `Node::join` take them: the
//! `aura1…` text, then the peers and addresses the node dials from its
//! hints. As a forged invite never gets past the signature, the input is
//! also read as an invite body (any group, name, hints), signed by a known
//! inviter, written as text and joined the same way.
#![no_main]

use aura_crypto::{invite::MAX_HINTS, Identity, Invite, InviteBody, InviteError};
use aura_node::wire;
use libfuzzer_sys::fuzz_target;

fn join(text: &str) {
    if let Ok(invite) = Invite::parse(text, 0) {
        let peers = wire::invite_peers(&invite);
        assert!(peers.len() <= invite.body.hints.len());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        join(text);
    }
    if let Ok(mut body) = postcard::from_bytes::<InviteBody>(data) {
        let inviter = Identity::from_secret_bytes(&[1; 32]);
        body.inviter = inviter.member_id();
        body.hints.truncate(MAX_HINTS); // what `Invite::create` allows
        let invite = Invite::sign(body, &inviter).expect("sign");
        let text = invite.to_text().expect("text");
        match Invite::parse(&text, 0) {
            Ok(back) => assert_eq!(back, invite, "invite text round trip"),
            Err(InviteError::TooLong | InviteError::Expired) => {}
            Err(e) => panic!("own invite refused: {e}"),
        }
        join(&text);
        join(&format!("  {}\n", text.to_ascii_uppercase()));
    }
});
