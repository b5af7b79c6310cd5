//! End-to-end: the real binary's XMPP service over WebSocket and TCP — login by password and token,
//! binding, presence, 1-1 chat with carbons, offline delivery, stream management and resumption, ping.

mod support;

use serde_json::json;
use std::time::Duration;
use support::xmpp::{between, plain, Client};
use support::{Db, Server};

struct World {
    server: Server,
    app: i64,
    alice: i64,
    bob: i64,
}

async fn world(db: Db, env: &[(&str, &str)]) -> World {
    let server = Server::start_with(db, env).await;
    let (app, _, _) = server.create_app("Chat");
    let alice = server.create_user(app, "alice", "alice-pass");
    let bob = server.create_user(app, "bob", "bob-pass-1");
    World {
        server,
        app,
        alice,
        bob,
    }
}

impl World {
    fn node(&self, user: i64) -> String {
        format!("{user}-{}", self.app)
    }

    fn bare(&self, user: i64) -> String {
        format!("{user}-{}@localhost", self.app)
    }

    /// A plain 1-1 chat message to `user`.
    fn chat(&self, user: i64, id: &str, body: &str) -> String {
        format!(
            r#"<message to="{}" type="chat" id="{id}" xmlns="jabber:client"><body>{body}</body></message>"#,
            self.bare(user)
        )
    }

    async fn online(&self, user: i64, password: &str) -> Client {
        let mut client = Client::websocket(&self.server.ws).await;
        client.online("localhost", &self.node(user), password).await;
        client
    }

    /// A new REST session's token for a user of the world's app (`POST /session.json` with a password).
    async fn session_token(&self, login: &str, password: &str) -> String {
        let app_key = self.server.cli(&["app", "list"])[1]["auth_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let session: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/session.json", self.server.http))
            .json(&json!({"application_id": self.app, "auth_key": app_key, "user": {"login": login, "password": password}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        session["session"]["token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn websocket_login_binds_a_long_resource_and_answers_ping() {
    let w = world(Db::Sqlite, &[]).await;
    let mut client = Client::websocket(&w.server.ws).await;
    let features = client.open("127.0.0.1").await;
    assert!(features.contains("<mechanism>PLAIN</mechanism>"), "{features}");
    assert!(
        features.contains("<mechanism>SCRAM-SHA-1</mechanism>"),
        "{features}"
    );
    assert!(features.contains("urn:xmpp:sasl:2"), "{features}");
    assert!(!features.contains("ANONYMOUS"));
    assert!(
        !features.contains("\n") && !features.contains("> <"),
        "compact: {features}"
    );

    let jid = client
        .authenticate("127.0.0.1", &w.node(w.alice), "alice-pass")
        .await;
    let resource = jid.split('/').nth(1).unwrap();
    assert!(jid.starts_with(&format!("{}/", w.bare(w.alice))), "{jid}");
    assert!(resource.len() >= 16, "{resource}");

    client.send(r#"<presence xmlns="jabber:client"/>"#).await;
    let echo = client.expect("<presence").await;
    assert!(echo.contains(&format!(r#"from="{jid}""#)), "{echo}");

    client.send(r#"<iq type="get" id="p1" to="localhost" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#).await;
    let pong = client.expect(r#"id="p1""#).await;
    assert!(pong.contains(r#"type="result""#), "{pong}");

    // A ping to a user's bare JID is answered for the account; to an unknown user it fails.
    let to_bob = format!(
        r#"<iq type="get" id="p2" to="{}" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#,
        w.bare(w.bob)
    );
    client.send(&to_bob).await;
    assert!(client.expect(r#"id="p2""#).await.contains(r#"type="result""#));
    let to_nobody = format!(
        r#"<iq type="get" id="p3" to="999999-{}@localhost" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#,
        w.app
    );
    client.send(&to_nobody).await;
    let failed = client.expect(r#"id="p3""#).await;
    assert!(
        failed.contains(r#"type="error""#) && failed.contains(r#"code="503""#),
        "{failed}"
    );

    client
        .send(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#)
        .await;
    client.expect("<close").await;
}

#[tokio::test]
async fn wrong_password_fails_and_closes_the_stream() {
    let w = world(Db::Sqlite, &[]).await;
    let mut client = Client::websocket(&w.server.ws).await;
    client.open("localhost").await;
    client
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            plain(&w.node(w.alice), "nope")
        ))
        .await;
    let failure = client.expect("<failure").await;
    assert!(failure.contains("<not-authorized"), "{failure}");
    client.expect("<close").await;
    assert_eq!(client.recv().await, None);
}

#[tokio::test]
async fn session_token_works_as_the_chat_password() {
    let w = world(Db::Sqlite, &[]).await;
    let (_, key, _) = w.server.create_app("Other");
    let _ = key;
    let token = w.session_token("alice", "alice-pass").await;
    let mut client = Client::websocket(&w.server.ws).await;
    let jid = client.login("localhost", &w.node(w.alice), &token).await;
    assert!(jid.starts_with(&w.bare(w.alice)));
}

#[tokio::test]
async fn one_to_one_chat_is_stamped_enriched_stored_and_carbon_copied() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db, &[]).await;
        let mut alice = w.online(w.alice, "alice-pass").await;
        let mut alice_phone = w.online(w.alice, "alice-pass").await;
        alice_phone
            .send(r#"<iq type="set" id="c1" xmlns="jabber:client"><enable xmlns="urn:xmpp:carbons:2"/></iq>"#)
            .await;
        alice_phone.expect(r#"id="c1""#).await;
        let mut bob = w.online(w.bob, "bob-pass-1").await;

        let message = format!(
            r#"<message from="forged@evil/x" to="{}" type="chat" id="6b068f315f6662378a000001" xmlns="jabber:client"><body>hello &amp; welcome</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history><attachment type="image" uid="763ef825ad87" size="12"/><nested><a>1</a><b><c>x</c></b></nested></extraParams></message>"#,
            w.bare(w.bob)
        );
        alice.send(&message).await;
        let got = bob.expect("<message").await;
        assert!(
            got.contains(&format!(r#"from="{}""#, alice.jid)),
            "stamped from: {got}"
        );
        assert!(got.contains(&format!(r#"to="{}""#, bob.jid)), "{got}");
        assert!(got.contains(r#"id="6b068f315f6662378a000001""#));
        assert!(got.contains("<body>hello &amp; welcome</body>"), "{got}");
        assert!(
            got.contains(r#"<attachment type="image" uid="763ef825ad87" size="12"/>"#)
                || got.contains("uid=\"763ef825ad87\""),
            "{got}"
        );
        assert!(got.contains("<nested><a>1</a><b><c>x</c></b></nested>"), "{got}");
        let dialog_id = between(&got, "<dialog_id>", "</dialog_id>").to_owned();
        assert_eq!(dialog_id.len(), 24);
        let date_sent: i64 = between(&got, "<date_sent>", "</date_sent>").parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - date_sent).abs() < 30);

        // The sender's other session gets a sent carbon; the sending session does not.
        let carbon = alice_phone.expect("<sent").await;
        assert!(
            carbon.contains("urn:xmpp:carbons:2") && carbon.contains("6b068f315f6662378a000001"),
            "{carbon}"
        );
        assert!(!carbon.contains("<received"), "{carbon}");
        let to_sender = alice.drain(Duration::from_millis(300)).await;
        assert!(
            to_sender.iter().all(|s| !s.contains("6b068f315f6662378a000001")),
            "{to_sender:?}"
        );

        // Bob answers in the same dialog.
        bob.send(&format!(
            r#"<message to="{}" type="chat" id="6b068f315f6662378a000002" xmlns="jabber:client"><body>hi alice</body><extraParams xmlns="jabber:client"><dialog_id>{dialog_id}</dialog_id><save_to_history>1</save_to_history></extraParams></message>"#,
            w.bare(w.alice)
        ))
        .await;
        let reply = alice.expect("hi alice").await;
        assert!(reply.contains(&format!("<dialog_id>{dialog_id}</dialog_id>")));

        // A message to a user that does not exist comes back as an error with the SDK's legacy code.
        alice
            .send(&format!(
                r#"<message to="424242-{}@localhost" type="chat" id="m-missing" xmlns="jabber:client"><body>anyone?</body></message>"#,
                w.app
            ))
            .await;
        let error = alice.expect("m-missing").await;
        assert!(
            error.contains(r#"type="error""#) && error.contains(r#"code="404""#) && error.contains("<text"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn offline_messages_arrive_once_with_a_delay_and_survive_a_restart() {
    let mut w = world(Db::Sqlite, &[]).await;
    let mut alice = w.online(w.alice, "alice-pass").await;
    for n in 1..=3 {
        alice
            .send(&w.chat(w.bob, &format!("off{n}"), &format!("while you were out {n}")))
            .await;
    }
    // Stream management ack: all three are durable when it arrives.
    alice.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<enabled").await;
    alice.send(r#"<r xmlns="urn:xmpp:sm:3"/>"#).await;
    alice.expect("<a ").await;
    drop(alice);

    assert!(w.server.stop().success());
    w.server.spawn().await;

    let mut bob = w.online(w.bob, "bob-pass-1").await;
    for n in 1..=3 {
        let got = bob.expect(&format!("while you were out {n}")).await;
        assert!(got.contains("urn:xmpp:delay") && got.contains("stamp="), "{got}");
        assert!(got.contains(&format!(r#"id="off{n}""#)));
    }
    // Taken once: a second session finds nothing waiting.
    let mut bob_again = Client::websocket(&w.server.ws).await;
    bob_again.online("localhost", &w.node(w.bob), "bob-pass-1").await;
    assert!(bob_again.silent_for(Duration::from_millis(500)).await.is_ok());
}

#[tokio::test]
async fn a_message_the_full_offline_store_refuses_comes_back_as_an_error() {
    let w = world(Db::Sqlite, &[]).await;
    // Bob's offline queue is at its cap.
    let store = palaver_store::connect(&palaver_store::sqlite_url(w.server.data_dir.path()))
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
         INSERT INTO offline_messages (app_id, user_id, payload, created_at) \
         SELECT $1, $2, '<message xmlns=\"jabber:client\"/>', 0 FROM n",
    )
    .bind(w.app)
    .bind(w.bob)
    .bind(palaver_core::offline::MAX_OFFLINE_PER_USER)
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;

    let mut alice = w.online(w.alice, "alice-pass").await;
    alice.send(&w.chat(w.bob, "full1", "no room")).await;
    let refused = alice.expect(r#"id="full1""#).await;
    assert!(refused.contains(r#"type="error""#), "{refused}");
    assert!(refused.contains("<resource-constraint"), "{refused}");
    // The error carries the refused message back, addressed from its recipient.
    assert!(refused.contains("no room"), "{refused}");
    assert!(
        refused.contains(&format!(r#"from="{}""#, w.bare(w.bob))),
        "{refused}"
    );
    // Sent to a resource Bob has no session on: the error comes from that address.
    alice
        .send(&format!(
            r#"<message to="{}/phone" type="chat" id="full2" xmlns="jabber:client"><body>no room either</body></message>"#,
            w.bare(w.bob)
        ))
        .await;
    let refused = alice.expect(r#"id="full2""#).await;
    assert!(refused.contains("<resource-constraint"), "{refused}");
    assert!(
        refused.contains(&format!(r#"from="{}/phone""#, w.bare(w.bob))),
        "{refused}"
    );
}

#[tokio::test]
async fn a_message_kept_offline_while_the_recipient_comes_online_still_reaches_him() {
    let w = world(Db::Sqlite, &[]).await;
    let mut alice = w.online(w.alice, "alice-pass").await;
    // Bob is bound but not yet available: a message to him now is kept offline.
    let mut bob = Client::websocket(&w.server.ws).await;
    bob.login("localhost", &w.node(w.bob), "bob-pass-1").await;

    // The database's write lock is held, so keeping the message offline waits...
    let store = palaver_store::connect(&palaver_store::sqlite_url(w.server.data_dir.path()))
        .await
        .unwrap();
    let mut lock = store.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *lock).await.unwrap();
    alice
        .send(&w.chat(w.bob, "race1", "sent as you came online"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...while Bob's initial presence looks for offline messages and finds none yet.
    let before = bob.available_and_handled().await;
    assert!(!before.contains("sent as you came online"), "{before}");

    // Once the message is kept, Bob's available session is handed it without logging in again.
    sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
    drop(lock);
    store.close().await;
    let got = bob.expect("sent as you came online").await;
    assert!(
        got.contains(r#"id="race1""#) && got.contains("urn:xmpp:delay"),
        "{got}"
    );
    // Handed once: nothing is left waiting for his next session.
    let mut bob_again = Client::websocket(&w.server.ws).await;
    bob_again.online("localhost", &w.node(w.bob), "bob-pass-1").await;
    assert!(bob_again.silent_for(Duration::from_millis(500)).await.is_ok());
}

#[tokio::test]
async fn stream_management_acks_count_stanzas_and_resumption_redelivers() {
    let w = world(Db::Sqlite, &[]).await;
    let mut bob = Client::websocket(&w.server.ws).await;
    bob.login("localhost", &w.node(w.bob), "bob-pass-1").await;
    bob.send(r#"<enable xmlns="urn:xmpp:sm:3" resume="true"/>"#).await;
    let enabled = bob.expect("<enabled").await;
    let previd = between(&enabled, r#"id=""#, "\"").to_owned();
    assert!(enabled.contains(r#"resume="true""#));
    bob.send(r#"<presence xmlns="jabber:client"/>"#).await;
    bob.expect("<presence").await;
    bob.send(r#"<r xmlns="urn:xmpp:sm:3"/>"#).await;
    let ack = bob.expect("<a ").await;
    assert!(
        ack.contains(r#"h="1""#),
        "one stanza (the presence) handled: {ack}"
    );

    let mut alice = w.online(w.alice, "alice-pass").await;
    alice.send(&w.chat(w.bob, "r1", "first")).await;
    bob.expect("first").await;
    // Bob's link dies without acknowledging; a message sent meanwhile is held for him.
    bob.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send(&w.chat(w.bob, "r2", "second")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut resumed = Client::websocket(&w.server.ws).await;
    resumed.open("localhost").await;
    resumed
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            plain(&w.node(w.bob), "bob-pass-1")
        ))
        .await;
    resumed.expect("<success").await;
    resumed.open("localhost").await;
    // h=1: Bob saw the presence echo only (his client never acked "first").
    resumed
        .send(&format!(
            r#"<resume xmlns="urn:xmpp:sm:3" previd="{previd}" h="1"/>"#
        ))
        .await;
    let answer = resumed.expect("<resumed").await;
    assert!(answer.contains(r#"h="1""#), "{answer}");
    resumed.expect("first").await;
    resumed.expect("second").await;
}

#[tokio::test]
async fn tcp_with_starttls_and_direct_tls_log_in_with_scram() {
    let w = world(Db::Sqlite, &[]).await;
    let cert = std::fs::read(w.server.data_dir.path().join("tls/cert.pem")).unwrap();

    let mut client = Client::tcp(&w.server.c2s).await;
    let features = client.open("localhost").await;
    assert!(features.contains("<starttls"), "{features}");
    client.starttls(&cert).await;
    let features = client.open("localhost").await;
    assert!(!features.contains("<starttls"), "{features}");
    let outcome = support::xmpp::scram_sha1(&mut client, &w.node(w.alice), "alice-pass").await;
    assert!(outcome.contains("<success"), "{outcome}");
    client.open("localhost").await;
    client.send(r#"<iq type="set" id="b" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#).await;
    let bound = client.expect(r#"id="b""#).await;
    assert!(bound.contains(&format!("<jid>{}/", w.bare(w.alice))), "{bound}");

    // A wrong password fails SCRAM too.
    let mut wrong = Client::tcp(&w.server.c2s).await;
    wrong.open("localhost").await;
    let outcome = support::xmpp::scram_sha1(&mut wrong, &w.node(w.alice), "not-her-password").await;
    assert!(outcome.contains("<not-authorized"), "{outcome}");

    let stream = tokio::net::TcpStream::connect(&w.server.c2s_tls).await.unwrap();
    let tls = support::xmpp::tls_connect(stream, &cert).await;
    let mut direct = Client {
        link: support::xmpp::Link::Tcp(Box::new(tls), String::new()),
        jid: String::new(),
    };
    let jid = direct.login("localhost", &w.node(w.bob), "bob-pass-1").await;
    assert!(jid.starts_with(&w.bare(w.bob)));
}

#[tokio::test]
async fn sasl2_with_bind2_is_online_without_a_restart() {
    let w = world(Db::Sqlite, &[]).await;
    let mut client = Client::websocket(&w.server.ws).await;
    client.open("localhost").await;
    client
        .send(&format!(
            r#"<authenticate xmlns="urn:xmpp:sasl:2" mechanism="PLAIN"><initial-response>{}</initial-response><bind xmlns="urn:xmpp:bind:0"><enable xmlns="urn:xmpp:sm:3"/><enable xmlns="urn:xmpp:carbons:2"/></bind></authenticate>"#,
            plain(&w.node(w.bob), "bob-pass-1")
        ))
        .await;
    let success = client.expect("<success").await;
    assert!(
        success.contains("urn:xmpp:sasl:2") && success.contains("<bound"),
        "{success}"
    );
    let jid = between(
        &success,
        "<authorization-identifier>",
        "</authorization-identifier>",
    );
    assert!(jid.starts_with(&format!("{}/", w.bare(w.bob))), "full JID: {jid}");
    // Online at once: no features with a second bind.
    client.send(r#"<presence xmlns="jabber:client"/>"#).await;
    let echo = client.expect("<presence").await;
    assert!(echo.contains(jid));
    // Counting started with <bound/>: the presence is one handled stanza.
    client.send(r#"<r xmlns="urn:xmpp:sm:3"/>"#).await;
    assert!(client.expect("<a ").await.contains(r#"h="1""#));
}

#[tokio::test]
async fn destroying_the_rest_session_ends_the_chat_session_that_used_its_token() {
    let w = world(Db::Sqlite, &[]).await;
    let http = reqwest::Client::new();
    let token = w.session_token("bob", "bob-pass-1").await;
    let mut by_token = Client::websocket(&w.server.ws).await;
    by_token.online("localhost", &w.node(w.bob), &token).await;
    let mut by_password = w.online(w.bob, "bob-pass-1").await;

    http.delete(format!("{}/session.json", w.server.http))
        .header("CB-Token", &token)
        .send()
        .await
        .unwrap();
    let error = by_token.expect("<error").await;
    assert!(
        error.contains("policy-violation") || error.contains("not-authorized"),
        "{error}"
    );
    // The password session lives on.
    by_password
        .send(r#"<iq type="get" id="alive" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    by_password.expect(r#"id="alive""#).await;
}

/// A REST session's token is kept sealed; the first SCRAM login with it derives its keys (SHA-1 and
/// SHA-256 at once), later ones use them, and a password login never derives anything.
#[tokio::test]
async fn a_session_token_logs_in_over_scram_again_and_again_with_its_keys_derived_once() {
    let w = world(Db::Sqlite, &[]).await;
    assert_eq!(
        std::fs::read_to_string(w.server.data_dir.path().join("token_key"))
            .unwrap()
            .len(),
        64,
        "a single node makes its token key"
    );
    let http = reqwest::Client::new();
    let tokens = [
        w.session_token("bob", "bob-pass-1").await,
        w.session_token("bob", "bob-pass-1").await,
    ];
    let derived = || async {
        let page = http
            .get(format!("{}/metrics", w.server.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        page.lines()
            .find_map(|line| line.strip_prefix("palaver_token_keys_derived_total "))
            .map_or(0, |value| value.trim().parse::<u64>().unwrap())
    };
    let scram_login = |secret: String| {
        let node = w.node(w.bob);
        let ws = w.server.ws.clone();
        async move {
            let mut client = Client::websocket(&ws).await;
            client.open("localhost").await;
            support::xmpp::scram_sha1(&mut client, &node, &secret).await
        }
    };

    let outcome = scram_login("bob-pass-1".into()).await;
    assert!(outcome.contains("<success"), "{outcome}");
    assert_eq!(derived().await, 0, "the password matched first");

    // The older token: the newer one is derived first (and does not match), then this one.
    for round in 0..3 {
        let outcome = scram_login(tokens[0].clone()).await;
        assert!(outcome.contains("<success"), "round {round}: {outcome}");
        assert_eq!(derived().await, 2, "round {round}");
    }
    let outcome = scram_login(tokens[1].clone()).await;
    assert!(outcome.contains("<success"), "{outcome}");
    let outcome = scram_login("not-a-token".into()).await;
    assert!(outcome.contains("<not-authorized"), "{outcome}");
    assert_eq!(derived().await, 2, "nothing left to derive");

    // A destroyed session's token no longer logs in.
    http.delete(format!("{}/session.json", w.server.http))
        .header("CB-Token", &tokens[0])
        .send()
        .await
        .unwrap();
    let outcome = scram_login(tokens[0].clone()).await;
    assert!(outcome.contains("<not-authorized"), "{outcome}");
}

#[tokio::test]
async fn idle_clients_are_pinged_and_dead_ones_dropped() {
    let w = world(
        Db::Sqlite,
        &[
            ("PALAVER_XMPP_PING_INTERVAL_SECS", "1"),
            ("PALAVER_XMPP_PING_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let mut watcher = w.online(w.alice, "alice-pass").await;
    let mut silent = w.online(w.alice, "alice-pass").await;
    watcher.expect_answering_pings(&silent.jid.clone()).await;

    // One that never answers is dropped, and the user's other session (which answers) sees it go.
    silent.expect("urn:xmpp:ping").await;
    let gone = watcher.expect_answering_pings(r#"type="unavailable""#).await;
    assert!(gone.contains(&silent.jid), "{gone}");
    // The watcher, which answers, kept its session through the same ping rounds.
    watcher
        .send(r#"<iq type="get" id="still" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    let still = watcher.expect_answering_pings(r#"id="still""#).await;
    assert!(still.contains(r#"type="result""#), "{still}");
}

#[tokio::test]
async fn quiet_sessions_carry_on_where_they_were() {
    // A tick every half second (half the ping timeout); no ping within the test.
    let w = world(
        Db::Sqlite,
        &[
            ("PALAVER_XMPP_PING_INTERVAL_SECS", "60"),
            ("PALAVER_XMPP_PING_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let mut alice = Client::tcp(&w.server.c2s).await;
    alice.online("localhost", &w.node(w.alice), "alice-pass").await;
    let mut bob = w.online(w.bob, "bob-pass-1").await;
    // Quiet over a few of the sessions' ticks.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Both parse on from where they were: a whitespace keep-alive, then stanzas both ways, and the TCP
    // stream's close, which only a parser inside `<stream:stream>` takes for one.
    alice.send(" \n").await;
    alice.send(&w.chat(w.bob, "a1", "from alice")).await;
    let got = bob.expect(r#"id="a1""#).await;
    assert!(got.contains("<body>from alice</body>"), "{got}");
    bob.send(&w.chat(w.alice, "b1", "from bob")).await;
    let got = alice.expect(r#"id="b1""#).await;
    assert!(got.contains("<body>from bob</body>"), "{got}");
    alice.send("</stream:stream>").await;
    let rest = alice.until_closed().await.join("");
    assert!(
        rest.contains("</stream:stream>") && !rest.contains("error"),
        "{rest}"
    );
}

#[tokio::test]
async fn oversized_and_restricted_xml_end_the_stream_with_the_rfc_error() {
    let w = world(Db::Sqlite, &[]).await;
    let mut client = Client::websocket(&w.server.ws).await;
    client.open("localhost").await;
    // Before authentication stanzas are limited to 10 KB.
    client
        .send(&format!(
            r#"<message xmlns="jabber:client"><body>{}</body></message>"#,
            "x".repeat(20_000)
        ))
        .await;
    let error = client.expect("<error").await;
    assert!(error.contains("policy-violation"), "{error}");

    let mut tcp = Client::tcp(&w.server.c2s).await;
    tcp.open("localhost").await;
    tcp.send("<!-- a comment is not allowed -->").await;
    let error = tcp.expect("error").await;
    assert!(
        error.contains("restricted-xml") || error.contains("not-well-formed"),
        "{error}"
    );

    // The server is still fine for everyone else.
    let mut alice = w.online(w.alice, "alice-pass").await;
    alice
        .send(r#"<iq type="get" id="ok" xmlns="jabber:client"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    alice.expect(r#"id="ok""#).await;
}

#[tokio::test]
async fn a_shutdown_loses_no_unacknowledged_message() {
    let mut w = world(Db::Sqlite, &[]).await;
    let mut bob = Client::websocket(&w.server.ws).await;
    bob.login("localhost", &w.node(w.bob), "bob-pass-1").await;
    bob.send(r#"<enable xmlns="urn:xmpp:sm:3"/>"#).await;
    bob.expect("<enabled").await;
    bob.send(r#"<presence xmlns="jabber:client"/>"#).await;
    bob.expect("<presence").await;
    let mut alice = w.online(w.alice, "alice-pass").await;
    alice.send(&w.chat(w.bob, "unacked1", "did you get this?")).await;
    // Bob's client receives it but never acknowledges it before the server goes down.
    bob.expect("did you get this?").await;
    assert!(w.server.stop().success());
    w.server.spawn().await;

    let mut bob_again = w.online(w.bob, "bob-pass-1").await;
    let again = bob_again.expect("did you get this?").await;
    assert!(
        again.contains("urn:xmpp:delay") && again.contains(r#"id="unacked1""#),
        "{again}"
    );
}

#[tokio::test]
async fn rest_lists_the_users_online_in_chat() {
    let w = world(Db::Sqlite, &[]).await;
    let key = w.server.cli(&["app", "list"])[1]["auth_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let session: serde_json::Value = http
        .post(format!("{}/session.json", w.server.http))
        .json(&json!({"application_id": w.app, "auth_key": key}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["session"]["token"].as_str().unwrap().to_owned();
    let online = |query: &'static str| {
        let http = http.clone();
        let url = format!("{}/users/online.json{query}", w.server.http);
        let token = token.clone();
        async move {
            http.get(url)
                .header("CB-Token", token)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(online("?count=true").await, json!({"count": 0}));
    let _alice = w.online(w.alice, "alice-pass").await;
    let _bob = w.online(w.bob, "bob-pass-1").await;
    assert_eq!(online("?count=true").await, json!({"count": 2}));
    let listed = online("?limit=5").await;
    let ids: Vec<i64> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![w.alice, w.bob]);
    assert_eq!(listed["users"][0]["login"], "alice");
}
