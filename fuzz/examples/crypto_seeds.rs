//! Writes the seed corpora (a handful of valid encodings per target) into
//! `corpus/<target>/`. Run from `fuzz/`:
//! `cargo run --example crypto_seeds` (stable is enough).

mod common;

use common::{write, Res};

use aura_crypto::room::{
    Access, RoomId, RoomKeyAuthority, RoomOp, RoomOpKind, RoomSession, RoomTicket,
};
use aura_crypto::{FrameKind, GroupSession, Hint, Identity, Invite, InviteUse, Role, Roster};
use rand::{rngs::StdRng, SeedableRng};

fn main() -> Res<()> {
    let now = 1_700_000_000_000;
    let mut rng = StdRng::seed_from_u64(1);
    let a = Identity::from_secret_bytes(&[1; 32]);
    let b = Identity::from_secret_bytes(&[2; 32]);
    let c = Identity::from_secret_bytes(&[3; 32]);
    let (mut sa, _) = GroupSession::create(a.clone(), "fuzz", now, &mut rng)?;
    sa.add_member(b.member_id(), Role::Member, None, now)?;
    sa.add_member(
        c.member_id(),
        Role::Admin,
        Some(InviteUse {
            id: [9; 16],
            max_uses: 2,
        }),
        now,
    )?;
    sa.remove_member(c.member_id(), now)?;
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect())?;
    let mut sb = GroupSession::from_roster(b.clone(), roster, now, &mut rng);
    let env = sa.envelope_for(b.member_id(), &mut rng)?;
    sb.accept_envelope(&env)?;
    write("envelope", "a-to-b", &env.encode())?;
    let env2 = sb.envelope_for(a.member_id(), &mut rng)?;
    write("envelope", "b-to-a", &env2.encode())?;

    for (i, op) in sa.roster().ops().enumerate() {
        write("roster_op", &i.to_string(), &op.encode()?)?;
    }

    let hints = vec![Hint {
        peer: a.peer_id().to_string(),
        addrs: vec![
            "/ip4/192.0.2.1/udp/4001/quic-v1".into(),
            "/ip4/192.0.2.1/tcp/4001".into(),
        ],
    }];
    let inv = Invite::create(sa.roster(), &a, now + 3_600_000, 5, hints, &mut rng)?;
    write("invite", "bytes", &inv.to_bytes()?)?;
    write("invite", "text", inv.to_text()?.as_bytes())?;
    let bare = Invite::create(sa.roster(), &a, u64::MAX, 1, vec![], &mut rng)?;
    write("invite", "bare-text", bare.to_text()?.as_bytes())?;
    write("invite", "bare-body", &postcard::to_allocvec(&bare.body)?)?;

    // Frames as B receives them (the frame target opens them with B's keys).
    let mut frames = Vec::new();
    for i in 0..3u8 {
        let sv = sa.seal_voice(&[i; 40], now)?;
        frames.push(sv.frame);
    }
    frames.extend(sa.flush_voice_sig()?);
    frames.push(sa.seal(FrameKind::Chat, b"hello", now)?);
    frames.push(sa.seal(FrameKind::Location, &[0; 17], now)?);
    frames.push(sa.seal(FrameKind::Control, &[3], now)?);
    for (i, f) in frames.iter().enumerate() {
        write("frame", &i.to_string(), f)?;
        sb.open(f, now)?;
    }

    write("session_state", "owner", &sa.export_state()?)?;
    write("session_state", "member", &sb.export_state()?)?;

    // Room ops as the fuzzed room (host [1; 32]) receives them, and a ticket.
    let host = Identity::from_secret_bytes(&[1; 32]);
    let create = RoomOp {
        room: RoomId::default(),
        author: host.member_id(),
        at_ms: 0,
        kind: RoomOpKind::Create {
            name: "fuzz".into(),
            access: Access::Group(aura_crypto::GroupId::default()),
            seats: 8,
            vip_seats: 2,
            vip_only: false,
            nonce: [0; 16],
        },
    }
    .sign(&host)?;
    write("room_op", "create", &create.encode()?)?;
    let room = create.created_room().ok_or("create names its room")?;
    let ticket = RoomTicket::issue(room, &host, now);
    write("room_op", "ticket", ticket.to_text()?.as_bytes())?;
    let kinds = [
        RoomOpKind::Join {
            ticket: Some(ticket),
            entitlement: Some(vec![1; 16]),
        },
        RoomOpKind::TakeSeat { seat: 1 },
        RoomOpKind::Kick {
            member: b.member_id(),
        },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let author = if i == 2 { &host } else { &b };
        let op = RoomOp {
            room,
            author: author.member_id(),
            at_ms: now + i as u64,
            kind,
        };
        write("room_op", &i.to_string(), &op.sign(author)?.encode()?)?;
    }

    let authority = RoomKeyAuthority::new(host.clone(), room, &mut rng);
    let mut speaker = RoomSession::new(b.clone(), room, host.member_id(), now, &mut rng);
    speaker.accept_room_key(&authority.envelope_for(b.member_id(), &mut rng)?)?;
    write(
        "room_op",
        "speaker-key",
        &speaker.speaker_key(&mut rng)?.encode(),
    )?;

    // Structured targets: a few byte strings for `arbitrary` to grow from.
    for t in ["roster_ops", "sealed_open"] {
        write(t, "zeros", &[0; 64])?;
        write(t, "ramp", &(0..=255).collect::<Vec<u8>>())?;
    }
    Ok(())
}
