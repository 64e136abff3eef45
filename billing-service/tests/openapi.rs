//! The committed OpenAPI document lists every route, and the router answers
//! every route it lists; `/metrics` serves Prometheus text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::http::router::ROUTES;
use common::{start, Backend};

#[tokio::test]
async fn every_route_is_documented_and_served() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json parses");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (p, ops) in paths {
        documented += ops.as_object().unwrap().len();
        for m in ops.as_object().unwrap().keys() {
            assert!(
                ROUTES.contains(&(m.as_str(), p.as_str())),
                "{m} {p} documented but not routed"
            );
        }
    }
    assert_eq!(documented, ROUTES.len());
    let s = start(Backend::Sqlite).await.unwrap();
    for (m, p) in ROUTES {
        assert!(
            paths.get(*p).and_then(|o| o.get(*m)).is_some(),
            "{m} {p} missing from openapi.json"
        );
        let url = format!("{}{}", s.url, p.replace("{id}", "x"));
        let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let r = s.http.request(method, &url).send().await.unwrap();
        assert!(
            r.status() != 404 && r.status() != 405,
            "{m} {p} not served: {}",
            r.status()
        );
    }
    let served: serde_json::Value = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, doc);
    let m = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("aura_billing_auth_failures_total"), "{m}");
}
