//! End-to-end: the operators' commands of the real binary (users, sessions, applications, dialogs,
//! status, backup), run beside a running server on the same data.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;
use support::world::{answer, password, World};
use support::Db;

/// Runs the binary with the server's configuration plus `env`; (success, stdout as JSON or text, stderr).
fn run(w: &World, args: &[&str], env: &[(&str, &str)]) -> (bool, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args(args)
        .envs(w.server.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    (
        output.status.success(),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

async fn session_status(w: &World, login: &str, password: &str) -> StatusCode {
    let request = w
        .http
        .post(format!("{}/session.json", w.server.http))
        .json(&json!({"application_id": w.app, "auth_key": w.key,
            "user": {"login": login, "password": password}}));
    answer(request).await.0
}

#[tokio::test]
async fn user_and_session_commands() {
    let w = World::start(Db::Sqlite, &[], "Cli", &["alice", "bob", "albert"]).await;
    let app = w.app.to_string();
    let (alice, bob) = (w.id(0).to_string(), w.id(1).to_string());

    let listed = w.server.cli(&["user", "list", "--app", &app, "--query", "al"]);
    let logins: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["login"].as_str())
        .collect();
    assert_eq!(
        (listed["total_entries"].as_i64(), logins),
        (Some(2), vec!["alice", "albert"])
    );
    let shown = w.server.cli(&["user", "show", "--app", &app, "--id", &bob]);
    assert_eq!(
        (shown["login"].as_str(), shown["blocked"].as_bool()),
        (Some("bob"), Some(false))
    );

    // Sessions: listed and kicked.
    let token = w.token(0).await;
    let sessions = w
        .server
        .cli(&["session", "list", "--app", &app, "--user", &alice]);
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    let kicked = w
        .server
        .cli(&["session", "kick", "--app", &app, "--user", &alice]);
    assert_eq!(kicked["ended"], json!([sessions[0]["id"]]));
    let (status, _) = w.rest(Method::GET, "/session.json", &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Block and unblock.
    let blocked = w.server.cli(&["user", "block", "--app", &app, "--id", &alice]);
    assert_eq!(blocked["blocked"], true);
    assert_eq!(
        session_status(&w, "alice", &password("alice")).await,
        StatusCode::FORBIDDEN
    );
    let unblocked = w.server.cli(&["user", "unblock", "--app", &app, "--id", &alice]);
    assert_eq!(unblocked["blocked"], false);
    assert_eq!(
        session_status(&w, "alice", &password("alice")).await,
        StatusCode::CREATED
    );

    // A new password.
    w.server.cli(&[
        "user",
        "passwd",
        "--app",
        &app,
        "--id",
        &alice,
        "--password",
        "another-password",
    ]);
    assert_eq!(
        session_status(&w, "alice", &password("alice")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        session_status(&w, "alice", "another-password").await,
        StatusCode::CREATED
    );
    let (ok, _, error) = run(
        &w,
        &[
            "user",
            "passwd",
            "--app",
            &app,
            "--id",
            &alice,
            "--password",
            "short",
        ],
        &[],
    );
    assert!(!ok && error.contains("password is too short"), "{error}");

    // Delete.
    assert_eq!(
        w.server.cli(&["user", "delete", "--app", &app, "--id", &bob]),
        json!({"deleted": w.id(1)})
    );
    assert_eq!(
        session_status(&w, "bob", &password("bob")).await,
        StatusCode::UNAUTHORIZED
    );
    let (ok, _, _) = run(&w, &["user", "show", "--app", &app, "--id", &bob], &[]);
    assert!(!ok);
}

#[tokio::test]
async fn app_dialog_and_status_commands() {
    let w = World::start(Db::Sqlite, &[], "Cli", &["alice"]).await;
    let app = w.app.to_string();

    let shown = w.server.cli(&["app", "show", "--id", &app]);
    assert_eq!(
        (shown["name"].as_str(), shown["auth_key"].as_str()),
        (Some("Cli"), Some(w.key.as_str()))
    );
    let renamed = w
        .server
        .cli(&["app", "rename", "--id", &app, "--name", "Renamed"]);
    assert_eq!(renamed["name"], "Renamed");
    let rotated = w.server.cli(&["app", "rotate-secret", "--id", &app]);
    let new_key = rotated["auth_key"].as_str().unwrap();
    assert_ne!(new_key, w.key);
    // The old key no longer opens sessions; the new one does.
    let session = |key: &str| {
        w.http
            .post(format!("{}/session.json", w.server.http))
            .json(&json!({"application_id": w.app, "auth_key": key,
            "user": {"login": "alice", "password": password("alice")}}))
    };
    assert_eq!(answer(session(&w.key)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, created) = answer(session(new_key)).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = created["session"]["token"].as_str().unwrap().to_owned();

    // A broadcast dialog with no owner, seen by the user.
    let dialog = w.server.cli(&[
        "dialog",
        "create",
        "--type",
        "broadcast",
        "--app",
        &app,
        "--name",
        "News",
    ]);
    assert_eq!(
        (dialog["type"].as_i64(), dialog["user_id"].as_i64()),
        (Some(1), Some(0))
    );
    let (_, listed) = w.rest(Method::GET, "/chat/Dialog", &token, None).await;
    assert_eq!(listed["items"][0]["_id"], dialog["_id"]);

    // Status from the running server.
    let status = w.server.cli(&["status"]);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (
            status["figures"]["apps"].as_i64(),
            status["figures"]["users"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(status["figures"]["dialogs"], 1);
    assert_eq!(
        status["queues"],
        json!({"push": {"queued": 0, "due": 0, "retrying": 0}, "store_writes": 0})
    );

    // Every change above is in the audit log, from the command line.
    let (_, log) = answer(
        w.http.get(format!("{}/admin/audit", w.server.http)).bearer_auth(
            std::fs::read_to_string(w.server.data_dir.path().join("admin_token"))
                .unwrap()
                .trim(),
        ),
    )
    .await;
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("dialog.create", "cli"),
            ("app.rotate_keys", "cli"),
            ("app.rename", "cli")
        ]
    );

    let deleted = w.server.cli(&["app", "delete", "--id", &app]);
    assert_eq!(deleted, json!({"deleted": w.app}));
    let (ok, _, _) = run(&w, &["app", "show", "--id", &app], &[]);
    assert!(!ok);
}

/// The number of rows in a table of a SQLite database file.
async fn rows(db: &std::path::Path, table: &str) -> i64 {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn backup_copies_a_running_sqlite_database_and_refuses_postgres() {
    let w = World::start(Db::Sqlite, &[], "Backup", &["alice", "bob"]).await;
    let app = w.app.to_string();
    w.server
        .cli(&["dialog", "create", "--app", &app, "--name", "News"]);
    let token = w.token(0).await;
    let (status, _) = w
        .rest(
            Method::POST,
            "/chat/Dialog",
            &token,
            Some(json!({"type": 2, "name": "G", "occupants_ids": [w.id(1)]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let restored = tempfile::tempdir().unwrap();
    let copy = restored.path().join("palaver.db");
    let done = w.server.cli(&["backup", copy.to_str().unwrap()]);
    assert_eq!(
        done["bytes"].as_u64(),
        Some(std::fs::metadata(&copy).unwrap().len())
    );
    // Again to the same file: refused, the copy untouched.
    let (ok, _, error) = run(&w, &["backup", copy.to_str().unwrap()], &[]);
    assert!(!ok && error.contains("already exists"), "{error}");

    // The copy opens with the binary, with the same users and dialogs.
    let data_dir = restored.path().to_str().unwrap();
    let (ok, users, error) = run(
        &w,
        &["user", "list", "--app", &app],
        &[("PALAVER_DATA_DIR", data_dir)],
    );
    assert!(ok, "{error}");
    let logins: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["login"].as_str())
        .collect();
    assert_eq!(logins, ["alice", "bob"]);
    let original = w.server.data_dir.path().join("palaver.db");
    for table in ["users", "dialogs", "dialog_occupants", "apps"] {
        assert_eq!(rows(&copy, table).await, rows(&original, table).await, "{table}");
    }
    assert_eq!(rows(&copy, "dialogs").await, 2);

    // Restored: a server on the copy lets alice log in and shows her the same dialogs.
    let (_, before) = w.rest(Method::GET, "/chat/Dialog", &token, None).await;
    let restored_server = support::Server::start_with(Db::Sqlite, &[("PALAVER_DATA_DIR", data_dir)]).await;
    let on_copy = World {
        server: restored_server,
        app: w.app,
        key: w.key.clone(),
        users: w.users.clone(),
        http: reqwest::Client::new(),
    };
    let (status, after) = on_copy
        .rest(Method::GET, "/chat/Dialog", &on_copy.token(0).await, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids = |list: &Value| -> Vec<Value> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["_id"].clone())
            .collect()
    };
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(ids(&after).len(), 2);
    drop(on_copy);

    let (ok, _, error) = run(
        &w,
        &["backup", restored.path().join("pg.dump").to_str().unwrap()],
        &[("PALAVER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")],
    );
    assert!(!ok && error.contains("pg_dump"), "{error}");
    assert!(!restored.path().join("pg.dump").exists());
}
