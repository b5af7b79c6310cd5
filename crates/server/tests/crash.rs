//! Crash safety: with stream management on, the server is killed with SIGKILL in the middle of a stream
//! of messages. Every message it acknowledged (`<a h=…/>`) is in history exactly once after the restart
//! and reaches its recipient exactly once; messages it had not acknowledged may or may not have made it,
//! but never twice. On SQLite and PostgreSQL; on SQLite also when the messages were only in history's
//! journal when the server died.

mod support;

use reqwest::Method;
use std::collections::HashMap;
use std::time::Duration;
use support::world::{password, whole_history, World};
use support::xmpp::{between, Client};
use support::Db;

const ACKED: usize = 200;
const IN_FLIGHT: usize = 200;

fn message(to: &str, n: usize) -> String {
    format!(
        r#"<message xmlns="jabber:client" type="chat" to="{to}" id="crash{n}"><body>crash-{n}</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
    )
}

/// How many times each `crash-N` body occurs in `frames`.
fn count_bodies(frames: &[String], counts: &mut HashMap<usize, usize>) {
    for frame in frames {
        let mut rest = frame.as_str();
        while let Some(at) = rest.find("<body>crash-") {
            rest = &rest[at + "<body>crash-".len()..];
            let n: usize = rest[..rest.find('<').unwrap()].parse().unwrap();
            *counts.entry(n).or_default() += 1;
        }
    }
}

/// alice logs in with stream management on and sends messages 0..ACKED to `to`, which the server
/// acknowledges.
async fn send_acknowledged(world: &mut World, to: &str) -> Client {
    let mut alice = world.login(0).await;
    alice.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<enabled").await;
    let mut burst = String::new();
    for n in 0..ACKED {
        burst.push_str(&message(to, n));
    }
    burst.push_str(r#"<r xmlns="urn:xmpp:sm:3"/>"#);
    alice.send(&burst).await;
    let ack = alice.expect("<a ").await;
    let handled: usize = between(&ack, r#"h=""#, "\"").parse().unwrap();
    assert_eq!(handled, ACKED, "{ack}");
    alice
}

async fn run(db: Db) {
    let env = [("PALAVER_XMPP_STANZA_RATE", "0")];
    let mut world = World::start(db, &env, "Crash", &["alice", "bob"]).await;
    let bob = world.bare(1);

    let mut alice = send_acknowledged(&mut world, &bob).await;

    // More messages on their way, then the server dies mid-stream.
    let mut burst = String::new();
    for n in ACKED..ACKED + IN_FLIGHT {
        burst.push_str(&message(&bob, n));
    }
    alice.send(&burst).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    world.server.crash();
    drop(alice);
    world.server.spawn().await;

    // bob gets every acknowledged message exactly once, and nothing twice.
    let mut client = Client::websocket(&world.server.ws).await;
    client.online("localhost", &world.node(1), &password("bob")).await;
    let mut delivered = HashMap::new();
    loop {
        let frames = client.drain(Duration::from_secs(2)).await;
        if frames.is_empty() {
            break;
        }
        count_bodies(&frames, &mut delivered);
    }
    for n in 0..ACKED {
        assert_eq!(
            delivered.get(&n),
            Some(&1),
            "acknowledged message {n} delivered once"
        );
    }
    assert!(delivered.values().all(|&c| c == 1), "nothing delivered twice");

    assert_history_has_each_once(&world, ACKED).await;
}

/// History has each of the first `acked` messages once, and nothing twice.
async fn assert_history_has_each_once(world: &World, acked: usize) {
    let token = world.token(1).await;
    let (_, dialogs) = world.rest(Method::GET, "/chat/Dialog.json", &token, None).await;
    let dialog = dialogs["items"][0]["_id"].as_str().unwrap().to_owned();
    let mut stored = HashMap::new();
    for item in whole_history(&world.http, &world.server.http, &token, &dialog).await {
        let id = item["_id"].as_str().unwrap().trim_start_matches("crash");
        *stored.entry(id.parse::<usize>().unwrap()).or_insert(0usize) += 1;
    }
    for n in 0..acked {
        assert_eq!(stored.get(&n), Some(&1), "acknowledged message {n} stored once");
    }
    assert!(stored.values().all(|&c| c == 1), "nothing stored twice");
}

/// With the recipient online nothing in the message path waits for a commit: on SQLite the
/// acknowledged messages are in history's journal, and the database takes them up to a second later.
/// Killed within that second, the server replays them from the journal when it starts again.
async fn run_recipient_online(db: Db) {
    let env = [("PALAVER_XMPP_STANZA_RATE", "0")];
    let mut world = World::start(db, &env, "Crash", &["alice", "bob"]).await;
    let bob_jid = world.bare(1);
    let mut bob = Client::websocket(&world.server.ws).await;
    bob.online("localhost", &world.node(1), &password("bob")).await;

    let alice = send_acknowledged(&mut world, &bob_jid).await;
    world.server.crash();
    drop((alice, bob));
    world.server.spawn().await;

    assert_history_has_each_once(&world, ACKED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_on_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_on_postgres() {
    run(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_to_an_online_user_survive_sigkill_on_sqlite() {
    run_recipient_online(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_to_an_online_user_survive_sigkill_on_postgres() {
    run_recipient_online(Db::Postgres).await;
}
