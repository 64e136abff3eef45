//! `GET /api/state`: everything the page draws for one group, read through
//! the node's API; live events then update it (`live`).

use aura_crypto::{GroupId, MemberId, Role};
use serde::Serialize;

use super::{state::AppState, voice::VoiceView, WebError};
use crate::location::{Fix, Geofence, Shape};

/// Most chat messages sent to the page (the newest).
const CHAT_SHOWN: usize = 200;
/// Most gift receipts sent to the page (the newest).
const GIFTS_SHOWN: usize = 50;

/// The page's view of the node and of its selected group.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    me: String,
    peer: String,
    groups: Vec<GroupRef>,
    /// Our position, when one was given.
    own: Option<Point>,
    proximity_m: f64,
    /// The ledger is configured: wallet and gifts can be shown.
    ledger: bool,
    group: Option<GroupView>,
}

#[derive(Debug, Serialize)]
struct GroupRef {
    id: String,
    name: String,
}

#[derive(Debug, Serialize)]
struct Point {
    lat: f64,
    lon: f64,
}

#[derive(Debug, Serialize)]
struct GroupView {
    id: String,
    name: String,
    my_role: &'static str,
    members: Vec<MemberView>,
    fences: Vec<FenceView>,
    chat: Vec<ChatView>,
    gifts: Vec<GiftView>,
    voice: VoiceView,
}

#[derive(Debug, Serialize)]
struct MemberView {
    id: String,
    peer: String,
    role: &'static str,
    me: bool,
    online: bool,
    /// "direct" or "relayed" while online.
    path: Option<&'static str>,
    last_seen_ms: Option<u64>,
    fix: Option<FixView>,
}

/// A member's shared position.
#[derive(Debug, Serialize)]
pub(crate) struct FixView {
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) at_ms: u64,
    pub(crate) uncertainty_m: f64,
}

impl From<&Fix> for FixView {
    fn from(f: &Fix) -> Self {
        Self {
            lat: f.pos.lat,
            lon: f.pos.lon,
            at_ms: f.at_ms,
            uncertainty_m: f.precision.uncertainty_m(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FenceView {
    Circle {
        name: String,
        lat: f64,
        lon: f64,
        radius_m: f64,
    },
    Polygon {
        name: String,
        points: Vec<[f64; 2]>,
    },
}

impl From<Geofence> for FenceView {
    fn from(f: Geofence) -> Self {
        match f.shape {
            Shape::Circle { center, radius_m } => FenceView::Circle {
                name: f.name,
                lat: center.lat,
                lon: center.lon,
                radius_m,
            },
            Shape::Polygon(points) => FenceView::Polygon {
                name: f.name,
                points: points.iter().map(|p| [p.lat, p.lon]).collect(),
            },
        }
    }
}

/// One chat message.
#[derive(Debug, Serialize)]
pub(crate) struct ChatView {
    pub(crate) from: String,
    pub(crate) at_ms: u64,
    pub(crate) text: String,
}

/// One gift shown in the group.
#[derive(Debug, Serialize)]
pub(crate) struct GiftView {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) gift: String,
    pub(crate) coins: i64,
    pub(crate) diamonds: i64,
    pub(crate) at_ms: i64,
}

impl From<&aura_billing::signed::GiftReceipt> for GiftView {
    fn from(r: &aura_billing::signed::GiftReceipt) -> Self {
        Self {
            from: r.sender.clone(),
            to: r.receiver.clone(),
            gift: r.gift.clone(),
            coins: r.coins,
            diamonds: r.diamonds,
            at_ms: r.ts_ms,
        }
    }
}

/// A role as the page names it.
pub(crate) fn role_name(r: Role) -> &'static str {
    match r {
        Role::Member => "member",
        Role::Admin => "admin",
        Role::Owner => "owner",
    }
}

/// Parses a 64-hex-digit id.
pub(crate) fn parse_id(text: &str, what: &str) -> Result<[u8; 32], WebError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| WebError::BadInput(format!("{what} must be 64 hex digits")))?;
    Ok(out)
}

impl Snapshot {
    /// The snapshot with `group` selected (else the first group, if any).
    pub(crate) async fn read(app: &AppState, group: Option<&str>) -> Result<Self, WebError> {
        let node = &app.node;
        let groups = node.groups().await?;
        let selected = match group {
            Some(g) => Some(GroupId(parse_id(g, "group")?)),
            None => groups.first().map(|(g, _)| *g),
        };
        let group = match selected {
            Some(g) => {
                let name = groups
                    .iter()
                    .find(|(id, _)| *id == g)
                    .map(|(_, n)| n.clone())
                    .ok_or_else(|| crate::NodeError::UnknownGroup(g.to_string()))?;
                Some(group_view(app, g, name).await?)
            }
            None => None,
        };
        let cfg = node.config();
        Ok(Snapshot {
            me: hex::encode(node.member_id().0),
            peer: node.peer_id().to_string(),
            groups: groups
                .into_iter()
                .map(|(g, name)| GroupRef {
                    id: hex::encode(g.0),
                    name,
                })
                .collect(),
            own: node.position().map(|p| Point {
                lat: p.lat,
                lon: p.lon,
            }),
            proximity_m: cfg.proximity_m,
            ledger: cfg.billing_url.is_some(),
            group,
        })
    }
}

async fn group_view(app: &AppState, g: GroupId, name: String) -> Result<GroupView, WebError> {
    let node = &app.node;
    let me = node.member_id();
    let roster = node.members(g).await?;
    let fixes = node.last_positions(g).await?;
    let connections: Vec<_> = node
        .connections()
        .into_iter()
        .map(|(p, path)| (p, path.is_relayed()))
        .collect();
    let members = roster
        .iter()
        .map(|(m, role)| {
            let seen = app.presence.of(m, &connections);
            member_view(*m, *role, m == &me, seen, &fixes)
        })
        .collect();
    let my_role = roster
        .iter()
        .find(|(m, _)| *m == me)
        .map(|(_, r)| role_name(*r))
        .unwrap_or("none");
    let chat = node.chat_history(g).await?;
    let chat = chat[chat.len().saturating_sub(CHAT_SHOWN)..]
        .iter()
        .map(|c| ChatView {
            from: hex::encode(c.from),
            at_ms: c.at_ms,
            text: c.text.clone(),
        })
        .collect();
    let gifts = node.gifts(g).await?;
    let gifts = gifts[gifts.len().saturating_sub(GIFTS_SHOWN)..]
        .iter()
        .map(|r| GiftView::from(&r.body))
        .collect();
    Ok(GroupView {
        id: hex::encode(g.0),
        name,
        my_role,
        members,
        fences: node
            .geofences(g)
            .await?
            .into_iter()
            .map(FenceView::from)
            .collect(),
        chat,
        gifts,
        voice: app.voice.view(g).await,
    })
}

fn member_view(
    m: MemberId,
    role: Role,
    me: bool,
    seen: super::presence::Seen,
    fixes: &[(MemberId, Fix)],
) -> MemberView {
    let fix = fixes.iter().find(|(id, _)| *id == m).map(|(_, f)| f);
    MemberView {
        id: hex::encode(m.0),
        peer: m.peer_id().map(|p| p.to_string()).unwrap_or_default(),
        role: role_name(role),
        me,
        online: seen.online,
        path: seen
            .online
            .then_some(if seen.relayed { "relayed" } else { "direct" }),
        last_seen_ms: seen.last_seen_ms.max(fix.map(|f| f.at_ms)),
        fix: fix.map(FixView::from),
    }
}
