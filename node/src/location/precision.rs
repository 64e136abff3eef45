//! Precision coarsening, done on the sender before encryption.

use serde::{Deserialize, Serialize};

use super::{Position, EARTH_RADIUS_M};

/// How precisely a member shares its position with a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Precision {
    /// The position as measured.
    #[default]
    Exact,
    /// Snapped to a grid of ~100 m cells.
    Approx100m,
    /// Snapped to a grid of ~1 km cells.
    Approx1km,
}

impl Precision {
    /// The grid cell size in metres (0 for exact).
    pub fn cell_m(self) -> f64 {
        match self {
            Precision::Exact => 0.0,
            Precision::Approx100m => 100.0,
            Precision::Approx1km => 1000.0,
        }
    }

    /// How far the true position can be from the coarsened one, in metres.
    pub fn uncertainty_m(self) -> f64 {
        self.cell_m() * std::f64::consts::FRAC_1_SQRT_2
    }

    /// Coarsens `pos`: the centre of its grid cell. The grid is fixed (cells in
    /// latitude bands, so every sender snaps the same way), so repeated
    /// publications from one cell carry no extra information.
    pub fn coarsen(self, pos: Position) -> Position {
        let cell = self.cell_m();
        if cell == 0.0 {
            return pos;
        }
        let dlat = (cell / EARTH_RADIUS_M).to_degrees();
        let row = (pos.lat / dlat).floor();
        let lat = ((row + 0.5) * dlat).clamp(-90.0, 90.0);
        // Longitude step from the band's centre latitude, so a cell is ~square.
        let cos = lat.to_radians().cos().max(0.01);
        let dlon = dlat / cos;
        let col = (pos.lon / dlon).floor();
        let lon = ((col + 0.5) * dlon).clamp(-180.0, 180.0);
        Position { lat, lon }
    }

    /// Parses `exact`, `100m` or `1km`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "exact" => Some(Precision::Exact),
            "100m" | "100" => Some(Precision::Approx100m),
            "1km" | "1000m" | "1000" => Some(Precision::Approx1km),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn coarse_position_stays_within_uncertainty(lat in -80.0f64..80.0, lon in -179.0f64..179.0) {
            let p = Position::new(lat, lon).unwrap();
            for prec in [Precision::Approx100m, Precision::Approx1km] {
                let c = prec.coarsen(p);
                prop_assert!(p.distance_m(&c) <= prec.uncertainty_m() * 1.05 + 1.0);
                // Idempotent: a coarse position reveals nothing finer when coarsened again.
                prop_assert_eq!(prec.coarsen(c), c);
            }
        }
    }

    #[test]
    fn nearby_points_in_one_cell_are_indistinguishable() {
        let p = Precision::Approx1km.coarsen(Position::new(48.8500, 2.3500).unwrap());
        let q = Precision::Approx1km.coarsen(Position::new(48.8501, 2.3502).unwrap());
        assert_eq!(p, q);
        assert_eq!(
            Precision::Exact
                .coarsen(Position::new(1.0, 2.0).unwrap())
                .lat,
            1.0
        );
    }
}
