//! The message pipeline's rules in core, on a real store: broadcast posting rights, and who gets a chat
//! alert (never the sender, never someone looking at an active chat session, nobody for a broadcast).
//! Privacy before storage is in `privacy.rs`; unread counters in `messages.rs` and `writer.rs`.

use palaver_core::dialogs::NewDialog;
use palaver_core::events::Event;
use palaver_core::messages::{GroupMessage, MessageContent};
use palaver_core::model::{ChatMessage, Dialog, DialogType};
use palaver_core::online::OnlineDirectory;
use palaver_core::{Core, CoreError, CoreSettings};
use palaver_store::testing::{app_with_users, with_both_stores};
use serde_json::{json, Map};
use std::sync::Arc;

/// A chat server in which only `active` users look at an active session.
struct Directory {
    active: Vec<i64>,
}

impl OnlineDirectory for Directory {
    fn online_users(&self, _: i64) -> Vec<i64> {
        self.active.clone()
    }
    fn is_active(&self, _: i64, user_id: i64) -> bool {
        self.active.contains(&user_id)
    }
}

async fn dialog(core: &Core, app: i64, id: &str, kind: DialogType, owner: i64, members: &[i64]) -> Dialog {
    core.store
        .create_dialog(&NewDialog {
            id: id.into(),
            app_id: app,
            kind,
            owner_id: owner,
            name: Some(format!("d{}", kind.code())),
            description: None,
            photo: None,
            extensions: None,
            permissions: None,
            members: members.to_vec(),
            admins: Vec::new(),
            now: 1_700_000_000_000,
        })
        .await
        .unwrap()
}

fn chat(app: i64, dialog: &str, sender: i64) -> ChatMessage {
    ChatMessage {
        id: "m1".into(),
        app_id: app,
        dialog_id: dialog.into(),
        sender_id: sender,
        recipient_id: 0,
        body: Some("hi".into()),
        attachments: json!([]),
        custom: Map::new(),
        date_sent: 1,
        created_at: 1,
        updated_at: 1,
    }
}

#[tokio::test]
async fn alerts_go_to_members_without_an_active_session_and_broadcasts_need_rights() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store), CoreSettings::default());
        let (app, u) = app_with_users(&core, "pipeline", 4).await;
        core.online.register(Arc::new(Directory { active: vec![u[1]] }));
        let mut alerts = core.events.subscribe_to(|e| matches!(e, Event::ChatAlert { .. }));
        let group = dialog(
            &core,
            app,
            "cccccccccccccccccccccc01",
            DialogType::Group,
            u[0],
            &u,
        )
        .await;

        // u[0] writes to the group: u[1] is looking at the chat, u[2] and u[3] get an alert.
        let messages = core.messages();
        messages
            .raise_alerts(chat(app, &group.id, u[0]), &group, &u, false, &[])
            .await;
        match alerts.try_recv().expect("an alert") {
            Event::ChatAlert {
                recipients, silent, ..
            } => {
                assert_eq!(recipients, vec![u[2], u[3]]);
                assert!(!silent);
            }
            other => panic!("{other:?}"),
        }
        // Nobody inactive among the recipients: no alert at all.
        messages
            .raise_alerts(chat(app, &group.id, u[0]), &group, &[u[0], u[1]], false, &[])
            .await;
        assert!(alerts.try_recv().is_err());
        // u[1] counts as active but nobody took the message (its node died): alerted all the same, once.
        messages
            .raise_alerts(chat(app, &group.id, u[0]), &group, &[u[0], u[1]], false, &[u[1]])
            .await;
        match alerts.try_recv().expect("an alert") {
            Event::ChatAlert { recipients, .. } => assert_eq!(recipients, vec![u[1]]),
            other => panic!("{other:?}"),
        }
        assert!(alerts.try_recv().is_err());

        // A broadcast: only its owner and admins post, and it never raises alerts.
        let broadcast = dialog(
            &core,
            app,
            "cccccccccccccccccccccc02",
            DialogType::Broadcast,
            u[0],
            &[],
        )
        .await;
        let post = |sender: i64| GroupMessage {
            app_id: app,
            sender_id: sender,
            dialog_id: broadcast.id.clone(),
            content: MessageContent {
                id: format!("b{sender}"),
                body: Some("news".into()),
                attachments: json!([]),
                custom: Map::new(),
                date_sent: None,
                save_to_history: true,
            },
        };
        let refused = messages.accept_group(post(u[2])).await;
        assert!(matches!(refused, Err(CoreError::Forbidden(_))), "{refused:?}");
        let accepted = messages.accept_group(post(u[0])).await.unwrap();
        assert!(accepted.stored_now);
        messages
            .raise_alerts(chat(app, &broadcast.id, u[0]), &accepted.dialog, &u, false, &u)
            .await;
        assert!(alerts.try_recv().is_err(), "broadcasts raise no alerts");
    })
    .await
}
