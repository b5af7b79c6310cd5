//! History's journal on a real SQLite store: messages are acknowledged from the journal and reach the
//! database behind; after a crash the server replays exactly the lines the database had not committed
//! (a line it had committed never comes back, even if its message was deleted since), making the private
//! dialog a lost first message had left behind.

use palaver_core::history::{HistoryQuery, MessageField};
use palaver_core::model::ChatMessage;
use palaver_core::{Core, CoreSettings};
use palaver_store::testing::app_with_users;
use palaver_store::SqlStore;
use serde_json::{json, Map};
use std::path::Path;
use std::sync::Arc;

const NOW: i64 = 1_700_000_000_000;

fn message(app: i64, dialog: &str, sender: i64, recipient: i64, n: u32) -> ChatMessage {
    ChatMessage {
        id: format!("6b068f315f6662378a{n:06}"),
        app_id: app,
        dialog_id: dialog.into(),
        sender_id: sender,
        recipient_id: recipient,
        body: Some(format!("journaled {n}")),
        attachments: json!([]),
        custom: Map::new(),
        date_sent: NOW / 1000 + i64::from(n),
        created_at: NOW,
        updated_at: NOW,
    }
}

/// The whole history of a dialog, oldest first.
fn whole(app: i64, dialog: &str, viewer: i64) -> HistoryQuery {
    HistoryQuery {
        app_id: app,
        dialog_id: dialog.into(),
        viewer_id: viewer,
        conditions: Vec::new(),
        sort: (MessageField::DateSent, true),
        limit: 100,
        skip: 0,
    }
}

async fn bodies(store: &SqlStore, app: i64, dialog: &str, viewer: i64) -> Vec<String> {
    use palaver_core::history::MessageStore;
    store
        .history(&whole(app, dialog, viewer))
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.message.body.unwrap_or_default())
        .collect()
}

async fn unread(store: &SqlStore, app: i64, user: i64, dialog: &str) -> i64 {
    use palaver_core::history::MessageStore;
    let counts = store.unread_counts(app, user).await.unwrap();
    counts
        .into_iter()
        .find(|(d, _)| d == dialog)
        .map_or(0, |(_, n)| n)
}

/// A line as the journal writes it.
fn line(seq: u64, message: &ChatMessage) -> String {
    format!("{}\n", json!({ "seq": seq, "message": message }))
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn acknowledged_messages_are_replayed_once_and_committed_ones_never() {
    use palaver_core::dialogs::DialogStore;
    use palaver_core::history::MessageStore;
    let dir = tempfile::tempdir().unwrap();
    let url = palaver_store::sqlite_url(dir.path());
    let journal = palaver_store::history_journal_dir(&url).expect("a file database has a journal");

    let store = palaver_store::open(&url).await.unwrap();
    assert_eq!(store.start_history_journal(&journal).await.unwrap(), 0);
    let core = Core::new(Arc::new(store.clone()), CoreSettings::default());
    let (app, users) = app_with_users(&core, "journal", 3).await;
    let (a, b, c) = (users[0], users[1], users[2]);
    let pair_id = palaver_proto::private_dialog_id(app, a, b).to_string();
    let (dialog, _) = store.private_dialog(app, a, b, &pair_id, NOW).await.unwrap();
    for n in 1..=3 {
        // Acknowledged from the journal: saved.
        assert!(store
            .save_message(&message(app, &dialog.id, a, b, n))
            .await
            .unwrap());
    }
    // A read sees what the journal acknowledged.
    assert_eq!(
        bodies(&store, app, &dialog.id, b).await,
        vec!["journaled 1", "journaled 2", "journaled 3"]
    );
    assert_eq!(unread(&store, app, b, &dialog.id).await, 3);
    // Message 2 is deleted once committed: its journal line must never bring it back.
    let seq_of_2 = store.history(&whole(app, &dialog.id, b)).await.unwrap()[1].seq;
    assert_eq!(
        store.delete_messages(&dialog.id, &[seq_of_2]).await.unwrap(),
        vec![seq_of_2]
    );
    store.close().await;

    // What a crash leaves: lines past what the database committed (4 and 5 in the same dialog; 6 the
    // first message of a new pair, whose dialog was left behind and lost with it), the last one torn.
    let new_pair = palaver_proto::private_dialog_id(app, c, a).to_string();
    let crashed = format!(
        "{}{}{}{}",
        line(4, &message(app, &dialog.id, a, b, 4)),
        line(5, &message(app, &dialog.id, b, a, 5)),
        line(6, &message(app, &new_pair, c, a, 6)),
        r#"{"seq":7,"message":{"id":"#
    );
    std::fs::write(journal.join("0000000000000099.jsonl"), crashed).unwrap();

    let store = palaver_store::open(&url).await.unwrap();
    assert_eq!(store.start_history_journal(&journal).await.unwrap(), 3);
    assert_eq!(
        bodies(&store, app, &dialog.id, b).await,
        vec!["journaled 1", "journaled 3", "journaled 4", "journaled 5"]
    );
    // Unread: b had 3 (the deletion of message 2 lowered it to 2) and gets 4; a gets 5.
    assert_eq!(unread(&store, app, b, &dialog.id).await, 3);
    assert_eq!(unread(&store, app, a, &dialog.id).await, 1);
    let made = store
        .dialog(app, &new_pair)
        .await
        .unwrap()
        .expect("the lost dialog is made");
    let mut occupants = made.occupants.clone();
    occupants.sort();
    assert_eq!(occupants, {
        let mut pair = vec![a, c];
        pair.sort();
        pair
    });
    assert_eq!(bodies(&store, app, &new_pair, a).await, vec!["journaled 6"]);
    // Numbers go on past the replayed lines, and replaying twice changes nothing.
    assert!(store
        .save_message(&message(app, &dialog.id, a, b, 7))
        .await
        .unwrap());
    store.close().await;
    let store = palaver_store::open(&url).await.unwrap();
    assert_eq!(store.start_history_journal(&journal).await.unwrap(), 0);
    assert_eq!(
        bodies(&store, app, &dialog.id, b).await,
        vec![
            "journaled 1",
            "journaled 3",
            "journaled 4",
            "journaled 5",
            "journaled 7"
        ]
    );
    // The segments found on opening are gone once committed; only the one taking new lines is left.
    assert_eq!(segments(&journal).len(), 1, "{:?}", segments(&journal));
    store.close().await;
}
