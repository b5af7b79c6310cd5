//! End-to-end soak: steady mixed traffic with reconnect churn for a bounded time — every round each user
//! connects (TCP and WebSocket in turn), sends to the next user over XMPP and REST, reads what was sent to
//! it, and disconnects. Nothing may be lost, and the server's memory (RSS) and open file descriptors must
//! stay flat: what they were after the warm-up rounds plus a small allowance, not growing with the rounds.
//!
//! The short form runs in the normal test run (`PALAVER_TEST_SOAK_SECS`, default 60); the long form is
//! `PALAVER_TEST_SOAK_SECS=600 cargo test -p palaver --test soak -- --nocapture` (docs/reliability.md#soak).

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::world::{password, World};
use support::xmpp::Client;
use support::Db;

const USERS: usize = 6;
/// Messages each user sends per round over XMPP, and over REST.
const XMPP_EACH: usize = 10;
const REST_EACH: usize = 2;
/// Rounds before the baseline is taken (caches, pools and allocator arenas fill up first).
const WARM_UP_ROUNDS: usize = 3;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steady_traffic_with_reconnects_keeps_memory_and_descriptors_flat() {
    let seconds: u64 = std::env::var("PALAVER_TEST_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let logins: Vec<String> = (0..USERS).map(|n| format!("soak{n}")).collect();
    let logins: Vec<&str> = logins.iter().map(String::as_str).collect();
    let w = World::start(Db::Sqlite, &[], "Soak", &logins).await;
    let tokens: Vec<String> = join_all((0..USERS).map(|n| w.token(n))).await;
    let pid = w.server.pid();

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut round = 0usize;
    let mut baseline = None;
    let mut samples = Vec::new();
    let mut delivered = 0usize;
    while round < WARM_UP_ROUNDS + 2 || Instant::now() < deadline {
        delivered += one_round(&w, &tokens, round).await;
        round += 1;
        let sample = (w.server.rss_kib(), open_fds(pid));
        samples.push(sample);
        if round == WARM_UP_ROUNDS {
            baseline = Some(sample);
        }
    }
    let (rss_base, fds_base) = baseline.unwrap();
    let (rss_end, fds_end) = *samples.last().unwrap();
    let rss_max = samples[WARM_UP_ROUNDS..].iter().map(|s| s.0).max().unwrap();
    println!(
        "soak: {round} rounds in {seconds}s, {delivered} messages delivered; RSS {rss_base} -> {rss_end} KiB \
         (max {rss_max}), fds {fds_base} -> {fds_end}"
    );
    assert_eq!(delivered, round * USERS * (XMPP_EACH + REST_EACH));
    assert!(
        rss_max < rss_base + 48 * 1024,
        "RSS grew from {rss_base} KiB to {rss_max} KiB over {round} rounds"
    );
    // Every connection of a round is closed before the sample; a few may still be closing.
    assert!(
        fds_end <= fds_base + 12,
        "open descriptors grew from {fds_base} to {fds_end} over {round} rounds"
    );
}

/// One round: everyone connects, sends to the next user, reads everything from the previous one, and
/// leaves. Returns the messages delivered.
async fn one_round(w: &World, tokens: &[String], round: usize) -> usize {
    let mut clients = Vec::new();
    for n in 0..USERS {
        let mut client = if (round + n).is_multiple_of(2) {
            Client::websocket(&w.server.ws).await
        } else {
            Client::tcp(&w.server.c2s).await
        };
        client
            .online("localhost", &w.node(n), &password(&w.users[n].1))
            .await;
        clients.push(client);
    }
    let sends = clients.iter_mut().enumerate().map(|(n, client)| async move {
        let next = (n + 1) % USERS;
        let to = w.bare(next);
        for i in 0..XMPP_EACH {
            client
                .send(&format!(
                    r#"<message xmlns="jabber:client" type="chat" to="{to}" id="s{round}-{n}-{i}"><body>r{round}-from{n}-x{i}</body></message>"#
                ))
                .await;
        }
        for i in 0..REST_EACH {
            let (status, body) = w
                .rest(
                    Method::POST,
                    "/chat/Message.json",
                    &tokens[n],
                    Some(json!({"recipient_id": w.id(next), "message": format!("r{round}-from{n}-r{i}"),
                        "send_to_chat": 1})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    });
    join_all(sends).await;
    let receives = clients.into_iter().enumerate().map(|(n, mut client)| async move {
        let from = (n + USERS - 1) % USERS;
        let open = format!("<body>r{round}-from{from}-");
        let mut seen = HashSet::new();
        while seen.len() < XMPP_EACH + REST_EACH {
            let frame = client.expect_answering_pings(&open).await;
            let mut rest = frame.as_str();
            while let Some(at) = rest.find(&open) {
                rest = &rest[at + open.len()..];
                let tag = rest[..rest.find('<').unwrap()].to_owned();
                assert!(seen.insert(tag.clone()), "round {round}: {tag} arrived twice");
            }
        }
        // Leave properly half of the time; drop the connection the other half (churn of both kinds).
        if (round + n).is_multiple_of(3) {
            client.kill();
        } else if (round + n).is_multiple_of(2) {
            client
                .send(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#)
                .await;
        } else {
            client.send("</stream:stream>").await;
        }
        seen.len()
    });
    join_all(receives).await.into_iter().sum()
}
