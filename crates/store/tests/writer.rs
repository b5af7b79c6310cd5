//! The batching writer, on both backends: many concurrent submitters share commits and every one of them
//! gets its own write's outcome; the offline cap holds exactly under concurrent writers; a resend is
//! reported as already stored.

use palaver_core::dialogs::NewDialog;
use palaver_core::model::{ChatMessage, Dialog, DialogType};
use palaver_core::{Core, CoreSettings};
use palaver_store::testing::{app_with_users, dialog_list, with_both_stores};
use serde_json::{json, Map};
use sqlx::Row;
use std::sync::Arc;

const START: i64 = 1_700_000_000_000;
const D: &str = "bbbbbbbbbbbbbbbbbbbbbbb1";

fn message(app_id: i64, sender_id: i64, n: usize) -> ChatMessage {
    ChatMessage {
        id: format!("w{n:05}"),
        app_id,
        dialog_id: D.into(),
        sender_id,
        recipient_id: 0,
        body: Some(format!("message {n}")),
        attachments: json!([]),
        custom: Map::new(),
        date_sent: START / 1000,
        created_at: START + n as i64,
        updated_at: START + n as i64,
    }
}

/// A member's unread counter and whether he hid the dialog.
async fn member_state(pool: &sqlx::AnyPool, dialog_id: &str, user_id: i64) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT unread_count, hidden FROM dialog_occupants WHERE dialog_id = $1 AND user_id = $2",
    )
    .bind(dialog_id)
    .bind(user_id)
    .fetch_one(pool)
    .await
    .unwrap();
    (row.get("unread_count"), row.get("hidden"))
}

/// Group dialog `D` of the app, owned by `owner`, with no members yet.
fn new_group(app_id: i64, owner_id: i64) -> NewDialog {
    NewDialog {
        id: D.into(),
        app_id,
        kind: DialogType::Group,
        owner_id,
        name: Some("Batch".into()),
        description: None,
        photo: None,
        extensions: None,
        permissions: None,
        members: Vec::new(),
        admins: Vec::new(),
        now: START,
    }
}

/// The dialog a first message from `sender` to `recipient` names (its row left behind), and the pair's
/// derived id.
async fn first_message_dialog(
    core: &Core,
    app: i64,
    sender: i64,
    recipient: i64,
    now: i64,
) -> (String, Dialog) {
    let id = palaver_proto::private_dialog_id(app, sender, recipient).to_string();
    let dialog = core
        .store
        .private_dialog_for_message(app, sender, recipient, now)
        .await
        .unwrap();
    (id, dialog)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_history_writes_are_all_stored_once_with_exact_counters_and_last_message() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "writer", 3).await;
        core.store
            .create_dialog(&NewDialog {
                members: users.clone(),
                ..new_group(app, users[0])
            })
            .await
            .unwrap();

        // A broadcast dialog beside it, which users[1] deleted for himself; users[0] (a sender) and
        // users[2] deleted the group for themselves.
        const B: &str = "bbbbbbbbbbbbbbbbbbbbbbb2";
        core.store
            .create_dialog(&NewDialog {
                id: B.into(),
                kind: DialogType::Broadcast,
                name: Some("News".into()),
                members: Vec::new(),
                ..new_group(app, users[0])
            })
            .await
            .unwrap();
        core.store.set_dialog_hidden(B, users[1], true).await.unwrap();
        // And a group of users[0] and users[2] that users[0] deleted for himself, then wrote to.
        const G: &str = "bbbbbbbbbbbbbbbbbbbbbbb3";
        core.store
            .create_dialog(&NewDialog {
                id: G.into(),
                members: vec![users[0], users[2]],
                ..new_group(app, users[0])
            })
            .await
            .unwrap();
        core.store.set_dialog_hidden(G, users[0], true).await.unwrap();
        core.store.set_dialog_hidden(D, users[0], true).await.unwrap();
        core.store.set_dialog_hidden(D, users[2], true).await.unwrap();

        const N: usize = 600;
        let mut tasks = Vec::new();
        for n in 0..N {
            let core = core.clone();
            let sender = users[n % 2];
            tasks.push(tokio::spawn(async move {
                core.store.save_message(&message(app, sender, n)).await
            }));
        }
        let broadcast = ChatMessage {
            id: "broadcast".into(),
            dialog_id: B.into(),
            ..message(app, users[0], N)
        };
        let to_group = ChatMessage {
            id: "to-group".into(),
            dialog_id: G.into(),
            ..message(app, users[0], N + 1)
        };
        let (broadcast, to_group) = tokio::join!(
            core.store.save_message(&broadcast),
            core.store.save_message(&to_group)
        );
        assert!(broadcast.unwrap() && to_group.unwrap());
        for task in tasks {
            assert!(task.await.unwrap().unwrap(), "every first write is stored");
        }
        // Every message brought the dialog back: the broadcast for its viewer, the group for its members
        // (its sender too).
        let viewer_hidden: i64 =
            sqlx::query("SELECT hidden FROM broadcast_viewers WHERE dialog_id = $1 AND user_id = $2")
                .bind(B)
                .bind(users[1])
                .fetch_one(store.pool())
                .await
                .unwrap()
                .get(0);
        assert_eq!(viewer_hidden, 0);
        let hidden: i64 =
            sqlx::query("SELECT COUNT(*) FROM dialog_occupants WHERE dialog_id = $1 AND hidden <> 0")
                .bind(D)
                .fetch_one(store.pool())
                .await
                .unwrap()
                .get(0);
        assert_eq!(hidden, 0);
        let state = |user: i64| member_state(store.pool(), G, user);
        assert_eq!(
            state(users[0]).await,
            (0, 0),
            "the sender sees his dialog again, nothing unread"
        );
        assert_eq!(state(users[2]).await, (1, 0));
        // The dialog's last message is the last one history holds, whichever commit it came in.
        let row = sqlx::query(
            "SELECT d.last_message, d.last_message_id, d.last_message_user_id, \
             (SELECT m.id FROM messages m WHERE m.dialog_id = d.id ORDER BY m.seq DESC LIMIT 1) AS newest \
             FROM dialogs d WHERE d.id = $1",
        )
        .bind(D)
        .fetch_one(store.pool())
        .await
        .unwrap();
        let newest: String = row.get("newest");
        let n: usize = newest[1..].parse().unwrap();
        assert_eq!(row.get::<Option<String>, _>("last_message_id"), Some(newest));
        assert_eq!(
            row.get::<Option<String>, _>("last_message"),
            Some(format!("message {n}"))
        );
        assert_eq!(
            row.get::<Option<i64>, _>("last_message_user_id"),
            Some(users[n % 2])
        );
        // A resend of a stored message is answered "already there", and changes nothing.
        assert!(!core.store.save_message(&message(app, users[1], 7)).await.unwrap());

        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE dialog_id = $1")
            .bind(D)
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(count, N as i64);
        let unread = |user: i64| {
            let pool = store.pool().clone();
            async move {
                sqlx::query("SELECT unread_count FROM dialog_occupants WHERE dialog_id = $1 AND user_id = $2")
                    .bind(D)
                    .bind(user)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                    .try_get::<i64, _>("unread_count")
                    .unwrap()
            }
        };
        // users[0] sent the even messages, users[1] the odd ones, users[2] none.
        assert_eq!(unread(users[0]).await, (N / 2) as i64);
        assert_eq!(unread(users[1]).await, (N / 2) as i64);
        assert_eq!(unread(users[2]).await, N as i64);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_messages_of_many_pairs_at_once_land_in_history_with_their_dialogs() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "pairs-history", 31).await;
        let hub = users[0];
        // One pair already talked, and its other member deleted the dialog for himself: a message
        // brings it back to his list.
        let (hidden_id, _) = first_message_dialog(&core, app, hub, users[1], START).await;
        store.forget_cached();
        sqlx::query("UPDATE dialog_occupants SET hidden = 1 WHERE dialog_id = $1 AND user_id = $2")
            .bind(&hidden_id)
            .bind(users[1])
            .execute(store.pool())
            .await
            .unwrap();

        // Every pair of the hub and another user at once: three messages each (the hub, the other,
        // the hub), the middle one sent twice at the same time.
        let mut tasks = Vec::new();
        for (n, &other) in users.iter().enumerate().skip(1) {
            let core = core.clone();
            tasks.push(tokio::spawn(async move {
                let (id, dialog) = first_message_dialog(&core, app, other, hub, START + n as i64).await;
                let mut stored = Vec::new();
                for (k, sender) in [hub, other, hub].into_iter().enumerate() {
                    let mut m = message(app, sender, n * 10 + k);
                    m.dialog_id = dialog.id.clone();
                    m.recipient_id = if sender == hub { other } else { hub };
                    if k == 1 {
                        let (first, second) =
                            tokio::join!(core.store.save_message(&m), core.store.save_message(&m));
                        stored.push(first.unwrap() as u8 + second.unwrap() as u8);
                    } else {
                        stored.push(core.store.save_message(&m).await.unwrap() as u8);
                    }
                }
                (other, id, stored)
            }));
        }
        for task in tasks {
            let (other, id, stored) = task.await.unwrap();
            assert_eq!(
                stored,
                vec![1, 1, 1],
                "each message stored once, the resend refused"
            );
            let row = sqlx::query(
                "SELECT d.last_message, d.last_message_user_id, \
                 (SELECT COUNT(*) FROM messages m WHERE m.dialog_id = d.id) AS messages \
                 FROM dialogs d WHERE d.id = $1",
            )
            .bind(&id)
            .fetch_one(store.pool())
            .await
            .unwrap();
            let n = users.iter().position(|&u| u == other).unwrap();
            assert_eq!(
                row.get::<Option<String>, _>("last_message"),
                Some(format!("message {}", n * 10 + 2))
            );
            assert_eq!(row.get::<i64, _>("last_message_user_id"), hub);
            assert_eq!(row.get::<i64, _>("messages"), 3);
            let member = |user: i64| member_state(store.pool(), &id, user);
            assert_eq!(
                member(hub).await,
                (1, 0),
                "the hub has the other's one message unread"
            );
            assert_eq!(member(other).await, (2, 0), "the other has the hub's two");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_offline_cap_holds_exactly_under_concurrent_writers() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "writer", 1).await;
        const CAP: i64 = 25;
        let mut tasks = Vec::new();
        for n in 0..200 {
            let core = core.clone();
            let user = users[0];
            tasks.push(tokio::spawn(async move {
                core.store
                    .push_offline(app, user, &format!("<message id='{n}'/>"), START, CAP)
                    .await
                    .unwrap()
            }));
        }
        let mut kept = 0;
        for task in tasks {
            kept += task.await.unwrap().is_some() as i64;
        }
        assert_eq!(kept, CAP);
        assert_eq!(core.store.count_offline(app, users[0]).await.unwrap(), CAP);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_private_dialog_is_what_the_database_then_holds() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "writer", 3).await;
        // Concurrent first messages of the same pair, from both sides: one dialog.
        let mut tasks = Vec::new();
        for n in 0..8 {
            let core = core.clone();
            let (a, b) = if n % 2 == 0 {
                (users[2], users[0])
            } else {
                (users[0], users[2])
            };
            tasks.push(tokio::spawn(async move {
                core.store
                    .private_dialog(app, a, b, &format!("dddddddddddddddddddddd{n:02}"), START + n)
                    .await
                    .unwrap()
                    .0
            }));
        }
        let mut made = Vec::new();
        for task in tasks {
            made.push(task.await.unwrap());
        }
        assert!(made.iter().all(|d| d.id == made[0].id), "one dialog per pair");
        store.forget_cached();
        let stored = core.store.dialog(app, &made[0].id).await.unwrap().unwrap();
        assert_eq!(made[0], stored);
        assert_eq!(stored.occupants, vec![users[0], users[2]]);
        assert_eq!(stored.kind, DialogType::Private);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_new_pairs_at_once_get_one_dialog_each_with_both_members() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "pairs", 12).await;
        // Every pair of twelve users, asked for from both sides at once, most of them in shared commits.
        let mut tasks = Vec::new();
        let mut n = 0;
        for (i, &a) in users.iter().enumerate() {
            for &b in &users[i + 1..] {
                for (from, to) in [(a, b), (b, a)] {
                    n += 1;
                    let core = core.clone();
                    let id = format!("eeeeeeeeeeeeeeeeeeee{n:04}");
                    tasks.push(tokio::spawn(async move {
                        let dialog = core
                            .store
                            .private_dialog(app, from, to, &id, START + n)
                            .await
                            .unwrap()
                            .0;
                        ((from.min(to), from.max(to)), dialog)
                    }));
                }
            }
        }
        let mut by_pair: std::collections::HashMap<(i64, i64), Vec<_>> = Default::default();
        for task in tasks {
            let (pair, dialog) = task.await.unwrap();
            by_pair.entry(pair).or_default().push(dialog);
        }
        assert_eq!(by_pair.len(), 12 * 11 / 2);
        store.forget_cached();
        let mut ids = std::collections::HashSet::new();
        for ((low, high), dialogs) in by_pair {
            assert_eq!(dialogs.len(), 2);
            assert_eq!(dialogs[0].id, dialogs[1].id, "both sides got the same dialog");
            assert!(ids.insert(dialogs[0].id.clone()), "one dialog per pair");
            let stored = core.store.dialog(app, &dialogs[0].id).await.unwrap().unwrap();
            assert_eq!(stored.occupants, vec![low, high]);
            assert_eq!(stored.kind, DialogType::Private);
            assert_eq!(stored.id, dialogs[0].id);
        }
        let pool = store.pool();
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM dialog_occupants")
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(count, 2 * 66);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_sessions_made_at_once_are_stored_with_their_users_last_request() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "sessions", 20).await;
        let mut tasks = Vec::new();
        for (n, &user_id) in users.iter().enumerate() {
            let core = core.clone();
            let now = START + 1_000 * n as i64;
            tasks.push(tokio::spawn(async move {
                let session = palaver_core::model::Session {
                    id: 0,
                    app_id: app,
                    user_id: Some(user_id),
                    token_hash: format!("{n:064}"),
                    token_scram: None,
                    token_sealed: None,
                    nonce: Some(n as i64),
                    ts: now / 1000,
                    created_at: now,
                    updated_at: now,
                    expires_at: now + 7_200_000,
                    ttl: 7_200_000,
                };
                (user_id, now, core.store.create_session(&session).await.unwrap())
            }));
        }
        // And one application session, which has no user to touch.
        let app_session = core
            .store
            .create_session(&palaver_core::model::Session {
                id: 0,
                app_id: app,
                user_id: None,
                token_hash: "a".repeat(64),
                token_scram: None,
                token_sealed: None,
                nonce: None,
                ts: START / 1000,
                created_at: START,
                updated_at: START,
                expires_at: START + 7_200_000,
                ttl: 7_200_000,
            })
            .await
            .unwrap();
        assert_eq!(app_session.user_id, None);
        let mut ids = std::collections::HashSet::from([app_session.id]);
        for task in tasks {
            let (user_id, now, session) = task.await.unwrap();
            assert!(ids.insert(session.id), "every session has its own id");
            assert_eq!(session.user_id, Some(user_id));
            assert_eq!(session.created_at, now);
            let found = core
                .store
                .session_by_token_hash(&session.token_hash)
                .await
                .unwrap()
                .expect("the session is stored");
            assert_eq!(found.id, session.id);
            let user = core.store.user(app, user_id).await.unwrap().unwrap();
            assert_eq!(
                user.last_request_at,
                Some(now),
                "the user's last request is the session's creation"
            );
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_message_names_the_pairs_own_dialog_and_its_row_follows() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "behind", 40).await;
        let (a, b) = (users[3], users[1]);
        let (id, dialog) = first_message_dialog(&core, app, a, b, START).await;
        assert_eq!(dialog.id, id);
        assert_eq!(dialog.occupants, vec![b, a]);
        // The other side, and the same side again: the same dialog, nothing written twice.
        let again = core
            .store
            .private_dialog_for_message(app, b, a, START + 1)
            .await
            .unwrap();
        assert_eq!(again.id, id);
        // Many more pairs at once, each left behind, then one write that is waited for: every one of
        // them is in the database by the time it returns.
        let mut tasks = Vec::new();
        for (n, &other) in users.iter().enumerate().filter(|&(_, &u)| u != a) {
            let core = core.clone();
            tasks.push(tokio::spawn(async move {
                let (id, made) = first_message_dialog(&core, app, other, a, START + n as i64).await;
                assert_eq!(made.id, id);
                id
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        let mut saved = message(app, a, 0);
        saved.dialog_id = id.clone();
        saved.recipient_id = b;
        assert!(core.store.save_message(&saved).await.unwrap());
        store.forget_cached();
        for id in &ids {
            let stored = core.store.dialog(app, id).await.unwrap().expect("written behind");
            assert_eq!(stored.kind, DialogType::Private);
            assert_eq!(stored.occupants.len(), 2);
            assert!(stored.occupants.contains(&a));
        }
        let rows: i64 = sqlx::query("SELECT COUNT(*) FROM dialogs WHERE type = 3")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 39, "one dialog per pair");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pair_whose_dialog_has_another_id_keeps_it() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "legacy", 3).await;
        let (a, b) = (users[0], users[2]);
        // A dialog made before ids came from pairs (written as an older release did).
        let (old, made) = core
            .store
            .private_dialog(app, a, b, "5c094c0ce588ce6856f87422", START)
            .await
            .unwrap();
        assert!(made);
        assert_eq!(old.id, "5c094c0ce588ce6856f87422");
        store.forget_cached();
        let derived = palaver_proto::private_dialog_id(app, a, b).to_string();
        let found = core
            .store
            .private_dialog_for_message(app, b, a, START + 1)
            .await
            .unwrap();
        assert_eq!(found.id, old.id, "the pair keeps its dialog");
        assert_ne!(found.id, derived, "not one under the pair's own id");
        // A new pair in the same database is made at once, under its own id.
        let other = palaver_proto::private_dialog_id(app, a, users[1]).to_string();
        let (made, new) = core
            .store
            .private_dialog(app, a, users[1], &other, START + 2)
            .await
            .unwrap();
        assert!(new);
        assert_eq!(made.id, other);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dialog_written_behind_its_first_message_is_found_when_asked_for_by_its_pair() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "found", 2).await;
        let (a, b) = (users[0], users[1]);
        let (id, _) = first_message_dialog(&core, app, a, b, START).await;
        // Written, then forgotten by the cache: asking for the pair's dialog goes to the database.
        assert!(core
            .store
            .save_message(&ChatMessage {
                dialog_id: id.clone(),
                recipient_id: b,
                ..message(app, a, 0)
            })
            .await
            .unwrap());
        store.forget_cached();
        let (found, made) = core
            .store
            .private_dialog(app, b, a, &id, START + 1)
            .await
            .unwrap();
        assert!(!made);
        assert_eq!(found.id, id);
        assert_eq!(found.occupants, vec![a.min(b), a.max(b)]);
        assert_eq!(found.last_message.as_deref(), Some("message 0"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_and_changes_see_the_dialogs_left_behind() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "settle", 3).await;
        let (a, b, c) = (users[0], users[1], users[2]);
        let list = |user_id| dialog_list(app, user_id);
        let first = palaver_proto::private_dialog_id(app, a, b).to_string();
        core.store
            .private_dialog_for_message(app, a, b, START)
            .await
            .unwrap();
        // Listed at once, though its row was left behind its message.
        let (listed, total) = core.store.list_dialogs(&list(b)).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!(listed[0].dialog.id, first);
        // A member's setting reaches the row of a dialog just left behind.
        let second = palaver_proto::private_dialog_id(app, a, c).to_string();
        core.store
            .private_dialog_for_message(app, c, a, START + 1)
            .await
            .unwrap();
        core.store.set_dialog_hidden(&second, c, true).await.unwrap();
        assert_eq!(
            core.store.count_dialogs(&list(c)).await.unwrap(),
            0,
            "hidden for c"
        );
        assert_eq!(core.store.count_dialogs(&list(a)).await.unwrap(), 2);
        // A deletion right after a first message removes it for good.
        let third = palaver_proto::private_dialog_id(app, b, c).to_string();
        core.store
            .private_dialog_for_message(app, b, c, START + 2)
            .await
            .unwrap();
        assert!(core.store.delete_dialog(app, &third).await.unwrap());
        let rows: i64 = sqlx::query("SELECT COUNT(*) FROM dialogs WHERE id = $1")
            .bind(&third)
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 0);
    })
    .await
}

/// A pair's dialog made before the caches forgot it (a restart, an eviction) stays its first sender's
/// when the other member writes first afterwards: the pair's first message after that does not know
/// whether the row exists, so what it passes on is never cached as the dialog, and the owner-only force
/// delete stays the owner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pair_dialog_keeps_its_owner_when_the_other_member_writes_first_after_a_restart() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "owner", 2).await;
        let (owner, other) = (users[0], users[1]);
        let id = palaver_proto::private_dialog_id(app, owner, other).to_string();
        core.store
            .private_dialog_for_message(app, owner, other, START)
            .await
            .unwrap();
        assert_eq!(core.dialogs().get(app, &id).await.unwrap().user_id, owner);
        store.forget_cached();
        for n in 1..=2 {
            core.store
                .private_dialog_for_message(app, other, owner, START + n)
                .await
                .unwrap();
        }
        let dialog = core.dialogs().get(app, &id).await.unwrap();
        assert_eq!((dialog.user_id, dialog.created_at), (owner, START));
        let ids = std::slice::from_ref(&id);
        let refused = core.dialogs().delete(app, ids, other, true).await.unwrap();
        assert_eq!(refused.forbidden, ids);
        let deleted = core.dialogs().delete(app, ids, owner, true).await.unwrap();
        assert_eq!(deleted.deleted, ids);
        // Deleted, the pair's next message makes it again, its sender's now.
        core.store
            .private_dialog_for_message(app, other, owner, START + 3)
            .await
            .unwrap();
        let remade = core.dialogs().get(app, &id).await.unwrap();
        assert_eq!((remade.user_id, remade.created_at), (other, START + 3));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dialog_left_behind_for_an_app_deleted_meanwhile_leaves_no_row() {
    with_both_stores(|store| async move {
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (gone, users) = app_with_users(&core, "deleted", 2).await;
        let (kept, others) = app_with_users(&core, "kept", 2).await;
        let id = palaver_proto::private_dialog_id(gone, users[0], users[1]).to_string();
        core.store
            .private_dialog_for_message(gone, users[0], users[1], START)
            .await
            .unwrap();
        // The app goes while its pair's dialog still waits to be written: that write fails alone (the
        // app's foreign key), the batch's other writes are kept.
        assert!(core.store.admin().delete_app(gone).await.unwrap());
        let other = palaver_proto::private_dialog_id(kept, others[0], others[1]).to_string();
        core.store
            .private_dialog_for_message(kept, others[0], others[1], START + 1)
            .await
            .unwrap();
        let list = dialog_list(kept, others[0]);
        assert_eq!(
            core.store.count_dialogs(&list).await.unwrap(),
            1,
            "the other app's pair is written"
        );
        let count = |sql: &'static str, value: String| {
            let store = store.clone();
            async move {
                sqlx::query(sql)
                    .bind(value)
                    .fetch_one(store.pool())
                    .await
                    .unwrap()
                    .get::<i64, _>(0)
            }
        };
        assert_eq!(
            count("SELECT COUNT(*) FROM dialogs WHERE id = $1", id.clone()).await,
            0
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM dialog_occupants WHERE dialog_id = $1", id).await,
            0
        );
        // The kept app's pair is written under its own id.
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM dialog_occupants WHERE dialog_id = $1",
                other
            )
            .await,
            2
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_closed_right_after_first_messages_keeps_their_dialogs() {
    use palaver_store::testing::{drop_postgres_schema, fresh_postgres_schema};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (postgres, schema) = fresh_postgres_schema().await.expect("PostgreSQL");
    for url in [palaver_store::sqlite_url(dir.path()), postgres] {
        let store = palaver_store::open(&url).await.unwrap();
        let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
        let (app, users) = app_with_users(&core, "closing", 3).await;
        let mut ids = Vec::new();
        for (n, (a, b)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
            let id = palaver_proto::private_dialog_id(app, users[a], users[b]).to_string();
            core.store
                .private_dialog_for_message(app, users[a], users[b], START + n as i64)
                .await
                .unwrap();
            ids.push(id);
        }
        // Closed while the three rows still wait to be written (a shutdown right after).
        store.close().await;
        drop(core);

        let reopened = palaver_store::open(&url).await.unwrap();
        for id in &ids {
            let rows: i64 = sqlx::query("SELECT COUNT(*) FROM dialog_occupants WHERE dialog_id = $1")
                .bind(id)
                .fetch_one(reopened.pool())
                .await
                .unwrap()
                .get(0);
            assert_eq!(rows, 2, "both members of {id} after a restart on {url}");
        }
        reopened.close().await;
    }
    drop_postgres_schema(&schema).await.unwrap();
}
