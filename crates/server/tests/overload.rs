//! End-to-end: overload. While some clients flood — an XMPP client writing messages as fast as it can at
//! a user who stopped reading, and a REST client hammering the API with one token — other users chat over
//! XMPP and REST. The well-behaved users get every message exactly once, the server's memory stays
//! bounded, the REST flooder gets HTTP 429 with `Retry-After`, the XMPP flooder is slowed by the shaper,
//! and the user who stopped reading is closed with one stream error and one log line.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use support::world::World;
use support::Db;

/// Messages each well-behaved user sends over XMPP, and over REST.
const XMPP_EACH: usize = 60;
const REST_EACH: usize = 15;
/// Well-behaved users (they chat in a ring: each sends to the next).
const CHATTERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flooders_get_the_protocols_answers_while_others_lose_nothing() {
    let metrics = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let logins = ["c0", "c1", "c2", "c3", "flooder", "sink", "hammer"];
    let w = Arc::new(
        World::start(
            Db::Sqlite,
            &[
                ("PALAVER_METRICS_ADDR", &metrics),
                ("PALAVER_REST_RATE_PER_TOKEN", "20"),
                ("PALAVER_REST_BURST_PER_TOKEN", "40"),
            ],
            "Overload",
            &logins,
        )
        .await,
    );
    let (flooder, sink, hammer) = (4, 5, 6);
    let tokens: Vec<String> = join_all((0..CHATTERS).map(|n| w.token(n))).await;
    let hammer_token = w.token(hammer).await;
    // Warm-up, so first allocations are not counted as growth.
    drop(w.online(0).await);
    let before = w.server.rss_kib();

    // The user who stops reading: online, then silent.
    let mut sink_client = w.online(sink).await;

    let stop = Arc::new(AtomicBool::new(false));
    // XMPP flooder: 4 KB messages at the sink, as fast as the socket takes them.
    // It blocks whenever the server reads it more slowly than it writes (the shaper), and is aborted at
    // the end.
    let flooded = Arc::new(AtomicUsize::new(0));
    let xmpp_flood = {
        let (w, flooded) = (w.clone(), flooded.clone());
        tokio::spawn(async move {
            let mut client = w.online(flooder).await;
            let filler = "f".repeat(4096);
            let to = w.bare(sink);
            loop {
                let n = flooded.load(Ordering::Relaxed);
                client
                    .send(&format!(
                        r#"<message xmlns="jabber:client" type="chat" to="{to}" id="flood{n}"><body>{filler}</body></message>"#
                    ))
                    .await;
                flooded.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // REST flooder: one token, requests back to back.
    let refused = Arc::new(AtomicUsize::new(0));
    let rest_flood = {
        let (w, stop, refused) = (w.clone(), stop.clone(), refused.clone());
        tokio::spawn(async move {
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let response = w
                    .http
                    .get(format!("{}/chat/Dialog.json", w.server.http))
                    .header("CB-Token", &hammer_token)
                    .send()
                    .await
                    .unwrap();
                sent += 1;
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    assert!(response.headers().contains_key("retry-after"));
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            sent
        })
    };

    // The well-behaved users chat in a ring over XMPP and REST meanwhile.
    let mut clients = Vec::new();
    for n in 0..CHATTERS {
        clients.push(w.online(n).await);
    }
    let chats = clients.into_iter().enumerate().map(|(n, mut client)| {
        let w = w.clone();
        let token = tokens[n].clone();
        async move {
            let next = (n + 1) % CHATTERS;
            let to = w.bare(next);
            for i in 0..XMPP_EACH {
                client
                    .send(&format!(
                        r#"<message xmlns="jabber:client" type="chat" to="{to}" id="x{n}-{i}"><body>from{n}-x{i}</body></message>"#
                    ))
                    .await;
            }
            for i in 0..REST_EACH {
                let (status, body) = w
                    .rest(
                        reqwest::Method::POST,
                        "/chat/Message.json",
                        &token,
                        Some(json!({"recipient_id": w.id(next), "message": format!("from{n}-r{i}"),
                            "send_to_chat": 1})),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
            client
        }
    });
    let clients = join_all(chats).await;
    // Each receives everything its predecessor sent, exactly once.
    let receives = clients.into_iter().enumerate().map(|(n, mut client)| async move {
        let from = (n + CHATTERS - 1) % CHATTERS;
        let mut seen = HashSet::new();
        let open = format!("<body>from{from}-");
        while seen.len() < XMPP_EACH + REST_EACH {
            let frame = client.expect_answering_pings(&open).await;
            let mut rest = frame.as_str();
            while let Some(at) = rest.find(&open) {
                rest = &rest[at + open.len()..];
                let tag = rest[..rest.find('<').unwrap()].to_owned();
                assert!(seen.insert(tag.clone()), "{tag} arrived twice at c{n}");
            }
        }
        seen.len()
    });
    let received = join_all(receives).await;
    assert_eq!(received, vec![XMPP_EACH + REST_EACH; CHATTERS]);

    // The flood goes on until the sink's queue overflowed (the flooder is shaped to 50 stanzas/s, so this
    // takes a while).
    for _ in 0..1200 {
        if w.server
            .log_text()
            .contains("outbound queue full; closing slow session")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    xmpp_flood.abort();
    let flooded = flooded.load(Ordering::Relaxed);
    let hammered = rest_flood.await.unwrap();
    let refused = refused.load(Ordering::Relaxed);
    assert!(refused > 0, "{hammered} REST requests, none refused");

    // The sink was closed for not reading: when it reads again it finds one policy-violation.
    let frames = sink_client.drain(Duration::from_secs(5)).await;
    assert!(
        frames.iter().any(|frame| frame.contains("policy-violation")),
        "sink after {flooded} flood messages: {:?}",
        frames.last()
    );

    let page = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"palaver_limited_total{limit="rest_token"}"#),
        "{page}"
    );
    assert!(
        page.contains(r#"palaver_limited_total{limit="xmpp_stanzas"}"#),
        "{page}"
    );
    let log = w.server.log_text();
    assert_eq!(
        log.matches("outbound queue full; closing slow session").count(),
        1
    );
    // Beyond the access log (one line per HTTP request, by design), refusals add no log lines.
    let other = log
        .lines()
        .filter(|line| !line.contains("palaver::access"))
        .count();
    assert!(other < 500, "{other} log lines besides the access log");

    let after = w.server.rss_kib();
    assert!(
        after < before + 96 * 1024,
        "RSS grew from {before} KiB to {after} KiB ({flooded} flood messages, {hammered} REST requests)"
    );
}
