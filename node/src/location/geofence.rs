//! Geofences (circle and polygon, via `geo`) and the enter/leave state machine
//! with hysteresis: one event per real crossing, no flapping on the boundary.

use std::collections::BTreeMap;

use geo::{Contains, Coord, Distance, Euclidean, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use super::Position;

/// The area of a geofence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// A circle of `radius_m` metres around `center`.
    Circle {
        /// Centre.
        center: Position,
        /// Radius in metres.
        radius_m: f64,
    },
    /// A simple polygon given by its vertices (closed implicitly).
    Polygon(Vec<Position>),
}

impl Shape {
    /// Signed distance in metres from `p` to the boundary: negative inside.
    pub fn signed_distance_m(&self, p: &Position) -> f64 {
        match self {
            Shape::Circle { center, radius_m } => center.distance_m(p) - radius_m,
            Shape::Polygon(vertices) => {
                // Local metric plane centred on the point: accurate for fences
                // of a few kilometres, which is what geofences are.
                let ring: Vec<Coord<f64>> = vertices
                    .iter()
                    .map(|v| {
                        let (x, y) = v.local_xy(p);
                        Coord { x, y }
                    })
                    .collect();
                // A vertex that is not a number (a fence never validated)
                // would break `geo`'s ring closing: such a fence is nowhere.
                if ring.iter().any(|c| !(c.x.is_finite() && c.y.is_finite())) {
                    return f64::INFINITY;
                }
                let poly = Polygon::new(LineString::new(ring), vec![]);
                let origin = Point::new(0.0, 0.0);
                let d = Euclidean::distance(&origin, poly.exterior());
                if poly.contains(&origin) {
                    -d
                } else {
                    d
                }
            }
        }
    }

    /// Whether the shape is usable; see [`Shape::validate`].
    pub fn is_valid(&self) -> bool {
        self.validate().is_ok()
    }

    /// Checks the shape as received from anyone: coordinates in range, a
    /// radius in (0, [`MAX_FENCE_SIZE_M`]], 3 to [`MAX_POLYGON_VERTICES`]
    /// vertices all within [`MAX_FENCE_SIZE_M`] of the first.
    pub fn validate(&self) -> Result<(), FenceError> {
        let checked = |p: &Position| Position::new(p.lat, p.lon).ok_or(FenceError::BadCoordinate);
        match self {
            Shape::Circle { center, radius_m } => {
                checked(center)?;
                if !(radius_m.is_finite() && *radius_m > 0.0 && *radius_m <= MAX_FENCE_SIZE_M) {
                    return Err(FenceError::BadRadius);
                }
            }
            Shape::Polygon(v) => {
                if !(3..=MAX_POLYGON_VERTICES).contains(&v.len()) {
                    return Err(FenceError::BadVertexCount(v.len()));
                }
                let first = checked(&v[0])?;
                for p in v {
                    if checked(p)?.distance_m(&first) > MAX_FENCE_SIZE_M {
                        return Err(FenceError::TooLarge);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Longest geofence name, bytes.
pub const MAX_FENCE_NAME_BYTES: usize = 64;
/// Most vertices of a polygon fence.
pub const MAX_POLYGON_VERTICES: usize = 64;
/// Largest circle radius, and farthest a polygon vertex may be from the
/// first, metres (fences are computed on a local plane).
pub const MAX_FENCE_SIZE_M: f64 = 50_000.0;

/// Why a geofence, or a change to a group's geofences, was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FenceError {
    /// The author is not the group's owner or an admin.
    #[error("only the group's owner or an admin may change its geofences")]
    NotAdmin,
    /// The name is empty or too long.
    #[error("a geofence name is 1-{MAX_FENCE_NAME_BYTES} bytes")]
    BadName,
    /// A latitude or longitude is out of range or not a number.
    #[error("a geofence coordinate is out of range (latitude -90..90, longitude -180..180)")]
    BadCoordinate,
    /// The circle's radius is not in (0, [`MAX_FENCE_SIZE_M`]].
    #[error("a geofence circle needs a radius above 0 and at most {MAX_FENCE_SIZE_M} m")]
    BadRadius,
    /// The polygon has too few or too many vertices.
    #[error("a geofence polygon needs 3-{MAX_POLYGON_VERTICES} vertices, not {0}")]
    BadVertexCount(usize),
    /// A polygon vertex is too far from the first.
    #[error("a geofence polygon spans more than {MAX_FENCE_SIZE_M} m")]
    TooLarge,
    /// The group has [`super::MAX_FENCES`] fences already.
    #[error(
        "the group has {} geofences already; remove one first",
        super::MAX_FENCES
    )]
    TooMany,
    /// No fence has that name.
    #[error("no geofence named {0:?}; see `aura geofence list`")]
    Unknown(String),
}

/// A named geofence of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geofence {
    /// Name, unique within the group (e.g. "home").
    pub name: String,
    /// Area.
    pub shape: Shape,
}

impl Geofence {
    /// Checks name and shape (see [`Shape::validate`]).
    pub fn validate(&self) -> Result<(), FenceError> {
        if self.name.is_empty() || self.name.len() > MAX_FENCE_NAME_BYTES {
            return Err(FenceError::BadName);
        }
        self.shape.validate()
    }
}

/// An enter/leave event for a member `M`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceEvent<M> {
    /// `member` entered fence `fence`.
    Enter {
        /// Fence name.
        fence: String,
        /// Who.
        member: M,
    },
    /// `member` left fence `fence`.
    Leave {
        /// Fence name.
        fence: String,
        /// Who.
        member: M,
    },
}

/// Inside/outside state per (fence, member). A member enters when its position
/// is inside the shape and leaves only once it is more than `hysteresis_m`
/// outside it. Unknown members count as outside.
#[derive(Debug, Clone)]
pub struct FenceTracker<M> {
    hysteresis_m: f64,
    inside: BTreeMap<(String, M), bool>,
}

impl<M: Ord + Clone> FenceTracker<M> {
    /// A tracker with the given leave hysteresis in metres.
    pub fn new(hysteresis_m: f64) -> Self {
        Self {
            hysteresis_m,
            inside: BTreeMap::new(),
        }
    }

    /// A new position of `member`: the events it causes on `fences`.
    pub fn update(
        &mut self,
        fences: &[Geofence],
        member: &M,
        pos: &Position,
    ) -> Vec<FenceEvent<M>> {
        let mut events = Vec::new();
        for fence in fences {
            let d = fence.shape.signed_distance_m(pos);
            let key = (fence.name.clone(), member.clone());
            let was = self.inside.get(&key).copied().unwrap_or(false);
            let now = if was {
                d <= self.hysteresis_m
            } else {
                d <= 0.0
            };
            if now != was {
                let (fence, member) = key.clone();
                events.push(if now {
                    FenceEvent::Enter { fence, member }
                } else {
                    FenceEvent::Leave { fence, member }
                });
            }
            self.inside.insert(key, now);
        }
        events
    }

    /// Forgets a fence (after it was removed).
    pub fn forget_fence(&mut self, name: &str) {
        self.inside.retain(|(f, _), _| f != name);
    }

    /// Forgets a member (after it left the group).
    pub fn forget_member(&mut self, member: &M) {
        self.inside.retain(|(_, m), _| m != member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Position {
        Position::new(45.0, 6.0).unwrap()
    }

    fn fences() -> Vec<Geofence> {
        let c = home();
        vec![
            Geofence {
                name: "home".into(),
                shape: Shape::Circle {
                    center: c,
                    radius_m: 100.0,
                },
            },
            Geofence {
                name: "park".into(),
                shape: Shape::Polygon(vec![
                    c.offset_m(500.0, 500.0),
                    c.offset_m(500.0, 700.0),
                    c.offset_m(700.0, 700.0),
                    c.offset_m(700.0, 500.0),
                ]),
            },
        ]
    }

    #[test]
    fn polygon_signed_distance() {
        let f = fences();
        let inside = home().offset_m(600.0, 600.0);
        assert!((f[1].shape.signed_distance_m(&inside) + 100.0).abs() < 1.0);
        let outside = home().offset_m(600.0, 450.0);
        assert!((f[1].shape.signed_distance_m(&outside) - 50.0).abs() < 1.0);
    }

    #[test]
    fn jitter_on_the_boundary_fires_once_per_crossing() {
        let f = fences();
        let mut t = FenceTracker::new(25.0);
        let mut events = Vec::new();
        // Walk in, jitter around the 100 m boundary, walk out, walk in again.
        let path = [
            150.0, 99.0, 104.0, 98.0, 110.0, 95.0, 120.0, 130.0, 150.0, 101.0, 99.0, 50.0,
        ];
        for d in path {
            events.extend(t.update(&f[..1], &"bob", &home().offset_m(d, 0.0)));
        }
        let kinds: Vec<_> = events
            .iter()
            .map(|e| matches!(e, FenceEvent::Enter { .. }))
            .collect();
        assert_eq!(kinds, vec![true, false, true]);
    }

    #[test]
    fn polygon_enter_and_leave() {
        let f = fences();
        let mut t = FenceTracker::new(25.0);
        assert!(t
            .update(&f, &1u8, &home().offset_m(300.0, 300.0))
            .is_empty());
        let e = t.update(&f, &1u8, &home().offset_m(600.0, 600.0));
        assert_eq!(
            e,
            vec![FenceEvent::Enter {
                fence: "park".into(),
                member: 1
            }]
        );
        assert!(t
            .update(&f, &1u8, &home().offset_m(600.0, 710.0))
            .is_empty());
        let e = t.update(&f, &1u8, &home().offset_m(600.0, 800.0));
        assert_eq!(
            e,
            vec![FenceEvent::Leave {
                fence: "park".into(),
                member: 1
            }]
        );
    }
}
