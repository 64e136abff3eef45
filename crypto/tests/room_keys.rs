//! Room keys: every listener opens every seated speaker; a kicked listener,
//! an outsider and a curious relay open nothing; a listener cannot speak
//! or hand out keys in a speaker's name; only the host's room key counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aura_crypto::room::{
    Access, RoomError, RoomId, RoomKeyAuthority, RoomOp, RoomOpKind, RoomSession, SpeakerKey,
};
use aura_crypto::{Authenticity, Identity, MemberId, OpenError};
use rand::rngs::OsRng;

const NOW: u64 = 1_800_000_000_000;

fn room_of(host: &Identity) -> RoomId {
    RoomOp {
        room: RoomId::default(),
        author: host.member_id(),
        at_ms: NOW,
        kind: RoomOpKind::Create {
            name: "stage".into(),
            access: Access::Ticket,
            seats: 8,
            vip_seats: 0,
            vip_only: false,
            nonce: [1; 16],
        },
    }
    .sign(host)
    .unwrap()
    .created_room()
    .unwrap()
}

/// A host, two seated speakers and `n` listeners, all keyed.
struct Stage {
    room: RoomId,
    authority: RoomKeyAuthority,
    speakers: Vec<RoomSession>,
    speaker_ids: Vec<MemberId>,
    speaker_identities: Vec<Identity>,
    listeners: Vec<(MemberId, RoomSession)>,
}

impl Stage {
    fn new(n: usize) -> Self {
        let host = Identity::generate(&mut OsRng);
        let room = room_of(&host);
        let authority = RoomKeyAuthority::new(host.clone(), room, &mut OsRng);
        let session = |id: &Identity| {
            let mut s = RoomSession::new(id.clone(), room, host.member_id(), NOW, &mut OsRng);
            let env = authority.envelope_for(id.member_id(), &mut OsRng).unwrap();
            assert_eq!(s.accept_room_key(&env), Ok(0));
            s
        };
        let sp: Vec<Identity> = (0..2).map(|_| Identity::generate(&mut OsRng)).collect();
        let speaker_ids: Vec<MemberId> = sp.iter().map(Identity::member_id).collect();
        let mut speakers: Vec<RoomSession> = sp.iter().map(session).collect();
        let mut listeners: Vec<(MemberId, RoomSession)> = (0..n)
            .map(|_| {
                let id = Identity::generate(&mut OsRng);
                (id.member_id(), session(&id))
            })
            .collect();
        for s in speakers
            .iter_mut()
            .chain(listeners.iter_mut().map(|(_, s)| s))
        {
            s.set_speakers(speaker_ids.clone());
        }
        let mut stage = Self {
            room,
            authority,
            speakers: Vec::new(),
            speaker_ids,
            speaker_identities: sp.clone(),
            listeners: Vec::new(),
        };
        let keys: Vec<SpeakerKey> = speakers
            .iter_mut()
            .map(|s| s.speaker_key(&mut OsRng).unwrap())
            .collect();
        for (i, key) in keys.iter().enumerate() {
            stage.hand_out(key, &mut listeners);
            let other = &mut speakers[1 - i];
            assert!(other.accept_speaker_key(key).unwrap().is_some());
        }
        stage.speakers = speakers;
        stage.listeners = listeners;
        stage
    }

    /// What the relay does with a speaker key: forwards its bytes to all.
    fn hand_out(&self, key: &SpeakerKey, to: &mut [(MemberId, RoomSession)]) {
        let bytes = key.encode();
        for (_, l) in to.iter_mut() {
            let k = SpeakerKey::decode(&bytes).unwrap();
            assert!(l.accept_speaker_key(&k).unwrap().is_some());
        }
    }

    /// Speaker `i` says `n` frames; returns them with the batch signatures.
    fn say(&mut self, i: usize, n: u8) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for k in 0..n {
            let v = self.speakers[i].seal_voice(&[k; 60]).unwrap();
            out.push(v.frame);
            out.extend(v.sig_frame);
        }
        out.extend(self.speakers[i].flush_voice_sig().unwrap());
        out
    }
}

#[test]
fn every_listener_opens_every_seated_speaker() {
    let mut stage = Stage::new(50);
    for i in 0..2 {
        let frames = stage.say(i, 20);
        for (_, l) in &mut stage.listeners {
            let voice: Vec<_> = frames
                .iter()
                .map(|f| l.open(f).unwrap())
                .filter(|o| !o.payload.is_empty())
                .collect();
            assert_eq!(voice.len(), 20);
            assert!(voice.iter().all(|o| o.sender == stage.speaker_ids[i]));
            let reports = l.take_auth_reports();
            assert!(reports.len() >= 4, "the batches vouch for the frames held");
            assert!(reports
                .iter()
                .all(|r| r.verdict == aura_crypto::Verdict::Verified));
        }
    }
    // A speaker also hears the other.
    let frames = stage.say(1, 3);
    let opened = stage.speakers[0].open(&frames[0]).unwrap();
    assert_eq!(opened.authenticity, Authenticity::Pending);
}

#[test]
fn a_kicked_listener_opens_nothing_sent_after() {
    let mut stage = Stage::new(10);
    let (kicked_id, mut kicked) = stage.listeners.remove(3);
    // Before the kick it hears the speakers.
    let before = stage.say(0, 2);
    assert!(kicked.open(&before[0]).is_ok());
    // The host rotates the room key to everyone remaining.
    let remaining: Vec<MemberId> = stage
        .speaker_ids
        .iter()
        .copied()
        .chain(stage.listeners.iter().map(|(m, _)| *m))
        .collect();
    let envelopes = stage.authority.rotate(remaining, &mut OsRng).unwrap();
    assert!(envelopes.iter().all(|e| e.recipient != kicked_id));
    for env in &envelopes {
        assert!(kicked.accept_room_key(env).is_err(), "not addressed to it");
        for s in stage
            .speakers
            .iter_mut()
            .chain(stage.listeners.iter_mut().map(|(_, s)| s))
        {
            if env.recipient == s.member_id() {
                assert_eq!(s.accept_room_key(env), Ok(1));
            }
        }
    }
    // Each speaker starts a new sender epoch and hands it out under the new key.
    for i in 0..2 {
        stage.speakers[i]
            .rotate_sender_key(NOW, &mut OsRng)
            .unwrap();
        let key = stage.speakers[i].speaker_key(&mut OsRng).unwrap();
        assert_eq!(key.room_epoch, 1);
        assert_eq!(
            kicked.accept_speaker_key(&key),
            Err(RoomError::UnknownEpoch)
        );
        let mut listeners = std::mem::take(&mut stage.listeners);
        stage.hand_out(&key, &mut listeners);
        stage.listeners = listeners;
    }
    for i in 0..2 {
        let after = stage.say(i, 5);
        for f in &after {
            assert_eq!(kicked.open(f).map(|_| ()), Err(OpenError::UnknownEpoch));
        }
        for (_, l) in &mut stage.listeners {
            assert!(l.open(&after[0]).is_ok());
        }
    }
}

#[test]
fn an_outsider_or_curious_relay_holding_every_message_opens_nothing() {
    let mut stage = Stage::new(3);
    let outsider = Identity::generate(&mut OsRng);
    let mut relay_view = RoomSession::new(
        outsider.clone(),
        stage.room,
        stage.authority.host(),
        NOW,
        &mut OsRng,
    );
    relay_view.set_speakers(stage.speaker_ids.clone());
    // It captured a room key envelope meant for a listener...
    let env = stage
        .authority
        .envelope_for(stage.listeners[0].0, &mut OsRng)
        .unwrap();
    assert!(relay_view.accept_room_key(&env).is_err());
    // ...the speakers' keys and their voice.
    let key = stage.speakers[0].speaker_key(&mut OsRng).unwrap();
    assert_eq!(
        relay_view.accept_speaker_key(&key),
        Err(RoomError::UnknownEpoch)
    );
    for f in stage.say(0, 4) {
        assert!(relay_view.open(&f).is_err());
    }
}

#[test]
fn a_listener_cannot_speak_or_hand_out_keys_in_a_speakers_name() {
    let mut stage = Stage::new(3);
    // A listener seals "voice" as if seated (it lists itself locally).
    let (mallory_id, mut mallory) = stage.listeners.remove(0);
    let mut seated = stage.speaker_ids.clone();
    seated.push(mallory_id);
    mallory.set_speakers(seated);
    let own_key = mallory.speaker_key(&mut OsRng).unwrap();
    let fake = mallory.seal_voice(&[9; 60]).unwrap();
    for (_, l) in &mut stage.listeners {
        assert_eq!(l.accept_speaker_key(&own_key), Err(RoomError::NotASpeaker));
        assert_eq!(
            l.open(&fake.frame).map(|_| ()),
            Err(OpenError::UnknownSender)
        );
    }
    // A speaker key with one byte changed (e.g. to claim another speaker or
    // another chain) fails the speaker's signature.
    let genuine = stage.speakers[0].speaker_key(&mut OsRng).unwrap().encode();
    for i in 0..genuine.len() {
        let mut t = genuine.clone();
        t[i] ^= 1;
        assert!(SpeakerKey::decode(&t).is_err(), "byte {i}");
    }
    assert!(SpeakerKey::decode(&genuine[1..]).is_err());
}

#[test]
fn only_the_hosts_room_key_counts() {
    let stage = Stage::new(2);
    let moderator = Identity::generate(&mut OsRng);
    let own_authority = RoomKeyAuthority::new(moderator, stage.room, &mut OsRng);
    let mut target = RoomSession::new(
        Identity::generate(&mut OsRng),
        stage.room,
        stage.authority.host(),
        NOW,
        &mut OsRng,
    );
    let env = own_authority
        .envelope_for(target.member_id(), &mut OsRng)
        .unwrap();
    assert!(matches!(
        target.accept_room_key(&env),
        Err(RoomError::Envelope(_))
    ));
    assert_eq!(target.room_epoch(), None);
}

#[test]
fn a_rejoined_speaker_at_a_fresh_session_is_heard_and_its_old_keys_stay_refused() {
    let mut stage = Stage::new(5);
    let speaker = stage.speaker_ids[0];
    // The speaker rotates a few times: listeners remember sender epoch 3.
    let mut old_key = None;
    for _ in 0..3 {
        stage.speakers[0]
            .rotate_sender_key(NOW, &mut OsRng)
            .unwrap();
        let key = stage.speakers[0].speaker_key(&mut OsRng).unwrap();
        let mut listeners = std::mem::take(&mut stage.listeners);
        stage.hand_out(&key, &mut listeners);
        stage.listeners = listeners;
        old_key = Some(key);
    }
    let old_key = old_key.unwrap();
    assert_eq!(old_key.sender_epoch, 3);
    let old_frames = stage.say(0, 2);
    // Its app restarts: it leaves and rejoins with a fresh session (epoch 0).
    for (_, l) in &mut stage.listeners {
        l.member_departed(&speaker);
    }
    let remaining: Vec<MemberId> = stage.listeners.iter().map(|(m, _)| *m).collect();
    let mut envelopes = stage.authority.rotate(remaining, &mut OsRng).unwrap();
    for env in &envelopes {
        for (_, l) in &mut stage.listeners {
            if env.recipient == l.member_id() {
                assert_eq!(l.accept_room_key(env), Ok(1));
            }
        }
    }
    // A replayed key of its earlier stay is refused, so are its old frames.
    for (_, l) in &mut stage.listeners {
        assert_eq!(l.accept_speaker_key(&old_key), Err(RoomError::UnknownEpoch));
        assert!(l.open(&old_frames[0]).is_err());
    }
    let id = stage.speakers[0].member_id();
    let host = stage.authority.host();
    let mut fresh = RoomSession::new(
        stage.speaker_identities[0].clone(),
        stage.room,
        host,
        NOW,
        &mut OsRng,
    );
    assert_eq!(fresh.sender_epoch(), 0);
    envelopes = vec![stage.authority.envelope_for(id, &mut OsRng).unwrap()];
    assert_eq!(fresh.accept_room_key(&envelopes[0]), Ok(1));
    fresh.set_speakers(stage.speaker_ids.clone());
    let key = fresh.speaker_key(&mut OsRng).unwrap();
    assert_eq!(key.sender_epoch, 0);
    stage.speakers[0] = fresh;
    // Listeners that remembered sender epoch 3 take epoch 0 and hear it.
    let mut listeners = std::mem::take(&mut stage.listeners);
    stage.hand_out(&key, &mut listeners);
    stage.listeners = listeners;
    let frames = stage.say(0, 3);
    for (_, l) in &mut stage.listeners {
        let o = l.open(&frames[0]).unwrap();
        assert_eq!((o.sender, o.epoch), (speaker, 0));
    }
}

#[test]
fn chat_opens_for_members_only_and_cannot_be_put_in_anothers_name() {
    let stage = Stage::new(3);
    let line = stage.listeners[0]
        .1
        .seal_chat("hello room", &mut OsRng)
        .unwrap();
    let author = stage.listeners[0].0;
    assert_eq!(
        stage.listeners[1].1.open_chat(&author, &line).unwrap(),
        "hello room"
    );
    assert_eq!(
        stage.speakers[0].open_chat(&author, &line).unwrap(),
        "hello room"
    );
    // Claimed as another member's line: the signature does not verify.
    let other = stage.listeners[2].0;
    assert_eq!(
        stage.listeners[1].1.open_chat(&other, &line),
        Err(RoomError::BadSignature)
    );
    // An outsider with its own session but no room key reads nothing.
    let outsider = Identity::generate(&mut OsRng);
    let o = RoomSession::new(
        outsider,
        stage.room,
        stage.authority.host(),
        NOW,
        &mut OsRng,
    );
    assert_eq!(o.open_chat(&author, &line), Err(RoomError::UnknownEpoch));
    // Tampered in transit: refused.
    let mut bad = line.clone();
    bad[5] ^= 1;
    assert!(stage.listeners[1].1.open_chat(&author, &bad).is_err());
}

#[test]
fn a_gift_line_opens_as_a_gift_and_is_as_sealed_and_signed_as_text() {
    use aura_crypto::room::chat::{ChatLine, MAX_CHAT_GIFT, MAX_SEALED_CHAT};
    let stage = Stage::new(2);
    let (author, sender) = (stage.listeners[0].0, &stage.listeners[0].1);
    let receipt = vec![b'{'; MAX_CHAT_GIFT];
    let line = sender
        .seal_line(&ChatLine::Gift(receipt.clone()), &mut OsRng)
        .unwrap();
    assert_eq!(line.len(), MAX_SEALED_CHAT);
    let reader = &stage.listeners[1].1;
    assert_eq!(
        reader.open_line(&author, &line).unwrap(),
        ChatLine::Gift(receipt)
    );
    // Not text, and not anyone else's.
    assert!(reader.open_chat(&author, &line).is_err());
    assert_eq!(
        reader.open_line(&stage.listeners[1].0, &line),
        Err(RoomError::BadSignature)
    );
    // Too long a receipt or text is refused before sealing.
    let long = ChatLine::Gift(vec![0; MAX_CHAT_GIFT + 1]);
    assert_eq!(
        sender.seal_line(&long, &mut OsRng),
        Err(RoomError::TooLarge)
    );
    assert_eq!(
        sender.seal_chat(&"x".repeat(901), &mut OsRng),
        Err(RoomError::TooLarge)
    );
}
