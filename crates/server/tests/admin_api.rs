//! End-to-end: the admin API of the real binary — the token on every route, and each action's effect as
//! the public REST API and XMPP logins see it.

mod support;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha1::Sha1;
use support::world::{answer, password, World};
use support::xmpp::{plain, Client};
use support::{Db, Server};

const TOKEN: &str = "admin-test-token-0123456789";

async fn world(db: Db, logins: &[&str]) -> World {
    World::start(db, &[("PALAVER_ADMIN_TOKEN", TOKEN)], "Admin", logins).await
}

/// An admin call with the right token.
async fn admin(w: &World, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = w
        .http
        .request(method, format!("{}{path}", w.server.http))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request).await
}

async fn session_for(w: &World, login: &str, password: &str) -> (StatusCode, Value) {
    let request = w
        .http
        .post(format!("{}/session.json", w.server.http))
        .json(&json!({"application_id": w.app, "auth_key": w.key,
            "user": {"login": login, "password": password}}));
    answer(request).await
}

/// Whether SASL PLAIN over WebSocket succeeds.
async fn chat_login_succeeds(w: &World, n: usize) -> bool {
    let mut client = Client::websocket(&w.server.ws).await;
    client.open("localhost").await;
    client
        .send(&format!(
            r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{}</auth>"#,
            plain(&w.node(n), &password(&w.users[n].1))
        ))
        .await;
    loop {
        let frame = client.recv().await.expect("an answer to the login");
        if frame.contains("<success") {
            return true;
        }
        if frame.contains("<failure") {
            assert!(frame.contains("not-authorized"), "{frame}");
            return false;
        }
    }
}

#[tokio::test]
async fn every_admin_route_refuses_a_missing_or_wrong_token() {
    let w = world(Db::Sqlite, &["alice"]).await;
    let (status, doc) = admin(&w, Method::GET, "/admin/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("the OpenAPI paths");
    let mut walked = 0;
    for (path, operations) in paths {
        let url = path
            .replace("{app_id}", &w.app.to_string())
            .replace("{user_id}", &w.id(0).to_string())
            .replace("{session_id}", "1")
            .replace("{dialog_id}", "5f0000000000000000000001")
            .replace("{message_ids}", "m1")
            .replace("{provider}", "fcm");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = format!("{}{url}", w.server.http);
            for token in [None, Some("wrong-token"), Some("")] {
                let mut request = w.http.request(method.clone(), &url).json(&json!({"name": "x"}));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let (status, body) = answer(request).await;
                assert_eq!(
                    (status, body),
                    (StatusCode::UNAUTHORIZED, json!({"errors": ["Unauthorized"]})),
                    "{method} {url} with {token:?}"
                );
            }
            walked += 1;
        }
    }
    assert_eq!(walked, 39, "operations in the OpenAPI document");
    // Nothing changed: the one application is still there under its name.
    let (_, apps) = admin(&w, Method::GET, "/admin/apps", None).await;
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["Default", "Admin"]);
}

#[tokio::test]
async fn a_blocked_user_gets_no_session_and_no_chat_login_until_unblocked() {
    let w = world(Db::Sqlite, &["alice", "bob"]).await;
    let token = w.token(0).await;
    assert!(chat_login_succeeds(&w, 0).await);

    let path = format!("/admin/apps/{}/users/{}/block", w.app, w.id(0));
    let (status, user) = admin(&w, Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(
        (user["id"].as_i64(), user["blocked"].as_bool()),
        (Some(w.id(0)), Some(true))
    );

    // The session he had is over, a new one is refused with the ConnectyCube error body.
    let (status, _) = w.rest(Method::GET, "/session.json", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = session_for(&w, "alice", &password("alice")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"errors": {"base": ["This user is blocked"]}})
        )
    );
    assert!(!chat_login_succeeds(&w, 0).await);
    // Bob is not affected.
    assert!(chat_login_succeeds(&w, 1).await);
    let (status, _) = session_for(&w, "bob", &password("bob")).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, user) = admin(&w, Method::DELETE, &path, None).await;
    assert_eq!((status, user["blocked"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = session_for(&w, "alice", &password("alice")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(chat_login_succeeds(&w, 0).await);

    let (_, log) = admin(&w, Method::GET, "/admin/audit", None).await;
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("user.unblock", "api"), ("user.block", "api")]);
}

fn sign(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A v3-style signed application session request.
async fn signed_session(w: &World, key: &str, secret: &str, nonce: i64) -> (StatusCode, Value) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let message = format!(
        "application_id={}&auth_key={key}&nonce={nonce}&timestamp={ts}",
        w.app
    );
    let body = json!({"application_id": w.app, "auth_key": key, "nonce": nonce, "timestamp": ts,
        "signature": sign(secret, &message)});
    answer(w.http.post(format!("{}/session.json", w.server.http)).json(&body)).await
}

#[tokio::test]
async fn rotated_keys_replace_the_old_ones_and_apps_are_renamed_and_deleted() {
    let w = world(Db::Sqlite, &["alice"]).await;
    let (_, before) = admin(&w, Method::GET, &format!("/admin/apps/{}", w.app), None).await;
    let old_secret = before["auth_secret"].as_str().unwrap().to_owned();
    let (status, _) = signed_session(&w, &w.key, &old_secret, 1).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, after) = admin(
        &w,
        Method::POST,
        &format!("/admin/apps/{}/rotate_keys", w.app),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (key, secret) = (
        after["auth_key"].as_str().unwrap(),
        after["auth_secret"].as_str().unwrap(),
    );
    assert_ne!((key, secret), (w.key.as_str(), old_secret.as_str()));

    let (status, body) = signed_session(&w, &w.key, &old_secret, 2).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": ["Unknown application or wrong auth_key"]})
        )
    );
    let (status, body) = signed_session(&w, key, &old_secret, 3).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": ["Unexpected signature"]})
        )
    );
    let (status, _) = signed_session(&w, key, secret, 4).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, renamed) = admin(
        &w,
        Method::PUT,
        &format!("/admin/apps/{}", w.app),
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (StatusCode::OK, Some("Renamed"))
    );
    let (_, settings) = admin(&w, Method::GET, &format!("/admin/apps/{}/settings", w.app), None).await;
    assert_eq!(settings["push_credentials"], json!({"fcm": false, "apns": false}));

    let (status, _) = admin(&w, Method::DELETE, &format!("/admin/apps/{}", w.app), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = signed_session(&w, key, secret, 5).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = admin(
        &w,
        Method::GET,
        &format!("/admin/apps/{}/users/{}", w.app, w.id(0)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_broadcast_without_owner_reaches_users_and_dialogs_are_edited_and_deleted() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db, &["alice", "bob"]).await;
        let dialogs = format!("/admin/apps/{}/dialogs", w.app);
        let (status, created) = admin(&w, Method::POST, &dialogs, Some(json!({"name": "News"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(
            (created["type"].as_i64(), created["user_id"].as_i64()),
            (Some(1), Some(0))
        );
        let id = created["_id"].as_str().unwrap().to_owned();

        let token = w.token(1).await;
        let (_, listed) = w.rest(Method::GET, "/chat/Dialog", &token, None).await;
        let names: Vec<&str> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(names, ["News"]);

        // A group dialog needs its owner; admins found by name and type.
        let group = json!({"type": 2, "name": "Team", "user_id": w.id(0), "occupants_ids": [w.id(1)]});
        let (status, team) = admin(&w, Method::POST, &dialogs, Some(group)).await;
        assert_eq!(status, StatusCode::CREATED, "{team}");
        let (status, _) = admin(
            &w,
            Method::POST,
            &dialogs,
            Some(json!({"type": 2, "name": "No owner"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, found) = admin(&w, Method::GET, &format!("{dialogs}?name=new&type=1"), None).await;
        assert_eq!(
            (found["total_entries"].as_i64(), found["items"][0]["_id"].as_str()),
            (Some(1), Some(id.as_str()))
        );
        let (_, shown) = admin(
            &w,
            Method::GET,
            &format!("{dialogs}/{}", team["_id"].as_str().unwrap()),
            None,
        )
        .await;
        let logins: Vec<&str> = shown["occupants"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["login"].as_str())
            .collect();
        assert_eq!(logins, ["alice", "bob"]);

        let (status, edited) = admin(
            &w,
            Method::PUT,
            &format!("{dialogs}/{id}"),
            Some(json!({"name": "Announcements"})),
        )
        .await;
        assert_eq!(
            (status, edited["name"].as_str()),
            (StatusCode::OK, Some("Announcements"))
        );
        let (_, listed) = w.rest(Method::GET, "/chat/Dialog?type=1", &token, None).await;
        assert_eq!(listed["items"][0]["name"], "Announcements");

        let (status, _) = admin(&w, Method::DELETE, &format!("{dialogs}/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, listed) = w.rest(Method::GET, "/chat/Dialog?type=1", &token, None).await;
        assert_eq!(listed["items"], json!([]));
    }
}

#[tokio::test]
async fn moderation_finds_and_deletes_messages_for_everyone() {
    let w = world(Db::Sqlite, &["alice", "bob"]).await;
    let (alice, bob) = (w.token(0).await, w.token(1).await);
    let (_, dialog) = w
        .rest(
            Method::POST,
            "/chat/Dialog",
            &alice,
            Some(json!({"type": 2, "name": "Room", "occupants_ids": [w.id(1)]})),
        )
        .await;
    let dialog_id = dialog["_id"].as_str().unwrap().to_owned();
    for text in ["hello there", "some SPAM here", "bye"] {
        let (status, _) = w
            .rest(
                Method::POST,
                "/chat/Message",
                &alice,
                Some(json!({"chat_dialog_id": dialog_id, "message": text})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let search = format!("/admin/apps/{}/messages?text=spam&sender_id={}", w.app, w.id(0));
    let (_, found) = admin(&w, Method::GET, &search, None).await;
    assert_eq!(found["total_entries"], 1);
    assert_eq!(found["items"][0]["message"], "some SPAM here");
    let message_id = found["items"][0]["_id"].as_str().unwrap().to_owned();

    let path = format!("/admin/apps/{}/dialogs/{dialog_id}/messages/{message_id}", w.app);
    let (status, deleted) = admin(&w, Method::DELETE, &path, None).await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({"deleted": [message_id]}))
    );
    let (_, history) = w
        .rest(
            Method::GET,
            &format!("/chat/Message?chat_dialog_id={dialog_id}"),
            &bob,
            None,
        )
        .await;
    let texts: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(texts, ["hello there", "bye"]);
    let (status, _) = admin(&w, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_are_searched_created_reset_kicked_and_deleted() {
    let w = world(Db::Sqlite, &["alice", "bob", "albert"]).await;
    let users = format!("/admin/apps/{}/users", w.app);
    let (_, found) = admin(&w, Method::GET, &format!("{users}?q=AL&limit=1"), None).await;
    assert_eq!(
        (
            found["total_entries"].as_i64(),
            found["items"][0]["login"].as_str()
        ),
        (Some(2), Some("alice"))
    );
    let (_, next) = admin(&w, Method::GET, &format!("{users}?q=al&limit=1&skip=1"), None).await;
    assert_eq!(next["items"][0]["login"], "albert");

    let (status, carol) = admin(
        &w,
        Method::POST,
        &users,
        Some(json!({"login": "carol", "password": "carol-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{carol}");
    let (status, _) = session_for(&w, "carol", "carol-password").await;
    assert_eq!(status, StatusCode::CREATED);

    // Sessions: listed, then ended; the token stops working.
    let token = w.token(0).await;
    let sessions = format!("{users}/{}/sessions", w.id(0));
    let (_, listed) = admin(&w, Method::GET, &sessions, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, ended) = admin(&w, Method::DELETE, &sessions, None).await;
    assert_eq!(
        (status, ended["ended"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (status, _) = w.rest(Method::GET, "/session.json", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A new password replaces the old one.
    let path = format!("{users}/{}/password", w.id(0));
    let (status, _) = admin(&w, Method::PUT, &path, Some(json!({"password": "short"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = admin(
        &w,
        Method::PUT,
        &path,
        Some(json!({"password": "brand-new-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        session_for(&w, "alice", &password("alice")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        session_for(&w, "alice", "brand-new-password").await.0,
        StatusCode::CREATED
    );

    let (status, _) = admin(&w, Method::DELETE, &format!("{users}/{}", w.id(1)), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        session_for(&w, "bob", &password("bob")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = admin(&w, Method::GET, &format!("{users}/{}", w.id(1)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Figures: three users left in the app (alice, albert, carol), two live sessions (carol's, alice's new one).
    let (_, stats) = admin(&w, Method::GET, &format!("/admin/apps/{}/stats", w.app), None).await;
    assert_eq!(
        (stats["users"].as_i64(), stats["sessions"].as_i64()),
        (Some(3), Some(2))
    );
    let (_, status_body) = admin(&w, Method::GET, "/admin/status", None).await;
    assert_eq!(status_body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status_body["figures"]["apps"], 2);
    assert!(status_body["figures"]["storage_bytes"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn live_figures_follow_chat_sessions_and_messages() {
    let w = world(Db::Sqlite, &["alice", "bob"]).await;
    let (status, before) = admin(&w, Method::GET, "/admin/live", None).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["sessions_online"], 0, "{before}");
    assert_eq!(before["users_online"], 0, "{before}");
    assert!(before["storage_bytes"].as_i64().unwrap() > 0, "{before}");
    assert!(!before["history"].as_array().unwrap().is_empty());

    let mut alice = w.online(0).await;
    let mut bob = w.online(1).await;
    let bob_jid = format!("{}-{}@localhost", w.id(1), w.app);
    for n in 0..3 {
        alice
            .send(&format!(
                r#"<message xmlns="jabber:client" type="chat" to="{bob_jid}" id="66c00000000000000000000{n}"><body>live {n}</body></message>"#
            ))
            .await;
        bob.expect(&format!("live {n}")).await;
    }
    // Samples are at most one a second apart: ask until a new one was taken.
    let after = loop {
        let (_, now) = admin(&w, Method::GET, "/admin/live", None).await;
        if now["history"].as_array().unwrap().len() > 1 {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(after["sessions_online"], 2, "{after}");
    assert_eq!(after["users_online"], 2, "{after}");
    let sent = after["messages_total"].as_u64().unwrap() - before["messages_total"].as_u64().unwrap();
    assert_eq!(sent, 3, "{after}");
    assert!(after["messages_per_second"].as_f64().unwrap() > 0.0, "{after}");
    let last = after["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["sessions_online"], 2);
}

#[tokio::test]
async fn with_an_admin_address_the_admin_api_is_only_there() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start_with(
        Db::Sqlite,
        &[("PALAVER_ADMIN_TOKEN", TOKEN), ("PALAVER_ADMIN_ADDR", &addr)],
    )
    .await;
    let http = reqwest::Client::new();
    let on = |base: String| http.get(format!("{base}/admin/apps")).bearer_auth(TOKEN);
    let (status, _) = answer(on(server.http.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, apps) = answer(on(format!("http://{addr}"))).await;
    assert_eq!(
        (status, apps[0]["name"].as_str()),
        (StatusCode::OK, Some("Default"))
    );
    // The public API is not on the admin address.
    let (status, _) = answer(http.post(format!("http://{addr}/session.json")).json(&json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The panel goes with the admin API.
    let panel = |base: &str| http.get(format!("{base}/admin/")).send();
    assert_eq!(panel(&server.http).await.unwrap().status(), StatusCode::NOT_FOUND);
    let page = panel(&format!("http://{addr}")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<title>Palaver admin</title>"));
    // `palaver status` finds the server there.
    let status = server.cli(&["status"]);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["figures"]["apps"], 1);
}
