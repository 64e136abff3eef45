//! Location: positions, precision coarsening, the publish policy, geofences,
//! proximity alerts and GPX export. Everything here is sans-IO: time comes in
//! as unix milliseconds.

mod fence_set;
mod geofence;
mod gpx;
mod history;
mod policy;
mod precision;
mod proximity;

pub use fence_set::{FenceSet, MAX_FENCES};
pub use geofence::{
    FenceError, FenceEvent, FenceTracker, Geofence, Shape, MAX_FENCE_NAME_BYTES, MAX_FENCE_SIZE_M,
    MAX_POLYGON_VERTICES,
};
pub use gpx::to_gpx;
pub use history::{as_received, HistoryPolicy, HistoryThinner, MAX_FUTURE_SKEW_MS};
pub use policy::{PublishPolicy, Publisher};
pub use precision::{Cell, Precision, EDGE_MARGIN};
pub use proximity::{ProximityEvent, ProximityTracker};

use serde::{Deserialize, Serialize};

/// Mean earth radius in metres (the one `geo`'s haversine uses).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

impl Position {
    /// A position; `None` unless latitude is in [-90, 90] and longitude in [-180, 180].
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let ok = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
        ok.then_some(Self { lat, lon })
    }

    /// Great-circle distance in metres.
    pub fn distance_m(&self, other: &Position) -> f64 {
        use geo::{Distance, Haversine, Point};
        Haversine::distance(
            Point::new(self.lon, self.lat),
            Point::new(other.lon, other.lat),
        )
    }

    /// The position `north_m` metres north and `east_m` metres east of this one
    /// (flat-earth approximation, fine for the few kilometres of routes and fences).
    pub fn offset_m(&self, north_m: f64, east_m: f64) -> Position {
        let (y, x) = (north_m / EARTH_RADIUS_M, east_m / EARTH_RADIUS_M);
        Position {
            lat: self.lat + y.to_degrees(),
            lon: self.lon + (x / self.lat.to_radians().cos()).to_degrees(),
        }
    }

    /// This position in metres (east, north) relative to `origin`, on a local plane.
    pub(crate) fn local_xy(&self, origin: &Position) -> (f64, f64) {
        let east = (self.lon - origin.lon).to_radians() * origin.lat.to_radians().cos();
        let north = (self.lat - origin.lat).to_radians();
        (east * EARTH_RADIUS_M, north * EARTH_RADIUS_M)
    }
}

/// A position at a time, as shared with the group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Where (already coarsened to `precision` when it came from the network).
    pub pos: Position,
    /// When, unix milliseconds.
    pub at_ms: u64,
    /// The precision the sender chose.
    pub precision: Precision,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_distance_agree() {
        let p = Position::new(48.85, 2.35).unwrap();
        let q = p.offset_m(300.0, 400.0);
        assert!((p.distance_m(&q) - 500.0).abs() < 1.0);
        let (x, y) = q.local_xy(&p);
        assert!((x - 400.0).abs() < 1.0 && (y - 300.0).abs() < 1.0);
    }

    #[test]
    fn bad_coordinates_refused() {
        assert!(Position::new(91.0, 0.0).is_none());
        assert!(Position::new(0.0, f64::NAN).is_none());
    }
}
