//! One set of behaviour tests, run against both backends: the embedded SQLite database and PostgreSQL.

use palaver_core::accounts::{LoginName, LoginRecord, UserCondition, UserField, UserQuery};
use palaver_core::clock::ManualClock;
use palaver_core::model::{DialogType, Profile};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::sessions::{SessionRequest, UserCredentials};
use palaver_core::store::prelude::*;
use palaver_core::users::UserUpdate;
use palaver_core::{Core, CoreError, CoreSettings};
use palaver_store::testing::with_both_stores;
use std::future::Future;
use std::sync::Arc;

const START: i64 = 1_700_000_000_000;

struct Fixture {
    core: Core,
    clock: Arc<ManualClock>,
}

async fn with_both<F, Fut>(test: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    with_both_stores(|store| test(fixture(Arc::new(store)))).await
}

fn fixture(store: Arc<dyn Store>) -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let core = Core::new(store, CoreSettings::default()).with_clock(clock.clone());
    Fixture { core, clock }
}

fn profile(login: &str, email: Option<&str>) -> Profile {
    Profile {
        login: Some(login.into()),
        email: email.map(str::to_owned),
        full_name: Some(format!("{login} full")),
        ..Profile::default()
    }
}

fn app_session(app: &palaver_core::model::App) -> SessionRequest {
    SessionRequest {
        application_id: app.id,
        auth_key: app.auth_key.clone(),
        signed: None,
        user: None,
        provider: None,
        origin: None,
    }
}

#[tokio::test]
async fn apps_are_created_and_listed() {
    with_both(|f| async move {
        let a = f.core.apps().create("First").await.unwrap();
        let b = f.core.apps().create("Second").await.unwrap();
        assert_eq!(a.auth_key.len(), 15);
        assert_eq!(a.auth_secret.len(), 32);
        assert_ne!(a.auth_key, b.auth_key);
        let names: Vec<String> = f
            .core
            .apps()
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["First", "Second"]);
        assert_eq!(f.core.apps().get(b.id).await.unwrap(), b);
        assert!(matches!(
            f.core.apps().get(b.id + 100).await,
            Err(CoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn signup_rejects_duplicates_per_app_only() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let other = f.core.apps().create("B").await.unwrap();
        let users = f.core.users();
        let bob = users
            .signup(
                app.id,
                profile("bob", Some("bob@example.com")),
                Some("password1".into()),
            )
            .await
            .unwrap();
        assert_eq!(bob.profile.login.as_deref(), Some("bob"));
        assert_eq!(bob.created_at, START);

        let again = users
            .signup(app.id, profile("BOB", None), Some("password1".into()))
            .await;
        match again {
            Err(CoreError::Invalid(errors)) => {
                assert_eq!(errors, vec![("login".into(), "has already been taken".into())])
            }
            other => panic!("expected a login conflict, got {other:?}"),
        }
        let email_clash = users
            .signup(
                app.id,
                profile("bob2", Some("Bob@Example.com")),
                Some("password1".into()),
            )
            .await;
        assert!(matches!(email_clash, Err(CoreError::Invalid(e)) if e[0].0 == "email"));

        // Another application has its own namespace.
        let other_bob = users
            .signup(other.id, profile("bob", None), Some("password1".into()))
            .await
            .unwrap();
        assert_ne!(other_bob.id, bob.id);
        assert!(matches!(
            users.get(other.id, bob.id).await,
            Err(CoreError::NotFound)
        ));

        let short = users
            .signup(app.id, profile("carol", None), Some("short".into()))
            .await;
        assert!(matches!(short, Err(CoreError::Invalid(e)) if e[0].0 == "password"));
    })
    .await;
}

#[tokio::test]
async fn user_sessions_log_in_by_login_and_email_and_expire_sliding() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        f.core
            .users()
            .signup(
                app.id,
                profile("alice", Some("alice@example.com")),
                Some("secret123".into()),
            )
            .await
            .unwrap();
        let sessions = f.core.sessions();
        let mut request = app_session(&app);
        request.user = Some(UserCredentials::Login {
            login: "ALICE".into(),
            password: "secret123".into(),
        });
        let issued = sessions.create(request.clone()).await.unwrap();
        assert_eq!(issued.token.len(), 40);
        let alice = issued.user.clone().unwrap();
        assert_eq!(issued.session.user_id, Some(alice.id));
        assert!(
            issued.session.token_scram.is_some(),
            "token usable as an XMPP password"
        );

        request.user = Some(UserCredentials::Email {
            email: "alice@example.com".into(),
            password: "secret123".into(),
        });
        let by_email = sessions.create(request.clone()).await.unwrap();
        assert_eq!(by_email.user.unwrap().id, alice.id);

        request.user = Some(UserCredentials::Login {
            login: "alice".into(),
            password: "wrong-pass".into(),
        });
        assert!(matches!(
            sessions.create(request.clone()).await,
            Err(CoreError::Unauthorized)
        ));

        // Used within two hours, the token lives on; two idle hours end it.
        let caller = sessions.authenticate(&issued.token).await.unwrap();
        assert_eq!(caller.user_id, Some(alice.id));
        f.clock.advance(90 * 60 * 1000);
        sessions.authenticate(&issued.token).await.unwrap();
        f.clock.advance(90 * 60 * 1000);
        sessions.authenticate(&issued.token).await.unwrap();
        // `GET /session` shows the session as this use of the token left it, as stored.
        f.clock.advance(60 * 1000 + 1);
        let (shown, user) = sessions.current(&issued.token).await.unwrap();
        let now = START + 181 * 60 * 1000 + 1;
        assert_eq!(
            (shown.updated_at, shown.expires_at),
            (now, now + 2 * 60 * 60 * 1000)
        );
        assert_eq!(user.unwrap().id, alice.id);
        let stored = f.core.store.session_by_id(shown.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.updated_at, stored.expires_at),
            (shown.updated_at, shown.expires_at)
        );
        f.clock.advance(2 * 60 * 60 * 1000 + 1);
        assert!(matches!(
            sessions.authenticate(&issued.token).await,
            Err(CoreError::SessionRequired)
        ));
        assert!(matches!(
            sessions.authenticate("nonsense").await,
            Err(CoreError::SessionRequired)
        ));
    })
    .await;
}

#[tokio::test]
async fn app_sessions_upgrade_with_login_and_are_destroyed() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let dave = f
            .core
            .users()
            .signup(app.id, profile("dave", None), Some("secret123".into()))
            .await
            .unwrap();
        let sessions = f.core.sessions();
        let issued = sessions.create(app_session(&app)).await.unwrap();
        assert_eq!(issued.session.user_id, None);
        let caller = sessions.authenticate(&issued.token).await.unwrap();
        assert!(matches!(caller.user_id(), Err(CoreError::NeedUser)));

        let user = sessions
            .login(
                &issued.token,
                UserCredentials::Login {
                    login: "dave".into(),
                    password: "secret123".into(),
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(user.id, dave.id);
        assert_eq!(
            sessions.authenticate(&issued.token).await.unwrap().user_id,
            Some(dave.id)
        );
        let (session, current_user) = sessions.current(&issued.token).await.unwrap();
        assert_eq!(session.user_id, Some(dave.id));
        assert_eq!(current_user.unwrap().id, dave.id);
        assert_eq!(
            f.core
                .store
                .user_sessions(app.id, dave.id, START)
                .await
                .unwrap()
                .len(),
            1
        );

        sessions.logout(&issued.token).await.unwrap();
        assert_eq!(sessions.authenticate(&issued.token).await.unwrap().user_id, None);
        sessions.destroy(&issued.token).await.unwrap();
        assert!(matches!(
            sessions.authenticate(&issued.token).await,
            Err(CoreError::SessionRequired)
        ));
    })
    .await;
}

#[tokio::test]
async fn wrong_auth_key_and_signatures_are_refused_and_nonces_single_use() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let sessions = f.core.sessions();
        let mut bad_key = app_session(&app);
        bad_key.auth_key = "nope".into();
        assert!(matches!(sessions.create(bad_key).await, Err(CoreError::Rejected(_))));

        let timestamp = START / 1000;
        let mut params = serde_json::json!({"application_id": app.id, "auth_key": app.auth_key, "nonce": 42,
            "timestamp": timestamp}).as_object().unwrap().clone();
        let message = palaver_core::signature::string_to_sign(&params);
        let signature = hex::encode(palaver_core::credentials::hmac_sha1(app.auth_secret.as_bytes(), message.as_bytes()));
        params.insert("signature".into(), signature.clone().into());
        let signed = |signature: &str| {
            let mut request = app_session(&app);
            request.signed = Some(palaver_core::sessions::SignedRequest {
                nonce: 42,
                timestamp,
                signature: signature.to_owned(),
                params: params.clone(),
            });
            request
        };
        assert!(matches!(sessions.create(signed("00ff")).await, Err(CoreError::Rejected(m)) if m == "Unexpected signature"));
        let issued = sessions.create(signed(&signature)).await.unwrap();
        assert_eq!(issued.session.nonce, Some(42));
        assert_eq!(issued.session.ts, timestamp);
        // The same request again is a replay.
        assert!(matches!(sessions.create(signed(&signature)).await, Err(CoreError::Rejected(_))));
        // A different request that drew the same (timestamp, nonce) is not.
        let mut other = params.clone();
        other.insert("user".into(), serde_json::json!({"guest": "1", "full_name": "G"}));
        other.remove("signature");
        let other_signature = hex::encode(palaver_core::credentials::hmac_sha1(
            app.auth_secret.as_bytes(),
            palaver_core::signature::string_to_sign(&other).as_bytes(),
        ));
        let mut request = app_session(&app);
        request.user = Some(UserCredentials::Guest { full_name: Some("G".into()) });
        request.signed = Some(palaver_core::sessions::SignedRequest {
            nonce: 42,
            timestamp,
            signature: other_signature,
            params: other,
        });
        sessions.create(request).await.unwrap();
        // A stale timestamp is refused even with a fresh nonce.
        f.clock.advance(2 * 60 * 60 * 1000);
        assert!(matches!(sessions.create(signed(&signature)).await, Err(CoreError::Rejected(_))));
    })
    .await;
}

#[tokio::test]
async fn guests_get_a_login_and_are_purged_after_their_session() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let sessions = f.core.sessions();
        let mut request = app_session(&app);
        request.user = Some(UserCredentials::Guest {
            full_name: Some("Olof".into()),
        });
        let issued = sessions.create(request).await.unwrap();
        let guest = issued.user.unwrap();
        assert!(guest.is_guest);
        assert!(guest
            .profile
            .login
            .as_deref()
            .unwrap()
            .starts_with("guest_login_"));
        assert_eq!(guest.profile.full_name.as_deref(), Some("Olof"));
        assert_eq!(issued.session.expires_at - START, 24 * 60 * 60 * 1000);

        f.clock.advance(24 * 60 * 60 * 1000 + 1);
        sessions.purge_expired().await.unwrap();
        assert!(matches!(
            f.core.users().get(app.id, guest.id).await,
            Err(CoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn profile_updates_and_password_change_need_the_old_password() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let users = f.core.users();
        let erin = users.signup(app.id, profile("erin", None), Some("first-pass".into())).await.unwrap();
        let frank = users.signup(app.id, profile("frank", None), Some("first-pass".into())).await.unwrap();
        let mut request = app_session(&app);
        request.user = Some(UserCredentials::Login { login: "erin".into(), password: "first-pass".into() });
        let issued = f.core.sessions().create(request.clone()).await.unwrap();
        let caller = f.core.sessions().authenticate(&issued.token).await.unwrap();

        f.clock.advance(1000);
        let mut update = UserUpdate::default();
        update.patch.full_name = Some(Some("Erin Q".into()));
        update.patch.user_tags = Some(Some("vip, accountant".into()));
        let updated = users.update(&caller, erin.id, update).await.unwrap();
        assert_eq!(updated.profile.full_name.as_deref(), Some("Erin Q"));
        assert_eq!(updated.profile.user_tags.as_deref(), Some("vip,accountant"));
        assert_eq!(updated.updated_at, START + 1000);

        assert!(matches!(users.update(&caller, frank.id, UserUpdate::default()).await, Err(CoreError::Forbidden(_))));
        let mut taken = UserUpdate::default();
        taken.patch.login = Some(Some("Frank".into()));
        assert!(matches!(users.update(&caller, erin.id, taken).await, Err(CoreError::Invalid(e)) if e[0].0 == "login"));

        let wrong_old = UserUpdate { password: Some("second-pass".into()), old_password: Some("nope".into()), ..Default::default() };
        assert!(matches!(users.update(&caller, erin.id, wrong_old).await, Err(CoreError::Invalid(e)) if e[0].0 == "old_password"));
        let change = UserUpdate { password: Some("second-pass".into()), old_password: Some("first-pass".into()), ..Default::default() };
        users.update(&caller, erin.id, change).await.unwrap();
        assert!(matches!(f.core.sessions().create(request.clone()).await, Err(CoreError::Unauthorized)));
        request.user = Some(UserCredentials::Login { login: "erin".into(), password: "second-pass".into() });
        f.core.sessions().create(request).await.unwrap();

        users.delete(&caller, erin.id).await.unwrap();
        assert!(matches!(users.get(app.id, erin.id).await, Err(CoreError::NotFound)));
        assert!(matches!(f.core.sessions().authenticate(&issued.token).await, Err(CoreError::SessionRequired)));
    })
    .await;
}

#[tokio::test]
async fn user_lists_filter_sort_and_page() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let other = f.core.apps().create("B").await.unwrap();
        let users = f.core.users();
        let mut ids = Vec::new();
        for (i, login) in ["anna", "annabel", "bert", "carl"].iter().enumerate() {
            let mut p = profile(login, None);
            p.user_tags = Some(if i % 2 == 0 {
                "vip,red".into()
            } else {
                "blue".into()
            });
            f.clock.advance(1000);
            ids.push(
                users
                    .signup(app.id, p, Some("password1".into()))
                    .await
                    .unwrap()
                    .id,
            );
        }
        users
            .signup(other.id, profile("anna2", None), Some("password1".into()))
            .await
            .unwrap();
        let query = |conditions: Vec<UserCondition>| UserQuery {
            app_id: app.id,
            conditions,
            sort: None,
            limit: 10,
            skip: 0,
        };
        let logins = |found: Vec<palaver_core::model::User>| -> Vec<String> {
            found.into_iter().map(|u| u.profile.login.unwrap()).collect()
        };

        let (found, total) = users
            .list(&query(vec![UserCondition {
                field: UserField::Id,
                op: FilterOp::In,
                values: vec![FilterValue::Int(ids[0]), FilterValue::Int(ids[2])],
            }]))
            .await
            .unwrap();
        assert_eq!(
            (logins(found), total),
            (vec!["anna".to_string(), "bert".to_string()], 2)
        );

        let (found, _) = users
            .list(&query(vec![UserCondition {
                field: UserField::Login,
                op: FilterOp::StartsWith,
                values: vec![FilterValue::Text("ANNA".into())],
            }]))
            .await
            .unwrap();
        assert_eq!(logins(found), ["anna", "annabel"]);

        let (found, _) = users
            .list(&query(vec![UserCondition {
                field: UserField::UserTags,
                op: FilterOp::HasTag,
                values: vec![FilterValue::Text("red".into())],
            }]))
            .await
            .unwrap();
        assert_eq!(logins(found), ["anna", "bert"]);

        let (found, _) = users
            .list(&query(vec![UserCondition {
                field: UserField::CreatedAt,
                op: FilterOp::Gt,
                values: vec![FilterValue::Int(START + 2000)],
            }]))
            .await
            .unwrap();
        assert_eq!(logins(found), ["bert", "carl"]);

        let mut sorted = query(vec![]);
        sorted.sort = Some((UserField::Login, false));
        sorted.limit = 2;
        sorted.skip = 1;
        let (found, total) = users.list(&sorted).await.unwrap();
        assert_eq!(
            (logins(found), total),
            (vec!["bert".to_string(), "annabel".to_string()], 4)
        );
    })
    .await;
}

#[tokio::test]
async fn private_dialogs_are_made_once_and_messages_counted_unread() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let users = f.core.users();
        let a = users
            .signup(app.id, profile("amy", None), Some("password1".into()))
            .await
            .unwrap()
            .id;
        let b = users
            .signup(app.id, profile("ben", None), Some("password1".into()))
            .await
            .unwrap()
            .id;
        let message = |id: &str, save: bool, dialog: Option<String>| palaver_core::messages::PrivateMessage {
            app_id: app.id,
            sender_id: a,
            recipient_id: b,
            dialog_id: dialog,
            content: palaver_core::messages::MessageContent {
                id: id.to_owned(),
                body: Some(format!("body {id}")),
                attachments: serde_json::json!([{"type": "image", "uid": "u1"}]),
                custom: serde_json::json!({"country": "NL"}).as_object().unwrap().clone(),
                date_sent: None,
                save_to_history: save,
            },
        };
        let first = f
            .core
            .messages()
            .accept_private(message("6b068f315f6662378a000001", true, None))
            .await
            .unwrap();
        assert!(first.stored_now);
        assert_eq!(first.message.date_sent, START / 1000);
        // The message as accepted, in the pair's dialog, ready for a chat alert.
        assert_eq!(first.message.id, "6b068f315f6662378a000001");
        assert_eq!(first.message.dialog_id, first.dialog.id);
        assert_eq!((first.message.sender_id, first.message.recipient_id), (a, b));
        assert_eq!(first.message.created_at, START);
        assert_eq!(first.dialog.kind, DialogType::Private);
        assert_eq!(first.dialog.occupants, vec![a, b]);
        assert!(first.dialog.id.bytes().any(|c| c.is_ascii_alphabetic()));

        // The same pair, either direction, is the same dialog; a resend is not stored twice.
        let again = f
            .core
            .messages()
            .accept_private(message("6b068f315f6662378a000001", true, None))
            .await
            .unwrap();
        assert_eq!(again.dialog.id, first.dialog.id);
        assert!(!again.stored_now);
        let reverse = f
            .core
            .store
            .private_dialog(app.id, b, a, "ffffffffffffffffffffffff", START)
            .await
            .unwrap()
            .0;
        assert_eq!(reverse.id, first.dialog.id);

        f.core
            .messages()
            .accept_private(message(
                "6b068f315f6662378a000002",
                false,
                Some(first.dialog.id.clone()),
            ))
            .await
            .unwrap();
        let stored = f
            .core
            .store
            .message(app.id, &first.dialog.id, "6b068f315f6662378a000001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.body.as_deref(), Some("body 6b068f315f6662378a000001"));
        assert_eq!(stored.attachments[0]["uid"], "u1");
        assert_eq!(stored.custom["country"], "NL");
        assert_eq!(stored.recipient_id, b);
        assert!(f
            .core
            .store
            .message(app.id, &first.dialog.id, "6b068f315f6662378a000002")
            .await
            .unwrap()
            .is_none());
        let dialog = f
            .core
            .store
            .dialog(app.id, &first.dialog.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            dialog.last_message_id.as_deref(),
            Some("6b068f315f6662378a000001")
        );
        assert_eq!(dialog.last_message_user_id, Some(a));

        // Unknown recipients and foreign dialogs are refused.
        let mut stranger = message("6b068f315f6662378a000003", true, None);
        stranger.recipient_id = b + 1000;
        assert!(matches!(
            f.core.messages().accept_private(stranger).await,
            Err(CoreError::NotFound)
        ));
        let wrong = message(
            "6b068f315f6662378a000004",
            true,
            Some("aaaaaaaaaaaaaaaaaaaaaaaa".into()),
        );
        assert!(matches!(
            f.core.messages().accept_private(wrong).await,
            Err(CoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn offline_stanzas_come_back_in_order_and_go_once_acknowledged() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let offline = f.core.offline();
        for n in 0..3 {
            offline
                .store(app.id, 7, &format!("<message id='{n}'/>"))
                .await
                .unwrap();
        }
        offline.store(app.id, 8, "<message id='other'/>").await.unwrap();
        let pending = offline.pending(app.id, 7, 2).await.unwrap();
        let payloads: Vec<&str> = pending.iter().map(|m| m.payload.as_str()).collect();
        assert_eq!(payloads, ["<message id='0'/>", "<message id='1'/>"]);
        offline
            .acknowledge(app.id, 7, &pending.iter().map(|m| m.seq).collect::<Vec<_>>())
            .await
            .unwrap();
        let rest = offline.pending(app.id, 7, 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].payload, "<message id='2'/>");
        assert_eq!(offline.pending(app.id, 8, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn chat_logins_accept_the_password_or_a_live_token() {
    with_both(|f| async move {
        let app = f.core.apps().create("A").await.unwrap();
        let user = f
            .core
            .users()
            .signup(app.id, profile("tom", None), Some("password1".into()))
            .await
            .unwrap();
        let auth = f.core.chat_auth();
        assert_eq!(
            auth.check_secret(app.id, user.id, "password1").await.unwrap(),
            Some(None)
        );
        assert_eq!(
            auth.check_secret(app.id, user.id, "password2").await.unwrap(),
            None
        );

        let mut request = app_session(&app);
        request.user = Some(UserCredentials::Login {
            login: "tom".into(),
            password: "password1".into(),
        });
        let issued = f.core.sessions().create(request).await.unwrap();
        assert_eq!(
            auth.check_secret(app.id, user.id, &issued.token).await.unwrap(),
            Some(Some(issued.session.id))
        );
        assert!(palaver_core::sessions::could_be_token(&issued.token));

        // A chat login with the token is a use of it: the session slides to a whole lifetime from the
        // login, but only once a minute has passed since it last did (no write for a fresh token).
        let expires_at = |f: &Fixture| {
            let store = f.core.store.clone();
            let id = issued.session.id;
            async move { store.session_by_id(id).await.unwrap().unwrap().expires_at }
        };
        let ttl = 2 * 60 * 60 * 1000;
        assert_eq!(expires_at(&f).await, START + ttl);
        f.clock.advance(50_000);
        auth.check_secret(app.id, user.id, &issued.token).await.unwrap();
        assert_eq!(
            expires_at(&f).await,
            START + ttl,
            "within the minute: not extended"
        );
        f.clock.advance(20_000);
        auth.check_secret(app.id, user.id, &issued.token).await.unwrap();
        assert_eq!(expires_at(&f).await, START + 70_000 + ttl);
        // The same rule while chat keeps the token alive.
        f.clock.advance(30_000);
        assert!(auth.keep_token_alive(issued.session.id).await.unwrap());
        assert_eq!(expires_at(&f).await, START + 70_000 + ttl);
        f.clock.advance(40_000);
        assert!(auth.keep_token_alive(issued.session.id).await.unwrap());
        assert_eq!(expires_at(&f).await, START + 140_000 + ttl);

        // A password that has a token's shape is looked up as a token, found to be none, and still
        // checked as the password.
        let hex_password = "0123456789abcdef0123456789abcdef01234567";
        assert!(palaver_core::sessions::could_be_token(hex_password));
        let hex_user = f
            .core
            .users()
            .signup(app.id, profile("hex", None), Some(hex_password.into()))
            .await
            .unwrap();
        assert_eq!(
            auth.check_secret(app.id, hex_user.id, hex_password)
                .await
                .unwrap(),
            Some(None)
        );
        assert_eq!(
            auth.check_secret(app.id, hex_user.id, &issued.token)
                .await
                .unwrap(),
            None
        );

        let secrets = auth.secrets(app.id, user.id).await.unwrap().unwrap();
        assert_eq!(secrets.tokens.len(), 1);
        assert_eq!(secrets.tokens[0].0, issued.session.id);
        let (stored, _) = palaver_core::credentials::scram_sha1_keys(
            &issued.token,
            &secrets.password.salt,
            secrets.password.iterations,
        );
        assert_eq!(secrets.tokens[0].1.sha1_stored_key, stored);
        assert!(auth.secrets(app.id, user.id + 99).await.unwrap().is_none());

        // The token stays valid while chat uses it, and stops working once destroyed.
        f.clock.advance(110 * 60 * 1000);
        assert!(auth.keep_token_alive(issued.session.id).await.unwrap());
        f.clock.advance(110 * 60 * 1000);
        assert_eq!(
            auth.check_secret(app.id, user.id, &issued.token).await.unwrap(),
            Some(Some(issued.session.id))
        );
        f.core.sessions().destroy(&issued.token).await.unwrap();
        assert_eq!(
            auth.check_secret(app.id, user.id, &issued.token).await.unwrap(),
            None
        );
        assert!(!auth.keep_token_alive(issued.session.id).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn credentials_are_found_and_replaced_only_under_the_users_own_application() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = palaver_store::testing::app_with_users(&core, "creds", 3).await;
        let other = core.apps().create("creds-other").await.unwrap();
        let user = users[1];
        let own = core
            .store
            .credentials(app, user)
            .await
            .unwrap()
            .expect("the user's credentials");
        assert!(core.store.credentials(other.id, user).await.unwrap().is_none());
        let mut changed = own.clone();
        changed.password_hash = "replaced".into();
        // Under the wrong application nothing changes; under the right one the row is replaced.
        core.store
            .set_credentials(other.id, user, &changed)
            .await
            .unwrap();
        assert_eq!(password_hash(&core, app, user).await, own.password_hash);
        core.store.set_credentials(app, user, &changed).await.unwrap();
        assert_eq!(password_hash(&core, app, user).await, "replaced");
        // The other users keep theirs.
        assert_eq!(password_hash(&core, app, users[0]).await, own.password_hash);
    })
    .await
}

#[tokio::test]
async fn a_login_record_holds_the_user_their_credentials_and_their_block_in_one_read() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let app = core.apps().create("record").await.unwrap();
        let other = core.apps().create("record-other").await.unwrap();
        let profile = Profile {
            login: Some("Record-Alice".into()),
            email: Some("Alice@Example.org".into()),
            ..Profile::default()
        };
        let alice = core
            .users()
            .signup(app.id, profile, Some("password1".into()))
            .await
            .unwrap();
        let bob = core
            .users()
            .signup(
                app.id,
                Profile {
                    login: Some("record-bob".into()),
                    ..Profile::default()
                },
                Some("password2".into()),
            )
            .await
            .unwrap();
        let credentials = core.store.credentials(app.id, alice.id).await.unwrap();
        assert!(credentials.is_some());
        let expected = LoginRecord {
            user: alice.clone(),
            credentials: credentials.clone(),
            blocked: false,
        };
        // By id, and by login and e-mail in any case.
        for name in [
            LoginName::Id(alice.id),
            LoginName::Login("record-alice"),
            LoginName::Login("RECORD-ALICE"),
            LoginName::Email("alice@example.ORG"),
        ] {
            assert_eq!(
                core.store.login_record(app.id, name).await.unwrap(),
                Some(expected.clone()),
                "{name:?}"
            );
        }
        // Never another application's user, nor a user who is not there.
        for (app_id, name) in [
            (other.id, LoginName::Id(alice.id)),
            (other.id, LoginName::Login("record-alice")),
            (app.id, LoginName::Id(bob.id + 1000)),
            (app.id, LoginName::Email("bob@example.org")),
        ] {
            assert_eq!(
                core.store.login_record(app_id, name).await.unwrap(),
                None,
                "{app_id} {name:?}"
            );
        }
        // A block is the blocked user's alone, and is gone once lifted.
        core.store
            .admin()
            .set_blocked(app.id, alice.id, true, START)
            .await
            .unwrap();
        let blocked = core
            .store
            .login_record(app.id, LoginName::Id(alice.id))
            .await
            .unwrap()
            .unwrap();
        assert!(blocked.blocked);
        assert_eq!(blocked.credentials, credentials);
        let bob_record = core
            .store
            .login_record(app.id, LoginName::Login("record-bob"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((bob_record.user.id, bob_record.blocked), (bob.id, false));
        assert_eq!(
            bob_record.credentials,
            core.store.credentials(app.id, bob.id).await.unwrap()
        );
        assert_ne!(bob_record.credentials, credentials);
        core.store
            .admin()
            .set_blocked(app.id, alice.id, false, START)
            .await
            .unwrap();
        assert_eq!(
            core.store
                .login_record(app.id, LoginName::Id(alice.id))
                .await
                .unwrap(),
            Some(expected)
        );
    })
    .await
}

/// The stored password hash of a user of `app`.
async fn password_hash(core: &Core, app: i64, user: i64) -> String {
    core.store
        .credentials(app, user)
        .await
        .unwrap()
        .expect("the user's credentials")
        .password_hash
}
