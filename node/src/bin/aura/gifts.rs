//! `aura wallet`, `aura gift`, `aura gifts`: the billing ledger from the CLI,
//! with the node's own identity key (no password).

use std::fmt::Write;

use anyhow::{bail, Result};
use aura_crypto::GroupId;
use aura_node::Node;

use crate::resolve;

/// Prints the wallet.
pub(crate) async fn wallet(node: &Node, o: &mut String) -> Result<()> {
    let w = node.wallet().await?;
    writeln!(o, "account:  {}", w.account)?;
    writeln!(
        o,
        "coins:    {} available ({} held)",
        w.coins.available, w.coins.held
    )?;
    writeln!(o, "diamonds: {}", w.diamonds.available)?;
    writeln!(o, "tier:     {}", w.tier)?;
    Ok(())
}

/// Pays a gift and broadcasts its receipt to the group.
pub(crate) async fn send(
    node: &Node,
    gid: GroupId,
    member: &str,
    gift: &str,
    id: Option<String>,
    o: &mut String,
) -> Result<()> {
    let to = resolve::member(&node.members(gid).await?, member)?;
    if to == node.member_id() {
        bail!("you cannot send a gift to yourself; pick another member from `aura members GROUP`");
    }
    let id = id.unwrap_or_else(aura_billing::ids::new_client_id);
    let r = node.send_gift(gid, to, gift, &id).await?;
    writeln!(
        o,
        "sent {} to {}: {} coins debited, {} diamonds to them (receipt {}; retry with --id {id})",
        r.body.gift,
        &r.body.receiver[..12.min(r.body.receiver.len())],
        r.body.coins,
        r.body.diamonds,
        r.body.receipt_id
    )?;
    Ok(())
}

/// Lists a group's gifts, or the catalog.
pub(crate) async fn list(
    node: &Node,
    group: Option<String>,
    catalog: bool,
    o: &mut String,
) -> Result<()> {
    if catalog {
        for g in node.gift_catalog().await? {
            writeln!(o, "{:<12} {:<16} {:>6} coins", g.id, g.name, g.price_coins)?;
        }
        return Ok(());
    }
    let Some(group) = group else {
        bail!("name a group (`aura gifts GROUP`) or use `aura gifts --catalog`");
    };
    let (gid, name) = resolve::group(node, &group).await?;
    let gifts = node.gifts(gid).await?;
    writeln!(o, "gifts in {name}: {}", gifts.len())?;
    for g in gifts {
        let b = g.body;
        writeln!(
            o,
            "  {} -> {}  {} ({} coins, {} diamonds)",
            &b.sender[..12.min(b.sender.len())],
            &b.receiver[..12.min(b.receiver.len())],
            b.gift,
            b.coins,
            b.diamonds
        )?;
    }
    Ok(())
}
