//! `aura room …`: voice rooms through a relay from the terminal.
//!
//! `aura room create` and `aura room join` hold the room in the
//! foreground (printing its events, who is speaking, until Ctrl-C or
//! `--seconds`) and take commands on stdin and on a local socket
//! (`<data dir>/room.sock`), which `aura room seat|leave-seat|mute|kick|
//! chat|gift|list` use from another terminal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aura_crypto::MemberId;
use aura_node::rooms::{RoomEvent, RoomHandle, RoomSpec};
use aura_node::Node;
use clap::{Args, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// `aura room` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RoomCmd {
    /// Create a room at a relay and host it (prints its ticket).
    Create {
        /// Room name.
        name: String,
        /// Reserve the first N seats to VIP members.
        #[arg(long, default_value_t = 0)]
        vip_seats: u8,
        /// Admit VIP members only.
        #[arg(long)]
        vip_only: bool,
        #[command(flatten)]
        at: At,
    },
    /// Join a room by its ticket (`auraroom1…`).
    Join {
        /// The ticket.
        ticket: String,
        #[command(flatten)]
        at: At,
    },
    /// Take a seat (host, moderator, or invited).
    Seat {
        /// Seat number.
        seat: u8,
    },
    /// Leave your seat for the audience.
    LeaveSeat,
    /// Mute (or with --off unmute) a seat.
    Mute {
        /// Seat number.
        seat: u8,
        /// Unmute instead.
        #[arg(long)]
        off: bool,
    },
    /// Remove a member from the room (host or moderator).
    Kick {
        /// Member id (hex, as `aura room list` shows).
        member: String,
    },
    /// Say something in the room's chat.
    Chat {
        /// The message.
        message: String,
    },
    /// Send a gift to a member through the billing ledger; the room sees
    /// its receipt.
    Gift {
        /// Member id (hex prefix, as `aura room list` shows).
        member: String,
        /// Gift id from the ledger's catalog (e.g. `heart`).
        gift: String,
    },
    /// List the room's members with their roles and seats.
    List,
}

/// Where the room lives and how long to stay.
#[derive(Debug, Args)]
pub(crate) struct At {
    /// The relay: its peer id and media address, `PEERID@HOST:PORT`
    /// (as `aura-relay` prints them).
    #[arg(long)]
    relay: String,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

fn socket(data_dir: &Path) -> PathBuf {
    data_dir.join("room.sock")
}

fn relay_of(text: &str) -> Result<(MemberId, SocketAddr)> {
    let (peer, addr) = text
        .split_once('@')
        .ok_or_else(|| anyhow!("--relay is PEERID@HOST:PORT"))?;
    let peer: libp2p::PeerId = peer.parse().context("relay peer id")?;
    let member = MemberId::from_peer_id(&peer).ok_or_else(|| anyhow!("not an ed25519 peer id"))?;
    Ok((member, addr.parse().context("relay media address")?))
}

/// Runs `aura room …`: a session (create, join) or one command sent to it.
pub(crate) async fn run(node: Option<&Node>, data_dir: &Path, cmd: RoomCmd) -> Result<()> {
    let (node, room, seconds) = match (cmd, node) {
        (
            RoomCmd::Create {
                name,
                vip_seats,
                vip_only,
                at,
            },
            Some(node),
        ) => {
            let (relay, addr) = relay_of(&at.relay)?;
            let spec = RoomSpec::ticket(&name).vip(vip_seats, vip_only);
            let room = node.create_room(relay, addr, spec).await?;
            println!("room: {}", room.room());
            println!("ticket: {}", room.ticket(24 * 3_600_000)?);
            (node, room, at.seconds)
        }
        (RoomCmd::Join { ticket, at }, Some(node)) => {
            let (relay, addr) = relay_of(&at.relay)?;
            let room = node.join_room(&ticket, relay, addr).await?;
            println!("room: {}", room.room());
            (node, room, at.seconds)
        }
        (RoomCmd::Create { .. } | RoomCmd::Join { .. }, None) => bail!("no node"),
        (cmd, _) => return send(data_dir, &line_of(&cmd)).await,
    };
    session(node, room, data_dir, seconds).await
}

/// A command as one line for the session.
fn line_of(cmd: &RoomCmd) -> String {
    match cmd {
        RoomCmd::Seat { seat } => format!("seat {seat}"),
        RoomCmd::LeaveSeat => "leave-seat".into(),
        RoomCmd::Mute { seat, off } => format!("{} {seat}", if *off { "unmute" } else { "mute" }),
        RoomCmd::Kick { member } => format!("kick {member}"),
        RoomCmd::Chat { message } => format!("chat {message}"),
        RoomCmd::Gift { member, gift } => format!("gift {member} {gift}"),
        RoomCmd::List | RoomCmd::Create { .. } | RoomCmd::Join { .. } => "list".into(),
    }
}

async fn send(data_dir: &Path, line: &str) -> Result<()> {
    let mut s = UnixStream::connect(socket(data_dir))
        .await
        .context("no room session (start `aura room create` or `aura room join` first)")?;
    s.write_all(format!("{line}\n").as_bytes()).await?;
    let mut out = String::new();
    BufReader::new(s).read_line(&mut out).await?;
    print!("{}", out.replace('\t', "\n"));
    Ok(())
}

async fn session(
    node: &Node,
    room: RoomHandle,
    data_dir: &Path,
    seconds: Option<u64>,
) -> Result<()> {
    let path = socket(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).context("room socket")?;
    let mut events = room.take_events().ok_or_else(|| anyhow!("events taken"))?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let stop = tokio::time::sleep(Duration::from_secs(seconds.unwrap_or(u64::MAX / 4)));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
            Some(e) = events.recv() => print_event(&e),
            Ok(Some(line)) = stdin.next_line() => println!("{}", handle(node, &room, &line).await.replace('\t', "\n")),
            Ok((s, _)) = listener.accept() => {
                let mut r = BufReader::new(s);
                let mut line = String::new();
                if r.read_line(&mut line).await.is_ok() {
                    let out = handle(node, &room, line.trim()).await;
                    let _ = r.get_mut().write_all(format!("{out}\n").as_bytes()).await;
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn print_event(e: &RoomEvent) {
    match e {
        RoomEvent::Speaking(who) if who.is_empty() => println!("silence"),
        RoomEvent::Speaking(who) => {
            let names: Vec<String> = who.iter().map(ToString::to_string).collect();
            println!("speaking: {}", names.join(", "));
        }
        RoomEvent::Said { from, text } => println!("<{from}> {text}"),
        RoomEvent::Refused {
            code: VIP_REQUIRED, ..
        } => println!("refused: VIP members only"),
        RoomEvent::Refused { code, .. } => println!("refused by the relay (code {code})"),
        RoomEvent::Gift { from, receipt } => println!(
            "gift: {from} sent {} to {} ({} coins)",
            receipt.body.gift, receipt.body.receiver, receipt.body.coins
        ),
        RoomEvent::Chat { .. } => {}
        e => println!("{e:?}"),
    }
}

/// The relay's refusal code for a VIP room or seat without a VIP token.
const VIP_REQUIRED: u8 = 18;

/// Runs one command line; the answer (lines joined by tabs).
async fn handle(node: &Node, room: &RoomHandle, line: &str) -> String {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let arg = words.next();
    let seat = || arg.and_then(|a| a.parse::<u8>().ok());
    let r = match (verb, seat()) {
        ("seat", Some(s)) => room.seat(s).await,
        ("leave-seat", _) => room.leave_seat().await,
        ("mute", Some(s)) => room.mute(s, true).await,
        ("unmute", Some(s)) => room.mute(s, false).await,
        ("kick", _) => match arg.and_then(|a| member_of(room, a)) {
            Some(m) => room.kick(m).await,
            None => return "no such member".into(),
        },
        ("chat", _) => {
            let text = line.trim_start_matches("chat").trim();
            room.chat(text).await
        }
        ("gift", _) => {
            let (Some(to), Some(gift)) = (arg.and_then(|a| member_of(room, a)), words.next())
            else {
                return "gift MEMBER GIFT (a member of the room, a gift of the catalog)".into();
            };
            let id = format!("cli-{}", rand::random::<u64>());
            match node.send_room_gift(room, to, gift, &id).await {
                Ok(r) => return format!("sent {} ({} coins)", r.body.gift, r.body.coins),
                Err(e) => Err(e),
            }
        }
        ("list", _) => {
            let rows: Vec<String> = room
                .members()
                .iter()
                .map(|m| {
                    let seat = m.seat.map(|s| format!(" seat {s}")).unwrap_or_default();
                    format!(
                        "{} {:?}{seat}{}",
                        m.member,
                        m.role,
                        if m.hand { " (hand)" } else { "" }
                    )
                })
                .collect();
            return rows.join("\t");
        }
        _ => {
            return "commands: seat N, leave-seat, mute N, unmute N, kick ID, chat TEXT, \
                    gift ID GIFT, list"
                .into()
        }
    };
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// A member of our view by hex prefix of its id.
fn member_of(room: &RoomHandle, prefix: &str) -> Option<MemberId> {
    let found: Vec<MemberId> = room
        .members()
        .into_iter()
        .map(|m| m.member)
        .filter(|m| hex::encode(m.0).starts_with(&prefix.to_lowercase()))
        .collect();
    found.first().copied().filter(|_| found.len() == 1)
}
