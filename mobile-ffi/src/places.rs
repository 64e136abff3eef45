//! Geofences: named areas shared with a group (admins change them); members
//! entering or leaving one arrive as `AuraEvent::Geofence`.

use aura_node::location::{Geofence, Shape};

use crate::{
    error::AuraError,
    node::AuraNode,
    types::{group_id, position},
};

/// A point, degrees.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct LatLon {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// The area of a geofence.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FenceShape {
    /// `radius_m` metres around `center`.
    Circle {
        /// Centre.
        center: LatLon,
        /// Radius, metres.
        radius_m: f64,
    },
    /// A simple polygon (closed implicitly).
    Polygon {
        /// Vertices.
        points: Vec<LatLon>,
    },
}

/// A named area of a group.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FenceInfo {
    /// Name, unique in the group.
    pub name: String,
    /// Area.
    pub shape: FenceShape,
}

fn lat_lon(p: &aura_node::location::Position) -> LatLon {
    LatLon {
        lat: p.lat,
        lon: p.lon,
    }
}

impl From<&Geofence> for FenceInfo {
    fn from(f: &Geofence) -> Self {
        let shape = match &f.shape {
            Shape::Circle { center, radius_m } => FenceShape::Circle {
                center: lat_lon(center),
                radius_m: *radius_m,
            },
            Shape::Polygon(points) => FenceShape::Polygon {
                points: points.iter().map(lat_lon).collect(),
            },
        };
        Self {
            name: f.name.clone(),
            shape,
        }
    }
}

fn to_geofence(f: FenceInfo) -> Result<Geofence, AuraError> {
    let shape = match f.shape {
        FenceShape::Circle { center, radius_m } => Shape::Circle {
            center: position(center.lat, center.lon)?,
            radius_m,
        },
        FenceShape::Polygon { points } => Shape::Polygon(
            points
                .iter()
                .map(|p| position(p.lat, p.lon))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Geofence {
        name: f.name,
        shape,
    })
}

#[uniffi::export]
impl AuraNode {
    /// Adds (or replaces) a geofence in `group`, shared with every member.
    pub async fn add_geofence(&self, group: String, fence: FenceInfo) -> Result<(), AuraError> {
        let (group, fence) = (group_id(&group)?, to_geofence(fence)?);
        self.call(|n| async move { n.add_geofence(group, fence).await })
            .await
    }

    /// Removes a geofence by name.
    pub async fn remove_geofence(&self, group: String, name: String) -> Result<(), AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.remove_geofence(group, &name).await })
            .await
    }

    /// The geofences of `group`.
    pub async fn geofences(&self, group: String) -> Result<Vec<FenceInfo>, AuraError> {
        let group = group_id(&group)?;
        let got = self
            .call(|n| async move { n.geofences(group).await })
            .await?;
        Ok(got.iter().map(FenceInfo::from).collect())
    }
}
