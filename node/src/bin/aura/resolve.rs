//! Turning what the user typed into ids: groups by name or id prefix, members
//! by id prefix or peer id, positions and fence shapes from text.

use anyhow::{anyhow, bail, Result};
use aura_crypto::{GroupId, MemberId, Role};
use aura_node::{
    location::{Position, Shape},
    Node,
};
use libp2p::PeerId;

/// Finds a group by exact name, then by hex id prefix.
pub(crate) async fn group(node: &Node, text: &str) -> Result<(GroupId, String)> {
    let groups = node.groups().await?;
    let listing = || {
        if groups.is_empty() {
            "you are in no group yet: create one with `aura group create NAME` or join one with `aura join CODE`".to_owned()
        } else {
            let names: Vec<String> = groups.iter().map(|(g, n)| format!("{n} ({g})")).collect();
            format!("your groups: {}", names.join(", "))
        }
    };
    let by_name: Vec<_> = groups.iter().filter(|(_, n)| n == text).collect();
    match by_name.as_slice() {
        [one] => return Ok((*one).clone()),
        [] => {}
        _ => bail!(
            "several groups are named {text:?}; use an id prefix instead ({})",
            listing()
        ),
    }
    let by_prefix: Vec<_> = groups.iter().filter(|(_, n)| n.starts_with(text)).collect();
    if let [one] = by_prefix.as_slice() {
        return Ok((*one).clone());
    }
    let prefix = text.trim().to_ascii_lowercase();
    if prefix.len() >= 4 && prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        let hits: Vec<_> = groups
            .iter()
            .filter(|(g, _)| hex::encode(g.0).starts_with(&prefix))
            .collect();
        match hits.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            _ => bail!("id prefix {text:?} matches several groups; type more of it"),
        }
    }
    Err(anyhow!(
        "no group named {text:?} or with an id starting with it; {}",
        listing()
    ))
}

/// Finds a member of `members` by hex id prefix (>= 4 chars) or libp2p peer id.
pub(crate) fn member(members: &[(MemberId, Role)], text: &str) -> Result<MemberId> {
    let text = text.trim();
    if let Ok(peer) = text.parse::<PeerId>() {
        let m = MemberId::from_peer_id(&peer)
            .ok_or_else(|| anyhow!("peer id {text} does not carry an ed25519 key; use the member id from `aura members GROUP`"))?;
        if members.iter().any(|(x, _)| *x == m) {
            return Ok(m);
        }
        bail!("peer {text} is not a member of this group; check `aura members GROUP`");
    }
    let prefix = text.to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{text:?} is not a member id: give at least 4 hex characters of the id `aura members GROUP` shows, or a peer id (12D3...)");
    }
    let hits: Vec<_> = members
        .iter()
        .filter(|(m, _)| hex::encode(m.0).starts_with(&prefix))
        .collect();
    match hits.as_slice() {
        [(m, _)] => Ok(*m),
        [] => bail!("no member id starts with {text:?}; check `aura members GROUP`"),
        _ => bail!("{text:?} matches several members; type more of the id"),
    }
}

/// A position from latitude and longitude in degrees.
pub(crate) fn position(lat: f64, lon: f64) -> Result<Position> {
    Position::new(lat, lon).ok_or_else(|| {
        anyhow!("position {lat},{lon} is out of range: latitude must be in [-90, 90] and longitude in [-180, 180] (degrees)")
    })
}

fn numbers(text: &str, what: &str) -> Result<Vec<f64>> {
    text.split(',')
        .map(|p| {
            p.trim().parse::<f64>().map_err(|_| {
                anyhow!("{what}: {p:?} is not a number (expected decimal degrees like 45.92)")
            })
        })
        .collect()
}

/// `LAT,LON,RADIUS_M` or `LAT,LON;LAT,LON;...` into a fence shape.
pub(crate) fn shape(circle: Option<&str>, polygon: Option<&str>) -> Result<Shape> {
    let shape = match (circle, polygon) {
        (Some(c), None) => {
            let v = numbers(c, "--circle")?;
            let [lat, lon, r] = v[..] else {
                bail!("--circle takes LAT,LON,RADIUS_M (three numbers), got {c:?}");
            };
            Shape::Circle {
                center: position(lat, lon)?,
                radius_m: r,
            }
        }
        (None, Some(p)) => {
            let mut pts = Vec::new();
            for vertex in p.split(';').filter(|s| !s.trim().is_empty()) {
                let v = numbers(vertex, "--polygon")?;
                let [lat, lon] = v[..] else {
                    bail!("--polygon vertices are LAT,LON pairs separated by ';', got {vertex:?}");
                };
                pts.push(position(lat, lon)?);
            }
            Shape::Polygon(pts)
        }
        _ => bail!("give the fence area with --circle LAT,LON,RADIUS_M or --polygon \"LAT,LON;LAT,LON;LAT,LON\""),
    };
    if let Err(e) = shape.validate() {
        bail!("{e}");
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_bad_ones_say_why() -> anyhow::Result<()> {
        assert!(matches!(
            shape(Some("45.9,6.8,150"), None)?,
            Shape::Circle { radius_m, .. } if radius_m == 150.0
        ));
        assert!(matches!(
            shape(None, Some("45.90,6.80;45.90,6.81;45.91,6.81"))?,
            Shape::Polygon(v) if v.len() == 3
        ));
        assert!(shape(Some("45.9,6.8"), None)
            .unwrap_err()
            .to_string()
            .contains("three numbers"));
        assert!(shape(Some("95,6.8,10"), None)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert!(shape(None, Some("1,1;1,2"))
            .unwrap_err()
            .to_string()
            .contains("vertices"));
        // A fence spanning more than a city is refused with the node's reason.
        assert!(shape(None, Some("1,1;1,2;2,2")).is_err());
        assert!(shape(Some("45.9,6.8,0"), None)
            .unwrap_err()
            .to_string()
            .contains("radius"));
        assert!(shape(None, None).is_err());
        Ok(())
    }
}
