//! Command handlers over a running [`Node`]. The same handlers serve a node
//! started for one command (`Mode::OneShot`) and the long-running `aura run`
//! (`Mode::Daemon`, reached through the control socket).

use std::{fmt::Write, path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use aura_crypto::{GroupId, Role};
use aura_node::{location::Geofence, location::Precision, Node};

use crate::{
    cli::{Cmd, GeofenceCmd, GroupCmd, InviteArgs, LocationCmd},
    resolve,
};

/// How long a one-shot command waits for a group member to come online.
const PEER_WAIT: Duration = Duration::from_secs(10);
/// How long a one-shot command stays online after a network action, so that
/// gossip and key envelopes leave before shutdown.
const LINGER: Duration = Duration::from_millis(1500);

/// Whether the node lives only for this command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Started for this command; stopped right after it.
    OneShot,
    /// The long-running `aura run` node.
    Daemon,
}

/// What a command produced.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Output {
    /// Text for stdout.
    pub(crate) stdout: String,
    /// Notes for stderr (warnings that do not fail the command).
    pub(crate) stderr: String,
    /// A file for the caller to write (path as given, contents).
    pub(crate) file: Option<(PathBuf, String)>,
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

/// Runs one command (not `init`, `run` or `debug`) on `node`.
pub(crate) async fn exec(node: &Node, mode: Mode, cmd: Cmd) -> Result<Output> {
    let mut out = Output::default();
    let o = &mut out.stdout;
    match cmd {
        Cmd::Status => {
            writeln!(o, "member id: {}", hex::encode(node.member_id().0))?;
            writeln!(o, "peer id:   {}", node.peer_id())?;
            for a in node.listen_addrs().await? {
                writeln!(o, "listening: {a}")?;
            }
            writeln!(
                o,
                "connected peers: {}",
                node.connected_peers().await?.len()
            )?;
            list_groups(node, o).await?;
        }
        Cmd::Groups | Cmd::Group(GroupCmd::List) => list_groups(node, o).await?,
        Cmd::Group(GroupCmd::Create { name }) => {
            if name.trim().is_empty() {
                bail!("the group name is empty; give a name like `aura group create hikers`");
            }
            let gid = node.create_group(&name).await?;
            writeln!(
                o,
                "created group {name} ({gid}); invite people with `aura invite {name}`"
            )?;
        }
        Cmd::Invite(args) => invite(node, mode, args, &mut out).await?,
        Cmd::Join { code, timeout } => {
            let gid = tokio::time::timeout(Duration::from_secs(timeout), node.join(&code))
                .await
                .with_context(|| {
                    format!("no answer from the peers named in the invite within {timeout} s; check that the inviter (or another admin) is online with `aura run`, then try again")
                })?
                .map_err(|e| match e {
                    aura_node::NodeError::Invite(_) => anyhow::anyhow!(
                        "{e}; check that you copied the whole code (it starts with `aura1`), or ask for a new invite"
                    ),
                    e => e.into(),
                })?;
            let name = resolve::group(node, &hex::encode(gid.0)).await?.1;
            if mode == Mode::OneShot {
                // Stay a moment so our sender key reaches the members.
                wait_group_peers(node, gid).await?;
                tokio::time::sleep(LINGER).await;
            }
            writeln!(o, "joined group {name} ({gid})")?;
        }
        Cmd::Members { group } => {
            let (gid, name) = resolve::group(node, &group).await?;
            let me = node.member_id();
            writeln!(o, "members of {name} ({gid}):")?;
            let labels: std::collections::HashMap<_, _> =
                node.member_labels(gid).await?.into_iter().collect();
            for (m, r) in node.members(gid).await? {
                let you = if m == me { "  (you)" } else { "" };
                let label = labels.get(&m).cloned().unwrap_or_default();
                writeln!(
                    o,
                    "  {label:<24} {:<6} {}{you}",
                    role_name(r),
                    hex::encode(m.0)
                )?;
            }
        }
        Cmd::Remove { group, peer } => {
            let (gid, name) = resolve::group(node, &group).await?;
            let member = resolve::member(&node.members(gid).await?, &peer)?;
            if member == node.member_id() {
                bail!("you cannot remove yourself; use `aura leave GROUP` to leave it");
            }
            let online = online_step(node, mode, gid, &mut out.stderr).await?;
            node.remove_member(gid, member).await?;
            if online {
                tokio::time::sleep(LINGER).await;
            }
            writeln!(out.stdout, "removed {member} from {name}; keys rotated")?;
        }
        Cmd::Leave { group } => {
            let (gid, name) = resolve::group(node, &group).await?;
            let online = online_step(node, mode, gid, &mut out.stderr).await?;
            node.leave(gid).await?;
            if online {
                tokio::time::sleep(LINGER).await;
            }
            writeln!(out.stdout, "left {name}; its local data is deleted")?;
        }
        Cmd::Location(c) => location(node, mode, c, &mut out).await?,
        Cmd::Geofence(c) => geofence(node, c, o).await?,
        Cmd::Chat { group, message } => {
            let (gid, name) = resolve::group(node, &group).await?;
            if message.is_empty() {
                bail!("the message is empty; `aura chat {group} \"hello\"`");
            }
            let online = online_step(node, mode, gid, &mut out.stderr).await?;
            node.send_chat(gid, &message).await?;
            if online {
                tokio::time::sleep(LINGER).await;
            }
            writeln!(out.stdout, "sent to {name}")?;
        }
        Cmd::History { group, gpx } => {
            let (gid, name) = resolve::group(node, &group).await?;
            let members = node.members(gid).await?;
            let me = node.member_id();
            writeln!(o, "chat in {name}:")?;
            let labels: std::collections::HashMap<_, _> =
                node.member_labels(gid).await?.into_iter().collect();
            for c in node.chat_history(gid).await? {
                let from = aura_crypto::MemberId(c.from);
                let who = match labels.get(&from) {
                    _ if from == me => "you".to_owned(),
                    Some(l) => l.clone(),
                    None => aura_node::people::short_hex(&from),
                };
                writeln!(o, "  [{}] {who}: {}", clock(c.at_ms), c.text)?;
            }
            if let Some(path) = gpx {
                let doc = node.history_gpx(gid).await?;
                let points = doc.matches("<trkpt").count();
                writeln!(
                    o,
                    "wrote {points} location points of {} members to {}",
                    members.len(),
                    path.display()
                )?;
                out.file = Some((path, doc));
            }
        }
        Cmd::Wallet => crate::gifts::wallet(node, o).await?,
        Cmd::Gift {
            group,
            member,
            gift,
            id,
        } => {
            let (gid, _) = resolve::group(node, &group).await?;
            let online = online_step(node, mode, gid, &mut out.stderr).await?;
            crate::gifts::send(node, gid, &member, &gift, id, &mut out.stdout).await?;
            if online {
                tokio::time::sleep(LINGER).await;
            }
        }
        Cmd::Gifts { group, catalog } => crate::gifts::list(node, group, catalog, o).await?,
        Cmd::Profile(c) => crate::people::profile(node, c, o).await?,
        Cmd::List(c) => crate::people::set(node, c, o).await?,
        Cmd::Blocked => crate::people::show(node, true, o).await?,
        Cmd::Following => crate::people::show(node, false, o).await?,
        Cmd::Init(_) | Cmd::Run(_) | Cmd::Debug(_) | Cmd::Voice(_) | Cmd::Room(_) => {
            bail!("this command cannot be sent to a running node; run it directly")
        }
    }
    Ok(out)
}

async fn list_groups(node: &Node, o: &mut String) -> Result<()> {
    let groups = node.groups().await?;
    if groups.is_empty() {
        writeln!(
            o,
            "no groups yet: `aura group create NAME` or `aura join CODE`"
        )?;
    }
    for (gid, name) in groups {
        let n = node.members(gid).await.map(|m| m.len()).unwrap_or(0);
        writeln!(o, "{gid}  {name}  ({n} members)")?;
    }
    Ok(())
}

async fn invite(node: &Node, mode: Mode, a: InviteArgs, out: &mut Output) -> Result<()> {
    let (gid, name) = resolve::group(node, &a.group).await?;
    if a.uses == 0 || a.hours == 0 {
        bail!("--uses and --hours must be at least 1");
    }
    // Wait for our listeners so the invite names live addresses.
    for _ in 0..100 {
        if !node.listen_addrs().await?.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ttl = a.hours.saturating_mul(3_600_000);
    let code = node.invite(gid, a.uses, ttl).await?;
    if mode == Mode::OneShot {
        out.stderr.push_str(
            "note: no `aura run` is running, so this invite names the addresses this node had \
             just now. Keep `aura run` running (with fixed ports in `listen` in the config) so \
             the invitee can reach you, or create invites while `aura run` runs.\n",
        );
    }
    let o = &mut out.stdout;
    writeln!(
        o,
        "invite to {name} ({gid}), {} use(s), valid {} h:",
        a.uses, a.hours
    )?;
    writeln!(o, "{code}")?;
    if !a.no_qr {
        match qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::L) {
            Ok(qr) => {
                let img = qr
                    .render::<qrcode::render::unicode::Dense1x2>()
                    .dark_color(qrcode::render::unicode::Dense1x2::Light)
                    .light_color(qrcode::render::unicode::Dense1x2::Dark)
                    .quiet_zone(true)
                    .build();
                writeln!(o, "{img}")?;
            }
            Err(e) => writeln!(
                out.stderr,
                "note: no QR code ({e}: the code is {} characters); share the text instead",
                code.len()
            )?,
        }
    }
    Ok(())
}

async fn location(node: &Node, mode: Mode, c: LocationCmd, out: &mut Output) -> Result<()> {
    let o = &mut out.stdout;
    match c {
        LocationCmd::Share { group } => {
            let (gid, name) = resolve::group(node, &group).await?;
            node.share_location(gid, true).await?;
            writeln!(o, "sharing your location with {name}")?;
        }
        LocationCmd::Stop { group } => {
            let (gid, name) = resolve::group(node, &group).await?;
            node.share_location(gid, false).await?;
            writeln!(o, "stopped sharing your location with {name}")?;
        }
        LocationCmd::Precision { group, precision } => {
            let (gid, name) = resolve::group(node, &group).await?;
            let p = Precision::parse(&precision).with_context(|| {
                format!("unknown precision {precision:?}; use exact, 100m or 1km")
            })?;
            node.set_precision(gid, p).await?;
            writeln!(o, "{name} now sees you at precision {precision}")?;
        }
        LocationCmd::Set { lat, lon } => {
            let pos = resolve::position(lat, lon)?;
            if mode == Mode::OneShot {
                let gids: Vec<GroupId> = node.groups().await?.into_iter().map(|g| g.0).collect();
                wait_peers_of(node, &gids).await?;
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
            node.update_position(pos).await?;
            if mode == Mode::OneShot {
                tokio::time::sleep(LINGER).await;
            }
            writeln!(
                o,
                "position {lat:.6},{lon:.6} reported to the groups you share with"
            )?;
        }
        LocationCmd::Show { group } => {
            let (gid, name) = resolve::group(node, &group).await?;
            let fixes = node.last_positions(gid).await?;
            if fixes.is_empty() {
                writeln!(o, "no positions known in {name} yet")?;
            }
            for (m, f) in fixes {
                writeln!(
                    o,
                    "  {m}  {:.6},{:.6}  ±{:.0} m  at {}",
                    f.pos.lat,
                    f.pos.lon,
                    f.precision.uncertainty_m(),
                    clock(f.at_ms)
                )?;
            }
        }
    }
    Ok(())
}

async fn geofence(node: &Node, c: GeofenceCmd, o: &mut String) -> Result<()> {
    match c {
        GeofenceCmd::Add {
            group,
            name,
            circle,
            polygon,
        } => {
            let (gid, gname) = resolve::group(node, &group).await?;
            let shape = resolve::shape(circle.as_deref(), polygon.as_deref())?;
            node.add_geofence(
                gid,
                Geofence {
                    name: name.clone(),
                    shape,
                },
            )
            .await?;
            writeln!(o, "geofence {name} added to {gname}")?;
        }
        GeofenceCmd::List { group } => {
            let (gid, gname) = resolve::group(node, &group).await?;
            let fences = node.geofences(gid).await?;
            if fences.is_empty() {
                writeln!(o, "no geofences in {gname}; add one with `aura geofence add {group} NAME --circle LAT,LON,RADIUS_M`")?;
            }
            for f in fences {
                match f.shape {
                    aura_node::location::Shape::Circle { center, radius_m } => writeln!(
                        o,
                        "  {}  circle {:.6},{:.6} r={radius_m:.0} m",
                        f.name, center.lat, center.lon
                    )?,
                    aura_node::location::Shape::Polygon(v) => {
                        writeln!(o, "  {}  polygon of {} vertices", f.name, v.len())?
                    }
                }
            }
        }
        GeofenceCmd::Remove { group, name } => {
            let (gid, gname) = resolve::group(node, &group).await?;
            if !node.geofences(gid).await?.iter().any(|f| f.name == name) {
                bail!("{gname} has no geofence named {name:?}; see `aura geofence list {group}`");
            }
            node.remove_geofence(gid, &name).await?;
            writeln!(o, "geofence {name} removed from {gname}")?;
        }
    }
    Ok(())
}

/// In one-shot mode, waits for a member of `gid` to be connected (so gossip
/// has somewhere to go); warns when none comes. Returns whether anyone did.
async fn online_step(node: &Node, mode: Mode, gid: GroupId, warn: &mut String) -> Result<bool> {
    if mode == Mode::Daemon {
        return Ok(true);
    }
    let online = wait_group_peers(node, gid).await?;
    if online {
        // One gossip heartbeat so the peer knows our topic subscription.
        tokio::time::sleep(Duration::from_millis(800)).await;
    } else {
        warn.push_str(
            "warning: no other member of this group was reachable within 10 s, so nobody \
             received this just now. Keep `aura run` running to stay online.\n",
        );
    }
    Ok(online)
}

/// Waits up to [`PEER_WAIT`] for a connection to another member of `gid`.
async fn wait_group_peers(node: &Node, gid: GroupId) -> Result<bool> {
    wait_peers_of(node, &[gid]).await
}

/// Waits up to [`PEER_WAIT`] for a connection to another member of any of `gids`.
async fn wait_peers_of(node: &Node, gids: &[GroupId]) -> Result<bool> {
    let me = node.member_id();
    let mut others = Vec::new();
    for gid in gids {
        for (m, _) in node.members(*gid).await? {
            if m != me {
                others.extend(m.peer_id().ok());
            }
        }
    }
    if others.is_empty() {
        return Ok(false);
    }
    let deadline = tokio::time::Instant::now() + PEER_WAIT;
    while tokio::time::Instant::now() < deadline {
        let conn = node.connected_peers().await?;
        if conn.iter().any(|p| others.contains(p)) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

/// Unix ms as `HH:MM:SS` UTC.
pub(crate) fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}
