//! Fuzzes the invite decoders (binary and `aura1…` text) with round trips,
//! and, treating the input as an invite body, signs it and checks that its
//! text form parses back to the same invite.
#![no_main]

use aura_crypto::{invite::MAX_HINTS, Identity, Invite, InviteBody, InviteError};
use libfuzzer_sys::fuzz_target;

fn roundtrip(invite: &Invite) {
    let bytes = invite.to_bytes().expect("encode");
    assert_eq!(Invite::from_bytes(&bytes).as_ref(), Ok(invite), "binary");
    let text = invite.to_text().expect("text");
    match Invite::parse(&text, 0) {
        Ok(back) => assert_eq!(&back, invite, "text"),
        Err(InviteError::TooLong | InviteError::Expired) => {}
        Err(e) => panic!("own text refused: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(invite) = Invite::from_bytes(data) {
        roundtrip(&invite);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(invite) = Invite::parse(text, 0) {
            roundtrip(&invite);
        }
        let _ = Invite::parse(&format!("aura1{text}"), 0);
    }
    // Structure-aware: any decodable body, signed by a known inviter.
    if let Ok(mut body) = postcard::from_bytes::<InviteBody>(data) {
        let inviter = Identity::from_secret_bytes(&[1; 32]);
        body.inviter = inviter.member_id();
        body.hints.truncate(MAX_HINTS); // what `Invite::create` allows
        let invite = Invite::sign(body, &inviter).expect("sign");
        roundtrip(&invite);
    }
});
