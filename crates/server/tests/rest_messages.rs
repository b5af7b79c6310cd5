//! End-to-end: the real binary's Messages REST API (`/chat/Message…`, `/chat/search`) on SQLite and
//! PostgreSQL — history with filters, pagination and mark-as-read, creation, read/delivered marks, edits,
//! deletes for me and for everyone, system messages, unread counts in both list encodings, reactions and
//! search, with their permission checks and errors.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{Db, Server};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

/// A client bound to one server and one user's token.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("CB-Token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// A DELETE the way the SDKs send it: parameters form-encoded in the body.
    async fn delete(&self, path: &str, form: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .delete(format!("{}{path}", self.base))
            .header("CB-Token", &self.token)
            .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends a message and returns it.
    async fn send(&self, body: Value) -> Value {
        let (status, message) = self.post("/chat/Message.json", body).await;
        assert_eq!(status, StatusCode::CREATED, "{message}");
        message
    }

    async fn history(&self, query: &str) -> Vec<Value> {
        let (status, page) = self.get(&format!("/chat/Message.json?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|m| m["_id"].as_str().unwrap()).collect()
}

/// Users `names` in a fresh app, each with a user session.
async fn setup(server: &Server, names: &[&str]) -> (i64, Vec<(i64, Api)>) {
    let (app_id, key, _) = server.create_app("Messages");
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for name in names {
        let id = server.create_user(app_id, name, "password1");
        let response = client
            .post(format!("{}/session.json", server.http))
            .json(&json!({"application_id": app_id, "auth_key": key,
                "user": {"login": name, "password": "password1"}}))
            .send()
            .await
            .unwrap();
        let session: Value = response.json().await.unwrap();
        let token = session["session"]["token"].as_str().unwrap().to_owned();
        users.push((
            id,
            Api {
                client: client.clone(),
                base: server.http.clone(),
                token,
            },
        ));
    }
    (app_id, users)
}

/// The server's database, for dialogs the user API does not make (broadcast).
async fn database(server: &Server) -> palaver_store::SqlStore {
    let url = server
        .env
        .iter()
        .find(|(k, _)| k == "PALAVER_DATABASE_URL")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| palaver_store::sqlite_url(server.data_dir.path()));
    palaver_store::connect(&url).await.unwrap()
}

async fn insert_dialog(
    db: &palaver_store::SqlStore,
    app_id: i64,
    id: &str,
    kind: i64,
    owner: i64,
    members: &[i64],
    name: &str,
) {
    let now = 1_700_000_000_000_i64;
    sqlx::query(
        "INSERT INTO dialogs (id, app_id, type, user_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(app_id)
    .bind(kind)
    .bind(owner)
    .bind(name)
    .bind(now)
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    for member in members {
        sqlx::query("INSERT INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(*member)
            .bind(0_i64)
            .execute(db.pool())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn private_history_marks_edits_deletes_and_unread() {
    for db in BOTH {
        let server = Server::start(db).await;
        let (_, users) = setup(&server, &["alice", "bob", "carol"]).await;
        let [(alice_id, alice), (bob_id, bob), (_, carol)] = <[_; 3]>::try_from(users).ok().unwrap();

        // Creation by recipient: the pair's private dialog, custom parameters as strings, attachments
        // in the docs' keyed-object form.
        let first = alice
            .send(
                json!({"recipient_id": bob_id, "message": "hi", "date_sent": 1_700_000_000,
                "country": "USA", "priority": 5, "meta": {"a": 1},
                "attachments": {"0": {"type": "image", "uid": "u1", "size": 1024}}}),
            )
            .await;
        let dialog_id = first["chat_dialog_id"].as_str().unwrap().to_owned();
        assert_eq!(first["_id"].as_str().unwrap().len(), 24);
        assert_eq!(first["message"], "hi");
        assert_eq!(first["sender_id"], alice_id);
        assert_eq!(first["recipient_id"], bob_id);
        assert_eq!(first["date_sent"], 1_700_000_000);
        assert_eq!(first["read_ids"], json!([alice_id]));
        assert_eq!(first["delivered_ids"], json!([alice_id]));
        assert_eq!(first["read"], 1);
        assert_eq!(first["views_count"], 0);
        assert_eq!(first["reactions"], Value::Null);
        assert_eq!(first["country"], "USA");
        assert_eq!(first["priority"], "5");
        assert_eq!(first["meta"], json!({"a": "1"}));
        assert_eq!(
            first["attachments"],
            json!([{"type": "image", "uid": "u1", "size": 1024}])
        );
        assert!(first["created_at"].as_str().unwrap().ends_with('Z'));
        for (i, body) in ["two", "three"].iter().enumerate() {
            alice
                .send(json!({"chat_dialog_id": dialog_id, "message": body, "date_sent": 1_700_000_001 + i}))
                .await;
        }
        let (status, body) = alice
            .post(
                "/chat/Message.json",
                json!({"recipient_id": bob_id, "tags": ["a", "b"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = alice
            .post("/chat/Message.json", json!({"message": "nowhere"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = alice
            .post("/chat/Message.json", json!({"recipient_id": 999_999}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = carol
            .post(
                "/chat/Message.json",
                json!({"chat_dialog_id": dialog_id, "message": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Unread: both list encodings, spaces after commas, the guide's alias.
        let other = "ffffffffffffffffffffffff";
        let (_, unread) = bob.get("/chat/Message/unread.json").await;
        assert_eq!(unread, json!({"total": 3}));
        let (_, unread) = bob
            .get(&format!(
                "/chat/Message/unread.json?chat_dialog_ids={dialog_id}%2C%20{other}"
            ))
            .await;
        assert_eq!(unread, json!({"total": 3, dialog_id.clone(): 3, other: 0}));
        let (_, unread) = bob
            .get(&format!(
                "/chat/Message/unread.json?dialogs_ids[]={dialog_id}&dialogs_ids[]={other}"
            ))
            .await;
        assert_eq!(unread, json!({"total": 3, dialog_id.clone(): 3, other: 0}));

        // History: ascending by date_sent; mark_as_read=0 leaves everything unread.
        let all = bob
            .history(&format!("chat_dialog_id={dialog_id}&mark_as_read=0"))
            .await;
        assert_eq!(all.len(), 3);
        let m: Vec<String> = ids(&all).iter().map(|s| s.to_string()).collect();
        assert_eq!(
            all.iter()
                .map(|i| i["message"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["hi", "two", "three"]
        );
        assert!(all.iter().all(|i| i["read"] == 0));
        assert_eq!(
            bob.get(&format!("/chat/Message/unread.json?chat_dialog_ids={dialog_id}"))
                .await
                .1["total"],
            3
        );
        let (_, page) = bob
            .get(&format!("/chat/Message.json?chat_dialog_id={dialog_id}&limit=2&mark_as_read=0&skip=1&sort_desc=date_sent"))
            .await;
        assert_eq!(
            (page["skip"].clone(), page["limit"].clone()),
            (json!(1), json!(2))
        );
        assert_eq!(
            ids(page["items"].as_array().unwrap()),
            [m[1].as_str(), m[0].as_str()]
        );
        let filtered = |q: &str| format!("chat_dialog_id={dialog_id}&mark_as_read=0&{q}");
        assert_eq!(
            ids(&bob.history(&filtered("date_sent[lt]=1700000002")).await),
            [m[0].as_str(), m[1].as_str()]
        );
        assert_eq!(
            ids(&bob
                .history(&filtered("date_sent[gte]=1700000001&date_sent[lte]=1700000001"))
                .await),
            [m[1].as_str()]
        );
        assert_eq!(
            bob.history(&filtered(&format!("sender_id={alice_id}")))
                .await
                .len(),
            3
        );
        assert_eq!(
            bob.history(&filtered(&format!("sender_id[ne]={alice_id}")))
                .await
                .len(),
            0
        );
        assert_eq!(
            bob.history(&filtered(&format!("recipient_id[in]={bob_id}%2C1")))
                .await
                .len(),
            3
        );
        assert_eq!(
            ids(&bob
                .history(&filtered(&format!("_id[in][]={}&_id[in][]={}", m[0], m[2])))
                .await),
            [m[0].as_str(), m[2].as_str()]
        );
        assert_eq!(
            ids(&bob.history(&filtered(&format!("_id[nin]={}", m[0]))).await),
            [m[1].as_str(), m[2].as_str()]
        );
        assert_eq!(ids(&bob.history(&filtered("message=two")).await), [m[1].as_str()]);
        assert_eq!(ids(&bob.history(&filtered("country=USA")).await), [m[0].as_str()]);
        assert_eq!(
            ids(&bob.history(&filtered("attachments.type=image")).await),
            [m[0].as_str()]
        );
        assert_eq!(
            bob.history(&filtered("updated_at[gt]=2000-01-01T00%3A00%3A00Z"))
                .await
                .len(),
            3
        );
        assert_eq!(bob.history(&filtered("updated_at[lt]=1000000000")).await.len(), 0);
        let (status, _) = bob
            .get(&format!("/chat/Message.json?{}", filtered("sender_id=undefined")))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = bob
            .get(&format!(
                "/chat/Message.json?{}",
                filtered("date_sent[between]=1")
            ))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = bob.get("/chat/Message.json").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = carol
            .get(&format!("/chat/Message.json?chat_dialog_id={dialog_id}"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) = bob
            .get("/chat/Message.json?chat_dialog_id=bbbbbbbbbbbbbbbbbbbbbbbb")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // By default the returned messages become read.
        let read_now = bob
            .history(&format!("chat_dialog_id={dialog_id}&date_sent[gt]=1700000000"))
            .await;
        assert!(read_now
            .iter()
            .all(|i| i["read"] == 1 && i["read_ids"] == json!([alice_id, bob_id])));
        assert_eq!(bob.get("/chat/Message/unread.json").await.1["total"], 1);

        // Marks through PUT: delivered, then read; unknown ids and strangers get 404.
        let (status, _) = bob
            .put(&format!("/chat/Message/{}.json", m[0]), json!({"delivered": 1}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let seen = alice
            .history(&format!("chat_dialog_id={dialog_id}&mark_as_read=0"))
            .await;
        assert_eq!(
            (seen[0]["delivered_ids"].clone(), seen[0]["read_ids"].clone()),
            (json!([alice_id, bob_id]), json!([alice_id]))
        );
        assert_eq!(seen[0]["read"], 1, "the sender has read his own message");
        let (status, _) = bob
            .put(
                &format!("/chat/Message/{}.json", m[0]),
                json!({"read": "1", "chat_dialog_id": dialog_id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bob.get("/chat/Message/unread.json").await.1["total"], 0);
        let seen = alice
            .history(&format!("chat_dialog_id={dialog_id}&mark_as_read=0"))
            .await;
        assert_eq!(seen[0]["read_ids"], json!([alice_id, bob_id]));
        assert_eq!(seen[0]["views_count"], 1);
        let (status, body) = bob
            .put("/chat/Message/0123456789abcdef01234567.json", json!({"read": 1}))
            .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                json!({"errors": ["The resource wasn't found"]})
            )
        );
        let (status, _) = carol
            .put(&format!("/chat/Message/{}.json", m[0]), json!({"read": 1}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Mark all read: `PUT /chat/Message` with the dialog and no id.
        for body in ["four", "five"] {
            alice
                .send(json!({"chat_dialog_id": dialog_id, "message": body}))
                .await;
        }
        assert_eq!(bob.get("/chat/Message/unread.json").await.1["total"], 2);
        let (status, _) = bob
            .put(
                "/chat/Message.json",
                json!({"read": 1, "chat_dialog_id": dialog_id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bob.get("/chat/Message/unread.json").await.1["total"], 0);
        let (status, _) = bob.put("/chat/Message.json", json!({"read": 1})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Edits: own messages only; two ids in one path.
        let (status, _) = alice
            .put(
                &format!("/chat/Message/{},{}.json", m[1], m[2]),
                json!({"message": "edited"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let seen = bob
            .history(&format!(
                "chat_dialog_id={dialog_id}&mark_as_read=0&message=edited"
            ))
            .await;
        assert_eq!(ids(&seen), [m[1].as_str(), m[2].as_str()]);
        let (status, _) = bob
            .put(
                &format!("/chat/Message/{}.json", m[1]),
                json!({"message": "mine"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Reactions: per user, distinct, `{own, total}` in history; v3's trailing `?`.
        let reactions = format!("/chat/Message/{}/reactions.json", m[0]);
        for (api, add) in [(&bob, "👍"), (&alice, "👍"), (&alice, "🔥"), (&alice, "🔥")] {
            let (status, _) = api.put(&reactions, json!({"add": add})).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, listed) = bob.get(&format!("{reactions}?")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed, json!({"👍": [bob_id, alice_id], "🔥": [alice_id]}));
        let seen = bob
            .history(&format!("chat_dialog_id={dialog_id}&mark_as_read=0&_id={}", m[0]))
            .await;
        assert_eq!(
            seen[0]["reactions"],
            json!({"own": ["👍"], "total": {"👍": 2, "🔥": 1}})
        );
        let (status, _) = alice.put(&reactions, json!({"remove": "🔥"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bob.get(&reactions).await.1, json!({"👍": [bob_id, alice_id]}));
        assert_eq!(
            bob.put(&reactions, json!({})).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(carol.get(&reactions).await.0, StatusCode::NOT_FOUND);

        // Delete for me: gone for bob only. For everyone: own messages, via the form body or the query.
        let (status, result) = bob
            .delete(&format!("/chat/Message/{},{}.json", m[0], m[1]), "")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            result,
            json!({"SuccessfullyDeleted": {"ids": [m[0], m[1]]}, "NotFound": {"ids": []},
            "WrongPermissions": {"ids": []}})
        );
        assert_eq!(bob.history(&format!("chat_dialog_id={dialog_id}")).await.len(), 3);
        assert_eq!(
            alice.history(&format!("chat_dialog_id={dialog_id}")).await.len(),
            5
        );
        let (_, result) = bob
            .delete(&format!("/chat/Message/{}.json", m[2]), "force=1")
            .await;
        assert_eq!(result["WrongPermissions"]["ids"], json!([m[2]]));
        let unknown = "0123456789abcdef01234567";
        let (status, result) = alice
            .delete(&format!("/chat/Message/{},{unknown}.json", m[2]), "force=1")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            result,
            json!({"SuccessfullyDeleted": {"ids": [m[2]]}, "NotFound": {"ids": [unknown]},
            "WrongPermissions": {"ids": []}})
        );
        assert_eq!(bob.history(&format!("chat_dialog_id={dialog_id}")).await.len(), 2);
        assert_eq!(
            alice.history(&format!("chat_dialog_id={dialog_id}")).await.len(),
            4
        );
        let (_, result) = alice
            .delete(&format!("/chat/Message/{}.json?force=1", m[1]), "")
            .await;
        assert_eq!(result["SuccessfullyDeleted"]["ids"], json!([m[1]]));
        assert_eq!(
            alice.history(&format!("chat_dialog_id={dialog_id}")).await.len(),
            3
        );

        // System messages: not stored, echoed back.
        let (status, sent) = alice
            .post(
                "/chat/Message/system.json",
                json!({"recipientId": bob_id, "userExt": {"name": "Smith"}, "nickname": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sent}");
        assert_eq!(sent["messageId"].as_str().unwrap().len(), 24);
        assert_eq!(sent["recipientId"], bob_id);
        assert_eq!(
            sent["extensionParams"],
            json!({"userExt": {"name": "Smith"}, "nickname": "x"})
        );
        assert_eq!(
            alice
                .post("/chat/Message/system.json", json!({"nickname": "x"}))
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            alice
                .post("/chat/Message/system.json", json!({"recipientId": 999_999}))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            alice.history(&format!("chat_dialog_id={dialog_id}")).await.len(),
            3
        );

        // No session, and no user in the session.
        let anonymous = Api {
            client: reqwest::Client::new(),
            base: server.http.clone(),
            token: "nope".into(),
        };
        let (status, body) = anonymous
            .get(&format!("/chat/Message.json?chat_dialog_id={dialog_id}"))
            .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNAUTHORIZED,
                json!({"errors": {"base": ["Required session does not exist"]}})
            )
        );
    }
}

#[tokio::test]
async fn group_and_broadcast_rights_and_search() {
    for db in BOTH {
        let server = Server::start(db).await;
        let (app_id, users) = setup(&server, &["owner", "bob", "carol", "dave"]).await;
        let [(owner_id, owner), (bob_id, bob), (carol_id, carol), (_, dave)] =
            <[_; 4]>::try_from(users).ok().unwrap();
        // The group through the dialog API, the broadcast straight into the database.
        let (status, created) = owner
            .post(
                "/chat/Dialog.json",
                json!({"type": 2, "name": "Weekend plans", "occupants_ids": format!("{bob_id}, {carol_id}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let group = created["_id"].as_str().unwrap().to_owned();
        let group = group.as_str();
        let broadcast = "aaaaaaaaaaaaaaaaaaaaaaab";
        let store = database(&server).await;
        insert_dialog(&store, app_id, broadcast, 1, owner_id, &[], "News").await;
        store.close().await;

        // Members post (recipient 0); strangers may not.
        let from_bob = bob
            .send(json!({"chat_dialog_id": group, "message": "Hello weekend", "send_to_chat": 1}))
            .await;
        assert_eq!(from_bob["recipient_id"], 0);
        let from_carol = carol
            .send(json!({"chat_dialog_id": group, "message": "hello from carol"}))
            .await;
        let (status, _) = dave
            .post(
                "/chat/Message.json",
                json!({"chat_dialog_id": group, "message": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(carol.get("/chat/Message/unread.json").await.1["total"], 1);

        // Group rights: a member deletes only his own for everyone, the owner anyone's.
        let carol_msg = from_carol["_id"].as_str().unwrap();
        let (_, result) = bob
            .delete(&format!("/chat/Message/{carol_msg}.json"), "force=1")
            .await;
        assert_eq!(result["WrongPermissions"]["ids"], json!([carol_msg]));
        let (_, result) = owner
            .delete(&format!("/chat/Message/{carol_msg}.json"), "force=1")
            .await;
        assert_eq!(result["SuccessfullyDeleted"]["ids"], json!([carol_msg]));
        assert_eq!(bob.history(&format!("chat_dialog_id={group}")).await.len(), 1);
        assert_eq!(bob.get("/chat/Message/unread.json").await.1["total"], 0);

        // Broadcast: the owner posts, everyone in the app reads, nobody else posts.
        owner
            .send(json!({"chat_dialog_id": broadcast, "message": "Hello everybody"}))
            .await;
        let (status, _) = bob
            .post(
                "/chat/Message.json",
                json!({"chat_dialog_id": broadcast, "message": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let news = dave.history(&format!("chat_dialog_id={broadcast}")).await;
        assert_eq!(news.len(), 1);
        assert_eq!(news[0]["read"], 1);
        assert_eq!(
            owner
                .history(&format!("chat_dialog_id={broadcast}&mark_as_read=0"))
                .await[0]["views_count"],
            1
        );

        // Preview: members only unless the dialog allows it; nothing is marked read.
        let (status, _) = dave
            .get(&format!("/chat/Message.json?chat_dialog_id={group}&preview=1"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, page) = carol
            .get(&format!(
                "/chat/Message.json?chat_dialog_id={group}&preview=1&limit=1"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0]["read"], 0);

        // Search: the caller's dialogs only, case-sensitive, with the senders.
        let (status, found) = carol.get("/chat/search.json?search_text=Hello").await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["results"]["messages"].as_array().unwrap().len(), 1);
        assert_eq!(found["results"]["messages"][0]["_id"], from_bob["_id"]);
        assert_eq!(found["results"]["users"][0]["id"], bob_id);
        assert_eq!(found["results"]["dialogs"], json!([]));
        let (_, found) = carol.get("/chat/search.json?search_text=Weekend").await;
        assert_eq!(found["results"]["dialogs"][0]["_id"], group);
        let (_, found) = dave.get("/chat/search.json?search_text=Hello").await;
        assert_eq!(found["results"]["messages"], json!([]));
        let (status, found) = carol
            .get(&format!(
                "/chat/search.json?chat_dialog_ids={group}%2C{broadcast}&end_date=2023-11-14T22%3A13%3A20.000Z\
                 &search_text=Hello&start_date=2024-06-01T00%3A00%3A00.000Z"
            ))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "more than 3 months: {found}"
        );
        let (status, found) = carol
            .get(&format!(
                "/chat/search.json?chat_dialog_ids={group}&end_date=2023-11-14T22%3A13%3A20.000Z\
                 &search_text=Hello&start_date=2023-12-01T00%3A00%3A00.000Z"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["results"]["messages"], json!([]));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (_, found) = carol
            .get(&format!(
                "/chat/search.json?chat_dialog_ids={group}&end_date={}&search_text=Hello&start_date={}&limit=5",
                now - 3600,
                now + 3600
            ))
            .await;
        assert_eq!(found["results"]["messages"][0]["_id"], from_bob["_id"]);
        assert_eq!(
            carol.get("/chat/search.json?search_text=Hell").await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            carol
                .get("/chat/search.json?search_text=Hello&start_date=1")
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        // Clearing the history (dialog API) hides what was there for the caller only.
        assert_eq!(carol.history(&format!("chat_dialog_id={group}")).await.len(), 1);
        let response = reqwest::Client::new()
            .delete(format!("{}/chat/Dialog/clearHistory/{group}.json", server.http))
            .header("CB-Token", &carol.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(carol.history(&format!("chat_dialog_id={group}")).await.len(), 0);
        assert_eq!(bob.history(&format!("chat_dialog_id={group}")).await.len(), 1);
        let after = bob
            .send(json!({"chat_dialog_id": group, "message": "after the clear"}))
            .await;
        assert_eq!(
            ids(&carol.history(&format!("chat_dialog_id={group}")).await),
            [after["_id"].as_str().unwrap()]
        );
        let (_, found) = carol.get("/chat/search.json?search_text=Hello").await;
        assert_eq!(found["results"]["messages"], json!([]));
    }
}
