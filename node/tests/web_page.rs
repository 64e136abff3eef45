//! The node's web page (`aura run --web`), served by node A of two loopback
//! nodes, driven in a real headless chromium over WebDriver (Debian's
//! `chromium` and `chromium-driver`): A's page shows B's marker move after B
//! reports a fix, a chat typed in the page arrives at B, the admin removes
//! B from the page and B's marker disappears, and a request from another
//! site's page cannot act; a gift chosen in the page goes through the
//! billing ledger (in-process) to B; A joins voice from the page and sees B
//! talking. Requests without the token, with it in the wrong
//! place, from another origin or through a rebound DNS name are refused.
//!
//! The browser test skips (saying so) only when `chromedriver` is not
//! installed. `AURA_WEB_SCREENSHOT=FILE` saves the page as a PNG.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::web_support::browser;
use crate::web_support::pair;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use aura_billing::test_provider;
use aura_node::{
    location::{Geofence, Position, Precision, Shape},
    voice::signal::speech_like,
    voice_api::VoiceConfig,
    Event,
};
use browser::{browser, chromedriver, start_driver, until};
use common::{base, wait_for};
use fantoccini::{Client, Locator};
use pair::{hex_id, ledger, pair, WEBHOOK_SECRET};
use serde_json::json;

/// Requests the page's JavaScript would never make are refused, and none
/// of them sends the chat it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_the_token_or_from_another_site_is_refused() {
    let p = pair(None).await;
    let base_url = format!("http://{}", p.web.local_addr());
    let token = p.web.token().to_owned();
    let http = reqwest::Client::new();
    let chat = json!({"group": hex::encode(p.gid.0), "text": "forged"});

    // Reads: no token, a wrong one.
    let r = http
        .get(format!("{base_url}/api/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "state without the token");
    let r = http.get(format!("{base_url}/")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the page without the token");
    let r = http
        .get(format!("{base_url}/api/state"))
        .bearer_auth("0123456789abcdef0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a wrong token");
    let r = http
        .get(format!("{base_url}/api/state"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the page's own request");

    // Changes: no token, the token in the URL (a form could send it),
    // the right token from another origin, through a rebound DNS name.
    let r = http
        .post(format!("{base_url}/api/chat"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a change without the token");
    let r = http
        .post(format!("{base_url}/api/chat?token={token}"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a change with the token in the URL");
    let r = http
        .post(format!("{base_url}/api/chat"))
        .bearer_auth(&token)
        .header("Origin", "http://evil.example")
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a change from another origin");
    let r = http
        .post(format!("{base_url}/api/chat"))
        .bearer_auth(&token)
        .header(
            "Host",
            format!("rebound.example:{}", p.web.local_addr().port()),
        )
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a change through a rebound DNS name");
    assert_eq!(p.web.refused(), 7);
    assert!(p.a.node.chat_history(p.gid).await.unwrap().is_empty());

    // The same request as the page's goes through.
    let r = http
        .post(format!("{base_url}/api/chat"))
        .bearer_auth(&token)
        .header("Origin", base_url.clone())
        .json(&json!({"group": hex::encode(p.gid.0), "text": "from the page"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(p.a.node.chat_history(p.gid).await.unwrap().len(), 1);
    p.web.shutdown().await;
    p.a.node.shutdown().await;
    p.b.node.shutdown().await;
}

/// `aura run --web 127.0.0.1:0` prints a URL with its token that serves the
/// page, and the same URL without the token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aura_run_web_prints_the_url_of_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let aura = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aura"));
        cmd.arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("AURA_HOME");
        cmd
    };
    let init = aura(&["init", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let mut run = aura(&["run", "--web", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its output is read to the end (a closed pipe would stop it).
    let out = run.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(u) = line.strip_prefix("web page ") {
                let url = u.split(' ').next().unwrap_or_default().to_owned();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("`aura run --web` prints its page's URL")
        .unwrap();
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<title>Aura</title>"));
    let bare = url.split('?').next().unwrap();
    assert_eq!(reqwest::get(bare).await.unwrap().status(), 401);
    let _ = run.kill();
    let _ = run.wait();
}

/// B's marker on A's map, as `[lat, lon, x, y]` (null when absent).
async fn marker(c: &Client, b: &str) -> serde_json::Value {
    let script = format!(
        "const g = document.querySelector('#map g.map-member[data-member=\"{b}\"]');
         if (!g) return null;
         const pin = g.querySelector('circle.pin');
         return [Number(g.dataset.lat), Number(g.dataset.lon),
                 Number(pin.getAttribute('cx')), Number(pin.getAttribute('cy'))];"
    );
    c.execute(&script, vec![]).await.unwrap()
}

/// The page, driven by a real browser: map, chat, removal, and another
/// site's page trying to act on the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_browser_follows_and_administers_the_group() {
    let Some(path) = chromedriver() else {
        eprintln!(
            "SKIPPED the_page_in_a_browser_follows_and_administers_the_group: no chromedriver \
             on PATH (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let started = Instant::now();
    let driver = start_driver(&path);
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger = ledger(ledger_dir.path()).await;
    let (p, c) = tokio::join!(pair(Some(&ledger)), browser(&driver));
    // A buys 100 coins (the provider's signed webhook).
    let buy = test_provider::checkout_completed(&hex_id(p.a.node.member_id()), "coins_100", None);
    test_provider::deliver(&ledger.url, WEBHOOK_SECRET, &buy)
        .await
        .unwrap();
    let mut b = p.b;
    let bid = hex_id(b.node.member_id());
    let gid = p.gid;

    // A fence of each shape, for the map to draw.
    let home = base().offset_m(-150.0, -250.0);
    let fence = |name: &str, shape| Geofence {
        name: name.into(),
        shape,
    };
    p.a.node
        .add_geofence(
            gid,
            fence(
                "hut",
                Shape::Circle {
                    center: home,
                    radius_m: 120.0,
                },
            ),
        )
        .await
        .unwrap();
    let corners = [
        (250.0, 150.0),
        (250.0, 450.0),
        (450.0, 450.0),
        (450.0, 150.0),
    ];
    let poly = corners
        .iter()
        .map(|(n, e)| base().offset_m(*n, *e))
        .collect();
    p.a.node
        .add_geofence(gid, fence("summit", Shape::Polygon(poly)))
        .await
        .unwrap();

    c.goto(&p.web.url()).await.unwrap();
    until(&c, "the group", "document.querySelector('#group option')").await;
    until(
        &c,
        "B in the members",
        &format!("document.querySelector('#members li[data-member=\"{bid}\"]')"),
    )
    .await;

    // Our own position, typed into the page.
    let own = base();
    c.find(Locator::Id("lat"))
        .await
        .unwrap()
        .send_keys(&own.lat.to_string())
        .await
        .unwrap();
    c.find(Locator::Id("lon"))
        .await
        .unwrap()
        .send_keys(&own.lon.to_string())
        .await
        .unwrap();
    c.find(Locator::Css("#position-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "our position",
        "document.querySelector('#map g.map-own')",
    )
    .await;
    assert!(p.a.node.position().is_some(), "the page set A's position");

    // B reports a fix, then another: its marker follows.
    b.node.set_precision(gid, Precision::Exact).await.unwrap();
    b.node.share_location(gid, true).await.unwrap();
    let first = base().offset_m(120.0, 80.0);
    b.node.update_position(first).await.unwrap();
    let near = |p: Position| {
        format!(
            "(() => {{ const g = document.querySelector('#map g.map-member[data-member=\"{bid}\"]');
               return g && Math.abs(g.dataset.lat - {}) < 1e-6 && Math.abs(g.dataset.lon - {}) < 1e-6; }})()",
            p.lat, p.lon
        )
    };
    until(&c, "B's marker", &near(first)).await;
    let before = marker(&c, &bid).await;
    let second = base().offset_m(320.0, 260.0);
    b.node.update_position(second).await.unwrap();
    until(&c, "B's marker moved", &near(second)).await;
    let after = marker(&c, &bid).await;
    assert_ne!(
        (before[2].as_f64(), before[3].as_f64()),
        (after[2].as_f64(), after[3].as_f64()),
        "the marker moved on the map"
    );

    // A chat typed in A's page arrives at B.
    let text = "see you at the hut";
    c.find(Locator::Id("chat-input"))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
    c.find(Locator::Css("#chat-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let aid = p.a.node.member_id();
    wait_for(&mut b.events, 15, |e| match e {
        Event::Chat { from, text: t, .. } if *from == aid && t == text => Some(()),
        _ => None,
    })
    .await;
    b.node.send_chat(gid, "on my way").await.unwrap();
    until(
        &c,
        "B's answer",
        "[...document.querySelectorAll('#chat .text')].some(e => e.textContent === 'on my way')",
    )
    .await;

    // A gift chosen in the page goes through the ledger and reaches B.
    let wallet = "document.querySelector('#wallet').textContent";
    until(&c, "the wallet", &format!("{wallet}.includes('100 coins')")).await;
    until(
        &c,
        "the catalog",
        "document.querySelector('#gift-item option[value=\"heart\"]')",
    )
    .await;
    c.find(Locator::Id("gift-item"))
        .await
        .unwrap()
        .select_by_value("heart")
        .await
        .unwrap();
    c.find(Locator::Css("#gift-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let bmid = b.node.member_id();
    wait_for(&mut b.events, 15, |e| match e {
        Event::Gift { from, receipt, .. }
            if *from == aid && receipt.gift == "heart" && receipt.receiver == hex_id(bmid) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    until(&c, "the gift shown", "document.querySelector('#gifts li')").await;
    until(
        &c,
        "the wallet debited",
        &format!("!{wallet}.includes('100 coins')"),
    )
    .await;

    // Voice: A joins from the page, B talks; A's page shows B talking,
    // with its loss, jitter and MOS; mute and B's volume go to A's engine.
    c.find(Locator::Id("voice-join"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "voice joined",
        "document.querySelector('#voice-join').textContent === 'Leave voice'",
    )
    .await;
    let bv = b
        .node
        .join_voice(gid, VoiceConfig::default())
        .await
        .unwrap();
    bv.set_ptt(true).await.unwrap();
    let row = format!("document.querySelector('#voice tr[data-member=\"{bid}\"]')");
    let talking = format!(
        "{row} && {row}.querySelector('.dot.talking') && Number({row}.cells[3].textContent) > 1"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        bv.talk_samples(speech_like(0.6, 3)).await.unwrap();
        let shown = c
            .execute(&format!("return !!({talking});"), vec![])
            .await
            .unwrap();
        if shown == json!(true) {
            break;
        }
        assert!(Instant::now() < deadline, "A's page never showed B talking");
    }
    c.find(Locator::Id("voice-mute"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "muted",
        "document.querySelector('#voice-mute').textContent === 'Unmute'",
    )
    .await;
    let volume = c
        .execute_async(
            &format!(
                "const [token, group, done] = arguments;
                 const slider = {row}.querySelector('input[type=range]');
                 slider.value = '2';
                 slider.dispatchEvent(new Event('change'));
                 (async () => {{
                   for (let i = 0; i < 100; i++) {{
                     const r = await fetch('/api/state?group=' + group,
                       {{ headers: {{ Authorization: 'Bearer ' + token }} }});
                     const s = (await r.json()).group.voice.streams.find(x => x.member === '{bid}');
                     if (s && s.volume === 2) return done(true);
                     await new Promise(ok => setTimeout(ok, 50));
                   }}
                   done(false);
                 }})();"
            ),
            vec![json!(p.web.token()), json!(hex::encode(gid.0))],
        )
        .await
        .unwrap();
    assert_eq!(volume, json!(true), "B's volume reached A's voice engine");

    // The admin's invite shows a QR code.
    c.find(Locator::Id("invite"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&c, "the invite QR code", "document.querySelector('#qr').naturalWidth > 0 && document.querySelector('#invite-code').value.startsWith('aura1')").await;

    if let Some(file) = std::env::var_os("AURA_WEB_SCREENSHOT") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(&file, png).unwrap();
    }

    // Another site's page (another origin on this machine) holding the
    // token still cannot act: the browser's preflight is refused, and a
    // request that needs none is refused by the server.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_url = format!("http://{}/", other.local_addr().unwrap());
    let other_site = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { axum::response::Html("<title>another site</title>") }),
    );
    let other_task = tokio::spawn(async move { axum::serve(other, other_site).await });
    c.goto(&other_url).await.unwrap();
    let refused_before = p.web.refused();
    let target = format!("http://{}/api/chat", p.web.local_addr());
    let attack = c
        .execute_async(
            "const [url, token, group, done] = arguments;
             (async () => {
             const body = (text) => JSON.stringify({ group, text });
             const out = [];
             try {
               await fetch(url, { method: 'POST', body: body('cross-site fetch'),
                 headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' } });
               out.push('fetch went through');
             } catch (e) { out.push('fetch blocked'); }
             await fetch(url + '?token=' + token, { method: 'POST', mode: 'no-cors',
               headers: { 'Content-Type': 'text/plain' }, body: body('cross-site form') });
             out.push('no-cors sent');
             done(out);
             })();",
            vec![
                json!(target),
                json!(p.web.token()),
                json!(hex::encode(gid.0)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(attack, json!(["fetch blocked", "no-cors sent"]));
    assert!(p.web.refused() > refused_before, "the server refused it");
    let history = p.a.node.chat_history(gid).await.unwrap();
    assert!(
        history.iter().all(|m| !m.text.starts_with("cross-site")),
        "another site's page sent a chat: {history:?}"
    );
    other_task.abort();

    // The admin removes B from the page: B's marker disappears.
    c.goto(&p.web.url()).await.unwrap();
    until(&c, "B's marker again", &near(second)).await;
    c.find(Locator::Css(&format!("button[data-remove=\"{bid}\"]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(&format!(
        "button[data-remove=\"{bid}\"][data-armed]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    until(
        &c,
        "B gone from map and members",
        &format!(
            "!document.querySelector('[data-member=\"{bid}\"]') && \
             !document.querySelector('#status').textContent"
        ),
    )
    .await;
    wait_for(&mut b.events, 15, |e| match e {
        Event::RemovedFromGroup { group } if *group == gid => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(p.a.node.members(gid).await.unwrap().len(), 1);

    bv.leave().await;
    c.close().await.unwrap();
    p.web.shutdown().await;
    p.a.node.shutdown().await;
    b.node.shutdown().await;
    eprintln!("browser test took {:?}", started.elapsed());
}
