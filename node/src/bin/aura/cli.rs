//! Command-line definitions (clap derive). Parsing only; handlers live in `exec`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Aura: peer-to-peer group location sharing and chat, end-to-end encrypted.
///
/// Typical first steps:
///   aura init
///   aura group create hikers
///   aura invite hikers            (share the code or QR with a friend)
///   aura run                      (stay online and print what happens)
///
/// While `aura run` is running, other commands for the same data dir are sent
/// to it over a local control socket; otherwise each command starts the node
/// for its own duration.
#[derive(Debug, Parser)]
#[command(name = "aura", version, verbatim_doc_comment, propagate_version = true)]
pub(crate) struct Cli {
    /// Data dir (identity key, store, config). Default: $AURA_HOME or ~/.aura.
    #[arg(long, global = true, env = "AURA_HOME", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Config file. Default: <data dir>/aura.toml (missing file = defaults).
    #[arg(long, global = true, env = "AURA_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Create the identity key and a config file in the data dir.
    Init(InitArgs),
    /// Run the node: stay online, print events as they come (Ctrl-C stops).
    Run(RunArgs),
    /// Show this node's identity, config and groups.
    Status,
    /// List your groups.
    Groups,
    /// Create or list groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Print an invite code (and its QR code) for a group.
    Invite(InviteArgs),
    /// Join a group with an invite code (contacts the peers named in it).
    Join {
        /// The invite code (starts with `aura1`).
        code: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// List the members of a group and their roles.
    Members {
        /// Group name or id prefix.
        group: String,
    },
    /// Remove a member from a group (admins only); everyone rotates keys.
    Remove {
        /// Group name or id prefix.
        group: String,
        /// Member id (hex prefix, as `aura members` shows) or libp2p peer id.
        peer: String,
    },
    /// Leave a group and delete its local data.
    Leave {
        /// Group name or id prefix.
        group: String,
    },
    /// Location sharing: on, off, precision, position, last known positions.
    #[command(subcommand)]
    Location(LocationCmd),
    /// Geofences of a group.
    #[command(subcommand)]
    Geofence(GeofenceCmd),
    /// Send an end-to-end encrypted chat message to a group.
    Chat {
        /// Group name or id prefix.
        group: String,
        /// The message.
        message: String,
    },
    /// Chat history of a group; `--gpx FILE` also exports location history.
    History {
        /// Group name or id prefix.
        group: String,
        /// Write the group's location history (one track per member) to FILE.
        #[arg(long, value_name = "FILE")]
        gpx: Option<PathBuf>,
    },
    /// Your wallet on the billing ledger (coins, diamonds, VIP tier).
    Wallet,
    /// Send a gift to a member through the billing ledger; the group shows
    /// the signed receipt.
    Gift {
        /// Group name or id prefix.
        group: String,
        /// Member id (hex prefix, as `aura members` shows) or libp2p peer id.
        member: String,
        /// Gift id from the catalog (`aura gifts --catalog`), e.g. `heart`.
        gift: String,
        /// Client id of this gift: retrying with the same id never pays twice
        /// (default: a new random id).
        #[arg(long)]
        id: Option<String>,
    },
    /// Gifts shown in a group, or the ledger's catalog with `--catalog`.
    Gifts {
        /// Group name or id prefix.
        group: Option<String>,
        /// List the catalog instead.
        #[arg(long)]
        catalog: bool,
    },
    /// Your profile (name, status line, avatar), or a member's.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Block, unblock, follow or unfollow a member (local lists).
    #[command(flatten)]
    List(ListCmd),
    /// Members you blocked.
    Blocked,
    /// Members you follow.
    Following,
    /// Group voice: `aura talk GROUP`, `aura listen GROUP` (see `voice.rs`).
    #[command(flatten)]
    Voice(crate::voice::VoiceCmd),
    /// Voice rooms through a relay: create, join, seat, leave-seat, mute,
    /// kick, chat, list (see `room.rs`).
    #[command(subcommand)]
    Room(crate::room::RoomCmd),
    /// Developer tools (store stress writer for the crash test).
    #[command(subcommand, hide = true)]
    Debug(DebugCmd),
}

/// `aura init` options (written to the config file).
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Listen address (repeatable). Default: QUIC and TCP on all interfaces, port 0.
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) listen: Vec<String>,
    /// Bootstrap node (repeatable), e.g. /ip4/1.2.3.4/tcp/4001/p2p/12D3...
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) bootstrap: Vec<String>,
    /// Turn LAN discovery (mDNS) off.
    #[arg(long)]
    pub(crate) no_mdns: bool,
    /// Overwrite an existing config file (the identity key is never replaced).
    #[arg(long)]
    pub(crate) force: bool,
}

/// `aura run` options.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Also serve the node's web page (map, members, chat, voice) on ADDR
    /// (default 127.0.0.1:7878; name another address to reach it from
    /// elsewhere). Open the URL with its token that `aura run` prints.
    #[arg(long, value_name = "ADDR", num_args = 0..=1,
          default_missing_value = aura_node::web::DEFAULT_ADDR)]
    pub(crate) web: Option<std::net::SocketAddr>,
}

/// `aura group ...`
#[derive(Debug, Subcommand)]
pub(crate) enum GroupCmd {
    /// Create a group owned by you.
    Create {
        /// Its name.
        name: String,
    },
    /// List your groups.
    List,
}

/// `aura invite` options.
#[derive(Debug, Args)]
pub(crate) struct InviteArgs {
    /// Group name or id prefix.
    pub(crate) group: String,
    /// How many people may use it.
    #[arg(long, default_value_t = 1)]
    pub(crate) uses: u32,
    /// Hours until it expires.
    #[arg(long, default_value_t = 24)]
    pub(crate) hours: u64,
    /// Do not print the QR code.
    #[arg(long)]
    pub(crate) no_qr: bool,
}

/// `aura location ...`
#[derive(Debug, Subcommand)]
pub(crate) enum LocationCmd {
    /// Start sharing your location with a group.
    Share {
        /// Group name or id prefix.
        group: String,
    },
    /// Stop sharing your location with a group.
    Stop {
        /// Group name or id prefix.
        group: String,
    },
    /// Set the precision you share with a group: exact, 100m or 1km.
    Precision {
        /// Group name or id prefix.
        group: String,
        /// exact | 100m | 1km
        precision: String,
    },
    /// Report this device's position (published to sharing groups).
    Set {
        /// Latitude, degrees north.
        #[arg(allow_negative_numbers = true)]
        lat: f64,
        /// Longitude, degrees east.
        #[arg(allow_negative_numbers = true)]
        lon: f64,
    },
    /// Last known position of each member.
    Show {
        /// Group name or id prefix.
        group: String,
    },
}

/// `aura geofence ...`
#[derive(Debug, Subcommand)]
pub(crate) enum GeofenceCmd {
    /// Add (or replace) a geofence: `--circle LAT,LON,RADIUS_M` or `--polygon "LAT,LON;LAT,LON;LAT,LON"`.
    Add {
        /// Group name or id prefix.
        group: String,
        /// Fence name, e.g. home.
        name: String,
        /// Circle: centre latitude, longitude and radius in metres.
        #[arg(
            long,
            value_name = "LAT,LON,RADIUS_M",
            conflicts_with = "polygon",
            allow_hyphen_values = true
        )]
        circle: Option<String>,
        /// Polygon: three or more LAT,LON vertices separated by `;`.
        #[arg(long, value_name = "LAT,LON;...", allow_hyphen_values = true)]
        polygon: Option<String>,
    },
    /// List a group's geofences.
    List {
        /// Group name or id prefix.
        group: String,
    },
    /// Remove a geofence by name.
    Remove {
        /// Group name or id prefix.
        group: String,
        /// Fence name.
        name: String,
    },
}

/// `aura profile ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCmd {
    /// Set your profile; your groups get it end-to-end encrypted.
    Set {
        /// Display name (up to 48 bytes).
        #[arg(long)]
        name: String,
        /// Status line (up to 140 bytes).
        #[arg(long)]
        status: Option<String>,
        /// Avatar image: PNG, JPEG or WebP, at most 64 KiB.
        #[arg(long, value_name = "FILE")]
        avatar: Option<PathBuf>,
    },
    /// Show your profile, or a member's (name, label or id prefix).
    Show {
        /// Member: name, label, id prefix or peer id (default: you).
        member: Option<String>,
    },
}

/// `aura block|unblock|follow|unfollow MEMBER`.
#[derive(Debug, Subcommand)]
pub(crate) enum ListCmd {
    /// Block a member everywhere on this device: their voice is not
    /// played, their location, chat and gifts are hidden, and where you
    /// are an admin they cannot join. Kept across restarts.
    Block {
        /// Member: name, label, id prefix or peer id.
        member: String,
    },
    /// Unblock a member.
    Unblock {
        /// Member: name, label, id prefix or peer id.
        member: String,
    },
    /// Follow a member (a local list).
    Follow {
        /// Member: name, label, id prefix or peer id.
        member: String,
    },
    /// Stop following a member.
    Unfollow {
        /// Member: name, label, id prefix or peer id.
        member: String,
    },
}

/// `aura debug ...` (hidden).
#[derive(Debug, Subcommand)]
pub(crate) enum DebugCmd {
    /// Write location history, chat and group state in atomic batches in a
    /// loop until killed (the crash test SIGKILLs it).
    StoreStress {
        /// Stop after this many rounds (default: run until killed).
        #[arg(long)]
        rounds: Option<u64>,
    },
}
