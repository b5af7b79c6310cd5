//! Bursts of logins against the real server: wrong passwords over XMPP and REST at once cannot move its
//! memory (password checks wait in a bounded queue and cost one PBKDF2 derivation each), every attempt
//! gets its protocol's answer, and the right password still works for others afterwards.

mod support;

use futures_util::future::join_all;
use serde_json::json;
use support::world::{password, World};
use support::xmpp::{plain, Client};
use support::Db;

const BURST: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_password_bursts_leave_memory_where_it_was() {
    let world = World::start(Db::Sqlite, &[], "Burst", &["target", "bystander"]).await;
    // Warm up: one login of each kind, so the first allocations are not counted as growth.
    world.token(1).await;
    drop(world.login(1).await);
    let before = world.server.rss_kib();

    let xmpp = (0..BURST).map(|i| {
        let c2s = world.server.c2s.clone();
        let node = world.node(0);
        async move {
            let mut client = Client::tcp(&c2s).await;
            client.open("localhost").await;
            client
                .send(&format!(
                    r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
                    plain(&node, &format!("wrong-{i}"))
                ))
                .await;
            client.expect("<failure").await
        }
    });
    let rest = (0..BURST).map(|i| {
        let request = world
            .http
            .post(format!("{}/session.json", world.server.http))
            .json(&json!({"application_id": world.app, "auth_key": world.key,
                "user": {"login": "target", "password": format!("wrong-{i}")}}));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let (refused_xmpp, refused_rest) = tokio::join!(join_all(xmpp), join_all(rest));
    assert_eq!(refused_xmpp.len(), BURST);
    assert!(
        refused_xmpp.iter().all(|f| f.contains("not-authorized")),
        "{refused_xmpp:?}"
    );
    assert_eq!(refused_rest, vec![401; BURST]);

    let after = world.server.rss_kib();
    // One argon2id check alone took 19 MiB; fifty at once took the server up by about 900 MiB.
    assert!(
        after < before + 48 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );

    // Nobody is locked out: another user behind the same address still logs in both ways.
    let token = world.token(1).await;
    assert_eq!(token.len(), 40);
    let mut client = Client::websocket(&world.server.ws).await;
    let jid = client
        .login("localhost", &world.node(1), &password("bystander"))
        .await;
    assert!(jid.starts_with(&world.bare(1)), "{jid}");

    let metrics = world
        .http
        .get(format!("{}/metrics", world.server.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("palaver_password_checks_running 0"),
        "no check left running"
    );
}
