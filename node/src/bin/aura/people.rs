//! `aura profile set|show`, `aura block|unblock|follow|unfollow MEMBER`,
//! `aura blocked`, `aura following`: profiles and the local lists.

use std::{fmt::Write, path::PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use aura_crypto::MemberId;
use aura_node::{people::MAX_AVATAR_BYTES, Node};
use libp2p::PeerId;

use crate::cli::{ListCmd, ProfileCmd};

/// `aura profile ...`
pub(crate) async fn profile(node: &Node, cmd: ProfileCmd, o: &mut String) -> Result<()> {
    match cmd {
        ProfileCmd::Set {
            name,
            status,
            avatar,
        } => {
            let image = match avatar {
                Some(path) => Some(read_avatar(&path)?),
                None => None,
            };
            let p = node
                .set_profile(&name, status.as_deref(), image)
                .await
                .context("profile not set")?;
            writeln!(
                o,
                "you are now {} (version {}); your groups get it end-to-end encrypted",
                p.name, p.version
            )?;
        }
        ProfileCmd::Show { member } => {
            let m = match member {
                Some(text) => resolve(node, &text).await?,
                None => node.member_id(),
            };
            let Some(p) = node.profile(m).await? else {
                writeln!(o, "{}: no profile yet", hex::encode(m.0))?;
                return Ok(());
            };
            writeln!(o, "name:   {}", p.name)?;
            writeln!(o, "member: {}", hex::encode(m.0))?;
            if let Some(s) = &p.status {
                writeln!(o, "status: {s}")?;
            }
            if let Some(a) = &p.avatar {
                let here = node.avatar(a.hash).await?.is_some();
                let note = if here { "" } else { ", not fetched yet" };
                writeln!(o, "avatar: {} bytes{note}", a.size)?;
            }
            let blocked = node.blocked().await?.contains(&m);
            let followed = node.following().await?.contains(&m);
            if blocked || followed {
                writeln!(
                    o,
                    "you {}",
                    if blocked {
                        "blocked them"
                    } else {
                        "follow them"
                    }
                )?;
            }
        }
    }
    Ok(())
}

fn read_avatar(path: &PathBuf) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}; check the path", path.display()))?
        .len();
    if len > MAX_AVATAR_BYTES as u64 {
        bail!(
            "{} is {len} bytes; an avatar is at most {MAX_AVATAR_BYTES} bytes (shrink it first)",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `aura block|unblock|follow|unfollow MEMBER`.
pub(crate) async fn set(node: &Node, list: ListCmd, o: &mut String) -> Result<()> {
    let (text, done) = match &list {
        ListCmd::Block { member } => (member, "blocked: their voice, location, chat and gifts are hidden, and they cannot join where you are an admin"),
        ListCmd::Unblock { member } => (member, "unblocked"),
        ListCmd::Follow { member } => (member, "followed"),
        ListCmd::Unfollow { member } => (member, "no longer followed"),
    };
    let m = resolve(node, text).await?;
    match list {
        ListCmd::Block { .. } => node.block(m).await?,
        ListCmd::Unblock { .. } => node.unblock(m).await?,
        ListCmd::Follow { .. } => node.follow(m).await?,
        ListCmd::Unfollow { .. } => node.unfollow(m).await?,
    }
    writeln!(o, "{}: {done}", name_of(node, m).await?)?;
    Ok(())
}

/// `aura blocked` / `aura following`.
pub(crate) async fn show(node: &Node, blocked: bool, o: &mut String) -> Result<()> {
    let list = match blocked {
        true => node.blocked().await?,
        false => node.following().await?,
    };
    if list.is_empty() {
        let what = if blocked { "blocked" } else { "followed" };
        writeln!(o, "nobody {what}")?;
    }
    for m in list {
        writeln!(o, "  {:<24} {}", name_of(node, m).await?, hex::encode(m.0))?;
    }
    Ok(())
}

async fn name_of(node: &Node, m: MemberId) -> Result<String> {
    Ok(match node.profile(m).await? {
        Some(p) => p.name,
        None => aura_node::people::short_hex(&m),
    })
}

/// A member of any of our groups by display name or label (ignoring
/// case), member id (a prefix of 4 hex digits or more) or peer id.
pub(crate) async fn resolve(node: &Node, text: &str) -> Result<MemberId> {
    let text = text.trim();
    if let Ok(peer) = text.parse::<PeerId>() {
        return MemberId::from_peer_id(&peer)
            .ok_or_else(|| anyhow!("peer id {text} does not carry an ed25519 key"));
    }
    let mut known: Vec<(MemberId, String)> = Vec::new();
    for (gid, _) in node.groups().await? {
        for (m, label) in node.member_labels(gid).await? {
            if !known.iter().any(|(k, _)| *k == m) {
                known.push((m, label));
            }
        }
    }
    for m in node
        .blocked()
        .await?
        .into_iter()
        .chain(node.following().await?)
    {
        if !known.iter().any(|(k, _)| *k == m) {
            known.push((m, aura_node::people::short_hex(&m)));
        }
    }
    let mut by_name = Vec::new();
    for (m, label) in &known {
        let name = node.profile(*m).await?.map(|p| p.name);
        let hit = label.eq_ignore_ascii_case(text)
            || name.is_some_and(|n| n.to_lowercase() == text.to_lowercase());
        if hit {
            by_name.push(*m);
        }
    }
    match by_name.as_slice() {
        [one] => return Ok(*one),
        [] => {}
        _ => bail!(
            "several members are called {text:?}; use their label or id from `aura members GROUP`"
        ),
    }
    let prefix = text.to_ascii_lowercase();
    if prefix.len() == 64 {
        let mut id = [0u8; 32];
        if hex::decode_to_slice(&prefix, &mut id).is_ok() {
            return Ok(MemberId(id));
        }
    }
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("nobody in your groups is called {text:?}; give a name, or 4+ hex digits of the id `aura members GROUP` shows");
    }
    let hits: Vec<MemberId> = known
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| hex::encode(m.0).starts_with(&prefix))
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "no member of your groups has an id starting with {text:?}; check `aura members GROUP`"
        ),
        _ => bail!("{text:?} matches several members; type more of the id"),
    }
}

/// The command line for a running node: a relative `--avatar` path made
/// absolute (the running node reads it from its own directory).
pub(crate) fn forwarded_args(args: Vec<String>) -> Vec<String> {
    let abs = |p: &str| {
        std::path::absolute(p)
            .map(|a| a.display().to_string())
            .unwrap_or_else(|_| p.to_owned())
    };
    let mut out = Vec::with_capacity(args.len());
    let mut next_is_path = false;
    for a in args {
        if next_is_path {
            out.push(abs(&a));
            next_is_path = false;
        } else if let Some(p) = a.strip_prefix("--avatar=") {
            out.push(format!("--avatar={}", abs(p)));
        } else {
            next_is_path = a == "--avatar";
            out.push(a);
        }
    }
    out
}
