//! Fuzzes members' profiles as the node takes them from a control frame:
//! `SignedProfile::decode` (size-limited postcard), `verify` for the
//! member who sent it, `Book::offer` and the labels. As a forged profile
//! never gets past the signature, the input is also read as a profile
//! body, signed with the sender's key: it must then be kept exactly when
//! it validates, and a second offer of it must be stale.
#![no_main]

use aura_crypto::Identity;
use aura_node::people::{labels, AvatarRef, Book, Offered, Profile, SignedProfile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sender = Identity::from_secret_bytes(&[2; 32]);
    let other = Identity::from_secret_bytes(&[3; 32]).member_id();
    let me = sender.member_id();
    let mut book = Book::default();
    if let Ok(p) = SignedProfile::decode(data) {
        // Round trip of what decodes.
        assert_eq!(SignedProfile::decode(&p.encode()).ok(), Some(p.clone()));
        let _ = book.offer(p, &me);
    }
    let _ = labels(&[me, other], &book);
    let Ok(mut body) = postcard::from_bytes::<Profile>(data) else {
        return;
    };
    body.member = me;
    let valid = body.validate().is_ok();
    let signed = SignedProfile {
        sig: sender
            .sign(&{
                let mut b = b"aura/profile/v1\0".to_vec();
                b.extend(postcard::to_allocvec(&body).unwrap_or_default());
                b
            })
            .to_bytes()
            .to_vec(),
        profile: body.clone(),
    };
    let mut fresh = Book::default();
    match fresh.offer(signed.clone(), &me) {
        Ok(Offered::Newer) => assert!(valid, "an invalid profile was kept"),
        Ok(o) => panic!("first offer not kept: {o:?}"),
        Err(_) => assert!(!valid, "a valid, genuinely signed profile was refused"),
    }
    if valid {
        assert_eq!(fresh.offer(signed.clone(), &me), Ok(Offered::Stale));
        assert!(
            fresh.offer(signed, &other).is_err(),
            "kept for another sender"
        );
        let l = labels(&[me, other], &fresh);
        assert!(l[&me].starts_with(&body.name));
    }
    if let Some(a) = body.avatar {
        let _ = a.check(data);
    }
    let _ = AvatarRef::of(data);
});
