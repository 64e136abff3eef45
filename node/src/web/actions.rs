//! The page's changes (`POST /api/...`, JSON bodies), each one call of the
//! node's API. The guard has checked token and origin before any runs.

use aura_crypto::{GroupId, MemberId, Role};
use axum::{extract::State, Json};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    presence::now_ms,
    qr,
    snapshot::{parse_id, ChatView, GiftView},
    state::AppState,
    WebError,
};
use crate::location::{Geofence, Position, Precision, Shape};

type Answer = Result<Json<Value>, WebError>;

fn ok() -> Answer {
    Ok(Json(json!({"ok": true})))
}

fn group(hex: &str) -> Result<GroupId, WebError> {
    Ok(GroupId(parse_id(hex, "group")?))
}

fn member(hex: &str) -> Result<MemberId, WebError> {
    Ok(MemberId(parse_id(hex, "member")?))
}

/// `{group, text}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatReq {
    group: String,
    text: String,
}

/// Sends a chat message; answers it as the page shows it.
pub(crate) async fn chat(State(app): State<AppState>, Json(r): Json<ChatReq>) -> Answer {
    let g = group(&r.group)?;
    app.node.send_chat(g, &r.text).await?;
    let msg = ChatView {
        from: hex::encode(app.node.member_id().0),
        at_ms: now_ms(),
        text: r.text,
    };
    Ok(Json(json!({ "msg": msg })))
}

/// `{group, member}` (and `role` for a role change).
#[derive(Debug, Deserialize)]
pub(crate) struct MemberReq {
    group: String,
    member: String,
    #[serde(default)]
    role: Option<String>,
}

/// Removes a member (admins).
pub(crate) async fn remove(State(app): State<AppState>, Json(r): Json<MemberReq>) -> Answer {
    app.node
        .remove_member(group(&r.group)?, member(&r.member)?)
        .await?;
    ok()
}

/// Changes a member's role to `member` or `admin`.
pub(crate) async fn role(State(app): State<AppState>, Json(r): Json<MemberReq>) -> Answer {
    let role = match r.role.as_deref() {
        Some("member") => Role::Member,
        Some("admin") => Role::Admin,
        _ => return Err(WebError::BadInput("role must be member or admin".into())),
    };
    app.node
        .set_role(group(&r.group)?, member(&r.member)?, role)
        .await?;
    ok()
}

/// `{group, uses, hours}`.
#[derive(Debug, Deserialize)]
pub(crate) struct InviteReq {
    group: String,
    uses: u32,
    hours: u64,
}

/// An invite code and its QR code (SVG).
pub(crate) async fn invite(State(app): State<AppState>, Json(r): Json<InviteReq>) -> Answer {
    if !(1..=100).contains(&r.uses) || !(1..=24 * 30).contains(&r.hours) {
        return Err(WebError::BadInput(
            "uses must be 1..=100 and hours 1..=720".into(),
        ));
    }
    let code = app
        .node
        .invite(group(&r.group)?, r.uses, r.hours * 3_600_000)
        .await?;
    let svg = qr::svg(&code)?;
    Ok(Json(json!({ "code": code, "qr_svg": svg })))
}

/// `{name}` to create a group, or `{code}` to join one.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupReq {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Creates or joins a group.
pub(crate) async fn group_add(State(app): State<AppState>, Json(r): Json<GroupReq>) -> Answer {
    let g = match (r.name, r.code) {
        (Some(name), None) => app.node.create_group(name.trim()).await?,
        (None, Some(code)) => app.node.join(code.trim()).await?,
        _ => return Err(WebError::BadInput("give a name or an invite code".into())),
    };
    Ok(Json(json!({ "group": hex::encode(g.0) })))
}

/// `{lat, lon}`: our position.
#[derive(Debug, Deserialize)]
pub(crate) struct PositionReq {
    lat: f64,
    lon: f64,
}

/// Reports our position (published to sharing groups).
pub(crate) async fn position(State(app): State<AppState>, Json(r): Json<PositionReq>) -> Answer {
    let pos = Position::new(r.lat, r.lon)
        .ok_or_else(|| WebError::BadInput("latitude -90..=90, longitude -180..=180".into()))?;
    app.node.update_position(pos).await?;
    ok()
}

/// `{group, on, precision}`: location sharing with a group.
#[derive(Debug, Deserialize)]
pub(crate) struct ShareReq {
    group: String,
    on: bool,
    #[serde(default)]
    precision: Option<String>,
}

/// Turns sharing on or off, and sets the precision when given.
pub(crate) async fn share(State(app): State<AppState>, Json(r): Json<ShareReq>) -> Answer {
    let g = group(&r.group)?;
    if let Some(p) = r.precision.as_deref() {
        let p = Precision::parse(p)
            .ok_or_else(|| WebError::BadInput("precision: exact, 100m or 1km".into()))?;
        app.node.set_precision(g, p).await?;
    }
    app.node.share_location(g, r.on).await?;
    ok()
}

/// `{group, name, lat, lon, radius_m}` adds a circle; without `lat` removes `name`.
#[derive(Debug, Deserialize)]
pub(crate) struct FenceReq {
    group: String,
    name: String,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    radius_m: Option<f64>,
}

/// Adds a circular geofence, or removes one.
pub(crate) async fn fence(State(app): State<AppState>, Json(r): Json<FenceReq>) -> Answer {
    let g = group(&r.group)?;
    match (r.lat, r.lon, r.radius_m) {
        (Some(lat), Some(lon), Some(radius_m)) => {
            let center = Position::new(lat, lon)
                .ok_or_else(|| WebError::BadInput("fence centre out of range".into()))?;
            let fence = Geofence {
                name: r.name,
                shape: Shape::Circle { center, radius_m },
            };
            app.node.add_geofence(g, fence).await?;
        }
        (None, None, None) => app.node.remove_geofence(g, &r.name).await?,
        _ => {
            return Err(WebError::BadInput(
                "a circle needs lat, lon and radius_m".into(),
            ))
        }
    }
    ok()
}

/// `{group, action}` with action join, leave, mute or unmute; `{group,
/// member, volume}` for a member's volume.
#[derive(Debug, Deserialize)]
pub(crate) struct VoiceReq {
    group: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    volume: Option<f32>,
}

/// Joins or leaves the group's voice, mutes, or sets a member's volume.
pub(crate) async fn voice(State(app): State<AppState>, Json(r): Json<VoiceReq>) -> Answer {
    let g = group(&r.group)?;
    match (r.action.as_deref(), r.member, r.volume) {
        (Some("join"), None, None) => app.voice.join(&app.node, g).await?,
        (Some("leave"), None, None) => app.voice.leave(g).await,
        (Some("mute"), None, None) => app.voice.mute(g, true).await?,
        (Some("unmute"), None, None) => app.voice.mute(g, false).await?,
        (None, Some(m), Some(v)) => app.voice.volume(g, member(&m)?, v).await?,
        _ => {
            return Err(WebError::BadInput(
                "action join|leave|mute|unmute, or member and volume".into(),
            ))
        }
    }
    ok()
}

/// Wallet and catalog (the ledger must be configured).
pub(crate) async fn ledger(State(app): State<AppState>) -> Answer {
    let wallet = app.node.wallet().await?;
    let catalog = app.node.gift_catalog().await?;
    Ok(Json(json!({ "wallet": wallet, "catalog": catalog })))
}

/// `{group, to, gift}`.
#[derive(Debug, Deserialize)]
pub(crate) struct GiftReq {
    group: String,
    to: String,
    gift: String,
}

/// Sends a gift through the ledger; the group shows its receipt.
pub(crate) async fn gift(State(app): State<AppState>, Json(r): Json<GiftReq>) -> Answer {
    let mut id = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let receipt = app
        .node
        .send_gift(group(&r.group)?, member(&r.to)?, &r.gift, &hex::encode(id))
        .await?;
    Ok(Json(json!({ "gift": GiftView::from(&receipt.body) })))
}
