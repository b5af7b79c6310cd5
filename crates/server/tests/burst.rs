//! Bursts over real sockets: thousands of messages sent over REST (`send_to_chat=1`) and over XMPP, to a
//! user who is online and to one who is offline, arrive exactly once each — nothing missing, nothing
//! duplicated. REST-sent messages reach chat sessions through the domain event bus, which never drops
//! an event (its publishers wait for room instead).

mod support;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use support::world::{password, World};
use support::xmpp::Client;
use support::Db;

const REST_SENDERS: usize = 16;
const REST_EACH: usize = 150;
const XMPP_MESSAGES: usize = 1500;

/// Reads until `expected` distinct `tag-N` bodies have arrived; fails on a duplicate or when the stream
/// goes quiet first.
async fn collect(client: &mut Client, tag: &str, expected: usize) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let open = format!("<body>{tag}-");
    while seen.len() < expected {
        let frames = client.drain(Duration::from_secs(10)).await;
        assert!(
            !frames.is_empty(),
            "{tag}: the stream went quiet after {} of {expected}",
            seen.len()
        );
        for frame in frames {
            let mut rest = frame.as_str();
            while let Some(at) = rest.find(&open) {
                rest = &rest[at + open.len()..];
                let n: usize = rest[..rest.find('<').unwrap()].parse().unwrap();
                assert!(seen.insert(n), "{tag}-{n} arrived twice");
            }
        }
    }
    seen
}

async fn run(db: Db) {
    // Bursts on purpose: the shaper and the per-token REST limit would only slow them down.
    let env = [
        ("PALAVER_XMPP_STANZA_RATE", "0"),
        ("PALAVER_REST_RATE_PER_TOKEN", "0"),
    ];
    let world = World::start(db, &env, "Burst", &["alice", "bob", "carol"]).await;
    let mut bob = world.online(1).await;

    // REST: 16 clients at once, each sending its share to bob in real time.
    let token = world.token(0).await;
    let senders = (0..REST_SENDERS).map(|s| {
        let (world, token) = (&world, token.clone());
        async move {
            for i in 0..REST_EACH {
                let n = s * REST_EACH + i;
                let (status, body) = world
                    .rest(
                        Method::POST,
                        "/chat/Message",
                        &token,
                        Some(json!({"recipient_id": world.id(1), "message": format!("rest-{n}"), "send_to_chat": 1})),
                    )
                    .await;
                assert_eq!(status.as_u16(), 201, "{body}");
            }
        }
    });
    let (_, received) = tokio::join!(
        join_all(senders),
        collect(&mut bob, "rest", REST_SENDERS * REST_EACH)
    );
    assert_eq!(received.len(), REST_SENDERS * REST_EACH);

    // XMPP: one client sends to bob (online) and to carol (offline), as fast as it can write.
    let mut alice = world.online(0).await;
    let mut burst = String::new();
    for n in 0..XMPP_MESSAGES {
        for (to, tag) in [(world.bare(1), "live"), (world.bare(2), "kept")] {
            burst.push_str(&format!(
                r#"<message xmlns="jabber:client" type="chat" to="{to}" id="{tag}{n}"><body>{tag}-{n}</body></message>"#
            ));
        }
        if n % 100 == 99 {
            alice.send(&std::mem::take(&mut burst)).await;
        }
    }
    alice.send(&burst).await;
    let live = collect(&mut bob, "live", XMPP_MESSAGES).await;
    assert_eq!(live.len(), XMPP_MESSAGES);
    // A stanza round trip after the burst: every message before it has been handled (stored or routed).
    alice
        .send(r#"<iq xmlns="jabber:client" type="get" id="after-burst" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    alice.expect("after-burst").await;

    let mut carol = Client::websocket(&world.server.ws).await;
    carol
        .online("localhost", &world.node(2), &password("carol"))
        .await;
    let kept = collect(&mut carol, "kept", XMPP_MESSAGES).await;
    assert_eq!(kept.len(), XMPP_MESSAGES);
    // Nothing more is on its way to either of them.
    for client in [&mut bob, &mut carol] {
        let late: Vec<String> = client
            .drain(Duration::from_millis(500))
            .await
            .into_iter()
            .filter(|f| f.contains("<body>"))
            .collect();
        assert!(late.is_empty(), "{late:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_arrive_exactly_once_on_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_arrive_exactly_once_on_postgres() {
    run(Db::Postgres).await;
}
