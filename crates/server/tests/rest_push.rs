//! End-to-end: push notifications on the real binary (SQLite and PostgreSQL) — device subscriptions and
//! push events exactly as the SDKs send them, events reaching the webhook (`PALAVER_PUSH_WEBHOOK_URL`, a
//! small server in this test), a chat alert for a 1-1 message sent over XMPP to an offline user, the
//! chat-alert template and the queue statistics of the admin API.

mod support;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use support::webhook::{wait_for, webhook, Posts};
use support::Db;

const ADMIN_TOKEN: &str = "push-admin-token";

/// The shared world plus the webhook's inbox.
struct World {
    base: support::world::World,
    posts: Posts,
}

impl std::ops::Deref for World {
    type Target = support::world::World;

    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

async fn world(db: Db) -> World {
    let (url, posts) = webhook().await;
    let env = [
        ("PALAVER_PUSH_WEBHOOK_URL", url.as_str()),
        ("PALAVER_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let base = support::world::World::start(db, &env, "Push", &["ann", "ben", "cid"]).await;
    World { base, posts }
}

impl World {
    /// A request as the SDK makes it: JSON for POST/PUT, form content type and no body for GET/DELETE.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.server.http));
        if let Some(token) = token {
            request = request.header("CB-Token", token);
        }
        request = match body {
            Some(body) => request
                .header("Content-Type", "application/json;charset=utf-8")
                .body(body.to_string()),
            None => request.header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.http))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// `pushnotifications.subscriptions.create` for an Android device.
    async fn subscribe_android(&self, token: &str, udid: &str, fcm_token: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/subscriptions.json",
                Some(token),
                Some(json!({
                    "notification_channel": "gcm",
                    "push_token": {"environment": "development", "client_identification_sequence": fcm_token},
                    "device": {"platform": "android", "udid": udid},
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

#[tokio::test]
async fn subscriptions_are_created_listed_and_deleted_as_the_sdks_send_them() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db).await;
        let ann = w.token(0).await;
        let ben = w.token(1).await;

        // Mobile (gcm) and web subscriptions: each answer is an array of one {"subscription": …}.
        let created = w.subscribe_android(&ann, "ann-phone", "fcm-1").await;
        let sub = &created.as_array().expect("an array")[0]["subscription"];
        assert_eq!(sub["notification_channel"], json!({"name": "gcm"}));
        assert_eq!(
            sub["device"],
            json!({"udid": "ann-phone", "platform": {"name": "android"}})
        );
        let phone_id = sub["id"].as_i64().unwrap();
        let (status, web) = w
            .call(
                Method::POST,
                "/subscriptions.json",
                Some(&ann),
                Some(json!({
                    "notification_channel": "web",
                    "push_token": {"environment": "production", "web_endpoint": "https://push.example/abc",
                        "web_auth": "auth-secret", "web_p256dh": "p256dh-key"},
                    "device": {"platform": "web", "udid": "ann-browser"},
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{web}");
        assert_eq!(web[0]["subscription"]["notification_channel"]["name"], "web");
        let web_id = web[0]["subscription"]["id"].as_i64().unwrap();

        // iOS with a bundle id; subscribing the same device and channel again updates it in place.
        let ios = json!({
            "notification_channel": "apns",
            "push_token": {"environment": "development", "client_identification_sequence": "apns-1",
                "bundle_identifier": "com.example.chat"},
            "device": {"platform": "ios", "udid": "ann-ipad"},
        });
        let (_, first) = w
            .call(Method::POST, "/subscriptions.json", Some(&ann), Some(ios.clone()))
            .await;
        let mut again = ios.clone();
        again["push_token"]["client_identification_sequence"] = json!("apns-2");
        let (status, second) = w
            .call(Method::POST, "/subscriptions.json", Some(&ann), Some(again))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(first[0]["subscription"]["id"], second[0]["subscription"]["id"]);

        // The list is a bare array of the caller's own subscriptions.
        let (status, list) = w.call(Method::GET, "/subscriptions.json", Some(&ann), None).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["subscription"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), 3, "{list}");
        assert!(ids.contains(&phone_id) && ids.contains(&web_id));
        let (_, bens) = w.call(Method::GET, "/subscriptions.json", Some(&ben), None).await;
        assert_eq!(bens, json!([]));

        // The operator sees the same devices (and no device token); a user of no app is a 404.
        let (status, seen) = w
            .admin(
                Method::GET,
                &format!("/admin/apps/{}/users/{}/push_subscriptions", w.app, w.id(0)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert_eq!(seen, list);
        assert!(!seen.to_string().contains("fcm-1"), "{seen}");
        let (status, _) = w
            .admin(
                Method::GET,
                &format!("/admin/apps/{}/users/999999/push_subscriptions", w.app),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Invalid input: 422 naming the fields.
        let (status, errors) = w
            .call(
                Method::POST,
                "/subscriptions.json",
                Some(&ann),
                Some(
                    json!({"notification_channel": "pigeon", "push_token": {"environment": "development"},
                    "device": {"platform": "android"}}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(errors["errors"]["notification_channel"].is_array(), "{errors}");
        assert!(errors["errors"]["device[udid]"].is_array(), "{errors}");

        // Delete: only one's own; the SDK reads the answer as text.
        let (status, _) = w
            .call(
                Method::DELETE,
                &format!("/subscriptions/{phone_id}.json"),
                Some(&ben),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = w
            .call(
                Method::DELETE,
                &format!("/subscriptions/{phone_id}.json"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, list) = w.call(Method::GET, "/subscriptions.json", Some(&ann), None).await;
        assert_eq!(list.as_array().unwrap().len(), 2);
        let (status, _) = w
            .call(
                Method::DELETE,
                &format!("/subscriptions/{phone_id}.json"),
                Some(&ann),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // No session: the session-expired answer.
        let (status, _) = w.call(Method::GET, "/subscriptions.json", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn push_events_reach_the_webhook_once_per_device() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db).await;
        let ann = w.token(0).await;
        let ben = w.token(1).await;
        let cid = w.token(2).await;
        w.subscribe_android(&ben, "ben-phone", "fcm-ben").await;
        w.subscribe_android(&cid, "cid-phone", "fcm-cid").await;

        // `events.create` as the SDK sends it: a Base64 universal payload, recipients as a string.
        let message = base64::engine::general_purpose::STANDARD
            .encode(r#"{"message":"Meeting at 5","ios_badge":"2","topic":"standup"}"#);
        let (status, created) = w
            .call(
                Method::POST,
                "/events.json",
                Some(&ann),
                Some(json!({"event": {
                    "notification_type": "push",
                    "push_type": "gcm",
                    "environment": "development",
                    "message": message,
                    "user": {"ids": format!("{}, {}", w.id(1), w.id(2))},
                }})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let event = &created.as_array().expect("an array")[0]["event"];
        assert!(event["id"].as_i64().is_some());
        assert_eq!(event["event_type"], "one_shot");
        assert_eq!(event["message"], json!(message));
        assert_eq!(event["application_id"], json!(w.app));
        assert_eq!(event["user_id"], json!(w.id(0)));
        assert_eq!(event["environment"], "development");
        assert_eq!(event["notification_channel"], json!({"name": "gcm"}));

        let posts = wait_for(&w.posts, 2).await;
        assert_eq!(posts.len(), 2, "{posts:?}");
        let mut users: Vec<i64> = posts.iter().map(|p| p["user_id"].as_i64().unwrap()).collect();
        users.sort();
        assert_eq!(users, vec![w.id(1), w.id(2)]);
        for post in &posts {
            assert_eq!(post["app_id"], json!(w.app));
            assert_eq!(post["kind"], "event");
            assert_eq!(post["body"], "Meeting at 5");
            assert_eq!(post["badge"], 2);
            assert_eq!(post["event_id"], event["id"]);
            assert_eq!(post["data"], json!({"topic": "standup"}));
            assert_eq!(post["device"]["platform"], "android");
            assert!(post["device"]["token"].as_str().unwrap().starts_with("fcm-"));
        }

        // No recipients, or no message: 422.
        let (status, _) = w
            .call(
                Method::POST,
                "/events.json",
                Some(&ann),
                Some(json!({"event": {"notification_type": "push", "message": message}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = w
            .call(
                Method::POST,
                "/events.json",
                Some(&ann),
                Some(json!({"event": {"notification_type": "push", "user": {"ids": w.id(1).to_string()}}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_chat_message_to_an_offline_user_is_one_chat_alert() {
    for db in [Db::Sqlite, Db::Postgres] {
        let w = world(db).await;
        let ben = w.token(1).await;
        w.subscribe_android(&ben, "ben-phone", "fcm-ben").await;
        let ben_jid = format!("{}-{}@localhost", w.id(1), w.app);

        let mut ann = w.online(0).await;
        // silent=1 asks for no alert.
        ann.send(&format!(
            r#"<message xmlns="jabber:client" type="chat" to="{ben_jid}" id="66a000000000000000000001"><body>shh</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history><silent>1</silent></extraParams></message>"#
        ))
        .await;
        ann.send(&format!(
            r#"<message xmlns="jabber:client" type="chat" to="{ben_jid}" id="66a000000000000000000002"><body>Hi Ben</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
        ))
        .await;

        let posts = wait_for(&w.posts, 1).await;
        assert_eq!(posts.len(), 1, "exactly one chat alert: {posts:?}");
        let alert = &posts[0];
        assert_eq!(alert["kind"], "chat_alert");
        assert_eq!(alert["app_id"], json!(w.app));
        assert_eq!(alert["user_id"], json!(w.id(1)));
        assert_eq!(alert["device"]["platform"], "android");
        assert_eq!(alert["device"]["udid"], "ben-phone");
        assert_eq!(alert["device"]["token"], "fcm-ben");
        assert_eq!(alert["title"], "ann");
        assert_eq!(alert["body"], "Hi Ben");
        assert_eq!(alert["text"], "Hi Ben");
        assert_eq!(alert["message_id"], "66a000000000000000000002");
        assert_eq!(alert["sender_id"], json!(w.id(0)));
        assert_eq!(alert["badge"], 2);
        let dialog_id = alert["dialog_id"].as_str().unwrap().to_owned();
        assert!(!dialog_id.is_empty());

        // The app's template, set through the admin API.
        let (status, template) = w
            .admin(
                Method::PUT,
                &format!("/admin/apps/{}/push_template", w.app),
                Some(json!({"title": "New message from {sender_name}", "body": "{message}!"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{template}");
        let (_, read_back) = w
            .admin(Method::GET, &format!("/admin/apps/{}/push_template", w.app), None)
            .await;
        assert_eq!(
            read_back,
            json!({"title": "New message from {sender_name}", "body": "{message}!"})
        );
        ann.send(&format!(
            r#"<message xmlns="jabber:client" type="chat" to="{ben_jid}" id="66a000000000000000000003"><body>Lunch?</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
        ))
        .await;
        let posts = wait_for(&w.posts, 2).await;
        assert_eq!(posts.len(), 2, "{posts:?}");
        assert_eq!(posts[1]["title"], "New message from ann");
        assert_eq!(posts[1]["body"], "Lunch?!");
        assert_eq!(posts[1]["dialog_id"], json!(dialog_id));

        // Notifications off for the dialog: nothing.
        let (status, _) = w
            .call(
                Method::PUT,
                &format!("/chat/Dialog/{dialog_id}/notifications.json"),
                Some(&ben),
                Some(json!({"enabled": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        ann.send(&format!(
            r#"<message xmlns="jabber:client" type="chat" to="{ben_jid}" id="66a000000000000000000004"><body>muted</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
        ))
        .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(w.posts.lock().unwrap().len(), 2);

        // What was sent, per provider.
        let (status, stats) = w.admin(Method::GET, "/admin/push/stats", None).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["providers"]["webhook"]["sent"], 2, "{stats}");
        assert_eq!(stats["queue"]["queued"], 0, "{stats}");
        let (status, _) = w.call(Method::GET, "/admin/push/stats", Some(&ben), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn chat_alerts_can_be_turned_off_and_a_test_alert_uses_the_template() {
    let w = world(Db::Sqlite).await;
    let ben = w.token(1).await;
    w.subscribe_android(&ben, "ben-phone", "fcm-ben").await;
    let ben_jid = format!("{}-{}@localhost", w.id(1), w.app);
    let path = format!("/admin/apps/{}/chat_alerts", w.app);
    let (status, read) = w.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        read,
        json!({"enabled": true, "template": {"title": null, "body": null}})
    );

    // Off: a message to offline Ben raises nothing; back on, the next one does — the only post is it.
    let (status, read) = w.admin(Method::PUT, &path, Some(json!({"enabled": false}))).await;
    assert_eq!(
        (status, &read["enabled"]),
        (StatusCode::OK, &json!(false)),
        "{read}"
    );
    let mut ann = w.online(0).await;
    let send = |id: &str, body: &str| {
        format!(
            r#"<message xmlns="jabber:client" type="chat" to="{ben_jid}" id="{id}"><body>{body}</body><extraParams xmlns="jabber:client"><save_to_history>1</save_to_history></extraParams></message>"#
        )
    };
    ann.send(&send("66b000000000000000000001", "while off")).await;
    // The session handles stanzas in order: once the ping is answered, the message's alerts were decided.
    ann.send(r#"<iq xmlns="jabber:client" type="get" id="sync-1"><ping xmlns="urn:xmpp:ping"/></iq>"#)
        .await;
    ann.expect("sync-1").await;
    let (status, read) = w
        .admin(
            Method::PUT,
            &path,
            Some(json!({"enabled": true, "title": "{sender_name} in {dialog_name}", "body": ">> {message}"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        read,
        json!({"enabled": true, "template": {"title": "{sender_name} in {dialog_name}", "body": ">> {message}"}})
    );
    ann.send(&send("66b000000000000000000002", "back on")).await;
    let posts = wait_for(&w.posts, 1).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["message_id"], "66b000000000000000000002");
    assert_eq!(posts[0]["body"], ">> back on");

    // A test send goes to Ben's device with the template, marked as a test.
    let test = format!("/admin/apps/{}/chat_alerts/test", w.app);
    let (status, sent) = w
        .admin(
            Method::POST,
            &test,
            Some(json!({"user_id": w.id(1), "message": "Testing 1 2 3"})),
        )
        .await;
    assert_eq!((status, sent), (StatusCode::ACCEPTED, json!({"devices": 1})));
    let posts = wait_for(&w.posts, 2).await;
    assert_eq!(posts.len(), 2, "{posts:?}");
    let alert = &posts[1];
    assert_eq!(alert["kind"], "chat_alert");
    assert_eq!(alert["user_id"], json!(w.id(1)));
    assert_eq!(alert["device"]["udid"], "ben-phone");
    assert_eq!(alert["title"], "Palaver in Test");
    assert_eq!(alert["body"], ">> Testing 1 2 3");
    assert_eq!(alert["data"]["test"], true);

    // Cid has no device: the operator is told nothing will arrive. Unknown users and bad input are refused.
    let (status, body) = w
        .admin(Method::POST, &test, Some(json!({"user_id": w.id(2)})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("no device"), "{body}");
    let (status, _) = w
        .admin(Method::POST, &test, Some(json!({"user_id": 999_999})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .admin(Method::PUT, &path, Some(json!({"enabled": "maybe"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Each change is in the audit log.
    let (_, log) = w.admin(Method::GET, "/admin/audit", None).await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "chat_alerts.disable",
        "chat_alerts.enable",
        "push.set_template",
        "chat_alerts.test",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}
