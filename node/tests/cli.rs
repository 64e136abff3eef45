//! Drives the real `aura` binary with temp data dirs: the offline commands,
//! helpful failures on bad input, and two nodes over loopback (one `aura run`,
//! the other joining with the invite it printed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Output, Stdio},
    sync::mpsc::{sync_channel, Receiver},
    time::{Duration, Instant},
};

fn aura(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aura"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("AURA_HOME")
        .env_remove("AURA_CONFIG")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = aura(dir, args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "aura {args:?} failed:\n{out}\n{err}");
    out.into_owned()
}

/// Runs a command that must fail; returns its stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let o = aura(dir, args);
    assert!(!o.status.success(), "aura {args:?} should have failed");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.starts_with("error: "),
        "no error line for {args:?}: {err}"
    );
    err
}

fn init(dir: &Path) -> String {
    let out = ok(
        dir,
        &[
            "init",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
    );
    let line = out.lines().find(|l| l.starts_with("member id ")).unwrap();
    line["member id ".len()..].trim().to_owned()
}

#[test]
fn offline_commands_and_helpful_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let help = ok(d, &["--help"]);
    for cmd in [
        "init", "run", "invite", "join", "members", "geofence", "history",
    ] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "--help lists {cmd}: {help}"
        );
    }
    let e = fails(d, &["members", "hikers"]);
    assert!(e.contains("aura init"), "{e}");
    let me = init(d);
    assert_eq!(me.len(), 64);
    let cfg = std::fs::read_to_string(d.join("aura.toml")).unwrap();
    assert!(
        cfg.contains("mdns = false") && cfg.contains("127.0.0.1/tcp/0"),
        "{cfg}"
    );
    assert!(ok(d, &["init"]).contains("exists"), "init is idempotent");

    assert!(ok(d, &["group", "create", "hikers"]).contains("created group hikers"));
    let members = ok(d, &["members", "hikers"]);
    let line = members.lines().find(|l| l.contains(&me)).unwrap();
    assert!(
        line.contains("owner") && line.contains("(you)"),
        "{members}"
    );

    let inv = aura(d, &["invite", "hikers", "--uses", "2"]);
    assert!(inv.status.success());
    let out = String::from_utf8_lossy(&inv.stdout);
    let code = out
        .lines()
        .find(|l| l.starts_with("aura1"))
        .expect("an aura1 code");
    assert!(code.len() > 40);
    assert!(
        out.contains('▀') || out.contains('▄'),
        "a QR code in half blocks"
    );

    // Bad input: non-zero exit, says what was wrong and what to do.
    let e = fails(d, &["members", "nosuchgroup"]);
    assert!(e.contains("nosuchgroup") && e.contains("hikers"), "{e}");
    let e = fails(d, &["join", "aura1notaninvite"]);
    assert!(e.contains("invite") && e.contains("aura1"), "{e}");
    let e = fails(d, &["join", &code.replace("aura1", "bura1")]);
    assert!(e.contains("invite"), "{e}");
    let e = fails(d, &["remove", "hikers", "zz"]);
    assert!(e.contains("aura members"), "{e}");
    let e = fails(d, &["location", "precision", "hikers", "5km"]);
    assert!(e.contains("exact, 100m or 1km"), "{e}");
    let e = fails(
        d,
        &["geofence", "add", "hikers", "hut", "--circle", "45.9,6.8"],
    );
    assert!(e.contains("LAT,LON,RADIUS_M"), "{e}");

    // Settings and fences persist between commands.
    ok(d, &["location", "share", "hikers"]);
    ok(d, &["location", "precision", "hikers", "100m"]);
    ok(
        d,
        &[
            "geofence",
            "add",
            "hikers",
            "hut",
            "--circle",
            "45.9,6.8,150",
        ],
    );
    ok(
        d,
        &[
            "geofence",
            "add",
            "hikers",
            "lake",
            "--polygon",
            "45.9,6.8;45.91,6.8;45.91,6.81",
        ],
    );
    let fences = ok(d, &["geofence", "list", "hikers"]);
    assert!(
        fences.contains("hut  circle") && fences.contains("lake  polygon of 3"),
        "{fences}"
    );
    ok(d, &["geofence", "remove", "hikers", "hut"]);
    assert!(!ok(d, &["geofence", "list", "hikers"]).contains("hut"));
    let e = fails(d, &["geofence", "remove", "hikers", "hut"]);
    assert!(e.contains("geofence list"), "{e}");

    let gpx = d.join("track.gpx");
    ok(d, &["history", "hikers", "--gpx", gpx.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&gpx).unwrap().contains("<gpx"));

    // Group by id prefix.
    let groups = ok(d, &["groups"]);
    let id = groups.split_whitespace().next().unwrap();
    assert!(ok(d, &["members", &id[..6]]).contains(&me));
}

/// Lines of a child's stdout, read on a thread into a bounded channel.
fn lines_of(stdout: std::process::ChildStdout) -> Receiver<String> {
    let (tx, rx) = sync_channel(1024);
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

fn wait_line(rx: &Receiver<String>, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if pred(&l) => return l,
            Ok(_) => {}
            Err(e) => panic!("no matching line from `aura run` within {secs} s: {e}"),
        }
    }
}

#[test]
fn join_a_running_node_over_loopback_then_chat_and_remove() {
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (ta.path(), tb.path());
    init(a);
    let b_id = init(b);
    ok(a, &["group", "create", "hikers"]);
    let mut run = Command::new(env!("CARGO_BIN_EXE_aura"))
        .arg("--data-dir")
        .arg(a)
        .arg("run")
        .env_remove("AURA_HOME")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let events = lines_of(run.stdout.take().unwrap());
    wait_line(&events, 15, |l| l.starts_with("ready"));

    // While `aura run` holds the store, commands go through its control socket.
    let inv = aura(a, &["invite", "hikers", "--no-qr"]);
    assert!(inv.status.success());
    assert!(
        String::from_utf8_lossy(&inv.stderr).is_empty(),
        "no offline note when running"
    );
    let out = String::from_utf8_lossy(&inv.stdout).into_owned();
    let code = out.lines().find(|l| l.starts_with("aura1")).unwrap();

    // b names itself before joining; a shows the name once b's profile is in.
    assert!(ok(
        b,
        &["profile", "set", "--name", "Ben", "--status", "new here"]
    )
    .contains("Ben"));
    assert!(ok(b, &["profile", "show"]).contains("status: new here"));
    assert!(ok(b, &["join", code]).contains("joined group hikers"));
    wait_line(&events, 10, |l| {
        l.contains(&format!("{} joined", &b_id[..8]))
    });
    let members = ok(a, &["members", "hikers"]);
    assert!(
        members.contains(&b_id) && members.lines().count() == 3,
        "{members}"
    );
    // The invite had one use.
    let tc = tempfile::tempdir().unwrap();
    init(tc.path());
    let e = fails(tc.path(), &["join", code, "--timeout", "10"]);
    assert!(e.contains("join failed") || e.contains("invite"), "{e}");

    // b sends while offline-by-default: its one-shot node connects and delivers.
    ok(b, &["chat", "hikers", "hello from b"]);
    wait_line(&events, 15, |l| l.contains("hello from b"));
    // By then b's profile is in (each of its one-shot nodes sends it when
    // it announces itself): a shows the name.
    let deadline = Instant::now() + Duration::from_secs(20);
    let members = loop {
        let m = ok(a, &["members", "hikers"]);
        if m.contains("Ben") || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        members.contains("Ben") && members.contains(&b_id),
        "{members}"
    );
    assert!(ok(a, &["profile", "show", "ben"]).contains(&b_id));
    // Block by name, listed, kept; unblock.
    assert!(ok(a, &["block", "Ben"]).contains("Ben: blocked"));
    assert!(ok(a, &["blocked"]).contains(&b_id));
    ok(a, &["unblock", &b_id[..8]]);
    assert!(ok(a, &["blocked"]).contains("nobody blocked"));
    ok(a, &["follow", "Ben"]);
    assert!(ok(a, &["following"]).contains("Ben"));

    ok(a, &["remove", "hikers", &b_id[..10]]);
    assert!(!ok(a, &["members", "hikers"]).contains(&b_id));

    // A local attacker writing junk to the control socket gets an error reply
    // and the node keeps serving.
    for junk in [&b"not json\n"[..], &[0xff; 100_000][..]] {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(a.join("control.sock")).unwrap();
        let _ = s.write_all(junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut reply = String::new();
        match s.read_to_string(&mut reply) {
            Ok(_) => assert!(reply.contains("malformed control request"), "{reply}"),
            // Oversized: the node answers after 64 KiB and closes; the rest
            // of our write can reset the connection before we read.
            Err(e) if junk.len() > 64 * 1024 => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset)
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(ok(a, &["groups"]).contains("hikers"));

    // SIGTERM stops `aura run` cleanly; the store is then usable directly.
    let st = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(run.wait().unwrap().success());
    assert!(!a.join("control.sock").exists());
    assert!(ok(a, &["groups"]).contains("hikers"));
}
