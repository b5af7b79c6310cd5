//! End-to-end: the real binary's `/chat/Dialog` REST API and the admin API's broadcast dialogs, on SQLite
//! and PostgreSQL — every endpoint, filter and operator, both list encodings, the role rules and the error
//! bodies. One server per database; the checks run in sequence against it.

mod support;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{Db, Server};

const ADMIN_TOKEN: &str = "dialogs-admin-token";
const FORM: &str = "application/x-www-form-urlencoded; charset=UTF-8";

struct Api {
    http: reqwest::Client,
    base: String,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Value,
    text: String,
}

enum Body<'a> {
    None,
    Json(Value),
    /// Form-encoded, as the SDKs send DELETE parameters.
    Form(&'a str),
    /// `Content-Type: application/json` and no body, as the SDKs' `subscribe`.
    EmptyJson,
}

impl Api {
    async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Body<'_>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("CB-Token", token);
        }
        request = match body {
            Body::None => request.header(CONTENT_TYPE, FORM),
            Body::Json(value) => request.json(&value),
            Body::Form(form) => request.header(CONTENT_TYPE, FORM).body(form.to_owned()),
            Body::EmptyJson => request.header(CONTENT_TYPE, "application/json;charset=utf-8"),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), Body::None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Body::Json(body)).await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(token), Body::Json(body)).await
    }

    async fn delete(&self, path: &str, token: &str, form: Option<&str>) -> Reply {
        let body = form.map(Body::Form).unwrap_or(Body::None);
        self.send(Method::DELETE, path, Some(token), body).await
    }

    /// The `_id`s of a list answer, after checking it is a 200 list envelope.
    async fn ids(&self, query: &str, token: &str) -> Vec<String> {
        let reply = self.get(&format!("/chat/Dialog.json?{query}"), token).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        reply.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {}", reply.text))
            .iter()
            .map(|d| d["_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A user of an app: signed up with the auth key (as v6 does) and logged in.
#[derive(Clone)]
struct User {
    id: i64,
    token: String,
}

async fn user(api: &Api, app: i64, key: &str, login: &str) -> User {
    let signup = api
        .http
        .post(format!("{}/users.json", api.base))
        .header("CB-AuthKey", key)
        .json(&json!({"user": {"login": login, "password": "password1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);
    let session = api
        .send(
            Method::POST,
            "/session.json",
            None,
            Body::Json(json!({"application_id": app, "auth_key": key,
                "user": {"login": login, "password": "password1"}})),
        )
        .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.text);
    User {
        id: session.body["session"]["user_id"].as_i64().unwrap(),
        token: session.body["session"]["token"].as_str().unwrap().to_owned(),
    }
}

fn ids_of(values: &Value) -> Vec<i64> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn assert_object_id(id: &str) {
    assert!(
        id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && id.bytes().any(|b| b.is_ascii_alphabetic()),
        "not an ObjectId with a letter: {id}"
    );
}

/// Creates a group dialog; returns its id.
async fn group(api: &Api, owner: &User, name: &str, occupants: &[i64]) -> String {
    let reply = api
        .post(
            "/chat/Dialog.json",
            &owner.token,
            json!({"type": 2, "name": name, "occupants_ids": occupants}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["_id"].as_str().unwrap().to_owned()
}

fn not_found() -> Value {
    json!({"errors": ["The resource wasn't found"]})
}

#[tokio::test]
async fn dialogs_rest_api_on_sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn dialogs_rest_api_on_postgres() {
    scenario(Db::Postgres).await;
}

struct World {
    api: Api,
    app: i64,
    other_app: i64,
    /// alice, bob, carol, dave, erin, frank, grace.
    u: Vec<User>,
    mallory: User,
}

async fn scenario(db: Db) {
    let server = Server::start_with(db, &[("PALAVER_ADMIN_TOKEN", ADMIN_TOKEN)]).await;
    let (app, key, _) = server.create_app("Dialogs");
    let (other_app, other_key, _) = server.create_app("Elsewhere");
    let api = Api {
        http: reqwest::Client::new(),
        base: server.http.clone(),
    };
    let mut u = Vec::new();
    for login in ["alice", "bob", "carol", "dave", "erin", "frank", "grace"] {
        u.push(user(&api, app, &key, login).await);
    }
    let mallory = user(&api, other_app, &other_key, "mallory").await;
    let w = World {
        api,
        app,
        other_app,
        u,
        mallory,
    };
    sessions_are_required(&w, &key).await;
    let ids = create_and_list(&w).await;
    update_rules(&w, &ids).await;
    admins_endpoint(&w).await;
    delete_for_me_and_for_all(&w).await;
    clear_history_and_notifications(&w, &ids).await;
    public_dialogs(&w).await;
    broadcast_dialogs(&w).await;
}

/// 401 without a session, 403 with an application session.
async fn sessions_are_required(w: &World, key: &str) {
    let api = &w.api;
    let reply = api.send(Method::GET, "/chat/Dialog.json", None, Body::None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        json!({"errors": {"base": ["Required session does not exist"]}})
    );
    let session = api
        .send(
            Method::POST,
            "/session.json",
            None,
            Body::Json(json!({"application_id": w.app, "auth_key": key})),
        )
        .await;
    let app_token = session.body["session"]["token"].as_str().unwrap();
    let reply = api
        .post(
            "/chat/Dialog.json",
            app_token,
            json!({"type": 2, "name": "x", "occupants_ids": "1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body, json!({"errors": {"base": ["Forbidden. Need user."]}}));
}

/// Dialogs made by `create_and_list` that later steps use.
struct Made {
    party: String,
    book: String,
    private: String,
}

async fn create_and_list(w: &World) -> Made {
    let (api, u, app) = (&w.api, &w.u, w.app);
    let (alice, bob, carol, dave) = (&u[0], &u[1], &u[2], &u[3]);

    // A group as v6 sends it: id lists joined with ", ".
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 2, "name": "Night party", "occupants_ids": format!("{}, {}", bob.id, carol.id),
                "admins_ids": carol.id.to_string(), "extensions": {"location": "Sun bar", "floor": 3},
                "permissions": {"allow_preview": true}, "description": "Bring snacks"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let party = reply.body.clone();
    let party_id = party["_id"].as_str().unwrap().to_owned();
    assert_object_id(&party_id);
    assert_eq!(party["type"], 2);
    assert_eq!(party["user_id"], alice.id);
    assert_eq!(party["name"], "Night party");
    assert_eq!(party["description"], "Bring snacks");
    assert_eq!(party["photo"], Value::Null);
    assert_eq!(ids_of(&party["occupants_ids"]), vec![alice.id, bob.id, carol.id]);
    assert_eq!(party["occupants_count"], 3);
    assert_eq!(ids_of(&party["admins_ids"]), vec![carol.id]);
    assert_eq!(party["pinned_messages_ids"], json!([]));
    assert_eq!(party["extensions"], json!({"location": "Sun bar", "floor": "3"}));
    assert_eq!(party["permissions"], json!({"allow_preview": true}));
    assert_eq!(party["xmpp_room_jid"], format!("{app}_{party_id}@muc.localhost"));
    assert_eq!(party["unread_messages_count"], 0);
    assert_eq!(party["last_message"], Value::Null);
    assert_eq!(party["last_message_status"], Value::Null);
    let created_at = party["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 20 && created_at.ends_with('Z'),
        "{created_at}"
    );

    // v3 leaves admins_ids as an array; numbers or numeric strings both work.
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 2, "name": "Book club", "occupants_ids": [bob.id, dave.id.to_string()]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let book_id = reply.body["_id"].as_str().unwrap().to_owned();
    assert_eq!(
        ids_of(&reply.body["occupants_ids"]),
        vec![alice.id, bob.id, dave.id]
    );

    // Later dialogs are at least a second younger, for the date filters.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Private: one per pair, whichever side creates it; no room JID.
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 3, "occupants_ids": bob.id.to_string(), "name": "ignored"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let private_id = reply.body["_id"].as_str().unwrap().to_owned();
    assert_object_id(&private_id);
    assert_eq!(reply.body["xmpp_room_jid"], Value::Null);
    assert_eq!(reply.body["name"], Value::Null);
    assert_eq!(ids_of(&reply.body["occupants_ids"]), vec![alice.id, bob.id]);
    let later = reply.body["created_at"].as_str().unwrap().to_owned();
    let again = api
        .post(
            "/chat/Dialog.json",
            &bob.token,
            json!({"type": 3, "occupants_ids": [alice.id]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["_id"], private_id.as_str());

    // Creation errors.
    let broadcast = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 1, "name": "News"}),
        )
        .await;
    assert_eq!(broadcast.status, StatusCode::FORBIDDEN);
    assert!(broadcast.body["errors"]["base"][0]
        .as_str()
        .unwrap()
        .contains("admin"));
    for (body, expected) in [
        (
            json!({"name": "x"}),
            json!({"errors": {"type": ["can't be blank"]}}),
        ),
        (
            json!({"type": 2, "occupants_ids": bob.id.to_string()}),
            json!({"errors": {"name": ["can't be blank"]}}),
        ),
        (
            json!({"type": 2, "name": "x"}),
            json!({"errors": {"occupants_ids": ["can't be blank"]}}),
        ),
        (
            json!({"type": 3, "occupants_ids": alice.id.to_string()}),
            json!({"errors": ["Occupants_ids is missing opponent ID."]}),
        ),
        (
            json!({"type": 2, "name": "x", "occupants_ids": "abc"}),
            json!({"errors": {"occupants_ids": ["'abc' is not a user id"]}}),
        ),
        (
            json!({"type": 2, "name": "x", "occupants_ids": [w.mallory.id]}),
            json!({"errors": {"occupants_ids": [format!("contains unknown users: {}", w.mallory.id)]}}),
        ),
    ] {
        let reply = api.post("/chat/Dialog.json", &alice.token, body.clone()).await;
        assert_eq!(
            (reply.status, &reply.body),
            (StatusCode::UNPROCESSABLE_ENTITY, &expected),
            "{body}"
        );
    }

    // Messages: bob writes in the party (date_sent 1_700_000_100), alice in the private dialog (…_050).
    let sent = api
        .post(
            "/chat/Message.json",
            &bob.token,
            json!({"chat_dialog_id": party_id, "message": "hello party", "date_sent": 1_700_000_100}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let sent = api
        .post(
            "/chat/Message.json",
            &alice.token,
            json!({"chat_dialog_id": private_id, "message": "hi bob", "date_sent": 1_700_000_050}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);

    // The default order: last message first, then the most recently updated.
    let all = api.ids("", &alice.token).await;
    assert_eq!(all, vec![party_id.clone(), private_id.clone(), book_id.clone()]);
    let reply = api.get("/chat/Dialog.json", &alice.token).await;
    assert_eq!(reply.body["total_entries"], 3);
    assert_eq!(
        (reply.body["skip"].clone(), reply.body["limit"].clone()),
        (json!(0), json!(100))
    );
    let first = &reply.body["items"][0];
    assert_eq!(first["last_message"], "hello party");
    assert_eq!(first["last_message_user_id"], bob.id);
    assert_eq!(first["last_message_date_sent"], 1_700_000_100);
    assert_eq!(first["unread_messages_count"], 1);
    assert_eq!(first["last_message_status"], Value::Null);
    // Bob sent it: "sent" for him until alice reads the history, then "read".
    let bob_view = api
        .get(&format!("/chat/Dialog.json?_id={party_id}"), &bob.token)
        .await;
    assert_eq!(bob_view.body["items"][0]["last_message_status"], "sent");
    assert_eq!(bob_view.body["items"][0]["unread_messages_count"], 0);
    let history = api
        .get(
            &format!("/chat/Message.json?chat_dialog_id={party_id}"),
            &alice.token,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let bob_view = api
        .get(&format!("/chat/Dialog.json?_id={party_id}"), &bob.token)
        .await;
    assert_eq!(bob_view.body["items"][0]["last_message_status"], "read");
    let alice_view = api
        .get(&format!("/chat/Dialog.json?_id={party_id}"), &alice.token)
        .await;
    assert_eq!(alice_view.body["items"][0]["unread_messages_count"], 0);

    // Paging and counting.
    let page = api.get("/chat/Dialog.json?limit=2&skip=1", &alice.token).await;
    assert_eq!(page.body["total_entries"], 3);
    assert_eq!(
        (page.body["skip"].clone(), page.body["limit"].clone()),
        (json!(1), json!(2))
    );
    let page_ids: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_str().unwrap())
        .collect();
    assert_eq!(page_ids, vec![private_id.as_str(), book_id.as_str()]);
    let count = api.get("/chat/Dialog.json?count=1&type=2", &alice.token).await;
    assert_eq!(count.body, json!({"items_count": 2}));

    // Filters and operators; both list encodings.
    let (p, b, v) = (party_id.clone(), book_id.clone(), private_id.clone());
    let later_enc = later.replace(':', "%3A");
    let cases: Vec<(String, Vec<String>)> = vec![
        (format!("_id={b}"), vec![b.clone()]),
        (format!("_id[ne]={b}"), vec![p.clone(), v.clone()]),
        (format!("_id[in]={b}%2C{v}"), vec![v.clone(), b.clone()]),
        (format!("_id[nin][]={b}&_id[nin][]={v}"), vec![p.clone()]),
        ("type=3".into(), vec![v.clone()]),
        ("type[in]=2%2C3".into(), vec![p.clone(), v.clone(), b.clone()]),
        ("type[nin]=3".into(), vec![p.clone(), b.clone()]),
        ("type[ne]=2".into(), vec![v.clone()]),
        ("type[lt]=3".into(), vec![p.clone(), b.clone()]),
        ("type[gte]=3".into(), vec![v.clone()]),
        ("name=Book%20club".into(), vec![b.clone()]),
        ("name[ctn]=PARTY".into(), vec![p.clone()]),
        ("name[ne]=Book%20club".into(), vec![p.clone(), v.clone()]),
        ("extensions[location]=Sun%20bar".into(), vec![p.clone()]),
        ("extensions[location][ctn]=sun".into(), vec![p.clone()]),
        ("extensions[floor][gt]=2".into(), vec![p.clone()]),
        ("extensions[location][ne]=Sun%20bar".into(), vec![v.clone(), b.clone()]),
        (format!("occupants_ids={}", dave.id), vec![b.clone()]),
        // Several occupants, either encoding: dialogs with all of them.
        (format!("occupants_ids[]={}&occupants_ids[]={}", carol.id, bob.id), vec![p.clone()]),
        (format!("occupants_ids={}%2C{}", carol.id, bob.id), vec![p.clone()]),
        (format!("occupants_ids[all]={}%2C%20{}", alice.id, bob.id), vec![p.clone(), v.clone(), b.clone()]),
        (format!("occupants_ids[in]={}%2C{}", carol.id, dave.id), vec![p.clone(), b.clone()]),
        (format!("occupants_ids[nin]={}%2C{}", carol.id, dave.id), vec![v.clone()]),
        (format!("occupants_ids[ne]={}", carol.id), vec![v.clone(), b.clone()]),
        ("last_message_date_sent[gt]=1700000050".into(), vec![p.clone()]),
        ("last_message_date_sent[gte]=1700000050".into(), vec![p.clone(), v.clone()]),
        ("last_message_date_sent[lt]=1700000100".into(), vec![v.clone()]),
        ("last_message_date_sent[lte]=1700000100".into(), vec![p.clone(), v.clone()]),
        (format!("created_at[gte]={later_enc}"), vec![v.clone()]),
        (format!("created_at[lt]={later_enc}"), vec![p.clone(), b.clone()]),
        ("updated_at[gt]=1700000000".into(), vec![p.clone(), v.clone(), b.clone()]),
        ("updated_at[lt]=1700000000".into(), vec![]),
        // The SDK's own serialization of a typical call.
        (
            format!("limit=50&occupants_ids={}&skip=0&sort_desc=last_message_date_sent&type[in]=2%2C3&updated_at[gt]=1700000000", bob.id),
            vec![p.clone(), v.clone(), b.clone()],
        ),
        // Sorting.
        ("sort_asc=created_at".into(), vec![p.clone(), b.clone(), v.clone()]),
        ("sort_desc=date_sent".into(), vec![p.clone(), v.clone(), b.clone()]),
        ("sort_asc=last_message_date_sent".into(), vec![b.clone(), v.clone(), p.clone()]),
        ("sort_asc=name&type=2".into(), vec![b.clone(), p.clone()]),
    ];
    for (query, expected) in cases {
        assert_eq!(api.ids(&query, &alice.token).await, expected, "{query}");
    }
    // Bad filters are 422 with the field; unknown parameters are ignored.
    for (query, field) in [
        ("type[xx]=1", "type"),
        ("type=abc", "type"),
        ("occupants_ids[gt]=1", "occupants_ids"),
        ("updated_at[gt]=undefined", "updated_at"),
        ("sort_desc=bogus", "sort"),
    ] {
        let reply = api.get(&format!("/chat/Dialog.json?{query}"), &alice.token).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(reply.body["errors"][field].is_array(), "{query}: {}", reply.text);
    }
    assert_eq!(api.ids("whatever=1&undefined=null", &alice.token).await.len(), 3);
    // Carol sees only the party; mallory (another app) sees nothing.
    assert_eq!(api.ids("", &carol.token).await, vec![p.clone()]);
    assert!(api.ids("", &w.mallory.token).await.is_empty());
    Made {
        party: party_id,
        book: book_id,
        private: private_id,
    }
}

async fn update_rules(w: &World, made: &Made) {
    let (api, u) = (&w.api, &w.u);
    let (alice, bob, carol, dave, erin) = (&u[0], &u[1], &u[2], &u[3], &u[4]);
    let path = format!("/chat/Dialog/{}.json", made.party);

    // Any occupant renames a group and adds occupants.
    let reply = api
        .put(
            &path,
            &bob.token,
            json!({"name": "Crossfit2", "photo": "gym2.jpeg", "description": "Every day",
                "push_all": {"occupants_ids": [dave.id]}, "extensions": {"location": "Gym"},
                "permissions": {"allow_preview": false}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["name"], "Crossfit2");
    assert_eq!(reply.body["photo"], "gym2.jpeg");
    assert_eq!(reply.body["description"], "Every day");
    assert_eq!(
        ids_of(&reply.body["occupants_ids"]),
        vec![alice.id, bob.id, carol.id, dave.id]
    );
    assert_eq!(reply.body["extensions"], json!({"location": "Gym", "floor": "3"}));
    assert_eq!(reply.body["permissions"], json!({"allow_preview": false}));
    assert_eq!(
        api.ids(&format!("_id={}", made.party), &dave.token).await.len(),
        1
    );

    // Removing someone else: owner and admins only.
    let reply = api
        .put(
            &path,
            &bob.token,
            json!({"pull_all": {"occupants_ids": [dave.id]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body["errors"]["base"][0].is_string(), "{}", reply.text);
    let reply = api
        .put(
            &path,
            &carol.token,
            json!({"pull_all": {"occupants_ids": [dave.id.to_string()]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        ids_of(&reply.body["occupants_ids"]),
        vec![alice.id, bob.id, carol.id]
    );
    assert!(api
        .ids(&format!("_id={}", made.party), &dave.token)
        .await
        .is_empty());

    // Pinned messages: owner and admins; admins changed through update by the owner.
    let reply = api
        .put(
            &path,
            &bob.token,
            json!({"push_all": {"pinned_messages_ids": ["5c123fdce588ce064043f53a"]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .put(
            &path,
            &carol.token,
            json!({"push_all": {"pinned_messages_ids": ["5c123fdce588ce064043f53a", "5c123fdce588ce064043f53b"]}}),
        )
        .await;
    assert_eq!(
        reply.body["pinned_messages_ids"],
        json!(["5c123fdce588ce064043f53a", "5c123fdce588ce064043f53b"])
    );
    let reply = api
        .put(&path, &alice.token, json!({"pull_all": {"pinned_messages_ids": ["5c123fdce588ce064043f53a"], "admins_ids": [carol.id]}}))
        .await;
    assert_eq!(
        reply.body["pinned_messages_ids"],
        json!(["5c123fdce588ce064043f53b"])
    );
    assert_eq!(reply.body["admins_ids"], json!([]));

    // Leaving: pulling only yourself, as a numeric string too.
    let reply = api
        .put(
            &path,
            &bob.token,
            json!({"pull_all": {"occupants_ids": [bob.id.to_string()]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(ids_of(&reply.body["occupants_ids"]), vec![alice.id, carol.id]);
    assert!(api
        .ids(&format!("_id={}", made.party), &bob.token)
        .await
        .is_empty());

    // Extensions reset with null; blank names refused.
    let reply = api.put(&path, &alice.token, json!({"extensions": null})).await;
    assert_eq!(reply.body["extensions"], Value::Null);
    let reply = api.put(&path, &alice.token, json!({"name": "  "})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.body, json!({"errors": {"name": ["can't be blank"]}}));

    // Private dialogs can't be renamed; strangers change nothing; unknown and foreign ids are 404.
    let private = format!("/chat/Dialog/{}.json", made.private);
    let reply = api.put(&private, &bob.token, json!({"name": "Us"})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        json!({"errors": {"base": ["Private dialogs can't be renamed"]}})
    );
    let reply = api
        .put(
            &private,
            &alice.token,
            json!({"push_all": {"occupants_ids": [carol.id]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api.put(&path, &erin.token, json!({"name": "Mine"})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .put(
            "/chat/Dialog/aaaaaaaaaaaaaaaaaaaaaaaa.json",
            &alice.token,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!((reply.status, reply.body), (StatusCode::NOT_FOUND, not_found()));
    let reply = api.put(&path, &w.mallory.token, json!({"name": "x"})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // The book club is untouched by all this.
    let book = api
        .get(&format!("/chat/Dialog.json?_id={}", made.book), &alice.token)
        .await;
    assert_eq!(book.body["items"][0]["name"], "Book club");
}

async fn admins_endpoint(w: &World) {
    let (api, u) = (&w.api, &w.u);
    let (alice, bob) = (&u[0], &u[1]);
    let others: Vec<i64> = u[1..].iter().map(|x| x.id).collect();
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 2, "name": "Big", "occupants_ids": others}),
        )
        .await;
    let id = reply.body["_id"].as_str().unwrap().to_owned();
    let path = format!("/chat/Dialog/{id}/admins.json");

    let reply = api
        .put(
            &path,
            &alice.token,
            json!({"push_all": {"admins_ids": &others[..5]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(ids_of(&reply.body["admins_ids"]), others[..5].to_vec());
    assert_eq!(reply.body["_id"], id.as_str());
    // A sixth is one too many.
    let reply = api
        .put(
            &path,
            &alice.token,
            json!({"push_all": {"admins_ids": [others[5]]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.body,
        json!({"errors": {"admins_ids": ["a dialog can have at most 5 admins"]}})
    );
    // Only the owner.
    let reply = api
        .put(
            &path,
            &bob.token,
            json!({"pull_all": {"admins_ids": [others[2]]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .put(
            &path,
            &alice.token,
            json!({"pull_all": {"admins_ids": [others[0]]}}),
        )
        .await;
    assert_eq!(ids_of(&reply.body["admins_ids"]), others[1..5].to_vec());
    // Group admins must be occupants; private dialogs have none.
    let reply = api
        .put(
            &path,
            &alice.token,
            json!({"push_all": {"admins_ids": [w.mallory.id]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 3, "occupants_ids": [bob.id]}),
        )
        .await;
    let private = reply.body["_id"].as_str().unwrap();
    let reply = api
        .put(
            &format!("/chat/Dialog/{private}/admins.json"),
            &alice.token,
            json!({"push_all": {"admins_ids": [bob.id]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

async fn delete_for_me_and_for_all(w: &World) {
    let (api, u) = (&w.api, &w.u);
    let (alice, bob, carol, dave) = (&u[0], &u[1], &u[2], &u[3]);
    let one = group(api, alice, "Delete me", &[bob.id, dave.id]).await;
    let two = group(api, alice, "Delete us 1", &[bob.id]).await;
    let three = group(api, alice, "Delete us 2", &[bob.id]).await;
    let carols = group(api, carol, "Carol's", &[alice.id]).await;

    // Without force: gone from bob's list only, until someone writes again.
    let reply = api
        .delete(&format!("/chat/Dialog/{one}.json"), &bob.token, None)
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::OK, ""));
    assert!(api.ids(&format!("_id={one}"), &bob.token).await.is_empty());
    assert_eq!(api.ids(&format!("_id={one}"), &dave.token).await.len(), 1);
    let sent = api
        .post(
            "/chat/Message.json",
            &dave.token,
            json!({"chat_dialog_id": one, "message": "still here?"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    assert_eq!(
        api.ids(&format!("_id={one}"), &bob.token).await,
        vec![one.clone()]
    );

    // With force (form-encoded body): the owner only, for everyone.
    let reply = api
        .delete(&format!("/chat/Dialog/{one}.json"), &bob.token, Some("force=1"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .delete(&format!("/chat/Dialog/{one}.json"), &alice.token, Some("force=1"))
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::OK, ""));
    assert!(api.ids(&format!("_id={one}"), &dave.token).await.is_empty());
    let reply = api
        .get(&format!("/chat/Dialog/{one}/notifications.json"), &dave.token)
        .await;
    assert_eq!((reply.status, reply.body), (StatusCode::NOT_FOUND, not_found()));
    let reply = api
        .delete(&format!("/chat/Dialog/{one}.json"), &alice.token, None)
        .await;
    assert_eq!((reply.status, reply.body), (StatusCode::NOT_FOUND, not_found()));

    // Several ids: a JSON outcome; force in the query string works too.
    let missing = "bbbbbbbbbbbbbbbbbbbbbbbb";
    let reply = api
        .delete(
            &format!("/chat/Dialog/{two},{missing},{carols}.json?force=1"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        json!({"SuccessfullyDeleted": {"ids": [two]}, "NotFound": {"ids": [missing]},
            "WrongPermissions": {"ids": [carols]}})
    );
    let reply = api
        .delete(
            &format!("/chat/Dialog/{three},{carols}.json"),
            &bob.token,
            Some(""),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"SuccessfullyDeleted": {"ids": [three]}, "NotFound": {"ids": [carols]},
            "WrongPermissions": {"ids": []}})
    );
    assert!(api
        .ids(&format!("_id[in]={two}%2C{three}"), &bob.token)
        .await
        .is_empty());
    assert_eq!(
        api.ids(&format!("_id[in]={two}%2C{three}"), &alice.token).await,
        vec![three.clone()]
    );
}

async fn clear_history_and_notifications(w: &World, made: &Made) {
    let (api, u) = (&w.api, &w.u);
    let (alice, bob, erin) = (&u[0], &u[1], &u[4]);
    let private = &made.private;
    for text in ["one", "two"] {
        let sent = api
            .post(
                "/chat/Message.json",
                &alice.token,
                json!({"chat_dialog_id": private, "message": text}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED);
    }
    let view = api
        .get(&format!("/chat/Dialog.json?_id={private}"), &bob.token)
        .await;
    assert_eq!(view.body["items"][0]["unread_messages_count"], 3);

    let reply = api
        .delete(
            &format!("/chat/Dialog/clearHistory/{private}.json"),
            &bob.token,
            None,
        )
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::OK, ""));
    let view = api
        .get(&format!("/chat/Dialog.json?_id={private}"), &bob.token)
        .await;
    assert_eq!(view.body["items"][0]["unread_messages_count"], 0);
    let history = api
        .get(
            &format!("/chat/Message.json?chat_dialog_id={private}"),
            &bob.token,
        )
        .await;
    assert_eq!(history.body["items"], json!([]), "{}", history.text);
    let history = api
        .get(
            &format!("/chat/Message.json?chat_dialog_id={private}&mark_as_read=0"),
            &alice.token,
        )
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 3);
    let reply = api
        .delete(
            &format!("/chat/Dialog/clearHistory/{private}.json"),
            &erin.token,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // Notifications: per member, on by default.
    let path = format!("/chat/Dialog/{private}/notifications.json");
    let reply = api.get(&path, &bob.token).await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::OK, json!({"notifications": {"enabled": 1}}))
    );
    let reply = api.put(&path, &bob.token, json!({"enabled": 0})).await;
    assert_eq!(reply.body, json!({"notifications": {"enabled": 0}}));
    assert_eq!(
        api.get(&path, &bob.token).await.body["notifications"]["enabled"],
        0
    );
    assert_eq!(
        api.get(&path, &alice.token).await.body["notifications"]["enabled"],
        1
    );
    let reply = api.put(&path, &bob.token, json!({"enabled": "1"})).await;
    assert_eq!(reply.body, json!({"notifications": {"enabled": 1}}));
    let reply = api.put(&path, &bob.token, json!({})).await;
    assert_eq!(
        (reply.status, reply.body),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {"enabled": ["can't be blank"]}})
        )
    );
    assert_eq!(api.get(&path, &erin.token).await.status, StatusCode::FORBIDDEN);
}

async fn public_dialogs(w: &World) {
    let (api, u) = (&w.api, &w.u);
    let (alice, bob, erin, frank) = (&u[0], &u[1], &u[4], &u[5]);
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 4, "name": "Town square"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["occupants_ids"], json!([]));
    assert_eq!(reply.body["occupants_count"], 1);
    let town = reply.body["_id"].as_str().unwrap().to_owned();
    assert!(reply.body["xmpp_room_jid"]
        .as_str()
        .unwrap()
        .ends_with("@muc.localhost"));

    // Subscribe: JSON content type and no body, answers the Dialog.
    let path = format!("/chat/Dialog/{town}/subscribe.json");
    let reply = api
        .send(Method::POST, &path, Some(&erin.token), Body::EmptyJson)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["occupants_ids"], json!([]));
    assert_eq!(reply.body["occupants_count"], 2);
    assert_eq!(
        api.ids(&format!("_id={town}"), &erin.token).await,
        vec![town.clone()]
    );
    assert!(api.ids(&format!("_id={town}"), &frank.token).await.is_empty());
    // Subscribers post; others don't rename it.
    let sent = api
        .post(
            "/chat/Message.json",
            &erin.token,
            json!({"chat_dialog_id": town, "message": "hi all"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let reply = api
        .put(
            &format!("/chat/Dialog/{town}.json"),
            &erin.token,
            json!({"name": "Erin's"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // Public occupants: anyone in the app, paged.
    let occupants = format!("/chat/Dialog/{town}/occupants.json");
    let reply = api.get(&occupants, &frank.token).await;
    assert_eq!(reply.status, StatusCode::OK);
    let logins: Vec<&str> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, vec!["alice", "erin"]);
    assert_eq!(reply.body.as_object().unwrap().len(), 1);
    let reply = api
        .get(&format!("{occupants}?limit=1&skip=1"), &frank.token)
        .await;
    assert_eq!(reply.body["items"][0]["id"], erin.id);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&occupants, &w.mallory.token).await.status,
        StatusCode::NOT_FOUND
    );

    // Unsubscribe: 200, text.
    let reply = api.delete(&path, &erin.token, None).await;
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::OK, ""));
    assert!(api.ids(&format!("_id={town}"), &erin.token).await.is_empty());
    let reply = api
        .send(Method::POST, &path, Some(&alice.token), Body::EmptyJson)
        .await;
    assert_eq!(reply.body["occupants_count"], 1);

    // Group dialogs take subscribers as occupants; private ones refuse; other apps don't see them.
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 2, "name": "Open group", "occupants_ids": [bob.id]}),
        )
        .await;
    let group = reply.body["_id"].as_str().unwrap().to_owned();
    let reply = api
        .send(
            Method::POST,
            &format!("/chat/Dialog/{group}/subscribe.json"),
            Some(&frank.token),
            Body::EmptyJson,
        )
        .await;
    assert_eq!(
        ids_of(&reply.body["occupants_ids"]),
        vec![alice.id, bob.id, frank.id]
    );
    let reply = api
        .post(
            "/chat/Dialog.json",
            &alice.token,
            json!({"type": 3, "occupants_ids": [frank.id]}),
        )
        .await;
    let private = reply.body["_id"].as_str().unwrap().to_owned();
    let reply = api
        .send(
            Method::POST,
            &format!("/chat/Dialog/{private}/subscribe.json"),
            Some(&erin.token),
            Body::EmptyJson,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .send(Method::POST, &path, Some(&w.mallory.token), Body::EmptyJson)
        .await;
    assert_eq!((reply.status, reply.body), (StatusCode::NOT_FOUND, not_found()));
}

async fn broadcast_dialogs(w: &World) {
    let (api, u) = (&w.api, &w.u);
    let (alice, bob, grace) = (&u[0], &u[1], &u[6]);
    let admin = |app: i64, token: Option<&str>, body: Value| {
        let mut request = api
            .http
            .post(format!("{}/admin/apps/{app}/dialogs", api.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let body =
        json!({"user_id": alice.id, "name": "News", "description": "From the team", "admins_ids": [bob.id]});
    let (status, reply) = admin(w.app, None, body.clone()).await;
    assert_eq!(
        (status, reply),
        (StatusCode::UNAUTHORIZED, json!({"errors": ["Unauthorized"]}))
    );
    let (status, reply) = admin(w.app, Some("wrong"), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
    let (status, news) = admin(w.app, Some(ADMIN_TOKEN), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{news}");
    let id = news["_id"].as_str().unwrap().to_owned();
    assert_object_id(&id);
    assert_eq!(news["type"], 1);
    assert_eq!(news["user_id"], alice.id);
    assert_eq!(news["occupants_ids"], json!([]));
    assert_eq!(ids_of(&news["admins_ids"]), vec![bob.id]);
    assert_eq!(news["xmpp_room_jid"], format!("{}_{id}@muc.localhost", w.app));
    for (app, body, status) in [
        (
            w.app,
            json!({"user_id": alice.id}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // Without an owner a broadcast dialog is the operator's, but it still needs a name.
        (w.app, json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            w.app,
            json!({"user_id": w.mallory.id, "name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            w.app,
            json!({"user_id": alice.id, "name": "x", "type": 9}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            999_999,
            json!({"user_id": alice.id, "name": "x"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        assert_eq!(
            admin(app, Some(ADMIN_TOKEN), body.clone()).await.0,
            status,
            "{app} {body}"
        );
    }

    // Every user of the app lists it; nobody elsewhere does.
    for user in u {
        assert_eq!(api.ids("type=1", &user.token).await, vec![id.clone()]);
    }
    assert!(api.ids("type=1", &w.mallory.token).await.is_empty());
    let (_, other_news) = admin(
        w.other_app,
        Some(ADMIN_TOKEN),
        json!({"user_id": w.mallory.id, "name": "Theirs"}),
    )
    .await;
    assert_eq!(
        api.ids("type=1", &w.mallory.token).await,
        vec![other_news["_id"].as_str().unwrap()]
    );
    assert_eq!(api.ids("type=1", &grace.token).await, vec![id.clone()]);

    // Owner and admins change it and post to it; readers don't.
    let path = format!("/chat/Dialog/{id}.json");
    assert_eq!(
        api.put(&path, &grace.token, json!({"name": "Mine"})).await.status,
        StatusCode::FORBIDDEN
    );
    let reply = api.put(&path, &bob.token, json!({"name": "Daily news"})).await;
    assert_eq!(reply.body["name"], "Daily news");
    // A reader hides it for himself; the next post brings it back; he mutes it for himself.
    let reply = api.delete(&path, &grace.token, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(api.ids("type=1", &grace.token).await.is_empty());
    assert_eq!(api.ids("type=1", &bob.token).await, vec![id.clone()]);
    let sent = api
        .post(
            "/chat/Message.json",
            &alice.token,
            json!({"chat_dialog_id": id, "message": "Extra!"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let listed = api.get("/chat/Dialog.json?type=1", &grace.token).await;
    assert_eq!(listed.body["items"][0]["last_message"], "Extra!");
    let notifications = format!("/chat/Dialog/{id}/notifications.json");
    let reply = api.put(&notifications, &grace.token, json!({"enabled": 0})).await;
    assert_eq!(reply.body, json!({"notifications": {"enabled": 0}}));
    assert_eq!(
        api.get(&notifications, &bob.token).await.body["notifications"]["enabled"],
        1
    );
    // Readers can't force-delete it; the owner can.
    let reply = api.delete(&path, &grace.token, Some("force=1")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api.delete(&path, &alice.token, Some("force=1")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(api.ids("type=1", &grace.token).await.is_empty());
}
