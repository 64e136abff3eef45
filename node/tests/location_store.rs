//! What a node keeps of a group's location settings across restarts and
//! store versions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_node::{
    location::{Geofence, Precision, Shape},
    store::Store,
};
use common::*;

fn circle(name: &str, radius_m: f64) -> Geofence {
    Geofence {
        name: name.into(),
        shape: Shape::Circle {
            center: base(),
            radius_m,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fences_kept_in_an_older_group_record_become_records_of_their_own() {
    let a = start().await;
    let gid = a.node.create_group("upgrade").await.unwrap();
    a.node
        .add_geofence(gid, circle("hut", 150.0))
        .await
        .unwrap();
    a.node.shutdown().await;
    // An older version kept the fences inside the group record.
    let store_dir = a.dir.path().join("store");
    {
        let store = Store::open(&store_dir).unwrap();
        let mut rec = store.group(&gid.0).unwrap().unwrap();
        assert!(rec.fences.is_empty(), "fences are no longer in the record");
        assert_eq!(
            rec.precision,
            Precision::Approx100m,
            "a new group's default"
        );
        rec.fences = vec![circle("lake", 80.0), circle("hut", 999.0)];
        store.put_group(&gid.0, &rec).unwrap();
        store.flush().unwrap();
    }
    let a = start_in(a.dir).await;
    let mut fences = a.node.geofences(gid).await.unwrap();
    fences.sort_by(|x, y| x.name.cmp(&y.name));
    // The fence record wins over an older copy of the same name.
    assert_eq!(fences, vec![circle("hut", 150.0), circle("lake", 80.0)]);
    a.node.shutdown().await;
    let store = Store::open(&store_dir).unwrap();
    assert!(store.group(&gid.0).unwrap().unwrap().fences.is_empty());
    assert_eq!(store.fences(&gid.0).unwrap().len(), 2);
}
