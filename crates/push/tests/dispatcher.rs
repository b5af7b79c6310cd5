//! The dispatcher against local servers that speak the providers' APIs: an FCM OAuth token endpoint and
//! v1 send endpoint (checking the RS256 JWT with the test service account's public key), an HTTP/2 APNs
//! endpoint (checking the ES256 provider token and the headers), and a webhook. Real SQLite store, real
//! event bus.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use palaver_core::events::Event;
use palaver_core::messages::{MessageContent, PrivateMessage};
use palaver_core::model::{ChatMessage, DialogType, Profile};
use palaver_core::push::SubscriptionInput;
use palaver_core::{Core, CoreSettings};
use palaver_push::{Dispatcher, PushConfig};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A 2048-bit RSA key made for these tests only (the "service account" of the fake FCM).
const SERVICE_ACCOUNT_KEY: &str = include_str!("fixtures/test-service-account.key");
const SERVICE_ACCOUNT_PUBLIC: &str = include_str!("fixtures/test-service-account.pub");

// --- The fake providers ---

/// What a fake provider received, and how it answers.
#[derive(Default)]
struct Recorder {
    /// Request bodies (with a few headers folded in), in arrival order.
    requests: Mutex<Vec<Value>>,
    /// Statuses to answer, first to last; empty means 200.
    script: Mutex<VecDeque<u16>>,
    /// Status to answer for a device token, whatever the script says.
    by_token: Mutex<HashMap<String, (u16, Value)>>,
    /// How long to take over each answer.
    delay: Mutex<Duration>,
    /// Problems found in requests (bad signature, missing header…).
    errors: Mutex<Vec<String>>,
}

impl Recorder {
    fn received(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    fn next_status(&self) -> u16 {
        self.script.lock().unwrap().pop_front().unwrap_or(200)
    }

    fn error(&self, problem: String) {
        self.errors.lock().unwrap().push(problem);
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

async fn webhook_server(recorder: Arc<Recorder>) -> String {
    async fn hook(State(r): State<Arc<Recorder>>, Json(body): Json<Value>) -> StatusCode {
        let delay = *r.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let status = r.next_status();
        let token = body["device"]["token"].as_str().unwrap_or("").to_owned();
        let status = r
            .by_token
            .lock()
            .unwrap()
            .get(&token)
            .map(|(s, _)| *s)
            .unwrap_or(status);
        r.requests.lock().unwrap().push(body);
        StatusCode::from_u16(status).unwrap()
    }
    serve(Router::new().route("/hook", post(hook)).with_state(recorder)).await + "/hook"
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    grant_type: String,
    assertion: String,
}

/// The OAuth token endpoint at `/token` and FCM's send endpoint.
async fn fcm_server(recorder: Arc<Recorder>) -> String {
    async fn token(State(r): State<Arc<Recorder>>, Form(form): Form<TokenRequest>) -> Response {
        if form.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            r.error(format!("grant_type {}", form.grant_type));
        }
        let mut validation = Validation::new(Algorithm::RS256);
        // The audience (the token URI) is checked below with the other claims.
        validation.validate_aud = false;
        validation.set_issuer(&["push-test@palaver-test.iam.gserviceaccount.com"]);
        let key = DecodingKey::from_rsa_pem(SERVICE_ACCOUNT_PUBLIC.as_bytes()).unwrap();
        match jsonwebtoken::decode::<Value>(&form.assertion, &key, &validation) {
            Ok(data) => {
                let claims = data.claims;
                if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging"
                    || !claims["aud"].as_str().unwrap_or("").ends_with("/token")
                    || data.header.kid.as_deref() != Some("test-key-1")
                {
                    r.error(format!("token claims {claims}"));
                }
                r.requests.lock().unwrap().push(json!({"oauth": claims}));
                Json(json!({"access_token": "fcm-access-1", "expires_in": 3599, "token_type": "Bearer"}))
                    .into_response()
            }
            Err(error) => {
                r.error(format!("JWT: {error}"));
                (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response()
            }
        }
    }
    async fn send(
        State(r): State<Arc<Recorder>>,
        Path(project): Path<String>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer fcm-access-1") {
            r.error("FCM send without the access token".into());
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let token = body["message"]["token"].as_str().unwrap_or("").to_owned();
        r.requests
            .lock()
            .unwrap()
            .push(json!({"project": project, "body": body}));
        if let Some((status, answer)) = r.by_token.lock().unwrap().get(&token).cloned() {
            return (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response();
        }
        let status = r.next_status();
        (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({"name": format!("projects/{project}/messages/1")})),
        )
            .into_response()
    }
    let router = Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project}/messages:send", post(send))
        .with_state(recorder);
    serve(router).await
}

/// APNs over h2c: checks the HTTP version, the provider token and the headers.
async fn apns_server(recorder: Arc<Recorder>, public_key_pem: String) -> String {
    #[derive(Clone)]
    struct Apns {
        recorder: Arc<Recorder>,
        key: Arc<String>,
    }
    async fn device(
        State(s): State<Apns>,
        Path((environment, token)): Path<(String, String)>,
        version: Version,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        let r = &s.recorder;
        if version != Version::HTTP_2 {
            r.error(format!("APNs request over {version:?}"));
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let jwt = header("authorization")
            .strip_prefix("bearer ")
            .unwrap_or("")
            .to_owned();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.set_issuer(&["TEAM123456"]);
        let key = DecodingKey::from_ec_pem(s.key.as_bytes()).unwrap();
        match jsonwebtoken::decode::<Value>(&jwt, &key, &validation) {
            Ok(data) if data.header.kid.as_deref() == Some("KEY1234567") && data.claims["iat"].is_u64() => {}
            Ok(data) => r.error(format!("APNs JWT {:?} {}", data.header, data.claims)),
            Err(error) => r.error(format!("APNs JWT: {error}")),
        }
        r.requests.lock().unwrap().push(json!({
            "environment": environment,
            "token": token,
            "topic": header("apns-topic"),
            "push_type": header("apns-push-type"),
            "priority": header("apns-priority"),
            "body": body,
        }));
        if let Some((status, answer)) = r.by_token.lock().unwrap().get(&token).cloned() {
            return (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response();
        }
        StatusCode::from_u16(r.next_status()).unwrap().into_response()
    }
    let state = Apns {
        recorder,
        key: Arc::new(public_key_pem),
    };
    serve(
        Router::new()
            .route("/{environment}/3/device/{token}", post(device))
            .with_state(state),
    )
    .await
}

// --- The world under test ---

#[derive(Clone, Copy, Debug)]
enum Db {
    Sqlite,
    Postgres,
}

/// A database for one test: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards).
struct Database {
    url: String,
    _dir: tempfile::TempDir,
    schema: Option<String>,
}

impl Database {
    async fn new(db: Db) -> Database {
        let dir = tempfile::tempdir().unwrap();
        match db {
            Db::Sqlite => Database {
                url: palaver_store::sqlite_url(dir.path()),
                _dir: dir,
                schema: None,
            },
            Db::Postgres => {
                let (url, schema) = palaver_store::testing::fresh_postgres_schema()
                    .await
                    .expect("PostgreSQL for tests");
                Database {
                    url,
                    _dir: dir,
                    schema: Some(schema),
                }
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(schema) = self.schema.take() {
            let _ = std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(palaver_store::testing::drop_postgres_schema(&schema))
            })
            .join();
        }
    }
}

struct World {
    core: Core,
    _db: Database,
    app: i64,
    alice: i64,
    bob: i64,
    carol: i64,
}

async fn world() -> World {
    world_in(Db::Sqlite).await
}

async fn world_in(db: Db) -> World {
    let database = Database::new(db).await;
    let store = palaver_store::open(&database.url).await.unwrap();
    world_on(store, database).await
}

async fn world_on(store: palaver_store::SqlStore, dir: Database) -> World {
    let settings = CoreSettings {
        scram_iterations: 64,
        ..CoreSettings::default()
    };
    let core = Core::new(Arc::new(store), settings);
    let app = core.apps().create("push").await.unwrap().id;
    let mut ids = Vec::new();
    for (login, name) in [
        ("alice", Some("Alice Liddell")),
        ("bob", None),
        ("carol", Some("Carol")),
    ] {
        let profile = Profile {
            login: Some(login.into()),
            full_name: name.map(str::to_owned),
            ..Profile::default()
        };
        ids.push(
            core.users()
                .signup(app, profile, Some("password1".into()))
                .await
                .unwrap()
                .id,
        );
    }
    World {
        core,
        _db: dir,
        app,
        alice: ids[0],
        bob: ids[1],
        carol: ids[2],
    }
}

impl World {
    async fn subscribe(
        &self,
        user: i64,
        channel: &str,
        platform: &str,
        udid: &str,
        token: &str,
        env: &str,
    ) -> i64 {
        self.core
            .push()
            .subscribe(
                self.app,
                user,
                SubscriptionInput {
                    channel: Some(channel.into()),
                    platform: Some(platform.into()),
                    udid: Some(udid.into()),
                    environment: Some(env.into()),
                    client_identification_sequence: Some(token.into()),
                    bundle_identifier: (platform == "ios").then(|| "com.example.chat".into()),
                    web_endpoint: Some(format!("https://push.example.com/{token}")),
                    ..SubscriptionInput::default()
                },
            )
            .await
            .unwrap()
            .id
    }

    /// Saves a 1-1 message and returns it as the XMPP server would announce it.
    async fn message(
        &self,
        from: i64,
        to: i64,
        id: &str,
        body: Option<&str>,
        attachments: Value,
    ) -> ChatMessage {
        let accepted = self
            .core
            .messages()
            .accept_private(PrivateMessage {
                app_id: self.app,
                sender_id: from,
                recipient_id: to,
                dialog_id: None,
                content: MessageContent {
                    id: id.into(),
                    body: body.map(str::to_owned),
                    attachments,
                    custom: Default::default(),
                    date_sent: None,
                    save_to_history: true,
                },
            })
            .await
            .unwrap();
        accepted.message
    }

    fn alert(&self, message: &ChatMessage, recipients: &[i64], silent: bool) -> Event {
        Event::ChatAlert {
            message: message.clone(),
            dialog_type: DialogType::Private,
            dialog_name: None,
            recipients: recipients.to_vec(),
            silent,
        }
    }

    async fn set_fcm(&self, fcm: &str) {
        let account = json!({
            "type": "service_account",
            "project_id": "palaver-test",
            "private_key_id": "test-key-1",
            "private_key": SERVICE_ACCOUNT_KEY,
            "client_email": "push-test@palaver-test.iam.gserviceaccount.com",
            "token_uri": format!("{fcm}/token"),
        });
        self.core
            .push()
            .set_credentials(self.app, "fcm", Some(account))
            .await
            .unwrap();
    }

    async fn set_apns(&self, private_pem: &str) {
        let credentials = json!({"key": private_pem, "key_id": "KEY1234567", "team_id": "TEAM123456"});
        self.core
            .push()
            .set_credentials(self.app, "apns", Some(credentials))
            .await
            .unwrap();
    }
}

fn config(webhook: Option<String>) -> PushConfig {
    PushConfig {
        webhook_url: webhook,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        poll_interval: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..PushConfig::default()
    }
}

struct Running {
    dispatcher: Dispatcher,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(core: &Core, config: PushConfig) -> Running {
    let dispatcher = Dispatcher::new(core.clone(), config);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(dispatcher.clone().run(stopped));
    Running {
        dispatcher,
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Waits until `count()` reaches `n` (or fails after 10 s).
async fn until<F: Fn() -> usize>(n: usize, what: &str, count: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count() < n {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} {what} (have {})",
            count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_clean(recorders: &[&Recorder]) {
    for r in recorders {
        let errors = r.errors.lock().unwrap();
        assert!(errors.is_empty(), "provider saw bad requests: {errors:?}");
    }
}

fn ec_key() -> (String, String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    (pair.serialize_pem(), pair.public_key_pem())
}

// --- The tests ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_notification_per_device_through_every_provider() {
    let hook = Arc::new(Recorder::default());
    let fcm = Arc::new(Recorder::default());
    let apns = Arc::new(Recorder::default());
    let (private_pem, public_pem) = ec_key();
    let hook_url = webhook_server(hook.clone()).await;
    let fcm_url = fcm_server(fcm.clone()).await;
    let apns_url = apns_server(apns.clone(), public_pem).await;

    let w = world().await;
    w.set_fcm(&fcm_url).await;
    w.set_apns(&private_pem).await;
    w.subscribe(
        w.bob,
        "gcm",
        "android",
        "bob-phone",
        "fcm-token-bob",
        "production",
    )
    .await;
    w.subscribe(w.bob, "apns", "ios", "bob-ipad", "apns-token-bob", "development")
        .await;
    w.subscribe(w.bob, "web", "web", "bob-browser", "web-bob", "production")
        .await;
    // Alice's own device must not hear about her own message.
    w.subscribe(
        w.alice,
        "gcm",
        "android",
        "alice-phone",
        "fcm-token-alice",
        "production",
    )
    .await;

    let mut config = config(Some(hook_url));
    config.fcm_endpoint = Some(fcm_url.clone());
    config.apns_endpoint = Some(format!("{apns_url}/production"));
    config.apns_sandbox_endpoint = Some(format!("{apns_url}/sandbox"));
    let running = start(&w.core, config);

    let message = w
        .message(w.alice, w.bob, "m1", Some("Hello Bob"), json!([]))
        .await;
    w.core.events.publish(w.alert(&message, &[w.bob], false)).await;

    until(3, "webhook posts", || hook.received().len()).await;
    until(2, "FCM requests (token + send)", || fcm.received().len()).await;
    until(1, "APNs requests", || apns.received().len()).await;
    // A provider has the request before the dispatcher has its answer: wait for the outcomes.
    until(5, "sends recorded", || running.dispatcher.stats().sent as usize).await;

    // The webhook: one POST per device, with the rendered alert.
    let posts = hook.received();
    let mut udids: Vec<&str> = posts
        .iter()
        .map(|p| p["device"]["udid"].as_str().unwrap())
        .collect();
    udids.sort();
    assert_eq!(udids, ["bob-browser", "bob-ipad", "bob-phone"]);
    for post in &posts {
        assert_eq!(post["app_id"], json!(w.app));
        assert_eq!(post["user_id"], json!(w.bob));
        assert_eq!(post["title"], "Alice Liddell");
        assert_eq!(post["body"], "Hello Bob");
        assert_eq!(post["text"], "Hello Bob");
        assert_eq!(post["badge"], 1);
        assert_eq!(post["dialog_id"], json!(message.dialog_id));
        assert_eq!(post["message_id"], "m1");
        assert_eq!(post["sender_id"], json!(w.alice));
    }
    let phone = posts.iter().find(|p| p["device"]["udid"] == "bob-phone").unwrap();
    assert_eq!(phone["device"]["platform"], "android");
    assert_eq!(phone["device"]["token"], "fcm-token-bob");

    // FCM: a token exchange signed with the service account, then one v1 send to the Android device.
    let fcm_requests = fcm.received();
    assert!(fcm_requests[0]["oauth"]["iss"].is_string(), "{fcm_requests:?}");
    let send = &fcm_requests[1];
    assert_eq!(send["project"], "palaver-test");
    let m = &send["body"]["message"];
    assert_eq!(m["token"], "fcm-token-bob");
    assert_eq!(
        m["notification"],
        json!({"title": "Alice Liddell", "body": "Hello Bob"})
    );
    assert_eq!(m["data"]["dialog_id"], json!(message.dialog_id));
    assert_eq!(m["data"]["message_id"], "m1");
    assert_eq!(m["data"]["sender_id"], json!(w.alice.to_string()));
    assert_eq!(m["android"]["notification"]["notification_count"], 1);

    // APNs: HTTP/2 to the sandbox (a development device), with topic and push type.
    let a = &apns.received()[0];
    assert_eq!(a["environment"], "sandbox");
    assert_eq!(a["token"], "apns-token-bob");
    assert_eq!(a["topic"], "com.example.chat");
    assert_eq!(a["push_type"], "alert");
    assert_eq!(
        a["body"]["aps"]["alert"],
        json!({"title": "Alice Liddell", "body": "Hello Bob"})
    );
    assert_eq!(a["body"]["aps"]["badge"], 1);
    assert_eq!(a["body"]["message_id"], "m1");

    // The same alert again (a resend) sends nothing new.
    w.core.events.publish(w.alert(&message, &[w.bob], false)).await;
    until(5, "duplicates", || running.dispatcher.stats().duplicates as usize).await;
    assert_eq!(hook.received().len(), 3);
    assert_eq!(fcm.received().len(), 2);
    assert_eq!(apns.received().len(), 1);
    let stats = running.dispatcher.stats();
    assert_eq!((stats.sent, stats.duplicates), (5, 5), "{stats:?}");
    assert_clean(&[&hook, &fcm, &apns]);

    let db = w.core.push().stats().await.unwrap();
    assert_eq!(db.queued, 0);
    let sent: i64 = db.records.iter().filter(|r| r.1 == "sent").map(|r| r.2).sum();
    assert_eq!(sent, 5);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_messages_and_muted_dialogs_send_nothing_and_templates_render() {
    let hook = Arc::new(Recorder::default());
    let hook_url = webhook_server(hook.clone()).await;
    let w = world().await;
    w.subscribe(w.bob, "gcm", "android", "bob-phone", "t-bob", "production")
        .await;
    w.subscribe(w.carol, "gcm", "android", "carol-phone", "t-carol", "production")
        .await;
    let running = start(&w.core, config(Some(hook_url)));

    // silent=1: nothing at all.
    let quiet = w.message(w.alice, w.bob, "quiet", Some("psst"), json!([])).await;
    w.core.events.publish(w.alert(&quiet, &[w.bob], true)).await;

    // Bob turned the dialog's notifications off: nothing for him.
    let muted = w
        .message(w.alice, w.bob, "muted", Some("anyone?"), json!([]))
        .await;
    w.core
        .dialogs()
        .set_notifications(w.app, &muted.dialog_id, w.bob, false)
        .await
        .unwrap();
    w.core.events.publish(w.alert(&muted, &[w.bob], false)).await;

    // Carol's dialog is not muted; the app's template applies; an attachment-only message says so.
    w.core
        .push()
        .set_template(
            w.app,
            Some("{sender_name} wrote".into()),
            Some("{message} ({dialog_name})".into()),
        )
        .await
        .unwrap();
    let photo = w
        .message(
            w.alice,
            w.carol,
            "photo",
            None,
            json!([{"type": "image", "uid": "u1"}]),
        )
        .await;
    w.core
        .events
        .publish(Event::ChatAlert {
            message: photo.clone(),
            dialog_type: DialogType::Group,
            dialog_name: Some("Team".into()),
            recipients: vec![w.carol, w.alice],
            silent: false,
        })
        .await;

    until(1, "webhook posts", || hook.received().len()).await;
    until(1, "sends recorded", || running.dispatcher.stats().sent as usize).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let posts = hook.received();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["user_id"], json!(w.carol));
    assert_eq!(posts[0]["title"], "Alice Liddell wrote");
    assert_eq!(posts[0]["body"], "Attachment (Team)");
    assert_eq!(posts[0]["text"], Value::Null);
    let stats = running.dispatcher.stats();
    assert_eq!(
        (stats.alerts, stats.silent, stats.muted, stats.sent),
        (3, 1, 1, 1),
        "{stats:?}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_until_it_succeeds() {
    for db in [Db::Sqlite, Db::Postgres] {
        retried_until_success(db).await;
    }
}

async fn retried_until_success(db: Db) {
    let hook = Arc::new(Recorder::default());
    hook.script.lock().unwrap().extend([500, 503]);
    let fcm = Arc::new(Recorder::default());
    fcm.script.lock().unwrap().extend([500]);
    let hook_url = webhook_server(hook.clone()).await;
    let fcm_url = fcm_server(fcm.clone()).await;
    let w = world_in(db).await;
    w.set_fcm(&fcm_url).await;
    w.subscribe(w.bob, "gcm", "android", "bob-phone", "t-bob", "production")
        .await;
    let mut config = config(Some(hook_url));
    config.fcm_endpoint = Some(fcm_url);
    let running = start(&w.core, config);

    let message = w.message(w.alice, w.bob, "m1", Some("again"), json!([])).await;
    w.core.events.publish(w.alert(&message, &[w.bob], false)).await;

    // Two failures then success at the webhook; one failure then success at FCM (plus one token exchange).
    until(3, "webhook attempts", || hook.received().len()).await;
    until(3, "FCM requests", || fcm.received().len()).await;
    until(2, "sends", || running.dispatcher.stats().sent as usize).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.received().len(), 3);
    assert_eq!(fcm.received().len(), 3);
    let stats = running.dispatcher.stats();
    assert_eq!((stats.retried, stats.sent, stats.failed), (3, 2, 0), "{stats:?}");
    let db = w.core.push().stats().await.unwrap();
    assert_eq!(db.queued, 0);
    assert_eq!(
        db.records,
        vec![
            ("fcm".into(), "sent".into(), 1),
            ("webhook".into(), "sent".into(), 1)
        ]
    );
    assert_clean(&[&hook, &fcm]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giving_up_after_the_last_attempt() {
    let hook = Arc::new(Recorder::default());
    hook.script.lock().unwrap().extend([500; 10]);
    let hook_url = webhook_server(hook.clone()).await;
    let w = world().await;
    w.subscribe(w.bob, "gcm", "android", "bob-phone", "t-bob", "production")
        .await;
    let mut config = config(Some(hook_url));
    config.max_attempts = 3;
    let running = start(&w.core, config);
    let message = w.message(w.alice, w.bob, "m1", Some("x"), json!([])).await;
    w.core.events.publish(w.alert(&message, &[w.bob], false)).await;
    until(1, "failures", || running.dispatcher.stats().failed as usize).await;
    assert_eq!(hook.received().len(), 3);
    let db = w.core.push().stats().await.unwrap();
    assert_eq!(
        (db.queued, db.records.clone()),
        (0, vec![("webhook".into(), "failed".into(), 1)])
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tokens_remove_their_subscriptions() {
    for db in [Db::Sqlite, Db::Postgres] {
        invalid_tokens(db).await;
    }
}

async fn invalid_tokens(db: Db) {
    let fcm = Arc::new(Recorder::default());
    let apns = Arc::new(Recorder::default());
    let hook = Arc::new(Recorder::default());
    let (private_pem, public_pem) = ec_key();
    let fcm_url = fcm_server(fcm.clone()).await;
    let apns_url = apns_server(apns.clone(), public_pem).await;
    let hook_url = webhook_server(hook.clone()).await;
    fcm.by_token.lock().unwrap().insert(
        "dead-fcm".into(),
        (
            404,
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
        ),
    );
    apns.by_token.lock().unwrap().insert(
        "dead-apns".into(),
        (
            410,
            json!({"reason": "Unregistered", "timestamp": 1700000000000u64}),
        ),
    );
    apns.by_token
        .lock()
        .unwrap()
        .insert("bad-apns".into(), (400, json!({"reason": "BadDeviceToken"})));
    // A web subscription's token is its endpoint.
    hook.by_token
        .lock()
        .unwrap()
        .insert("https://push.example.com/dead-web".into(), (410, Value::Null));

    let w = world_in(db).await;
    w.set_fcm(&fcm_url).await;
    w.set_apns(&private_pem).await;
    let live = w
        .subscribe(w.bob, "gcm", "android", "live", "live-fcm", "production")
        .await;
    w.subscribe(w.bob, "gcm", "android", "old-phone", "dead-fcm", "production")
        .await;
    w.subscribe(w.bob, "apns", "ios", "old-ipad", "dead-apns", "production")
        .await;
    w.subscribe(w.bob, "apns", "ios", "odd-ipad", "bad-apns", "production")
        .await;
    w.subscribe(w.bob, "web", "web", "old-browser", "dead-web", "production")
        .await;

    let mut config = config(Some(hook_url));
    config.fcm_endpoint = Some(fcm_url);
    config.apns_endpoint = Some(format!("{apns_url}/production"));
    let running = start(&w.core, config);
    let message = w
        .message(w.alice, w.bob, "m1", Some("still there?"), json!([]))
        .await;
    w.core.events.publish(w.alert(&message, &[w.bob], false)).await;

    until(4, "invalid tokens", || {
        running.dispatcher.stats().invalid_tokens as usize
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = w.core.push().subscriptions(w.app, w.bob).await.unwrap();
        if left.len() == 1 {
            assert_eq!(left[0].id, live);
            break;
        }
        assert!(Instant::now() < deadline, "subscriptions left: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The live device got its push through FCM and the webhook.
    until(1, "live FCM send", || {
        fcm.received()
            .iter()
            .filter(|r| r["body"]["message"]["token"] == "live-fcm")
            .count()
    })
    .await;
    assert_clean(&[&fcm, &apns, &hook]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_restart() {
    for db in [Db::Sqlite, Db::Postgres] {
        survives_a_restart(db).await;
    }
}

async fn survives_a_restart(db: Db) {
    let database = Database::new(db).await;
    let url = database.url.clone();
    let store = palaver_store::open(&url).await.unwrap();
    // The first run's webhook is down: nothing listens on that port.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let w = world_on(store.clone(), database).await;
    w.subscribe(w.bob, "gcm", "android", "bob-phone", "t-bob", "production")
        .await;
    let mut first_config = config(Some(closed));
    first_config.backoff_base = Duration::from_secs(1);
    let first = start(&w.core, first_config);
    let message = w
        .message(w.alice, w.bob, "m1", Some("are you there"), json!([]))
        .await;
    w.core.events.publish(w.alert(&message, &[w.bob], false)).await;
    until(1, "failed attempts", || first.dispatcher.stats().retried as usize).await;
    first.stop().await;
    store.close().await;

    // A new process: the store opened again, the webhook up.
    let store = palaver_store::open(&url).await.unwrap();
    let core = Core::new(Arc::new(store), CoreSettings::default());
    let stats = core.push().stats().await.unwrap();
    assert_eq!(stats.queued, 1, "{stats:?}");
    let hook = Arc::new(Recorder::default());
    let hook_url = webhook_server(hook.clone()).await;
    let second = start(&core, config(Some(hook_url)));
    until(1, "webhook posts", || hook.received().len()).await;
    until(1, "sends recorded", || second.dispatcher.stats().sent as usize).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posts = hook.received();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["message_id"], "m1");
    assert_eq!(posts[0]["body"], "are you there");
    assert_eq!(core.push().stats().await.unwrap().queued, 0);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_does_not_hold_up_queueing() {
    let hook = Arc::new(Recorder::default());
    *hook.delay.lock().unwrap() = Duration::from_secs(5);
    let hook_url = webhook_server(hook.clone()).await;
    let w = world().await;
    w.subscribe(w.bob, "gcm", "android", "bob-phone", "t-bob", "production")
        .await;
    let mut config = config(Some(hook_url));
    config.workers = 1;
    let running = start(&w.core, config);
    let mut messages = Vec::new();
    for i in 0..20 {
        messages.push(
            w.message(w.alice, w.bob, &format!("m{i}"), Some("hi"), json!([]))
                .await,
        );
    }
    let started = Instant::now();
    for message in &messages {
        w.core.events.publish(w.alert(message, &[w.bob], false)).await;
    }
    until(20, "queued notifications", || {
        running.dispatcher.stats().queued as usize
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "queueing 20 alerts took {:?} behind a 5 s provider",
        started.elapsed()
    );
    // One worker, 5 s per request: at most one send has finished.
    assert!(running.dispatcher.stats().sent <= 1);
    let db = w.core.push().stats().await.unwrap();
    assert!(db.queued >= 19, "{db:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_push_events_go_through_the_same_queue() {
    let hook = Arc::new(Recorder::default());
    let hook_url = webhook_server(hook.clone()).await;
    let w = world().await;
    w.subscribe(w.bob, "gcm", "android", "bob-phone", "t-bob", "development")
        .await;
    w.subscribe(w.bob, "apns", "ios", "bob-ipad", "t-bob-ios", "development")
        .await;
    w.subscribe(w.carol, "gcm", "android", "carol-phone", "t-carol", "production")
        .await;
    let running = start(&w.core, config(Some(hook_url)));
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .encode(r#"{"message":"Meeting at 5","ios_badge":"7","custom_key":"v"}"#);
    let event = w
        .core
        .push()
        .create_event(
            w.app,
            Some(w.alice),
            palaver_core::push::EventInput {
                notification_type: Some("push".into()),
                push_type: Some("gcm".into()),
                environment: Some("development".into()),
                message: Some(payload),
                user_ids: vec![w.bob, w.carol],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(event.recipients, vec![w.bob, w.carol]);
    until(1, "webhook posts", || hook.received().len()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only Bob's Android device: the event is for gcm in development.
    let posts = hook.received();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["device"]["udid"], "bob-phone");
    assert_eq!(posts[0]["kind"], "event");
    assert_eq!(posts[0]["body"], "Meeting at 5");
    assert_eq!(posts[0]["badge"], 7);
    assert_eq!(posts[0]["event_id"], json!(event.id));
    assert_eq!(posts[0]["data"], json!({"custom_key": "v"}));
    running.stop().await;
}
