//! End-to-end: `palaver export` from a running server on SQLite and `palaver import` into a new
//! PostgreSQL database; a server on the imported data lets the same users log in (REST and XMPP, with
//! the password verifiers carried over) and shows them the same dialogs and history.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;
use support::world::World;
use support::{Db, Server};

/// What a user sees: his dialogs (id, type, name, occupants, last message, unread count) and each one's
/// history with who read it (looked at without marking anything read).
async fn view(w: &World, n: usize) -> Value {
    let token = w.token(n).await;
    let (status, dialogs) = w
        .rest(Method::GET, "/chat/Dialog?sort_asc=created_at", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{dialogs}");
    let mut seen = Vec::new();
    for dialog in dialogs["items"].as_array().unwrap() {
        let id = dialog["_id"].as_str().unwrap();
        let (status, messages) = w
            .rest(
                Method::GET,
                &format!("/chat/Message?chat_dialog_id={id}&sort_asc=date_sent&mark_as_read=0"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{messages}");
        let history: Vec<Value> = messages["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let mut read: Vec<i64> = m["read_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_i64().unwrap())
                    .collect();
                read.sort();
                json!([m["_id"], m["sender_id"], m["message"], read])
            })
            .collect();
        seen.push(json!({
            "id": id, "type": dialog["type"], "name": dialog["name"],
            "occupants": dialog["occupants_ids"], "last_message": dialog["last_message"],
            "unread": dialog["unread_messages_count"], "history": history,
        }));
    }
    Value::Array(seen)
}

fn palaver(env: &[(String, String)], args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test]
async fn export_from_sqlite_and_import_into_postgres_keeps_users_dialogs_and_history() {
    let w = World::start(Db::Sqlite, &[], "Moving", &["alice", "bob", "carol"]).await;
    let app = w.app.to_string();
    let (alice, bob) = (w.token(0).await, w.token(1).await);
    let (status, group) = w
        .rest(
            Method::POST,
            "/chat/Dialog",
            &alice,
            Some(json!({"type": 2, "name": "Team", "occupants_ids": [w.id(1), w.id(2)]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["_id"].as_str().unwrap().to_owned();
    for (token, text) in [(&alice, "hello team"), (&bob, "hi alice"), (&alice, "ünïcödé ✓")] {
        let (status, sent) = w
            .rest(
                Method::POST,
                "/chat/Message",
                token,
                Some(json!({"chat_dialog_id": group, "message": text})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
    }
    let (status, private) = w
        .rest(
            Method::POST,
            "/chat/Message",
            &bob,
            Some(json!({"recipient_id": w.id(2), "message": "just for carol"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    // Carol reads the group's history: read state travels too.
    let (status, _) = w
        .rest(
            Method::PUT,
            "/chat/Message",
            &w.token(2).await,
            Some(json!({"chat_dialog_id": group, "read": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    w.server.cli(&[
        "dialog",
        "create",
        "--type",
        "broadcast",
        "--app",
        &app,
        "--name",
        "News",
    ]);
    w.server
        .cli(&["user", "block", "--app", &app, "--id", &w.id(2).to_string()]);
    w.server
        .cli(&["user", "unblock", "--app", &app, "--id", &w.id(2).to_string()]);
    let before: Vec<Value> = vec![view(&w, 0).await, view(&w, 1).await, view(&w, 2).await];
    assert_eq!(before[2].as_array().unwrap().len(), 3, "{}", before[2]);

    // Export while the server runs.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palaver.jsonl");
    let (ok, out, error) = palaver(&w.server.env, &["export", file.to_str().unwrap()]);
    assert!(ok, "{error}");
    let exported: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(exported["exported"]["users"], 3);
    assert_eq!(exported["exported"]["credentials"], 3);
    assert_eq!(exported["exported"]["dialogs"], 3);
    assert_eq!(exported["exported"]["messages"], 4);
    let text = std::fs::read_to_string(&file).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "palaver-export");
    assert!(text.lines().skip(1).all(|l| {
        let line: Value = serde_json::from_str(l).unwrap();
        line["table"].is_string() && line["row"].is_object()
    }));
    assert!(!text.contains("\"sessions\""), "live sessions are not exported");
    let (ok, _, error) = palaver(&w.server.env, &["export", file.to_str().unwrap()]);
    assert!(!ok && error.contains("already exists"), "{error}");

    // Into a new PostgreSQL database.
    let (url, schema) = palaver_store::testing::fresh_postgres_schema().await.unwrap();
    let pg_env = vec![
        ("PALAVER_DATABASE_URL".to_owned(), url.clone()),
        ("PALAVER_DATA_DIR".to_owned(), dir.path().display().to_string()),
    ];
    let (ok, out, error) = palaver(&pg_env, &["import", file.to_str().unwrap()]);
    assert!(ok, "{error}");
    let imported: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(imported["imported"], exported["exported"]);
    // A second import into the same database is refused, nothing changed.
    let (ok, _, error) = palaver(&pg_env, &["import", file.to_str().unwrap()]);
    assert!(!ok && error.contains("new, empty database"), "{error}");

    // Exported again from PostgreSQL, every row is the same (rows sharing a leading key may come in
    // another order).
    let again = dir.path().join("again.jsonl");
    let (ok, _, error) = palaver(&pg_env, &["export", again.to_str().unwrap()]);
    assert!(ok, "{error}");
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&std::fs::read_to_string(&again).unwrap()), sorted(&text));

    let server = Server::start_with(Db::Sqlite, &[("PALAVER_DATABASE_URL", &url)]).await;
    let moved = World {
        server,
        app: w.app,
        key: w.key.clone(),
        users: w.users.clone(),
        http: reqwest::Client::new(),
    };
    let after: Vec<Value> = vec![
        view(&moved, 0).await,
        view(&moved, 1).await,
        view(&moved, 2).await,
    ];
    assert_eq!(after, before);
    // The chat login takes the same password (the SCRAM verifiers came along).
    drop(moved.online(1).await);
    // New rows get fresh ids after the imported ones.
    let dave = moved.server.create_user(moved.app, "dave", "dave-password");
    assert!(dave > moved.id(2), "{dave}");
    let (status, sent) = moved
        .rest(
            Method::POST,
            "/chat/Message",
            &moved.token(0).await,
            Some(json!({"chat_dialog_id": group, "message": "after the move"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    drop(moved);
    palaver_store::testing::drop_postgres_schema(&schema)
        .await
        .unwrap();
}
