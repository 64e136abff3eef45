//! `GET /api/events`: the node's events as server-sent events, one JSON
//! object each (`type` names it); the page applies locations, chat and
//! voice quality as they come and reloads its state on the others.

use std::convert::Infallible;

use axum::{
    extract::State,
    response::sse::{Event as Sse, KeepAlive},
    response::Sse as SseResponse,
};
use futures::Stream;
use serde_json::{json, Value};

use super::{snapshot::FixView, state::AppState, WebError, MAX_STREAMS};
use crate::Event;

/// The JSON the page gets for `e`; `None` for what the page does not use.
pub(crate) fn to_json(e: &Event) -> Option<Value> {
    let id = |b: &[u8; 32]| hex::encode(b);
    Some(match e {
        Event::Joined { group, name } => {
            json!({"type": "joined", "group": id(&group.0), "name": name})
        }
        Event::MemberJoined {
            group,
            member,
            label,
        } => json!({
            "type": "member_joined", "group": id(&group.0), "member": id(&member.0),
            "label": label,
        }),
        Event::MemberLeft {
            group,
            member,
            label,
        } => json!({
            "type": "member_left", "group": id(&group.0), "member": id(&member.0),
            "label": label,
        }),
        Event::Profile {
            group,
            member,
            label,
            ..
        } => json!({
            "type": "profile", "group": id(&group.0), "member": id(&member.0),
            "label": label,
        }),
        Event::RemovedFromGroup { group } => json!({"type": "removed", "group": id(&group.0)}),
        Event::Location {
            group,
            member,
            label,
            fix,
        } => json!({
            "type": "location", "group": id(&group.0), "member": id(&member.0),
            "label": label, "fix": FixView::from(fix),
        }),
        Event::Geofence {
            group,
            member,
            label,
            fence,
            entered,
        } => json!({
            "type": "geofence", "group": id(&group.0), "member": id(&member.0),
            "label": label, "fence": fence, "entered": entered,
        }),
        Event::Proximity {
            group,
            member,
            label,
            near,
            distance_m,
            ..
        } => json!({
            "type": "proximity", "group": id(&group.0), "member": id(&member.0),
            "label": label, "near": near, "distance_m": distance_m,
        }),
        Event::Chat {
            group,
            from,
            label,
            text,
            at_ms,
        } => json!({
            "type": "chat", "group": id(&group.0),
            "msg": {"from": id(&from.0), "label": label, "at_ms": at_ms, "text": text},
        }),
        Event::Gift { group, receipt, .. } => json!({
            "type": "gift", "group": id(&group.0),
            "gift": super::snapshot::GiftView::from(receipt),
        }),
        Event::VoiceQuality {
            group,
            member,
            report,
        } => json!({
            "type": "voice_quality", "group": id(&group.0), "member": id(&member.0),
            "received": report.received, "loss": report.loss,
            "jitter_ms": report.jitter_ms, "mos": report.mos,
        }),
        Event::PeerConnected { peer, relayed } => {
            json!({"type": "peer_connected", "peer": peer.to_string(), "relayed": relayed})
        }
        Event::PeerDisconnected { peer } => {
            json!({"type": "peer_disconnected", "peer": peer.to_string()})
        }
        Event::Missed { count } => json!({"type": "missed", "count": count}),
        _ => return None,
    })
}

/// The stream of one open page (at most [`MAX_STREAMS`] at once).
pub(crate) async fn events(
    State(app): State<AppState>,
) -> Result<SseResponse<impl Stream<Item = Result<Sse, Infallible>>>, WebError> {
    let permit = app
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| WebError::Busy(MAX_STREAMS))?;
    let events = app.node.events();
    let stop = app.stop.clone();
    let stream = futures::stream::unfold(
        (events, stop, permit),
        |(mut events, mut stop, permit)| async move {
            loop {
                let e = tokio::select! {
                    _ = stop.wait_for(|s| *s) => return None,
                    e = events.next() => e?,
                };
                if let Some(v) = to_json(&e) {
                    let item = Ok(Sse::default().data(v.to_string()));
                    return Some((item, (events, stop, permit)));
                }
            }
        },
    );
    Ok(SseResponse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use aura_crypto::{GroupId, MemberId};

    use super::*;

    #[test]
    fn a_chat_event_carries_its_text_as_data_not_markup() {
        let e = Event::Chat {
            group: GroupId([2; 32]),
            from: MemberId([3; 32]),
            label: "Ana".into(),
            text: "<script>x</script>".into(),
            at_ms: 5,
        };
        let v = to_json(&e).unwrap_or_default();
        assert_eq!(v["type"], "chat");
        assert_eq!(v["msg"]["text"], "<script>x</script>");
        assert_eq!(v["group"], hex::encode([2u8; 32]));
        assert!(to_json(&Event::Observed {
            group: GroupId([0; 32]),
            data: vec![]
        })
        .is_none());
    }
}
