//! A group's geofences: every change validated and the count bounded,
//! whether it was made here or received from a member.

use super::{FenceError, Geofence};

/// Most geofences one group holds.
pub const MAX_FENCES: usize = 1000;

/// The geofences of one group, by name, each one valid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FenceSet {
    fences: Vec<Geofence>,
}

impl FenceSet {
    /// The valid fences among `fences` (as loaded from the store), at most
    /// [`MAX_FENCES`], a later one replacing an earlier one of the same name.
    pub fn from_loaded(fences: Vec<Geofence>) -> Self {
        let mut set = Self::default();
        for f in fences {
            let _ = set.upsert(f);
        }
        set
    }

    /// The fences, in the order they were first added.
    pub fn as_slice(&self) -> &[Geofence] {
        &self.fences
    }

    /// Adds `fence`, or replaces the fence of the same name. Refused when
    /// the fence is invalid or when it is new and the set is full.
    pub fn upsert(&mut self, fence: Geofence) -> Result<(), FenceError> {
        fence.validate()?;
        let full = self.fences.len() >= MAX_FENCES;
        match self.fences.iter_mut().find(|f| f.name == fence.name) {
            Some(old) => *old = fence,
            None if full => return Err(FenceError::TooMany),
            None => self.fences.push(fence),
        }
        Ok(())
    }

    /// Removes the fence named `name`.
    pub fn remove(&mut self, name: &str) -> Result<Geofence, FenceError> {
        let at = self
            .fences
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| FenceError::Unknown(name.to_owned()))?;
        Ok(self.fences.remove(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{Position, Shape, MAX_POLYGON_VERTICES};

    fn circle(name: &str, radius_m: f64) -> Geofence {
        Geofence {
            name: name.into(),
            shape: Shape::Circle {
                center: Position::new(45.0, 6.0).unwrap(),
                radius_m,
            },
        }
    }

    #[test]
    fn the_1001st_fence_is_refused_but_a_full_set_can_still_replace_one() {
        let mut set = FenceSet::default();
        for i in 0..MAX_FENCES {
            set.upsert(circle(&format!("f{i}"), 100.0)).unwrap();
        }
        assert_eq!(
            set.upsert(circle("one too many", 100.0)),
            Err(FenceError::TooMany)
        );
        set.upsert(circle("f7", 300.0)).unwrap();
        assert_eq!(set.as_slice().len(), MAX_FENCES);
        set.remove("f0").unwrap();
        set.upsert(circle("one too many", 100.0)).unwrap();
    }

    #[test]
    fn invalid_fences_are_refused_with_their_reason() {
        let mut set = FenceSet::default();
        let far = Position {
            lat: 95.0,
            lon: 6.0,
        };
        let cases = [
            (circle("", 10.0), FenceError::BadName),
            (circle(&"x".repeat(65), 10.0), FenceError::BadName),
            (circle("nan", f64::NAN), FenceError::BadRadius),
            (circle("huge", 1e9), FenceError::BadRadius),
            (circle("neg", -1.0), FenceError::BadRadius),
            (
                Geofence {
                    name: "pole".into(),
                    shape: Shape::Circle {
                        center: far,
                        radius_m: 10.0,
                    },
                },
                FenceError::BadCoordinate,
            ),
            (
                Geofence {
                    name: "line".into(),
                    shape: Shape::Polygon(vec![Position::new(1.0, 1.0).unwrap(); 2]),
                },
                FenceError::BadVertexCount(2),
            ),
            (
                Geofence {
                    name: "lace".into(),
                    shape: Shape::Polygon(vec![
                        Position::new(1.0, 1.0).unwrap();
                        MAX_POLYGON_VERTICES + 1
                    ]),
                },
                FenceError::BadVertexCount(MAX_POLYGON_VERTICES + 1),
            ),
            (
                Geofence {
                    name: "continent".into(),
                    shape: Shape::Polygon(vec![
                        Position::new(1.0, 1.0).unwrap(),
                        Position::new(1.0, 2.0).unwrap(),
                        Position::new(2.0, 1.0).unwrap(),
                    ]),
                },
                FenceError::TooLarge,
            ),
        ];
        for (fence, want) in cases {
            assert_eq!(set.upsert(fence.clone()), Err(want), "{fence:?}");
        }
        assert!(set.as_slice().is_empty());
        assert_eq!(set.remove("nope"), Err(FenceError::Unknown("nope".into())));
    }

    #[test]
    fn loading_drops_invalid_fences_and_keeps_the_bound() {
        let mut loaded: Vec<_> = (0..MAX_FENCES + 5)
            .map(|i| circle(&format!("f{i}"), 50.0))
            .collect();
        loaded.insert(0, circle("bad", -3.0));
        let set = FenceSet::from_loaded(loaded);
        assert_eq!(set.as_slice().len(), MAX_FENCES);
        assert_eq!(set.as_slice()[0].name, "f0");
    }
}
