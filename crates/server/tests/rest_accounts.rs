//! End-to-end: the real binary's REST API for applications, sessions and users, on SQLite and PostgreSQL.

mod support;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha1::Sha1;
use support::{Db, Server};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.header("CB-Token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> (StatusCode, Value) {
    let response = client.get(url).header("CB-Token", token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn sign(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn first_run_prints_credentials_and_cli_manages_apps() {
    let server = Server::start(Db::Sqlite).await;
    let log = server.log_text();
    assert!(log.contains("created the default application"), "{log}");
    // The secrets themselves go to the terminal, not to the log.
    let printed = server.stdout_text();
    assert!(
        printed.contains("auth_key") && printed.contains("Admin API token"),
        "{printed}"
    );
    let (id, key, secret) = server.create_app("Second");
    assert_eq!(key.len(), 15);
    assert_eq!(secret.len(), 32);
    let apps = server.cli(&["app", "list"]);
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Default", "Second"]);
    let user = server.cli(&[
        "user",
        "create",
        "--app",
        &id.to_string(),
        "--login",
        "cli-user",
        "--password",
        "password1",
    ]);
    assert_eq!(user["login"], "cli-user");

    // The admin API sees the same apps with the generated token, and refuses without it.
    let token = std::fs::read_to_string(server.data_dir.path().join("admin_token")).unwrap();
    let client = reqwest::Client::new();
    let listed: Value = client
        .get(format!("{}/admin/apps", server.http))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let denied = client
        .get(format!("{}/admin/apps", server.http))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn v6_style_session_signup_profile_and_expiry() {
    for db in BOTH {
        let server = Server::start(db).await;
        let (app_id, key, _) = server.create_app("Chat");
        let client = reqwest::Client::new();
        let base = &server.http;

        // Sign-up with only the auth key, as v6 does.
        let response = client
            .post(format!("{base}/users.json"))
            .header("CB-AuthKey", &key)
            .json(
                &json!({"user": {"login": "alice", "email": "alice@example.com", "password": "password1",
                "full_name": "Alice", "tag_list": "vip, red"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let alice: Value = response.json().await.unwrap();
        let alice_id = alice["user"]["id"].as_i64().unwrap();
        assert_eq!(alice["user"]["user_tags"], "vip,red");
        assert!(alice["user"].get("password").is_none());

        // A user session; a stale CB-Token on session creation is ignored.
        let (status, body) = post(
            &client,
            format!("{base}/session.json"),
            Some("stale-token"),
            json!({"application_id": app_id, "auth_key": key, "user": {"login": "alice", "password": "password1"}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["session"]["user_id"], alice_id);
        assert_eq!(body["session"]["application_id"], app_id);
        assert_eq!(body["session"]["user"]["login"], "alice");
        let token = body["session"]["token"].as_str().unwrap().to_owned();

        let (status, body) = get(&client, format!("{base}/session.json"), &token).await;
        assert_eq!(
            (status, body["session"]["user_id"].as_i64()),
            (StatusCode::OK, Some(alice_id))
        );

        // Profile update and read-back, without the .json suffix too.
        let response = client
            .put(format!("{base}/users/{alice_id}"))
            .header("CB-Token", &token)
            .json(&json!({"user": {"full_name": "Alice Liddell", "custom_data": "{\"a\":1}"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (_, shown) = get(&client, format!("{base}/users/{alice_id}.json?"), &token).await;
        assert_eq!(shown["user"]["full_name"], "Alice Liddell");
        assert_eq!(shown["user"]["custom_data"], "{\"a\":1}");

        // Another user's profile is not ours to change.
        let (_, bob) = post(
            &client,
            format!("{base}/users.json"),
            Some(&token),
            json!({"user": {"login": "bob", "password": "password1", "full_name": "Bob"}}),
        )
        .await;
        let bob_id = bob["user"]["id"].as_i64().unwrap();
        let response = client
            .put(format!("{base}/users/{bob_id}.json"))
            .header("CB-Token", &token)
            .json(&json!({"user": {"full_name": "Hacked"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // Lists: v2 with an exploded id[in], v1 with a filter string, by login.
        let (status, page) = get(
            &client,
            format!("{base}/users/v2.json?id[in][]={alice_id}&id[in][]={bob_id}&limit=10"),
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["total_entries"], 2);
        assert_eq!(page["items"][0]["id"], alice_id);
        assert_eq!(page["items"][1]["login"], "bob");
        let (_, page) = get(
            &client,
            format!("{base}/users.json?filter[]=number%20id%20in%20{bob_id}&per_page=10"),
            &token,
        )
        .await;
        assert_eq!(page["items"][0]["user"]["id"], bob_id);
        assert_eq!(page["total_entries"], 1);
        let (_, found) = get(&client, format!("{base}/users/by_login.json?login=BOB"), &token).await;
        assert_eq!(found["user"]["id"], bob_id);
        let (status, body) = get(&client, format!("{base}/users/v2.json?created_at[gt]=1"), &token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        // Duplicate login: 422 with the field.
        let (status, body) = post(
            &client,
            format!("{base}/users.json"),
            Some(&token),
            json!({"user": {"login": "ALICE", "password": "password1"}}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, json!({"errors": {"login": ["has already been taken"]}}));

        // Destroyed session: exactly the body the SDKs treat as "session expired".
        let response = client
            .delete(format!("{base}/session.json"))
            .header("CB-Token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (status, body) = get(&client, format!("{base}/users/{alice_id}.json"), &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"errors": {"base": ["Required session does not exist"]}})
        );
    }
}

#[tokio::test]
async fn v3_signed_sessions_over_https_refuse_bad_and_replayed_signatures() {
    for db in BOTH {
        let server = Server::start(db).await;
        let (app_id, key, secret) = server.create_app("Signed");
        let client = server.https_client();
        let base = &server.https;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let message = format!("application_id={app_id}&auth_key={key}&nonce=7651&timestamp={ts}");
        let body = json!({"application_id": app_id, "auth_key": key, "nonce": 7651, "timestamp": ts,
            "signature": sign(&secret, &message)});

        let (status, session) = post(&client, format!("{base}/session.json"), None, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        assert_eq!(session["session"]["nonce"], 7651);
        assert_eq!(session["session"]["user_id"], 0);
        let token = session["session"]["token"].as_str().unwrap().to_owned();

        let (status, error) = post(&client, format!("{base}/session.json"), None, body).await;
        assert_eq!(
            (status, error),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": ["Unexpected signature"]})
            )
        );
        let forged = json!({"application_id": app_id, "auth_key": key, "nonce": 1, "timestamp": ts,
            "signature": sign("wrong secret", &message)});
        let (status, _) = post(&client, format!("{base}/session.json"), None, forged).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // An application session signs users up and reads them, but cannot act as a user.
        let (status, carol) = post(
            &client,
            format!("{base}/users.json"),
            Some(&token),
            json!({"user": {"login": "carol", "email": "carol@example.com", "password": "password1"}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let carol_id = carol["user"]["id"].as_i64().unwrap();
        let response = client
            .put(format!("{base}/users/{carol_id}.json"))
            .header("CB-Token", &token)
            .json(&json!({"user": {"full_name": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"errors": {"base": ["Forbidden. Need user."]}})
        );

        // POST /login upgrades the session; DELETE /login downgrades it.
        let (status, user) = post(
            &client,
            format!("{base}/login.json"),
            Some(&token),
            json!({"email": "carol@example.com", "password": "password1"}),
        )
        .await;
        assert_eq!(
            (status, user["user"]["id"].as_i64()),
            (StatusCode::OK, Some(carol_id))
        );
        let (_, current) = get(&client, format!("{base}/session.json"), &token).await;
        assert_eq!(current["session"]["user_id"], carol_id);
        let (status, _) = post(
            &client,
            format!("{base}/login.json"),
            Some(&token),
            json!({"email": "carol@example.com", "password": "wrong-password"}),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        client
            .delete(format!("{base}/login.json"))
            .header("CB-Token", &token)
            .send()
            .await
            .unwrap();
        let (_, current) = get(&client, format!("{base}/session.json"), &token).await;
        assert_eq!(current["session"]["user_id"], 0);
    }
}

#[tokio::test]
async fn apps_are_isolated_and_sessions_survive_a_restart() {
    let mut server = Server::start(Db::Sqlite).await;
    let (app_a, key_a, _) = server.create_app("A");
    let (app_b, key_b, _) = server.create_app("B");
    let client = reqwest::Client::new();
    let base = server.http.clone();
    let signup = |key: String, login: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let response = client
                .post(format!("{base}/users.json"))
                .header("CB-AuthKey", key)
                .json(&json!({"user": {"login": login, "password": "password1"}}))
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()["user"]["id"]
                .as_i64()
                .unwrap()
        }
    };
    let in_a = signup(key_a.clone(), "shared").await;
    let in_b = signup(key_b.clone(), "shared").await;
    assert_ne!(in_a, in_b);

    let (_, session) = post(
        &client,
        format!("{base}/session.json"),
        None,
        json!({"application_id": app_b, "auth_key": key_b, "user": {"login": "shared", "password": "password1"}}),
    )
    .await;
    let token_b = session["session"]["token"].as_str().unwrap().to_owned();
    let (status, _) = get(&client, format!("{base}/users/{in_a}.json"), &token_b).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = get(&client, format!("{base}/users/v2.json?login=shared"), &token_b).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], in_b);
    // App A's key does not open a session for app B.
    let (status, _) = post(
        &client,
        format!("{base}/session.json"),
        None,
        json!({"application_id": app_b, "auth_key": key_a}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let _ = app_a;

    assert!(server.stop().success(), "clean exit on SIGTERM");
    server.spawn().await;
    let (status, shown) = get(&client, format!("{base}/users/{in_b}.json"), &token_b).await;
    assert_eq!(
        (status, shown["user"]["login"].as_str()),
        (StatusCode::OK, Some("shared"))
    );
}

#[tokio::test]
async fn http_conventions_cors_bad_input_and_real_expiry() {
    let server = Server::start_with(Db::Sqlite, &[("PALAVER_SESSION_TTL_SECS", "2")]).await;
    let (app_id, key, _) = server.create_app("Conventions");
    let client = reqwest::Client::new();
    let base = &server.http;

    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/users.json"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "cb-token, content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("cb-token") && allowed.contains("cb-authkey"),
        "{allowed}"
    );

    let response = client
        .post(format!("{base}/session.json"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["errors"][0]
        .as_str()
        .unwrap()
        .contains("JSON"));
    let (status, body) = post(
        &client,
        format!("{base}/session.json"),
        None,
        json!({"auth_key": key}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"]["application_id"][0], "can't be blank");
    let wrong_method = client.patch(format!("{base}/users.json")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        wrong_method.json::<Value>().await.unwrap(),
        json!({"errors": ["Method not allowed"]})
    );
    let missing = client
        .get(format!("{base}/no/such/route.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"errors": ["The resource wasn't found"]})
    );

    let (_, session) = post(
        &client,
        format!("{base}/session.json"),
        None,
        json!({"application_id": app_id, "auth_key": key}),
    )
    .await;
    let token = session["session"]["token"].as_str().unwrap().to_owned();
    let (status, _) = get(&client, format!("{base}/users.json"), &token).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = get(&client, format!("{base}/users.json"), &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"errors": {"base": ["Required session does not exist"]}})
    );
}
