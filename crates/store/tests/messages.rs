//! History behind the Messages REST API, on both backends: read/delivered state, exact unread counters
//! under concurrent writers, delete for me vs for everyone, edit rights, reactions, history queries,
//! unread counts and search.

use palaver_core::clock::ManualClock;
use palaver_core::history::NewMessage;
use palaver_core::history::{HistoryQuery, MessageCondition, MessageField, MessageSearch};
use palaver_core::model::{ChatMessage, DialogType, HistoryMessage, Profile};
use palaver_core::query::{FilterOp, FilterValue};
use palaver_core::{Clock, Core, CoreError, CoreSettings};
use palaver_store::testing::with_both_stores;
use palaver_store::SqlStore;
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::future::Future;
use std::sync::Arc;

const START: i64 = 1_700_000_000_000;

struct Fixture {
    core: Core,
    clock: Arc<ManualClock>,
    store: SqlStore,
}

async fn with_both<F, Fut>(test: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    with_both_stores(|store| test(fixture(store))).await
}

fn fixture(store: SqlStore) -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let core = Core::new(Arc::new(store.clone()), CoreSettings::default()).with_clock(clock.clone());
    Fixture { core, clock, store }
}

/// An app and `n` users in it.
async fn users(f: &Fixture, n: usize) -> (i64, Vec<i64>) {
    let app = f.core.apps().create("A").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let profile = Profile {
            login: Some(format!("user{i}")),
            full_name: Some(format!("User {i}")),
            ..Profile::default()
        };
        let user = f
            .core
            .users()
            .signup(app.id, profile, Some("password1".into()))
            .await
            .unwrap();
        ids.push(user.id);
    }
    (app.id, ids)
}

/// A dialog of any type written straight into the tables (the dialog API is not this file's subject).
async fn dialog(
    f: &Fixture,
    app_id: i64,
    id: &str,
    kind: DialogType,
    owner: i64,
    members: &[i64],
    name: &str,
) {
    let now = f.clock.now_millis();
    sqlx::query(
        "INSERT INTO dialogs (id, app_id, type, user_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(app_id)
    .bind(kind.code())
    .bind(owner)
    .bind(name)
    .bind(now)
    .bind(now)
    .execute(f.store.pool())
    .await
    .unwrap();
    for member in members {
        sqlx::query("INSERT INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(*member)
            .bind(now)
            .execute(f.store.pool())
            .await
            .unwrap();
    }
    f.store.forget_cached();
}

/// Saves a message as the XMPP side does (group dialogs: recipient 0).
async fn save(f: &Fixture, app_id: i64, dialog_id: &str, sender: i64, id: &str, body: &str) {
    let now = f.clock.now_millis();
    let stored = f
        .core
        .store
        .save_message(&ChatMessage {
            id: id.into(),
            app_id,
            dialog_id: dialog_id.into(),
            sender_id: sender,
            recipient_id: 0,
            body: Some(body.into()),
            attachments: json!([]),
            custom: Map::new(),
            date_sent: now / 1000,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    assert!(stored);
}

async fn unread(f: &Fixture, dialog_id: &str, user_id: i64) -> i64 {
    sqlx::query("SELECT unread_count FROM dialog_occupants WHERE dialog_id = $1 AND user_id = $2")
        .bind(dialog_id)
        .bind(user_id)
        .fetch_one(f.store.pool())
        .await
        .unwrap()
        .try_get("unread_count")
        .unwrap()
}

/// What the counter must say: visible messages of others that the user has not read.
async fn unread_recomputed(f: &Fixture, dialog_id: &str, user_id: i64) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM messages m WHERE m.dialog_id = $1 AND m.sender_id <> $2 \
         AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_seq = m.seq AND r.user_id = $2) \
         AND NOT EXISTS (SELECT 1 FROM message_hidden h WHERE h.message_seq = m.seq AND h.user_id = $2)",
    )
    .bind(dialog_id)
    .bind(user_id)
    .fetch_one(f.store.pool())
    .await
    .unwrap()
    .try_get("n")
    .unwrap()
}

fn query(app_id: i64, dialog_id: &str, viewer: i64) -> HistoryQuery {
    HistoryQuery {
        app_id,
        dialog_id: dialog_id.into(),
        viewer_id: viewer,
        conditions: Vec::new(),
        sort: (MessageField::DateSent, true),
        limit: 100,
        skip: 0,
    }
}

async fn page(f: &Fixture, q: &HistoryQuery) -> Vec<HistoryMessage> {
    f.core.history().list(q, false).await.unwrap().0
}

fn ids(page: &[HistoryMessage]) -> Vec<&str> {
    page.iter().map(|m| m.message.id.as_str()).collect()
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

const D: &str = "aaaaaaaaaaaaaaaaaaaaaaa1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unread_counters_stay_exact_under_concurrent_writers() {
    with_both(|f| async move {
        let (app, u) = users(&f, 4).await;
        let (a, b, c, d) = (u[0], u[1], u[2], u[3]);
        dialog(&f, app, D, DialogType::Group, a, &u, "Team").await;
        f.clock.advance(1000);

        // Writers, readers, hiders and deleters all at once.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let core = f.core.clone();
            let sender = [a, b, c][i % 3];
            tasks.push(tokio::spawn(async move {
                let now = START + 1000 + i as i64;
                core.store
                    .save_message(&ChatMessage {
                        id: format!("m{i:02}"),
                        app_id: app,
                        dialog_id: D.into(),
                        sender_id: sender,
                        recipient_id: 0,
                        body: Some(format!("message {i}")),
                        attachments: json!([]),
                        custom: Map::new(),
                        date_sent: now / 1000,
                        created_at: now,
                        updated_at: now,
                    })
                    .await
                    .unwrap();
            }));
        }
        for i in 0..40 {
            let core = f.core.clone();
            tasks.push(tokio::spawn(async move {
                let some: Vec<String> = (0..40)
                    .filter(|k| k % 4 == i % 4)
                    .map(|k| format!("m{k:02}"))
                    .collect();
                let history = core.history();
                match i % 5 {
                    0 => history.mark_read(app, b, D, Some(&some)).await.map(|_| ()),
                    1 => history.mark_read(app, c, D, Some(&some)).await.map(|_| ()),
                    2 => history.mark_delivered(app, d, D, &some).await.map(|_| ()),
                    3 => history.delete_for_me(app, d, D, &some).await.map(|_| ()),
                    _ => history.mark_read(app, d, D, Some(&some[..3])).await.map(|_| ()),
                }
                .unwrap();
            }));
        }
        // The same marks many times over: each message counts once.
        for _ in 0..10 {
            let core = f.core.clone();
            tasks.push(tokio::spawn(async move {
                let same = strings(&["m00", "m01", "m02", "m03", "m04", "m05"]);
                core.history().mark_read(app, c, D, Some(&same)).await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        for user in [a, b, c, d] {
            let counted = unread(&f, D, user).await;
            assert_eq!(counted, unread_recomputed(&f, D, user).await, "user {user}");
        }

        // Deleting for everyone takes unread messages off every counter.
        let own_of_a: Vec<String> = (0..40)
            .filter(|k| k % 3 == 0)
            .map(|k| format!("m{k:02}"))
            .collect();
        let deleted = f
            .core
            .history()
            .delete_for_everyone(app, a, D, &own_of_a)
            .await
            .unwrap();
        assert_eq!(deleted.len(), own_of_a.len());
        for user in [a, b, c, d] {
            assert_eq!(
                unread(&f, D, user).await,
                unread_recomputed(&f, D, user).await,
                "user {user}"
            );
        }

        // All read → 0, and nothing is newly read a second time.
        save(&f, app, D, a, "late", "one more").await;
        let first = f.core.history().mark_read(app, c, D, None).await.unwrap();
        assert!(!first.is_empty());
        assert_eq!(unread(&f, D, c).await, 0);
        assert!(f
            .core
            .history()
            .mark_read(app, c, D, None)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(unread_recomputed(&f, D, c).await, 0);
    })
    .await;
}

#[tokio::test]
async fn read_and_delivered_ids_and_newly_marked_pairs() {
    with_both(|f| async move {
        let (app, u) = users(&f, 3).await;
        let (a, b, outsider) = (u[0], u[1], u[2]);
        for (i, body) in ["one", "two", "three"].iter().enumerate() {
            let created = f
                .core
                .history()
                .create(NewMessage {
                    app_id: app,
                    sender_id: a,
                    dialog_id: None,
                    recipient_id: Some(b),
                    body: Some(body.to_string()),
                    attachments: json!([]),
                    custom: Map::new(),
                    date_sent: Some(1_700_000_000 + i as i64),
                })
                .await
                .unwrap();
            assert_eq!(created.0.message.recipient_id, b);
        }
        let dialog_id = f
            .core
            .store
            .private_dialog(app, a, b, "ffffffffffffffffffffffff", START)
            .await
            .unwrap()
            .0
            .id;
        assert_eq!(unread(&f, &dialog_id, b).await, 3);
        let all = page(&f, &query(app, &dialog_id, b)).await;
        let m: Vec<String> = all.iter().map(|m| m.message.id.clone()).collect();
        assert_eq!(all.len(), 3);
        assert!(all
            .iter()
            .all(|m| m.read_ids.is_empty() && m.delivered_ids.is_empty()));

        let delivered = f
            .core
            .history()
            .mark_delivered(app, b, &dialog_id, &m[..1])
            .await
            .unwrap();
        assert_eq!(delivered, vec![(a, m[0].clone())]);
        assert_eq!(unread(&f, &dialog_id, b).await, 3, "delivered is not read");
        let read = f
            .core
            .history()
            .mark_read(app, b, &dialog_id, Some(&m[1..2]))
            .await
            .unwrap();
        assert_eq!(read, vec![(a, m[1].clone())]);
        assert!(f
            .core
            .history()
            .mark_read(app, b, &dialog_id, Some(&m[1..2]))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(unread(&f, &dialog_id, b).await, 2);
        // The sender's own messages are never marked by him.
        assert!(f
            .core
            .history()
            .mark_read(app, a, &dialog_id, None)
            .await
            .unwrap()
            .is_empty());

        let state = page(&f, &query(app, &dialog_id, a)).await;
        assert_eq!(state[0].delivered_ids, vec![b]);
        assert!(state[0].read_ids.is_empty());
        assert_eq!(
            (state[1].read_ids.clone(), state[1].delivered_ids.clone()),
            (vec![b], vec![b])
        );

        // Reading everything marks the rest, once, and zeroes the counter.
        let rest = f
            .core
            .history()
            .mark_read(app, b, &dialog_id, None)
            .await
            .unwrap();
        assert_eq!(rest, vec![(a, m[0].clone()), (a, m[2].clone())]);
        assert_eq!(unread(&f, &dialog_id, b).await, 0);

        // Listing with mark_as_read marks what it returns.
        let (a2, _) = f
            .core
            .history()
            .create(NewMessage {
                app_id: app,
                sender_id: b,
                dialog_id: Some(dialog_id.clone()),
                recipient_id: None,
                body: Some("four".into()),
                attachments: json!([]),
                custom: Map::new(),
                date_sent: None,
            })
            .await
            .unwrap();
        assert_eq!(unread(&f, &dialog_id, a).await, 1);
        let (listed, marked) = f
            .core
            .history()
            .list(&query(app, &dialog_id, a), true)
            .await
            .unwrap();
        assert_eq!(marked, vec![(b, a2.message.id.clone())]);
        let four = listed.iter().find(|m| m.message.id == a2.message.id).unwrap();
        assert_eq!(four.read_ids, vec![a]);
        assert_eq!(unread(&f, &dialog_id, a).await, 0);

        // Strangers can neither read nor mark.
        assert!(matches!(
            f.core.history().mark_read(app, outsider, &dialog_id, None).await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            f.core
                .history()
                .list(&query(app, &dialog_id, outsider), false)
                .await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            f.core
                .history()
                .mark_read(app, a, "bbbbbbbbbbbbbbbbbbbbbbbb", None)
                .await,
            Err(CoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn hiding_is_for_one_user_and_deleting_for_everyone_follows_roles() {
    with_both(|f| async move {
        let (app, u) = users(&f, 3).await;
        let (owner, b, c) = (u[0], u[1], u[2]);
        dialog(&f, app, D, DialogType::Group, owner, &u, "Team").await;
        f.clock.advance(1000);
        save(&f, app, D, owner, "m1", "from the owner").await;
        f.clock.advance(1000);
        save(&f, app, D, b, "m2", "from b").await;
        f.clock.advance(1000);
        save(&f, app, D, c, "m3", "from c").await;
        assert_eq!(unread(&f, D, b).await, 2);

        // Hidden for b only; b's unread count loses the unread one.
        let hidden = f
            .core
            .history()
            .delete_for_me(app, b, D, &strings(&["m1", "nope"]))
            .await
            .unwrap();
        assert_eq!(hidden, ["m1"]);
        assert_eq!(unread(&f, D, b).await, 1);
        assert_eq!(ids(&page(&f, &query(app, D, b)).await), ["m2", "m3"]);
        assert_eq!(ids(&page(&f, &query(app, D, c)).await), ["m1", "m2", "m3"]);
        // A hidden message is gone for b: he cannot mark or react to it any more.
        assert!(f
            .core
            .history()
            .delete_for_me(app, b, D, &strings(&["m1"]))
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            f.core.history().react(app, b, "m1", Some("👍"), None).await,
            Err(CoreError::NotFound)
        ));

        // A member deletes only his own messages for everyone.
        let (_, outcome) = f
            .core
            .history()
            .delete_in(app, b, D, &strings(&["m2", "m3", "zz"]))
            .await
            .unwrap();
        assert_eq!(outcome.deleted, ["m2"]);
        assert_eq!(outcome.forbidden, ["m3"]);
        assert_eq!(outcome.not_found, ["zz"]);
        assert_eq!(ids(&page(&f, &query(app, D, c)).await), ["m1", "m3"]);
        assert_eq!(unread(&f, D, c).await, 1, "m2 no longer counts for c");

        // The owner of a group deletes anyone's; the dialog's last message moves back.
        let last = f.core.store.dialog(app, D).await.unwrap().unwrap();
        assert_eq!(last.last_message_id.as_deref(), Some("m3"));
        let deleted = f
            .core
            .history()
            .delete_for_everyone(app, owner, D, &strings(&["m3"]))
            .await
            .unwrap();
        assert_eq!(deleted, ["m3"]);
        let last = f.core.store.dialog(app, D).await.unwrap().unwrap();
        assert_eq!(last.last_message_id.as_deref(), Some("m1"));
        assert_eq!(last.last_message.as_deref(), Some("from the owner"));
        for user in [owner, b, c] {
            assert_eq!(unread(&f, D, user).await, unread_recomputed(&f, D, user).await);
        }

        // So does an admin.
        sqlx::query("INSERT INTO dialog_admins (dialog_id, user_id, added_at) VALUES ($1, $2, $3)")
            .bind(D)
            .bind(c)
            .bind(START)
            .execute(f.store.pool())
            .await
            .unwrap();
        f.store.forget_cached();
        let deleted = f
            .core
            .history()
            .delete_for_everyone(app, c, D, &strings(&["m1"]))
            .await
            .unwrap();
        assert_eq!(deleted, ["m1"]);
        save(&f, app, D, owner, "m5", "again").await;

        // In a private dialog nobody deletes the other's messages.
        let (pm, dialog) = f
            .core
            .history()
            .create(NewMessage {
                app_id: app,
                sender_id: b,
                dialog_id: None,
                recipient_id: Some(owner),
                body: Some("hi".into()),
                attachments: json!([]),
                custom: Map::new(),
                date_sent: None,
            })
            .await
            .unwrap();
        let (_, outcome) = f
            .core
            .history()
            .delete_in(app, owner, &dialog.id, std::slice::from_ref(&pm.message.id))
            .await
            .unwrap();
        assert_eq!(outcome.forbidden, std::slice::from_ref(&pm.message.id));
        // The last message gone, the dialog has none.
        f.core
            .history()
            .delete_for_everyone(app, b, &dialog.id, std::slice::from_ref(&pm.message.id))
            .await
            .unwrap();
        let emptied = f.core.store.dialog(app, &dialog.id).await.unwrap().unwrap();
        assert_eq!((emptied.last_message_id, emptied.last_message), (None, None));
    })
    .await;
}

#[tokio::test]
async fn only_the_sender_edits_and_the_last_message_follows() {
    with_both(|f| async move {
        let (app, u) = users(&f, 2).await;
        let (a, b) = (u[0], u[1]);
        dialog(&f, app, D, DialogType::Group, a, &u, "Team").await;
        save(&f, app, D, a, "m1", "frist").await;
        f.clock.advance(5000);
        f.core.history().edit(app, a, D, "m1", "first").await.unwrap();
        let edited = page(&f, &query(app, D, a)).await.remove(0);
        assert_eq!(edited.message.body.as_deref(), Some("first"));
        assert_eq!(edited.message.updated_at, edited.message.created_at + 5000);
        let dialog = f.core.store.dialog(app, D).await.unwrap().unwrap();
        assert_eq!(dialog.last_message.as_deref(), Some("first"));

        assert!(matches!(
            f.core.history().edit(app, b, D, "m1", "mine now").await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            f.core.history().edit(app, a, D, "m9", "nothing").await,
            Err(CoreError::NotFound)
        ));
        assert_eq!(
            page(&f, &query(app, D, b)).await[0].message.body.as_deref(),
            Some("first")
        );
    })
    .await;
}

#[tokio::test]
async fn reactions_are_per_user_and_distinct() {
    with_both(|f| async move {
        let (app, u) = users(&f, 3).await;
        let (a, b, outsider) = (u[0], u[1], u[2]);
        dialog(&f, app, D, DialogType::Group, a, &[a, b], "Team").await;
        save(&f, app, D, a, "m1", "react to me").await;
        let history = f.core.history();
        history.react(app, a, "m1", Some("👍"), None).await.unwrap();
        history.react(app, b, "m1", Some("👍"), None).await.unwrap();
        history.react(app, b, "m1", Some("👍"), None).await.unwrap();
        history.react(app, b, "m1", Some("🔥"), None).await.unwrap();
        let grouped = history.reactions(app, a, "m1").await.unwrap();
        assert_eq!(grouped["👍"], [a, b]);
        assert_eq!(grouped["🔥"], [b]);
        // Swap in one call: removal first.
        history.react(app, b, "m1", Some("🚀"), Some("🔥")).await.unwrap();
        let grouped = history.reactions(app, b, "m1").await.unwrap();
        assert!(!grouped.contains_key("🔥"));
        assert_eq!(grouped["🚀"], [b]);
        let shown = page(&f, &query(app, D, a)).await.remove(0);
        assert_eq!(shown.reactions.len(), 3);

        assert!(matches!(
            history.react(app, b, "m1", None, None).await,
            Err(CoreError::Invalid(_))
        ));
        assert!(matches!(
            history.react(app, b, "m1", Some(&"x".repeat(65)), None).await,
            Err(CoreError::Invalid(_))
        ));
        assert!(matches!(
            history.react(app, outsider, "m1", Some("👍"), None).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            history.reactions(app, a, "m404").await,
            Err(CoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn history_filters_sorts_pages_and_respects_clear_history() {
    with_both(|f| async move {
        let (app, u) = users(&f, 2).await;
        let (a, b) = (u[0], u[1]);
        dialog(&f, app, D, DialogType::Group, a, &u, "Team").await;
        // Two messages in the same second: arrival order breaks the tie.
        for (i, sender) in [a, b, a, b, a].iter().enumerate() {
            if i != 1 {
                f.clock.advance(1000);
            }
            save(&f, app, D, *sender, &format!("m{i}"), &format!("body {i}")).await;
        }
        let history = page(&f, &query(app, D, a)).await;
        assert_eq!(ids(&history), ["m0", "m1", "m2", "m3", "m4"]);
        let second = history[2].message.date_sent;

        let mut q = query(app, D, a);
        q.sort = (MessageField::DateSent, false);
        assert_eq!(ids(&page(&f, &q).await), ["m4", "m3", "m2", "m1", "m0"]);
        q.limit = 2;
        q.skip = 1;
        assert_eq!(ids(&page(&f, &q).await), ["m3", "m2"]);

        let filtered = |conditions: Vec<MessageCondition>| {
            let mut q = query(app, D, a);
            q.conditions = conditions;
            q
        };
        let cond = |field: MessageField, op: FilterOp, values: Vec<FilterValue>| MessageCondition {
            field,
            op,
            values,
        };
        let q = filtered(vec![cond(
            MessageField::DateSent,
            FilterOp::Lt,
            vec![FilterValue::Int(second)],
        )]);
        assert_eq!(ids(&page(&f, &q).await), ["m0", "m1"]);
        let q = filtered(vec![cond(
            MessageField::SenderId,
            FilterOp::Eq,
            vec![FilterValue::Int(b)],
        )]);
        assert_eq!(ids(&page(&f, &q).await), ["m1", "m3"]);
        let q = filtered(vec![cond(
            MessageField::Id,
            FilterOp::Nin,
            vec![FilterValue::Text("m0".into()), FilterValue::Text("m4".into())],
        )]);
        assert_eq!(ids(&page(&f, &q).await), ["m1", "m2", "m3"]);
        let q = filtered(vec![cond(
            MessageField::Body,
            FilterOp::Eq,
            vec![FilterValue::Text("body 2".into())],
        )]);
        assert_eq!(ids(&page(&f, &q).await), ["m2"]);

        // Custom parameters and attachment types, through REST-style creation.
        let mut custom = Map::new();
        custom.insert("country".into(), Value::String("USA".into()));
        f.core
            .history()
            .create(NewMessage {
                app_id: app,
                sender_id: b,
                dialog_id: Some(D.into()),
                recipient_id: None,
                body: None,
                attachments: json!([{"type": "image", "uid": "u1"}]),
                custom,
                date_sent: None,
            })
            .await
            .unwrap();
        let q = filtered(vec![cond(
            MessageField::Custom("country".into()),
            FilterOp::Eq,
            vec![FilterValue::Text("USA".into())],
        )]);
        assert_eq!(page(&f, &q).await.len(), 1);
        let q = filtered(vec![cond(
            MessageField::AttachmentType,
            FilterOp::Eq,
            vec![FilterValue::Text("image".into())],
        )]);
        let found = page(&f, &q).await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message.custom["country"], "USA");
        let q = filtered(vec![cond(
            MessageField::AttachmentType,
            FilterOp::Eq,
            vec![FilterValue::Text("video".into())],
        )]);
        assert!(page(&f, &q).await.is_empty());

        // Clearing history (the dialog engineer's cutoff) hides everything up to it, for that user only.
        let cutoff: i64 = sqlx::query("SELECT seq FROM messages WHERE dialog_id = $1 AND id = 'm2'")
            .bind(D)
            .fetch_one(f.store.pool())
            .await
            .unwrap()
            .try_get("seq")
            .unwrap();
        sqlx::query("UPDATE dialog_occupants SET cleared_seq = $1 WHERE dialog_id = $2 AND user_id = $3")
            .bind(cutoff)
            .bind(D)
            .bind(b)
            .execute(f.store.pool())
            .await
            .unwrap();
        assert_eq!(page(&f, &query(app, D, b)).await.len(), 3);
        assert_eq!(page(&f, &query(app, D, a)).await.len(), 6);
        assert!(f
            .core
            .history()
            .find(app, b, None, &strings(&["m0"]))
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn unread_counts_and_search() {
    with_both(|f| async move {
        let (app, u) = users(&f, 3).await;
        let (a, b, c) = (u[0], u[1], u[2]);
        const E: &str = "aaaaaaaaaaaaaaaaaaaaaaa2";
        const OTHER: &str = "aaaaaaaaaaaaaaaaaaaaaaa3";
        dialog(&f, app, D, DialogType::Group, a, &[a, b], "Weekend plans").await;
        dialog(&f, app, E, DialogType::Group, a, &[a, b], "Work").await;
        dialog(&f, app, OTHER, DialogType::Group, c, &[c], "Weekend without b").await;
        f.clock.advance(1000);
        save(&f, app, D, a, "m1", "Hello there, weekend?").await;
        f.clock.advance(86_400_000);
        save(&f, app, D, a, "m2", "hello again").await;
        save(&f, app, E, a, "m3", "Hello from work").await;
        save(&f, app, OTHER, c, "m4", "Hello nobody").await;

        let history = f.core.history();
        assert_eq!(history.unread(app, b, None).await.unwrap(), (3, vec![]));
        let (total, per) = history
            .unread(app, b, Some(&strings(&[E, "cccccccccccccccccccccccc"])))
            .await
            .unwrap();
        assert_eq!(total, 1);
        assert_eq!(
            per,
            vec![(E.to_owned(), 1), ("cccccccccccccccccccccccc".to_owned(), 0)]
        );

        let search = |text: &str| MessageSearch {
            app_id: app,
            user_id: b,
            text: text.into(),
            dialog_ids: None,
            date_from: None,
            date_to: None,
            limit: 100,
        };
        // Case-sensitive, only b's dialogs, newest first, with the senders.
        let found = history.search(&search("Hello")).await.unwrap();
        assert_eq!(ids(&found.messages), ["m3", "m1"]);
        assert_eq!(found.users.iter().map(|u| u.id).collect::<Vec<_>>(), [a]);
        let found = history.search(&search("Weekend")).await.unwrap();
        assert_eq!(
            found
                .dialogs
                .iter()
                .map(|v| (v.dialog.id.as_str(), v.unread_messages_count))
                .collect::<Vec<_>>(),
            [(D, 2)]
        );
        let mut narrowed = search("Hello");
        narrowed.dialog_ids = Some(vec![D.into()]);
        assert_eq!(ids(&history.search(&narrowed).await.unwrap().messages), ["m1"]);
        let mut dated = search("ello");
        dated.text = "hello".into();
        dated.date_from = Some(START / 1000 + 2);
        assert_eq!(ids(&history.search(&dated).await.unwrap().messages), ["m2"]);

        assert!(matches!(
            history.search(&search("Hell")).await,
            Err(CoreError::Invalid(_))
        ));
        let mut many = search("Hello");
        many.dialog_ids = Some((0..11).map(|i| format!("d{i}")).collect());
        assert!(matches!(history.search(&many).await, Err(CoreError::Invalid(_))));
        let mut long = search("Hello");
        long.date_from = Some(0);
        long.date_to = Some(100 * 86_400);
        assert!(matches!(history.search(&long).await, Err(CoreError::Invalid(_))));
    })
    .await;
}

#[tokio::test]
async fn rest_creation_checks_posting_rights() {
    with_both(|f| async move {
        let (app, u) = users(&f, 3).await;
        let (owner, member, stranger) = (u[0], u[1], u[2]);
        const B: &str = "aaaaaaaaaaaaaaaaaaaaaaab";
        dialog(&f, app, D, DialogType::Group, owner, &[owner, member], "Team").await;
        dialog(&f, app, B, DialogType::Broadcast, owner, &[], "News").await;
        let new = |sender: i64, dialog_id: &str| NewMessage {
            app_id: app,
            sender_id: sender,
            dialog_id: Some(dialog_id.into()),
            recipient_id: None,
            body: Some("hi".into()),
            attachments: json!([]),
            custom: Map::new(),
            date_sent: Some(1_600_000_000),
        };
        let history = f.core.history();
        let (created, _) = history.create(new(member, D)).await.unwrap();
        assert_eq!(
            (created.message.recipient_id, created.message.date_sent),
            (0, 1_600_000_000)
        );
        assert_eq!(created.message.id.len(), 24);
        assert!(matches!(
            history.create(new(stranger, D)).await,
            Err(CoreError::Forbidden(_))
        ));
        // Broadcast: the owner posts, everyone reads, nobody else posts.
        history.create(new(owner, B)).await.unwrap();
        assert!(matches!(
            history.create(new(member, B)).await,
            Err(CoreError::Forbidden(_))
        ));
        assert_eq!(page(&f, &query(app, B, stranger)).await.len(), 1);
        assert!(matches!(
            history.create(new(member, "bbbbbbbbbbbbbbbbbbbbbbbb")).await,
            Err(CoreError::NotFound)
        ));
        // Preview: members, and anyone when the dialog allows it; the last messages, nothing marked.
        for i in 0..22 {
            f.clock.advance(1000);
            let mut more = new(member, D);
            more.date_sent = None;
            more.body = Some(format!("more {i}"));
            history.create(more).await.unwrap();
        }
        let last = history.preview(app, D, owner).await.unwrap();
        assert_eq!(last.len(), 20);
        assert_eq!(last.last().unwrap().message.body.as_deref(), Some("more 21"));
        assert_eq!(last[0].message.body.as_deref(), Some("more 2"));
        assert!(matches!(
            history.preview(app, D, stranger).await,
            Err(CoreError::Forbidden(_))
        ));
        sqlx::query("UPDATE dialogs SET permissions = $1 WHERE id = $2")
            .bind(r#"{"allow_preview":true}"#)
            .bind(D)
            .execute(f.store.pool())
            .await
            .unwrap();
        f.store.forget_cached();
        assert_eq!(history.preview(app, D, stranger).await.unwrap().len(), 20);
        assert!(matches!(
            history.list(&query(app, D, stranger), false).await,
            Err(CoreError::Forbidden(_))
        ));
        assert_eq!(unread(&f, D, owner).await, 23, "previews mark nothing");

        let mut nowhere = new(member, D);
        nowhere.dialog_id = None;
        assert!(matches!(
            history.create(nowhere).await,
            Err(CoreError::Invalid(_))
        ));
    })
    .await;
}
