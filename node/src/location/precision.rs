//! Precision coarsening, done on the sender before encryption: a fixed grid
//! of cells, and the hysteresis that keeps a member standing near a cell edge
//! in one cell.

use serde::{Deserialize, Serialize};

use super::{Position, EARTH_RADIUS_M};

/// How far past the edge of its current cell a position must be, as a
/// fraction of the cell size, before the member is placed in another cell.
/// GPS noise smaller than this never moves a member between cells.
pub const EDGE_MARGIN: f64 = 0.25;

/// How precisely a member shares its position with a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Precision {
    /// The position as measured.
    Exact,
    /// Snapped to a grid of ~100 m cells (the default for a new group).
    #[default]
    Approx100m,
    /// Snapped to a grid of ~1 km cells.
    Approx1km,
}

/// One cell of a precision's grid: a latitude band and a column in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    row: i64,
    col: i64,
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

    /// How far the true position can be from the published one, in metres:
    /// half a cell diagonal, plus the edge margin a member may be past its
    /// cell before it is placed in the next one.
    pub fn uncertainty_m(self) -> f64 {
        self.cell_m() * (std::f64::consts::FRAC_1_SQRT_2 + EDGE_MARGIN)
    }

    /// Coarsens `pos`: the centre of its grid cell. The grid is fixed (cells in
    /// latitude bands, so every sender snaps the same way), so repeated
    /// publications from one cell carry no extra information.
    pub fn coarsen(self, pos: Position) -> Position {
        match self.cell_of(pos) {
            Some(cell) => self.centre(cell),
            None => pos,
        }
    }

    /// The cell holding `pos`; `None` for exact precision.
    pub fn cell_of(self, pos: Position) -> Option<Cell> {
        let dlat = self.dlat()?;
        let row = (pos.lat / dlat).floor() as i64;
        let col = (pos.lon / self.dlon(row, dlat)).floor() as i64;
        Some(Cell { row, col })
    }

    /// The centre of `cell` (what is published for it).
    pub fn centre(self, cell: Cell) -> Position {
        let Some(dlat) = self.dlat() else {
            return Position { lat: 0.0, lon: 0.0 };
        };
        let dlon = self.dlon(cell.row, dlat);
        Position {
            lat: ((cell.row as f64 + 0.5) * dlat).clamp(-90.0, 90.0),
            lon: ((cell.col as f64 + 0.5) * dlon).clamp(-180.0, 180.0),
        }
    }

    /// The cell to place a member in, given the one it is in now: `current`
    /// until `pos` lies more than [`EDGE_MARGIN`] of a cell outside it, then
    /// the cell holding `pos`.
    pub fn hold(self, current: Cell, pos: Position) -> Cell {
        let Some(dlat) = self.dlat() else {
            return current;
        };
        let outside_m = self.distance_outside_m(current, pos, dlat);
        if outside_m > self.cell_m() * EDGE_MARGIN {
            self.cell_of(pos).unwrap_or(current)
        } else {
            current
        }
    }

    /// Metres from `pos` to the nearest point of `cell` (0 inside it).
    fn distance_outside_m(self, cell: Cell, pos: Position, dlat: f64) -> f64 {
        let dlon = self.dlon(cell.row, dlat);
        let excess = |v: f64, lo: f64, hi: f64| (lo - v).max(v - hi).max(0.0);
        let north_deg = excess(
            pos.lat,
            cell.row as f64 * dlat,
            (cell.row + 1) as f64 * dlat,
        );
        let east_deg = excess(
            pos.lon,
            cell.col as f64 * dlon,
            (cell.col + 1) as f64 * dlon,
        );
        let north_m = north_deg.to_radians() * EARTH_RADIUS_M;
        let east_m = east_deg.to_radians() * EARTH_RADIUS_M * pos.lat.to_radians().cos().abs();
        north_m.hypot(east_m)
    }

    /// Height of a latitude band in degrees; `None` for exact.
    fn dlat(self) -> Option<f64> {
        let cell = self.cell_m();
        (cell > 0.0).then(|| (cell / EARTH_RADIUS_M).to_degrees())
    }

    /// Width of a cell in degrees in band `row`, from the band's centre
    /// latitude, so a cell is ~square.
    fn dlon(self, row: i64, dlat: f64) -> f64 {
        let lat = ((row as f64 + 0.5) * dlat).clamp(-90.0, 90.0);
        dlat / lat.to_radians().cos().max(0.01)
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
                prop_assert!(p.distance_m(&c) <= prec.cell_m() * std::f64::consts::FRAC_1_SQRT_2 * 1.05 + 1.0);
                // Idempotent: a coarse position reveals nothing finer when coarsened again.
                prop_assert_eq!(prec.coarsen(c), c);
            }
        }

        #[test]
        fn a_held_cell_stays_within_uncertainty(
            lat in -70.0f64..70.0, lon in -170.0f64..170.0,
            north in -400.0f64..400.0, east in -400.0f64..400.0,
        ) {
            let start = Position::new(lat, lon).unwrap();
            let p = start.offset_m(north, east);
            for prec in [Precision::Approx100m, Precision::Approx1km] {
                let held = prec.hold(prec.cell_of(start).unwrap(), p);
                let shown = prec.centre(held);
                prop_assert!(p.distance_m(&shown) <= prec.uncertainty_m() * 1.05 + 1.0);
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

    #[test]
    fn a_new_group_shares_at_100_m() {
        assert_eq!(Precision::default(), Precision::Approx100m);
    }

    #[test]
    fn leaving_a_cell_needs_the_margin() {
        let prec = Precision::Approx100m;
        let centre = prec.coarsen(Position::new(45.0, 6.0).unwrap());
        let cell = prec.cell_of(centre).unwrap();
        // 50 m north of the centre is the edge: 70 m stays, 80 m moves.
        assert_eq!(prec.hold(cell, centre.offset_m(70.0, 0.0)), cell);
        let next = prec.hold(cell, centre.offset_m(80.0, 0.0));
        assert_ne!(next, cell);
        assert_eq!(Some(next), prec.cell_of(centre.offset_m(80.0, 0.0)));
    }
}
