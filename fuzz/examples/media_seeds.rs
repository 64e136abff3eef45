//! Writes the seed corpora into `corpus/<target>/`. Run from `fuzz/`:
//! `cargo run --example media_seeds` (stable is enough).

mod common;

use common::{write, Res};

use aura_crypto::{FrameHeader, FrameKind, Identity};
use aura_media::{ReceiverReport, SignedReport};

fn id(n: u8) -> Identity {
    Identity::from_secret_bytes(&[n; 32])
}

fn main() -> Res<()> {
    // media_route: [peer selector, patch flags, datagram...], with the
    // target's identities (1, 2, 3 members; 5 relay) and rooms [1; 8], [2; 8].
    let report = ReceiverReport {
        expected: 50,
        lost: 5,
        jitter_100us: 12,
        delay_100us: 40,
    };
    for (peer, sel) in [(1u8, 0u8), (2, 1), (5, 2)] {
        let from = id(peer).member_id();
        let h = FrameHeader {
            kind: FrameKind::Voice,
            room: [1; 8],
            sender: from.short_id(),
            epoch: 1,
            counter: 7,
        };
        let mut f = vec![sel, 0];
        f.extend_from_slice(&h.to_bytes());
        f.extend_from_slice(&[0u8; 40]);
        write("media_route", &format!("frame-{peer}"), &f)?;
        let about = id(if peer == 1 { 2 } else { 1 }).member_id().short_id();
        let author = if peer == 5 { id(2) } else { id(peer) };
        let mut r = vec![sel, 0];
        r.extend_from_slice(&SignedReport::sign(&author, [1; 8], about, 9, &report));
        write("media_route", &format!("report-{peer}"), &r)?;
    }
    // report_inbox: arbitrary-encoded op lists; a few shapes to start from.
    write("report_inbox", "zeros", &[0; 64])?;
    write("report_inbox", "ramp", &(0..=255).collect::<Vec<u8>>())?;
    write("report_inbox", "ones", &[1; 128])?;
    Ok(())
}
