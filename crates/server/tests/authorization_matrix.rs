//! End-to-end: who may do what. Every REST endpoint that reads or changes something of a user or a
//! dialog, and the XMPP actions that do the same, are tried as each kind of caller:
//!
//! * `none`: no token; `app`: an application session (no user);
//! * `owner`, `admin`, `occupant` of a group dialog (and of a broadcast dialog: owner, admin, plain user);
//! * `outsider`: another user of the same app, in no dialog; `foreign`: a user of another app.
//!
//! Each row says, per caller, `A` (allowed: 2xx), `D` (denied: 401, 403 or 404; for bulk deletes, a 200
//! that deleted nothing) or `.` (not asked).
//! Denied callers go first so that an allowed change cannot hide a denial. After the run the server's log
//! must contain none of the tokens, keys and passwords used.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::world::{answer, password, World};
use support::xmpp::Client;
use support::Db;

const ADMIN_TOKEN: &str = "matrix-admin-token-0123456789";

/// The callers, in the order of the expectation strings.
const CALLERS: [&str; 7] = ["none", "app", "foreign", "outsider", "occupant", "admin", "owner"];

struct Matrix {
    w: World,
    /// Token per caller (None for `none`).
    tokens: Vec<Option<String>>,
    foreign_key: String,
    foreign_password: String,
    /// The foreign user's XMPP username, `{uid}-{app}`.
    foreign_node: String,
    /// What was tried, for the failure message.
    report: Vec<String>,
    failures: Vec<String>,
}

impl Matrix {
    async fn call(
        &self,
        caller: usize,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .w
            .http
            .request(method.clone(), format!("{}{path}", self.w.server.http));
        if let Some(token) = &self.tokens[caller] {
            request = request.header("CB-Token", token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request).await
    }

    /// Tries one request as every caller the expectation names, denied callers first.
    async fn row(&mut self, method: Method, path: &str, body: Option<Value>, expect: &str) {
        assert_eq!(expect.len(), CALLERS.len(), "{path}: one letter per caller");
        let mut order: Vec<usize> = (0..CALLERS.len()).collect();
        order.sort_by_key(|&i| expect.as_bytes()[i] == b'A');
        let mut got = vec!['.'; CALLERS.len()];
        for caller in order {
            let wanted = expect.as_bytes()[caller];
            if wanted == b'.' {
                continue;
            }
            let (status, body) = self.call(caller, &method, path, body.as_ref()).await;
            // Bulk deletes answer 200 with what happened to each id (ConnectyCube's format).
            let deleted = body
                .get("SuccessfullyDeleted")
                .map(|done| done["ids"] != json!([]));
            let outcome = if let Some(deleted) = deleted {
                if deleted {
                    'A'
                } else {
                    'D'
                }
            } else if status.is_success() {
                'A'
            } else if matches!(status.as_u16(), 401 | 403 | 404) {
                'D'
            } else {
                '?'
            };
            got[caller] = outcome;
            if outcome != wanted as char {
                self.failures.push(format!(
                    "{method} {path} as {}: expected {}, got {status} {body}",
                    CALLERS[caller], wanted as char
                ));
            }
        }
        self.report.push(format!(
            "{:<60} {}",
            format!("{method} {path}"),
            got.iter().collect::<String>()
        ));
    }

    /// Whether `caller` sees `needle` anywhere in the answer to a GET.
    async fn sees(&self, caller: usize, path: &str, needle: &str) -> bool {
        let (status, body) = self.call(caller, &Method::GET, path, None).await;
        status.is_success() && body.to_string().contains(needle)
    }
}

async fn token(w: &World, app: i64, key: &str, login: Option<(&str, &str)>) -> String {
    let mut body = json!({"application_id": app, "auth_key": key});
    if let Some((login, password)) = login {
        body["user"] = json!({"login": login, "password": password});
    }
    let (status, reply) = answer(w.http.post(format!("{}/session.json", w.server.http)).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    reply["session"]["token"].as_str().unwrap().to_owned()
}

async fn setup() -> Matrix {
    let w = World::start(
        Db::Sqlite,
        &[("PALAVER_ADMIN_TOKEN", ADMIN_TOKEN)],
        "Matrix",
        &["outsider", "occupant", "admin", "owner"],
    )
    .await;
    let (foreign_app, foreign_key, _) = w.server.create_app("Elsewhere");
    let foreign_password = "foreign-secret-pw-42".to_owned();
    let foreign_id = w.server.create_user(foreign_app, "foreign", &foreign_password);
    let mut tokens = vec![None, Some(token(&w, w.app, &w.key, None).await)];
    tokens.push(Some(
        token(
            &w,
            foreign_app,
            &foreign_key,
            Some(("foreign", &foreign_password)),
        )
        .await,
    ));
    for n in 0..4 {
        tokens.push(Some(w.token(n).await));
    }
    Matrix {
        w,
        tokens,
        foreign_key,
        foreign_password,
        foreign_node: format!("{foreign_id}-{foreign_app}"),
        report: Vec::new(),
        failures: Vec::new(),
    }
}

// Caller indexes.
const FOREIGN: usize = 2;
const OUTSIDER: usize = 3;
const OCCUPANT: usize = 4;
const ADMIN: usize = 5;
const OWNER: usize = 6;
// World user indexes.
const U_OUTSIDER: usize = 0;
const U_OCCUPANT: usize = 1;
const U_ADMIN: usize = 2;
const U_OWNER: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_action_allows_exactly_who_it_should() {
    let mut m = setup().await;
    let ids: Vec<i64> = (0..4).map(|n| m.w.id(n)).collect();
    let (occupant_id, admin_id, owner_id) = (ids[U_OCCUPANT], ids[U_ADMIN], ids[U_OWNER]);

    // The owner's group dialog with an admin and an occupant, a message in it, a private file.
    let (status, group) = m
        .call(
            OWNER,
            &Method::POST,
            "/chat/Dialog.json",
            Some(&json!({"type": 2, "name": "Private group", "occupants_ids": [occupant_id, admin_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["_id"].as_str().unwrap().to_owned();
    let (status, _) = m
        .call(
            OWNER,
            &Method::PUT,
            &format!("/chat/Dialog/{group}/admins.json"),
            Some(&json!({"push_all": {"admins_ids": [admin_id]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, message) = m
        .call(
            OWNER,
            &Method::POST,
            "/chat/Message.json",
            Some(&json!({"chat_dialog_id": group, "message": "the owner's secret words"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let message = message["_id"].as_str().unwrap().to_owned();
    let (status, broadcast) = answer(
        m.w.http
            .post(format!("{}/admin/apps/{}/dialogs", m.w.server.http, m.w.app))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"user_id": owner_id, "name": "News", "admins_ids": [admin_id]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{broadcast}");
    let broadcast = broadcast["_id"].as_str().unwrap().to_owned();
    let (status, blob) = m
        .call(
            OWNER,
            &Method::POST,
            "/blobs.json",
            Some(&json!({"blob": {"name": "diary.txt", "content_type": "text/plain"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{blob}");
    let blob = blob["blob"]["id"].as_i64().unwrap();

    // --- Reading ---
    //                                                               none app foreign outsider occupant admin owner
    m.row(Method::GET, "/chat/Dialog.json", None, "DDAAAAA").await;
    for caller in [FOREIGN, OUTSIDER] {
        assert!(
            !m.sees(caller, "/chat/Dialog.json", &group).await,
            "{} lists the group",
            CALLERS[caller]
        );
    }
    for caller in [OCCUPANT, ADMIN, OWNER] {
        assert!(m.sees(caller, "/chat/Dialog.json", &group).await);
    }
    let history = format!("/chat/Message.json?chat_dialog_id={group}");
    m.row(Method::GET, &history, None, "DDDDAAA").await;
    for caller in [FOREIGN, OUTSIDER] {
        assert!(!m.sees(caller, &history, "secret words").await);
        assert!(
            !m.sees(caller, "/chat/search.json?search_text=secret", "secret words")
                .await
        );
    }
    m.row(
        Method::GET,
        &format!("/chat/Dialog/{group}/occupants.json"),
        None,
        "DDDDAAA",
    )
    .await;
    m.row(
        Method::GET,
        &format!("/chat/Dialog/{group}/notifications.json"),
        None,
        "DDDDAAA",
    )
    .await;
    m.row(
        Method::GET,
        &format!("/chat/Message/{message}/reactions.json"),
        None,
        "DDDDAAA",
    )
    .await;
    m.row(Method::GET, &format!("/blobs/{blob}.json"), None, "DDDDDDA")
        .await;
    m.row(Method::GET, "/blobs.json", None, "DDAAAAA").await;
    for caller in [FOREIGN, OUTSIDER, OCCUPANT] {
        assert!(!m.sees(caller, "/blobs.json", "diary.txt").await);
    }
    m.row(Method::GET, &format!("/users/{owner_id}.json"), None, "DADAAAA")
        .await;
    m.row(Method::GET, "/users.json", None, "DAAAAAA").await;
    assert!(
        !m.sees(FOREIGN, "/users.json", &format!("\"id\":{owner_id}"))
            .await
    );
    m.row(Method::GET, "/subscriptions.json", None, "DDAAAAA").await;
    m.row(Method::GET, "/users/by_login.json?login=owner", None, "DADAAAA")
        .await;
    let by_id = format!("/users/v2.json?id={owner_id}");
    m.row(Method::GET, &by_id, None, "DAAAAAA").await;
    assert!(!m.sees(FOREIGN, &by_id, &format!("\"id\":{owner_id}")).await);
    assert!(m.sees(OUTSIDER, &by_id, &format!("\"id\":{owner_id}")).await);
    m.row(
        Method::GET,
        &format!("/chat/Message/unread.json?chat_dialog_ids={group}"),
        None,
        "DD...AA",
    )
    .await;

    // Before anyone leaves the group.
    xmpp_actions(&mut m, &group, &broadcast).await;

    // --- Changing what is not the caller's ---
    m.row(
        Method::POST,
        "/chat/Dialog.json",
        Some(json!({"type": 2, "name": "x", "occupants_ids": [owner_id]})),
        "DD.....",
    )
    .await;
    m.row(
        Method::POST,
        "/chat/Message/system.json",
        Some(json!({"recipientId": owner_id, "note": "ping"})),
        "DDDAAAA",
    )
    .await;
    m.row(
        Method::PUT,
        &format!("/blobs/{blob}/complete.json"),
        Some(json!({"size": 1})),
        "DDDDDD.",
    )
    .await;
    m.row(
        Method::POST,
        "/chat/Message.json",
        Some(json!({"chat_dialog_id": group, "message": "hello"})),
        "DDDDAAA",
    )
    .await;
    m.row(
        Method::POST,
        "/chat/Message.json",
        Some(json!({"chat_dialog_id": broadcast, "message": "news"})),
        "DDDDDAA",
    )
    .await;
    m.row(
        Method::PUT,
        &format!("/chat/Message/{message}.json"),
        Some(json!({"message": "edited by someone else"})),
        "DDDDDD.",
    )
    .await;
    // Admins of a group dialog may delete any message of it for everyone.
    m.row(
        Method::DELETE,
        &format!("/chat/Message/{message}.json?force=1"),
        None,
        "DDDDDA.",
    )
    .await;
    m.row(
        Method::PUT,
        &format!("/chat/Dialog/{group}.json"),
        Some(json!({"pull_all": {"occupants_ids": [owner_id]}})),
        "DDDDDD.",
    )
    .await;
    m.row(
        Method::PUT,
        &format!("/chat/Dialog/{group}/admins.json"),
        Some(json!({"push_all": {"admins_ids": [occupant_id]}})),
        "DDDDDD.",
    )
    .await;
    m.row(
        Method::DELETE,
        &format!("/chat/Dialog/{group}.json?force=1"),
        None,
        "DDDDDD.",
    )
    .await;
    m.row(
        Method::DELETE,
        &format!("/chat/Dialog/clearHistory/{group}.json"),
        None,
        "DDDD...",
    )
    .await;
    m.row(
        Method::PUT,
        &format!("/blobs/{blob}.json"),
        Some(json!({"blob": {"name": "renamed"}})),
        "DDDDDD.",
    )
    .await;
    m.row(Method::DELETE, &format!("/blobs/{blob}.json"), None, "DDDDDD.")
        .await;
    m.row(
        Method::PUT,
        &format!("/users/{owner_id}.json"),
        Some(json!({"user": {"full_name": "Taken over"}})),
        "DDDDDD.",
    )
    .await;
    m.row(
        Method::DELETE,
        &format!("/users/{owner_id}.json"),
        None,
        "DDDDDD.",
    )
    .await;
    // The occupant may remove only itself; the admin may remove the occupant.
    m.row(
        Method::PUT,
        &format!("/chat/Dialog/{group}.json"),
        Some(json!({"pull_all": {"occupants_ids": [admin_id]}})),
        "DDDDD..",
    )
    .await;
    m.row(
        Method::PUT,
        &format!("/chat/Dialog/{group}.json"),
        Some(json!({"pull_all": {"occupants_ids": [occupant_id]}})),
        "DDDD.A.",
    )
    .await;

    // --- Admin routes: only the admin token ---
    for path in [
        format!("/admin/apps/{}/users", m.w.app),
        format!("/admin/apps/{}/dialogs", m.w.app),
        "/admin/apps".to_owned(),
    ] {
        m.row(Method::GET, &path, None, "DDDDDDD").await;
        let (status, _) = answer(
            m.w.http
                .get(format!("{}{path}", m.w.server.http))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path} with the admin token");
    }

    let report = m.report.join("\n");
    assert!(
        m.failures.is_empty(),
        "{}\n\nmatrix (callers {:?}):\n{report}",
        m.failures.join("\n"),
        CALLERS
    );

    // Nothing secret in the log: tokens, keys, passwords.
    let log = m.w.server.log_text();
    let mut secrets: Vec<String> = m.tokens.iter().flatten().cloned().collect();
    secrets.extend([
        m.w.key.clone(),
        m.foreign_key.clone(),
        m.foreign_password.clone(),
        ADMIN_TOKEN.to_owned(),
    ]);
    secrets.extend(m.w.users.iter().map(|(_, login)| password(login)));
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret is in the log: {secret}");
    }
}

/// The XMPP side of the matrix: joining a private group, posting to it and to a broadcast dialog, and
/// reading another user's roster, privacy lists and last activity.
async fn xmpp_actions(m: &mut Matrix, group: &str, broadcast: &str) {
    let w = &m.w;
    let (group_room, broadcast_room) = (w.room(group), w.room(broadcast));
    let mut outsider = w.online(U_OUTSIDER).await;
    let mut occupant = w.online(U_OCCUPANT).await;
    let mut owner = w.online(U_OWNER).await;

    // Joining: the outsider is refused, the occupant gets in.
    let join = |id: &str, room: &str, nick: i64| {
        format!(
            r#"<presence id="{id}" to="{room}/{nick}" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/></presence>"#
        )
    };
    outsider
        .send(&join("join-out", &group_room, w.id(U_OUTSIDER)))
        .await;
    let refused = outsider.expect("join-out").await;
    assert!(
        refused.contains(r#"type="error""#),
        "outsider joined a private group: {refused}"
    );
    occupant
        .send(&join("join-occ", &group_room, w.id(U_OCCUPANT)))
        .await;
    let joined = occupant.expect("join-occ").await;
    assert!(!joined.contains(r#"type="error""#), "{joined}");
    owner.send(&join("join-own", &group_room, w.id(U_OWNER))).await;
    owner.expect("join-own").await;

    // Posting to the group: refused for the outsider, and nothing reaches the owner.
    outsider
        .send(&format!(
            r#"<message id="gm-out" to="{group_room}" type="groupchat" xmlns="jabber:client"><body>intruder</body></message>"#
        ))
        .await;
    let refused = outsider.expect("gm-out").await;
    assert!(refused.contains(r#"type="error""#), "{refused}");
    // Posting to the broadcast dialog: refused for a plain user.
    occupant
        .send(&format!(
            r#"<message id="bc-occ" to="{broadcast_room}" type="groupchat" xmlns="jabber:client"><body>spam</body></message>"#
        ))
        .await;
    let refused = occupant.expect("bc-occ").await;
    assert!(refused.contains(r#"type="error""#), "{refused}");
    // The occupant's own group message reaches the owner, the intruder's never did.
    occupant
        .send(&format!(
            r#"<message id="gm-occ" to="{group_room}" type="groupchat" xmlns="jabber:client"><body>member says</body></message>"#
        ))
        .await;
    let delivered = owner.expect("member says").await;
    assert!(!delivered.contains("intruder"));

    // Another user's roster and privacy lists cannot be read by addressing them to that user.
    let owner_bare = w.bare(U_OWNER);
    for (id, query) in [
        ("roster", r#"<query xmlns="jabber:iq:roster"/>"#),
        ("privacy", r#"<query xmlns="jabber:iq:privacy"/>"#),
    ] {
        outsider
            .send(&format!(
                r#"<iq type="get" id="peek-{id}" to="{owner_bare}" xmlns="jabber:client">{query}</iq>"#
            ))
            .await;
        let answer = outsider.expect(&format!("peek-{id}")).await;
        assert!(
            answer.contains(r#"type="error""#),
            "{id} of another user answered: {answer}"
        );
    }
    // Last activity: a user of the same app may ask (ConnectyCube's getLastUserActivity); a user of
    // another app may not learn anything about this app's users.
    let mut foreign = Client::websocket(&w.server.ws).await;
    foreign
        .online("localhost", &m.foreign_node, &m.foreign_password)
        .await;
    foreign
        .send(&format!(
            r#"<iq type="get" id="last-foreign" to="{owner_bare}" xmlns="jabber:client"><query xmlns="jabber:iq:last"/></iq>"#
        ))
        .await;
    let answer = foreign.expect("last-foreign").await;
    assert!(
        answer.contains(r#"type="error""#),
        "last activity across apps: {answer}"
    );
    outsider
        .send(&format!(
            r#"<iq type="get" id="last-out" to="{owner_bare}" xmlns="jabber:client"><query xmlns="jabber:iq:last"/></iq>"#
        ))
        .await;
    let answer = outsider.expect("last-out").await;
    assert!(answer.contains(r#"type="result""#), "{answer}");
    // A user of another app cannot join this app's rooms either.
    foreign.send(&join("join-foreign", &group_room, 1)).await;
    let refused = foreign.expect("join-foreign").await;
    assert!(refused.contains(r#"type="error""#), "{refused}");

    m.report.push(
        "xmpp: join private group (outsider D, occupant A, foreign D), groupchat (outsider D), broadcast (occupant D), \
         roster/privacy of another user (D), last activity (outsider A, foreign D)"
            .into(),
    );
}
