//! The dialog rules (core `DialogService`) over the real store, on both backends: creation, the list with
//! its filters and per-user fields, the role rules of updates, deletion for one or for all, cleared
//! history, subscriptions, admins, notifications, broadcast dialogs, and the XMPP contract.

use palaver_core::clock::ManualClock;
use palaver_core::dialogs::{DialogCondition, DialogField, DialogQuery};
use palaver_core::dialogs::{DialogInput, DialogUpdate};
use palaver_core::events::Event;
use palaver_core::model::{ChatMessage, DialogType};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::store::prelude::*;
use palaver_core::{Core, CoreError, CoreSettings};
use palaver_store::testing::{app_with_users, dialog_list as query, with_both_stores};
use serde_json::json;
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
    let settings = CoreSettings {
        scram_iterations: 1,
        ..CoreSettings::default()
    };
    let core = Core::new(store, settings).with_clock(clock.clone());
    Fixture { core, clock }
}

fn group(name: &str, occupants: &[i64]) -> DialogInput {
    DialogInput {
        kind: Some(2),
        name: Some(name.into()),
        occupants: occupants.to_vec(),
        ..DialogInput::default()
    }
}

fn cond(field: DialogField, op: FilterOp, values: Vec<FilterValue>) -> DialogCondition {
    DialogCondition { field, op, values }
}

async fn listed(core: &Core, q: &DialogQuery) -> Vec<String> {
    core.dialogs()
        .list(q)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|v| v.dialog.id)
        .collect()
}

/// Stores a message the way the chat ingestion does.
async fn post(core: &Core, app_id: i64, dialog_id: &str, sender: i64, id: &str, date_sent: i64) {
    let now = core.clock.now_millis();
    let stored = core
        .store
        .save_message(&ChatMessage {
            id: id.into(),
            app_id,
            dialog_id: dialog_id.into(),
            sender_id: sender,
            recipient_id: 0,
            body: Some(format!("text {id}")),
            attachments: json!([]),
            custom: Default::default(),
            date_sent,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    assert!(stored);
}

fn is_forbidden<T: std::fmt::Debug>(result: Result<T, CoreError>) -> bool {
    matches!(result, Err(CoreError::Forbidden(_)))
}

fn invalid_field<T: std::fmt::Debug>(result: Result<T, CoreError>) -> String {
    match result {
        Err(CoreError::Invalid(fields)) => fields[0].0.clone(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn creation_rules_and_private_reuse() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "create", 4).await;
        let (other_app, stranger) = app_with_users(core, "other", 1).await;
        let dialogs = core.dialogs();

        let mut input = group("Night party", &[u[1], u[2], u[1]]);
        input.admins = vec![u[2]];
        input.description = Some("  fun  ".into());
        input.extensions = Some(
            json!({"location": "Sun bar", "floor": 3, "gone": null})
                .as_object()
                .unwrap()
                .clone(),
        );
        input.permissions = Some(
            json!({"allow_preview": "true", "other": 1})
                .as_object()
                .unwrap()
                .clone(),
        );
        let created = dialogs.create(app, u[0], input).await.unwrap();
        let d = &created.dialog;
        assert_eq!((d.kind, d.user_id), (DialogType::Group, u[0]));
        assert_eq!(d.occupants, vec![u[0], u[1], u[2]]);
        assert_eq!(d.admins, vec![u[2]]);
        assert_eq!(d.name.as_deref(), Some("Night party"));
        assert_eq!(d.description.as_deref(), Some("fun"));
        assert_eq!(
            serde_json::Value::Object(d.extensions.clone().unwrap()),
            json!({"location": "Sun bar", "floor": "3"})
        );
        assert_eq!(
            serde_json::Value::Object(d.permissions.clone().unwrap()),
            json!({"allow_preview": true})
        );
        assert!(
            d.id.len() == 24
                && d.id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                && d.id.bytes().any(|b| b.is_ascii_alphabetic()),
            "{}",
            d.id
        );
        assert_eq!(
            (created.unread_messages_count, created.last_message_status.clone()),
            (0, None)
        );

        // Public dialogs hold only their creator as a subscriber.
        let public = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(4),
                    name: Some("Town".into()),
                    occupants: vec![u[1]],
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(public.dialog.occupants, vec![u[0]]);

        // Private dialogs: one per pair, whoever creates it, name ignored.
        let private = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(3),
                    name: Some("ignored".into()),
                    occupants: vec![u[1]],
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(private.dialog.occupants, vec![u[0], u[1]]);
        assert_eq!(private.dialog.name, None);
        let again = dialogs
            .create(
                app,
                u[1],
                DialogInput {
                    kind: Some(3),
                    occupants: vec![u[0], u[1]],
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(again.dialog.id, private.dialog.id);

        // Refusals.
        assert!(is_forbidden(
            dialogs
                .create(
                    app,
                    u[0],
                    DialogInput {
                        kind: Some(1),
                        name: Some("b".into()),
                        ..DialogInput::default()
                    }
                )
                .await
        ));
        assert_eq!(
            invalid_field(dialogs.create(app, u[0], DialogInput::default()).await),
            "type"
        );
        assert_eq!(
            invalid_field(
                dialogs
                    .create(
                        app,
                        u[0],
                        DialogInput {
                            kind: Some(9),
                            ..DialogInput::default()
                        }
                    )
                    .await
            ),
            "type"
        );
        assert_eq!(
            invalid_field(dialogs.create(app, u[0], group("  ", &[u[1]])).await),
            "name"
        );
        assert_eq!(
            invalid_field(dialogs.create(app, u[0], group("g", &[])).await),
            "occupants_ids"
        );
        // Users of another application are unknown here.
        assert_eq!(
            invalid_field(dialogs.create(app, u[0], group("g", &[stranger[0]])).await),
            "occupants_ids"
        );
        let lonely = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(3),
                    occupants: vec![u[0]],
                    ..DialogInput::default()
                },
            )
            .await;
        assert!(
            matches!(lonely, Err(CoreError::Rejected(ref m)) if m == "Occupants_ids is missing opponent ID."),
            "{lonely:?}"
        );
        let crowd = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(3),
                    occupants: vec![u[1], u[2]],
                    ..DialogInput::default()
                },
            )
            .await;
        assert_eq!(invalid_field(crowd), "occupants_ids");
        let mut too_many = group("g", &u[1..]);
        too_many.admins = vec![u[1], u[2], u[3], 1001, 1002, 1003];
        assert_eq!(
            invalid_field(dialogs.create(app, u[0], too_many).await),
            "admins_ids"
        );
        let mut outsider_admin = group("g", &[u[1]]);
        outsider_admin.admins = vec![u[3]];
        assert_eq!(
            invalid_field(dialogs.create(app, u[0], outsider_admin).await),
            "admins_ids"
        );

        // The other application sees none of it.
        assert!(matches!(
            dialogs.get(other_app, &d.id).await,
            Err(CoreError::NotFound)
        ));
        assert!(listed(core, &query(other_app, stranger[0])).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn list_filters_sorts_pages_and_shows_per_user_state() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "list", 4).await;
        let dialogs = core.dialogs();
        let mk = |name: &'static str, occupants: Vec<i64>, ext: serde_json::Value| {
            let mut input = group(name, &occupants);
            input.extensions = ext.as_object().cloned();
            input
        };
        let a = dialogs
            .create(
                app,
                u[0],
                mk("Alpha team", vec![u[1]], json!({"location": "Sun bar"})),
            )
            .await
            .unwrap()
            .dialog;
        f.clock.advance(1000);
        let b = dialogs
            .create(
                app,
                u[0],
                mk("Beta", vec![u[1], u[2]], json!({"location": "Moon bar"})),
            )
            .await
            .unwrap()
            .dialog;
        f.clock.advance(1000);
        let c = dialogs
            .create(app, u[2], mk("gamma", vec![u[3]], json!({})))
            .await
            .unwrap()
            .dialog;
        f.clock.advance(1000);
        let p = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(3),
                    occupants: vec![u[3]],
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap()
            .dialog;

        // Default order: last message first, then the most recently updated.
        post(core, app, &a.id, u[1], "6b0000000000000000000001", 1_700_000_100).await;
        f.clock.advance(1000);
        post(core, app, &b.id, u[0], "6b0000000000000000000002", 1_700_000_050).await;
        let q = query(app, u[0]);
        assert_eq!(
            listed(core, &q).await,
            vec![a.id.clone(), b.id.clone(), p.id.clone()]
        );
        let (page, total) = dialogs
            .list(&DialogQuery {
                limit: 1,
                skip: 1,
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            (page.len(), page[0].dialog.id.clone(), total),
            (1, b.id.clone(), 3)
        );
        assert_eq!(dialogs.count(&q).await.unwrap(), 3);

        // Per-user fields: u[0] has one unread in Alpha, and sent the last message of Beta.
        let views = dialogs.list(&q).await.unwrap().0;
        assert_eq!(views[0].unread_messages_count, 1);
        assert_eq!(views[0].last_message_status, None);
        assert_eq!(views[1].unread_messages_count, 0);
        assert_eq!(views[1].last_message_status.as_deref(), Some("sent"));
        assert_eq!(
            views[1].dialog.last_message.as_deref(),
            Some("text 6b0000000000000000000002")
        );
        assert_eq!(views[1].dialog.last_message_date_sent, Some(1_700_000_050));
        // The sender's status follows the others' delivered and read marks (Messages API state).
        let status = |user: i64| {
            let dialogs = core.dialogs();
            let id = b.id.clone();
            async move { dialogs.view(app, &id, user).await.unwrap().last_message_status }
        };
        core.store
            .mark_messages(app, &b.id, u[2], None, false)
            .await
            .unwrap();
        assert_eq!(status(u[0]).await.as_deref(), Some("delivered"));
        assert_eq!(status(u[2]).await, None);
        core.store
            .mark_messages(app, &b.id, u[1], None, true)
            .await
            .unwrap();
        assert_eq!(status(u[0]).await.as_deref(), Some("read"));

        // Filters.
        let with = |conditions: Vec<DialogCondition>| DialogQuery {
            conditions,
            ..q.clone()
        };
        let text = |s: &str| FilterValue::Text(s.into());
        let int = FilterValue::Int;
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Id, FilterOp::Eq, vec![text(&b.id)])])
            )
            .await,
            vec![b.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Type, FilterOp::Eq, vec![int(3)])])
            )
            .await,
            vec![p.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Type, FilterOp::In, vec![int(2), int(3)])])
            )
            .await
            .len(),
            3
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Type, FilterOp::Nin, vec![int(2)])])
            )
            .await,
            vec![p.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::Name,
                    FilterOp::Contains,
                    vec![text("TEAM")]
                )])
            )
            .await,
            vec![a.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Name, FilterOp::Ne, vec![text("Beta")])])
            )
            .await,
            vec![a.id.clone(), p.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::LastMessageDateSent,
                    FilterOp::Gt,
                    vec![int(1_700_000_060)]
                )])
            )
            .await,
            vec![a.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::LastMessageDateSent,
                    FilterOp::Lte,
                    vec![int(1_700_000_050)]
                )])
            )
            .await,
            vec![b.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::CreatedAt,
                    FilterOp::Gte,
                    vec![int(START + 1000)]
                )])
            )
            .await,
            vec![b.id.clone(), p.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::CreatedAt,
                    FilterOp::Lt,
                    vec![int(START + 1000)]
                )])
            )
            .await,
            vec![a.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::Extension("location".into()),
                    FilterOp::Eq,
                    vec![text("Sun bar")]
                )])
            )
            .await,
            vec![a.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::Extension("location".into()),
                    FilterOp::Contains,
                    vec![text("bar")]
                )])
            )
            .await
            .len(),
            2
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::Extension("location".into()),
                    FilterOp::Ne,
                    vec![text("Sun bar")]
                )])
            )
            .await,
            vec![b.id.clone(), p.id.clone()]
        );
        // Occupants: any of (Eq/In), all of (All), none of (Nin).
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Occupants, FilterOp::Eq, vec![int(u[2])])])
            )
            .await,
            vec![b.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::Occupants,
                    FilterOp::In,
                    vec![int(u[2]), int(u[3])]
                )])
            )
            .await,
            vec![b.id.clone(), p.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(
                    DialogField::Occupants,
                    FilterOp::All,
                    vec![int(u[1]), int(u[2])]
                )])
            )
            .await,
            vec![b.id.clone()]
        );
        assert_eq!(
            listed(
                core,
                &with(vec![cond(DialogField::Occupants, FilterOp::Nin, vec![int(u[1])])])
            )
            .await,
            vec![p.id.clone()]
        );
        // Sorting.
        let sorted = |field: DialogField, asc: bool| DialogQuery {
            sort: Some((field, asc)),
            ..q.clone()
        };
        assert_eq!(
            listed(core, &sorted(DialogField::CreatedAt, true)).await,
            vec![a.id.clone(), b.id.clone(), p.id.clone()]
        );
        assert_eq!(listed(core, &sorted(DialogField::Name, false)).await[0], b.id);
        assert_eq!(
            listed(core, &sorted(DialogField::LastMessageDateSent, true)).await[0],
            p.id
        );

        // u[2] sees Beta and his own gamma; u[3] sees gamma and the private dialog.
        assert_eq!(
            listed(core, &query(app, u[2])).await,
            vec![b.id.clone(), c.id.clone()]
        );
        assert_eq!(
            listed(core, &query(app, u[3])).await,
            vec![p.id.clone(), c.id.clone()]
        );
    })
    .await;
}

#[tokio::test]
async fn update_role_rules_and_leaving() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "update", 6).await;
        let dialogs = core.dialogs();
        let mut events = core.events.subscribe();
        let mut input = group("Crossfit", &[u[1], u[2], u[3]]);
        input.admins = vec![u[1]];
        let g = dialogs.create(app, u[0], input).await.unwrap().dialog;

        // Any occupant renames a group and adds occupants.
        let renamed = dialogs
            .update(
                app,
                &g.id,
                u[2],
                DialogUpdate {
                    name: Some(Some("Crossfit2".into())),
                    photo: Some(Some("gym2.jpeg".into())),
                    push_occupants: vec![u[4]],
                    extensions: Some(Some(
                        json!({"location": "Gym", "level": 2})
                            .as_object()
                            .unwrap()
                            .clone(),
                    )),
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert_eq!(renamed.name.as_deref(), Some("Crossfit2"));
        assert_eq!(renamed.photo.as_deref(), Some("gym2.jpeg"));
        assert_eq!(renamed.occupants, vec![u[0], u[1], u[2], u[3], u[4]]);
        assert_eq!(renamed.extensions.as_ref().unwrap()["level"], "2");
        // Extensions merge; a null value removes a key; null resets them all.
        let merged = dialogs
            .update(
                app,
                &g.id,
                u[0],
                DialogUpdate {
                    extensions: Some(Some(
                        json!({"level": null, "coach": "Bo"}).as_object().unwrap().clone(),
                    )),
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert_eq!(
            serde_json::Value::Object(merged.extensions.unwrap()),
            json!({"location": "Gym", "coach": "Bo"})
        );
        let reset = dialogs
            .update(
                app,
                &g.id,
                u[0],
                DialogUpdate {
                    extensions: Some(None),
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert_eq!(reset.extensions, None);

        // Removing others: owner and admins only; never the owner.
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &g.id,
                    u[2],
                    DialogUpdate {
                        pull_occupants: vec![u[3]],
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &g.id,
                    u[1],
                    DialogUpdate {
                        pull_occupants: vec![u[0]],
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        let removed = dialogs
            .update(
                app,
                &g.id,
                u[1],
                DialogUpdate {
                    pull_occupants: vec![u[3]],
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert!(!removed.occupants.contains(&u[3]));
        assert_eq!(
            events.recv().await.unwrap(),
            Event::OccupantsRemoved {
                app_id: app,
                dialog_id: g.id.clone(),
                removed: vec![u[3]],
                by_user: u[1]
            }
        );
        // Leaving: pulling only yourself; an admin who leaves stops being one.
        let left = dialogs
            .update(
                app,
                &g.id,
                u[1],
                DialogUpdate {
                    pull_occupants: vec![u[1]],
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert!(!left.occupants.contains(&u[1]));
        assert!(left.admins.is_empty());
        assert_eq!(
            events.recv().await.unwrap(),
            Event::OccupantsRemoved {
                app_id: app,
                dialog_id: g.id.clone(),
                removed: vec![u[1]],
                by_user: u[1]
            }
        );
        // Non-members change nothing; unknown users can't be added.
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &g.id,
                    u[3],
                    DialogUpdate {
                        name: Some(Some("x".into())),
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        assert_eq!(
            invalid_field(
                dialogs
                    .update(
                        app,
                        &g.id,
                        u[2],
                        DialogUpdate {
                            push_occupants: vec![99_999],
                            ..DialogUpdate::default()
                        }
                    )
                    .await
            ),
            "occupants_ids"
        );
        assert_eq!(
            invalid_field(
                dialogs
                    .update(
                        app,
                        &g.id,
                        u[2],
                        DialogUpdate {
                            name: Some(None),
                            ..DialogUpdate::default()
                        }
                    )
                    .await
            ),
            "name"
        );

        // Admins: owner only, at most five, must be occupants of a group.
        assert!(is_forbidden(
            dialogs.set_admins(app, &g.id, u[2], vec![u[4]], vec![]).await
        ));
        assert_eq!(
            invalid_field(dialogs.set_admins(app, &g.id, u[0], vec![u[5]], vec![]).await),
            "admins_ids"
        );
        let admins = dialogs
            .set_admins(app, &g.id, u[0], vec![u[2], u[4]], vec![])
            .await
            .unwrap()
            .dialog;
        assert_eq!(admins.admins, vec![u[2], u[4]]);
        let admins = dialogs
            .set_admins(app, &g.id, u[0], vec![], vec![u[2]])
            .await
            .unwrap()
            .dialog;
        assert_eq!(admins.admins, vec![u[4]]);
        // Pinned messages: owner and admins.
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &g.id,
                    u[2],
                    DialogUpdate {
                        push_pinned: vec!["m1".into()],
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        let pinned = dialogs
            .update(
                app,
                &g.id,
                u[4],
                DialogUpdate {
                    push_pinned: vec!["m1".into(), "m2".into(), "m1".into()],
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert_eq!(pinned.pinned_messages_ids, vec!["m1", "m2"]);
        let pinned = dialogs
            .update(
                app,
                &g.id,
                u[0],
                DialogUpdate {
                    pull_pinned: vec!["m1".into()],
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert_eq!(pinned.pinned_messages_ids, vec!["m2"]);

        // Public dialogs: only owner/admins rename; nobody adds occupants; subscribers leave.
        let public = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(4),
                    name: Some("Town".into()),
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        dialogs.subscribe(app, &public.id, u[2]).await.unwrap();
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &public.id,
                    u[2],
                    DialogUpdate {
                        name: Some(Some("Mine".into())),
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &public.id,
                    u[0],
                    DialogUpdate {
                        push_occupants: vec![u[3]],
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &public.id,
                    u[0],
                    DialogUpdate {
                        pull_occupants: vec![u[2]],
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        let view = dialogs
            .update(
                app,
                &public.id,
                u[2],
                DialogUpdate {
                    pull_occupants: vec![u[2]],
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(view.dialog.occupants, vec![u[0]]);

        // Private dialogs can't be renamed or have admins, but take extensions.
        let private = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(3),
                    occupants: vec![u[1]],
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &private.id,
                    u[1],
                    DialogUpdate {
                        name: Some(Some("x".into())),
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        assert!(is_forbidden(
            dialogs
                .set_admins(app, &private.id, u[0], vec![u[1]], vec![])
                .await
        ));
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &private.id,
                    u[0],
                    DialogUpdate {
                        push_occupants: vec![u[2]],
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        let ext = dialogs
            .update(
                app,
                &private.id,
                u[1],
                DialogUpdate {
                    extensions: Some(Some(json!({"k": "v"}).as_object().unwrap().clone())),
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert_eq!(ext.extensions.unwrap()["k"], "v");
    })
    .await;
}

#[tokio::test]
async fn admins_are_capped_at_five() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "admins", 8).await;
        let dialogs = core.dialogs();
        let g = dialogs
            .create(app, u[0], group("Big", &u[1..]))
            .await
            .unwrap()
            .dialog;
        let five = dialogs
            .set_admins(app, &g.id, u[0], u[1..6].to_vec(), vec![])
            .await
            .unwrap()
            .dialog;
        assert_eq!(five.admins, u[1..6].to_vec());
        assert_eq!(
            invalid_field(dialogs.set_admins(app, &g.id, u[0], vec![u[6]], vec![]).await),
            "admins_ids"
        );
        // Swapping one for another in one call stays within the limit.
        let swapped = dialogs
            .set_admins(app, &g.id, u[0], vec![u[6]], vec![u[1]])
            .await
            .unwrap()
            .dialog;
        assert_eq!(swapped.admins.len(), 5);
        assert!(swapped.admins.contains(&u[6]) && !swapped.admins.contains(&u[1]));
    })
    .await;
}

#[tokio::test]
async fn delete_for_me_until_a_new_message_and_force_for_all() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "delete", 3).await;
        let dialogs = core.dialogs();
        let g = dialogs
            .create(app, u[0], group("G", &[u[1], u[2]]))
            .await
            .unwrap()
            .dialog;
        let h = dialogs
            .create(app, u[1], group("H", &[u[0]]))
            .await
            .unwrap()
            .dialog;

        let outcome = dialogs
            .delete(
                app,
                &[g.id.clone(), "aaaaaaaaaaaaaaaaaaaaaaaa".into()],
                u[1],
                false,
            )
            .await
            .unwrap();
        assert_eq!(outcome.deleted, vec![g.id.clone()]);
        assert_eq!(outcome.not_found, vec!["aaaaaaaaaaaaaaaaaaaaaaaa".to_string()]);
        assert_eq!(listed(core, &query(app, u[1])).await, vec![h.id.clone()]);
        // Still a member: he may post, and a new message brings the dialog back.
        assert!(dialogs.for_posting(app, &g.id, u[1]).await.is_ok());
        post(core, app, &g.id, u[2], "6b0000000000000000000011", 1_700_000_000).await;
        assert_eq!(
            listed(core, &query(app, u[1])).await,
            vec![g.id.clone(), h.id.clone()]
        );

        // Force: owner only, for everyone.
        let mut events = core.events.subscribe();
        let outcome = dialogs
            .delete(app, &[g.id.clone(), h.id.clone()], u[0], true)
            .await
            .unwrap();
        assert_eq!(outcome.deleted, vec![g.id.clone()]);
        assert_eq!(outcome.forbidden, vec![h.id.clone()]);
        assert!(matches!(dialogs.get(app, &g.id).await, Err(CoreError::NotFound)));
        assert!(core
            .store
            .message(app, &g.id, "6b0000000000000000000011")
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            events.recv().await.unwrap(),
            Event::OccupantsRemoved {
                app_id: app,
                dialog_id: g.id.clone(),
                removed: vec![u[1], u[2]],
                by_user: u[0]
            }
        );
        // Strangers' dialogs are "not found".
        let outcome = dialogs
            .delete(app, std::slice::from_ref(&h.id), u[2], true)
            .await
            .unwrap();
        assert_eq!(outcome.not_found, vec![h.id.clone()]);
    })
    .await;
}

#[tokio::test]
async fn clear_history_subscriptions_and_notifications() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "misc", 3).await;
        let dialogs = core.dialogs();
        let g = dialogs
            .create(app, u[0], group("G", &[u[1]]))
            .await
            .unwrap()
            .dialog;
        post(core, app, &g.id, u[0], "6b0000000000000000000021", 1_700_000_000).await;
        post(core, app, &g.id, u[0], "6b0000000000000000000022", 1_700_000_001).await;
        assert_eq!(
            dialogs
                .view(app, &g.id, u[1])
                .await
                .unwrap()
                .unread_messages_count,
            2
        );
        dialogs.clear_history(app, &g.id, u[1]).await.unwrap();
        assert_eq!(
            dialogs
                .view(app, &g.id, u[1])
                .await
                .unwrap()
                .unread_messages_count,
            0
        );
        assert!(is_forbidden(dialogs.clear_history(app, &g.id, u[2]).await));

        // Notifications: per member, on by default.
        assert!(dialogs.notifications(app, &g.id, u[1]).await.unwrap());
        assert!(!dialogs.set_notifications(app, &g.id, u[1], false).await.unwrap());
        assert!(!dialogs.notifications(app, &g.id, u[1]).await.unwrap());
        assert!(dialogs.notifications(app, &g.id, u[0]).await.unwrap());
        assert!(!dialogs.notifications_enabled(&g.id, u[1]).await.unwrap());
        assert!(is_forbidden(dialogs.notifications(app, &g.id, u[2]).await));

        // Subscriptions: public dialogs take subscribers, group dialogs occupants; private ones neither.
        let public = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(4),
                    name: Some("Town".into()),
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        let view = dialogs.subscribe(app, &public.id, u[2]).await.unwrap();
        assert_eq!(view.dialog.occupants, vec![u[0], u[2]]);
        assert_eq!(
            dialogs
                .subscribe(app, &public.id, u[2])
                .await
                .unwrap()
                .dialog
                .occupants
                .len(),
            2
        );
        assert_eq!(
            dialogs
                .members(app, &public.id, u[1], 10, 0)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            vec![u[0], u[2]]
        );
        assert_eq!(
            dialogs.members(app, &public.id, u[1], 1, 1).await.unwrap()[0].id,
            u[2]
        );
        dialogs.unsubscribe(app, &public.id, u[2]).await.unwrap();
        assert_eq!(dialogs.get(app, &public.id).await.unwrap().occupants, vec![u[0]]);
        let joined = dialogs.subscribe(app, &g.id, u[2]).await.unwrap();
        assert!(joined.dialog.occupants.contains(&u[2]));
        let private = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(3),
                    occupants: vec![u[1]],
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert!(is_forbidden(dialogs.subscribe(app, &private.id, u[2]).await));
        assert!(is_forbidden(dialogs.members(app, &private.id, u[2], 10, 0).await));
    })
    .await;
}

#[tokio::test]
async fn broadcast_dialogs_and_the_xmpp_contract() {
    with_both(|f| async move {
        let core = &f.core;
        let (app, u) = app_with_users(core, "broadcast", 4).await;
        let (other_app, _) = app_with_users(core, "elsewhere", 1).await;
        let dialogs = core.dialogs();
        let input = DialogInput {
            name: Some("News".into()),
            admins: vec![u[1]],
            ..DialogInput::default()
        };
        let b = dialogs
            .create_broadcast(app, Some(u[0]), input.clone())
            .await
            .unwrap()
            .dialog;
        assert_eq!(
            (b.kind, b.user_id, b.occupants.clone(), b.admins.clone()),
            (DialogType::Broadcast, u[0], vec![], vec![u[1]])
        );
        assert!(matches!(
            dialogs
                .create_broadcast(other_app + 1000, Some(u[0]), input.clone())
                .await,
            Err(CoreError::NotFound)
        ));
        assert_eq!(
            invalid_field(dialogs.create_broadcast(app, Some(99_999), input.clone()).await),
            "user_id"
        );

        // Everyone in the app lists and reads it; owner and admins post.
        for user in &u {
            assert_eq!(listed(core, &query(app, *user)).await, vec![b.id.clone()]);
            assert!(dialogs.can_read(app, &b.id, *user).await.unwrap());
        }
        assert!(dialogs.for_posting(app, &b.id, u[1]).await.is_ok());
        assert!(is_forbidden(dialogs.for_posting(app, &b.id, u[2]).await));
        assert_eq!(dialogs.recipients(app, &b.id).await.unwrap(), Vec::<i64>::new());
        // A reader hides it for himself; the next message brings it back. He mutes it for himself.
        dialogs
            .delete(app, std::slice::from_ref(&b.id), u[2], false)
            .await
            .unwrap();
        assert!(listed(core, &query(app, u[2])).await.is_empty());
        assert_eq!(listed(core, &query(app, u[3])).await, vec![b.id.clone()]);
        post(core, app, &b.id, u[0], "6b0000000000000000000031", 1_700_000_000).await;
        assert_eq!(listed(core, &query(app, u[2])).await, vec![b.id.clone()]);
        dialogs.set_notifications(app, &b.id, u[2], false).await.unwrap();
        assert!(!dialogs.notifications(app, &b.id, u[2]).await.unwrap());
        assert!(dialogs.notifications(app, &b.id, u[3]).await.unwrap());
        dialogs.clear_history(app, &b.id, u[2]).await.unwrap();
        // Only the owner and admins change it; a reader can't force-delete it.
        assert!(is_forbidden(
            dialogs
                .update(
                    app,
                    &b.id,
                    u[2],
                    DialogUpdate {
                        name: Some(Some("Mine".into())),
                        ..DialogUpdate::default()
                    }
                )
                .await
        ));
        let renamed = dialogs
            .update(
                app,
                &b.id,
                u[1],
                DialogUpdate {
                    name: Some(Some("Daily news".into())),
                    ..DialogUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(renamed.dialog.name.as_deref(), Some("Daily news"));
        assert_eq!(
            dialogs
                .delete(app, std::slice::from_ref(&b.id), u[2], true)
                .await
                .unwrap()
                .forbidden,
            vec![b.id.clone()]
        );

        // The contract for other dialog types.
        let g = dialogs
            .create(app, u[0], group("G", &[u[1]]))
            .await
            .unwrap()
            .dialog;
        assert_eq!(dialogs.recipients(app, &g.id).await.unwrap(), vec![u[0], u[1]]);
        assert!(dialogs.can_read(app, &g.id, u[1]).await.unwrap());
        assert!(!dialogs.can_read(app, &g.id, u[2]).await.unwrap());
        assert_eq!(dialogs.for_posting(app, &g.id, u[1]).await.unwrap().id, g.id);
        assert!(is_forbidden(dialogs.for_posting(app, &g.id, u[2]).await));
        assert!(matches!(
            dialogs.for_posting(other_app, &g.id, u[0]).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            dialogs.recipients(app, "bbbbbbbbbbbbbbbbbbbbbbbb").await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            dialogs.can_read(other_app, &g.id, u[0]).await,
            Err(CoreError::NotFound)
        ));
        let public = dialogs
            .create(
                app,
                u[0],
                DialogInput {
                    kind: Some(4),
                    name: Some("Town".into()),
                    ..DialogInput::default()
                },
            )
            .await
            .unwrap()
            .dialog;
        assert!(is_forbidden(dialogs.for_posting(app, &public.id, u[3]).await));
        dialogs.subscribe(app, &public.id, u[3]).await.unwrap();
        assert!(dialogs.for_posting(app, &public.id, u[3]).await.is_ok());
        assert_eq!(
            dialogs.recipients(app, &public.id).await.unwrap(),
            vec![u[0], u[3]]
        );
    })
    .await;
}
