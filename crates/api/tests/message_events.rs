//! The real-time side effects of the Messages REST API: which events each call publishes on the core's
//! bus (the XMPP server turns them into stanzas). In-process, on SQLite.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use palaver_api::{router, ApiState};
use palaver_core::events::Event;
use palaver_core::events::EventReceiver;
use palaver_core::model::{DialogType, Profile};
use palaver_core::sessions::{SessionRequest, UserCredentials};
use palaver_core::{Core, CoreSettings};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

struct World {
    core: Core,
    state: ApiState,
    dir: std::path::PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn world() -> World {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("palaver-message-events-{}-{nanos}", std::process::id()));
    let store = palaver_store::open(&palaver_store::sqlite_url(&dir))
        .await
        .unwrap();
    let core = Core::new(Arc::new(store), CoreSettings::default());
    let state = ApiState {
        core: core.clone(),
        admin_token: "admin".into(),
        domain: "localhost".into(),
        metrics: None,
        readiness: Default::default(),
        live: palaver_api::live::Live::new(None),
        limits: palaver_api::limits::RestLimits::off(),
    };
    World { core, state, dir }
}

/// Signs a user up and returns (id, token).
async fn user(w: &World, app: &palaver_core::model::App, login: &str) -> (i64, String) {
    let profile = Profile {
        login: Some(login.into()),
        ..Profile::default()
    };
    let user = w
        .core
        .users()
        .signup(app.id, profile, Some("password1".into()))
        .await
        .unwrap();
    let issued = w
        .core
        .sessions()
        .create(SessionRequest {
            application_id: app.id,
            auth_key: app.auth_key.clone(),
            signed: None,
            user: Some(UserCredentials::Login {
                login: login.into(),
                password: "password1".into(),
            }),
            provider: None,
            origin: None,
        })
        .await
        .unwrap();
    (user.id, issued.token)
}

async fn call(w: &World, method: &str, uri: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("CB-Token", token);
    let body = match body {
        Some(json) => {
            request = request.header("Content-Type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = router(w.state.clone())
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn next(events: &mut EventReceiver) -> Event {
    events.try_recv().expect("an event")
}

#[tokio::test]
async fn rest_calls_publish_their_real_time_side_effects() {
    let w = world().await;
    let app = w.core.apps().create("A").await.unwrap();
    let (alice, alice_token) = user(&w, &app, "alice").await;
    let (bob, bob_token) = user(&w, &app, "bob").await;
    let mut events = w.core.events.subscribe();

    // History only: no event. With send_to_chat: MessageSent to the other member.
    let (status, quiet) = call(
        &w,
        "POST",
        "/chat/Message",
        &alice_token,
        Some(json!({"recipient_id": bob, "message": "quiet"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(events.try_recv().is_err());
    let (_, sent) = call(
        &w,
        "POST",
        "/chat/Message",
        &alice_token,
        Some(json!({"recipient_id": bob, "message": "loud", "send_to_chat": 1, "markable": 1, "x": "y"})),
    )
    .await;
    let dialog_id = sent["chat_dialog_id"].as_str().unwrap().to_owned();
    let sent_id = sent["_id"].as_str().unwrap().to_owned();
    match next(&mut events) {
        Event::MessageSent {
            message,
            dialog_type,
            recipients,
            markable,
        } => {
            assert_eq!(message.id, sent_id);
            assert_eq!(message.body.as_deref(), Some("loud"));
            assert_eq!(message.custom["x"], "y");
            assert_eq!(
                (dialog_type, recipients, markable),
                (DialogType::Private, vec![bob], true)
            );
        }
        other => panic!("{other:?}"),
    }

    // Reading through the history list tells the sender, once.
    let (_, page) = call(
        &w,
        "GET",
        &format!("/chat/Message?chat_dialog_id={dialog_id}"),
        &bob_token,
        None,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let quiet_id = quiet["_id"].as_str().unwrap().to_owned();
    assert_eq!(
        next(&mut events),
        Event::MessagesMarked {
            app_id: app.id,
            dialog_id: dialog_id.clone(),
            reader_id: bob,
            read: true,
            marked: vec![(alice, quiet_id.clone()), (alice, sent_id.clone())],
        }
    );
    call(
        &w,
        "GET",
        &format!("/chat/Message?chat_dialog_id={dialog_id}"),
        &bob_token,
        None,
    )
    .await;
    assert!(events.try_recv().is_err());

    // Edit, reactions, delete for everyone, system message.
    let (status, _) = call(
        &w,
        "PUT",
        &format!("/chat/Message/{sent_id}"),
        &alice_token,
        Some(json!({"message": "LOUD"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        next(&mut events),
        Event::MessageEdited {
            app_id: app.id,
            dialog_id: dialog_id.clone(),
            message_id: sent_id.clone(),
            editor_id: alice,
            body: "LOUD".into(),
            recipients: vec![bob],
        }
    );
    call(
        &w,
        "PUT",
        &format!("/chat/Message/{sent_id}/reactions"),
        &bob_token,
        Some(json!({"add": "👍"})),
    )
    .await;
    match next(&mut events) {
        Event::ReactionsChanged {
            message_id,
            user_id,
            add,
            remove,
            recipients,
            ..
        } => {
            assert_eq!((message_id, user_id), (sent_id.clone(), bob));
            assert_eq!((add.as_deref(), remove), (Some("👍"), None));
            let mut recipients = recipients;
            recipients.sort();
            assert_eq!(recipients, vec![alice.min(bob), alice.max(bob)]);
        }
        other => panic!("{other:?}"),
    }
    // Deleting for oneself is silent.
    let request = Request::builder()
        .method("DELETE")
        .uri(format!("/chat/Message/{quiet_id}"))
        .header("CB-Token", &bob_token)
        .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
        .body(Body::empty())
        .unwrap();
    router(w.state.clone()).oneshot(request).await.unwrap();
    assert!(events.try_recv().is_err());
    let request = Request::builder()
        .method("DELETE")
        .uri(format!("/chat/Message/{sent_id}"))
        .header("CB-Token", &alice_token)
        .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
        .body(Body::from("force=1"))
        .unwrap();
    router(w.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(
        next(&mut events),
        Event::MessagesDeleted {
            app_id: app.id,
            dialog_id: dialog_id.clone(),
            message_ids: vec![sent_id.clone()],
            by_user: alice,
            recipients: vec![bob],
        }
    );
    let (_, system) = call(
        &w,
        "POST",
        "/chat/Message/system",
        &alice_token,
        Some(json!({"recipientId": bob, "n": 1})),
    )
    .await;
    match next(&mut events) {
        Event::SystemMessage {
            sender_id,
            recipient_id,
            id,
            extension,
            ..
        } => {
            assert_eq!((sender_id, recipient_id), (alice, bob));
            assert_eq!(id, system["messageId"].as_str().unwrap());
            assert_eq!(Value::Object(extension), json!({"n": "1"}));
        }
        other => panic!("{other:?}"),
    }

    // Marks through PUT: delivered, then read, each to the sender.
    let (_, third) = call(
        &w,
        "POST",
        "/chat/Message",
        &alice_token,
        Some(json!({"chat_dialog_id": dialog_id, "message": "third"})),
    )
    .await;
    let third_id = third["_id"].as_str().unwrap().to_owned();
    for (read, body) in [(false, json!({"delivered": 1})), (true, json!({"read": 1}))] {
        call(
            &w,
            "PUT",
            &format!("/chat/Message/{third_id}"),
            &bob_token,
            Some(body),
        )
        .await;
        assert_eq!(
            next(&mut events),
            Event::MessagesMarked {
                app_id: app.id,
                dialog_id: dialog_id.clone(),
                reader_id: bob,
                read,
                marked: vec![(alice, third_id.clone())],
            }
        );
    }
    assert!(events.try_recv().is_err());
}
