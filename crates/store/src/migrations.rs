//! The schema versions, embedded in the binary, one list per backend.

use crate::Backend;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;

type Script = (i64, &'static str, &'static str);

const SQLITE: &[Script] = &[
    (
        1,
        "accounts",
        include_str!("../migrations/sqlite/0001_accounts.sql"),
    ),
    (2, "chat", include_str!("../migrations/sqlite/0002_chat.sql")),
    // Dialogs REST API: admins, pinned messages, per-user dialog state.
    (
        3,
        "dialogs",
        include_str!("../migrations/sqlite/0003_dialogs.sql"),
    ),
    // Messages REST API: per-user message state.
    (
        4,
        "messages",
        include_str!("../migrations/sqlite/0004_messages.sql"),
    ),
    (
        5,
        "signed_requests",
        include_str!("../migrations/sqlite/0005_signed_requests.sql"),
    ),
    // File storage.
    (6, "blobs", include_str!("../migrations/sqlite/0006_blobs.sql")),
    // Push notifications: subscriptions, events, settings, the send queue and its records.
    (7, "push", include_str!("../migrations/sqlite/0007_push.sql")),
    // Privacy lists (XEP-0016).
    (
        8,
        "privacy",
        include_str!("../migrations/sqlite/0008_privacy.sql"),
    ),
    (
        9,
        "contacts",
        include_str!("../migrations/sqlite/0009_contacts.sql"),
    ),
    // Operators: blocked users and the admin audit log.
    (10, "admin", include_str!("../migrations/sqlite/0010_admin.sql")),
    // Session tokens sealed until their SCRAM keys are first needed.
    (
        11,
        "sealed_tokens",
        include_str!("../migrations/sqlite/0011_sealed_tokens.sql"),
    ),
    // One index fewer for each new dialog.
    (
        12,
        "lean_dialog_rows",
        include_str!("../migrations/sqlite/0012_lean_dialog_rows.sql"),
    ),
    // Messages unique by id first; the index on id alone goes.
    (
        13,
        "messages_unique_by_id",
        include_str!("../migrations/sqlite/0013_messages_unique_by_id.sql"),
    ),
    // History's journal: how far the database has taken it (PostgreSQL has no journal).
    (
        14,
        "history_journal",
        include_str!("../migrations/sqlite/0014_history_journal.sql"),
    ),
    // References checked at commit: the writer's statements of many rows need no statement journal.
    (
        15,
        "deferred_references",
        include_str!("../migrations/sqlite/0015_deferred_references.sql"),
    ),
    // Dialogs no longer indexed by their last update, which every message moves.
    (
        16,
        "dialog_updates_unindexed",
        include_str!("../migrations/sqlite/0016_dialog_updates_unindexed.sql"),
    ),
];
const POSTGRES: &[Script] = &[
    (
        1,
        "accounts",
        include_str!("../migrations/postgres/0001_accounts.sql"),
    ),
    (2, "chat", include_str!("../migrations/postgres/0002_chat.sql")),
    // Dialogs REST API: admins, pinned messages, per-user dialog state.
    (
        3,
        "dialogs",
        include_str!("../migrations/postgres/0003_dialogs.sql"),
    ),
    // Messages REST API: per-user message state.
    (
        4,
        "messages",
        include_str!("../migrations/postgres/0004_messages.sql"),
    ),
    (
        5,
        "signed_requests",
        include_str!("../migrations/postgres/0005_signed_requests.sql"),
    ),
    // File storage.
    (6, "blobs", include_str!("../migrations/postgres/0006_blobs.sql")),
    // Push notifications: subscriptions, events, settings, the send queue and its records.
    (7, "push", include_str!("../migrations/postgres/0007_push.sql")),
    // Privacy lists (XEP-0016).
    (
        8,
        "privacy",
        include_str!("../migrations/postgres/0008_privacy.sql"),
    ),
    (
        9,
        "contacts",
        include_str!("../migrations/postgres/0009_contacts.sql"),
    ),
    // Operators: blocked users and the admin audit log.
    (10, "admin", include_str!("../migrations/postgres/0010_admin.sql")),
    // Session tokens sealed until their SCRAM keys are first needed.
    (
        11,
        "sealed_tokens",
        include_str!("../migrations/postgres/0011_sealed_tokens.sql"),
    ),
    // One index fewer for each new dialog.
    (
        12,
        "lean_dialog_rows",
        include_str!("../migrations/postgres/0012_lean_dialog_rows.sql"),
    ),
    // Messages unique by id first; the index on id alone goes.
    (
        13,
        "messages_unique_by_id",
        include_str!("../migrations/postgres/0013_messages_unique_by_id.sql"),
    ),
    // Dialogs no longer indexed by their last update, which every message moves.
    (
        14,
        "dialog_updates_unindexed",
        include_str!("../migrations/postgres/0014_dialog_updates_unindexed.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [Script]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> futures_core::future::BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub(crate) async fn migrator(backend: Backend) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{drop_postgres_schema, fresh_postgres_schema};
    use sqlx::{AnyPool, Row};

    /// Runs the scripts up to and including `version`.
    async fn migrate_to(pool: &AnyPool, scripts: &'static [Script], version: i64) {
        let upto = scripts
            .iter()
            .position(|(v, _, _)| *v == version)
            .expect("a version")
            + 1;
        Migrator::new(Embedded(&scripts[..upto]))
            .await
            .unwrap()
            .run(pool)
            .await
            .unwrap();
    }

    async fn exec(pool: &AnyPool, sql: &str) -> u64 {
        sqlx::query(sql).execute(pool).await.unwrap().rows_affected()
    }

    async fn count(pool: &AnyPool, sql: &str) -> i64 {
        sqlx::query(sql).fetch_one(pool).await.unwrap().get(0)
    }

    async fn ids_and_seqs(pool: &AnyPool) -> Vec<(String, i64)> {
        sqlx::query("SELECT id, seq FROM messages ORDER BY seq")
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// The first column of every row, as text.
    async fn names(pool: &AnyPool, sql: &str) -> Vec<String> {
        sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    fn message(id: &str, sender: i64) -> String {
        format!(
            "INSERT INTO messages (id, app_id, dialog_id, sender_id, date_sent, created_at, updated_at) \
             VALUES ('{id}', 1, 'd1', {sender}, 0, 0, 0) ON CONFLICT DO NOTHING"
        )
    }

    /// History written before migration 13 (messages unique by id first) is all there after it, with
    /// the per-user rows that refer to it, the sequence's high-water mark and its cascades.
    async fn history_survives_messages_unique_by_id(store: crate::SqlStore, scripts: &'static [Script]) {
        let pool = store.writer().clone();
        migrate_to(&pool, scripts, 12).await;
        exec(
            &pool,
            "INSERT INTO apps (id, name, auth_key, auth_secret, created_at) VALUES (1, 'A', 'k', 's', 0)",
        )
        .await;
        exec(&pool, "INSERT INTO dialogs (id, app_id, type, user_id, created_at, updated_at) VALUES ('d1', 1, 2, 10, 0, 0)").await;
        for (id, sender) in [("m1", 10), ("m2", 11), ("m3", 10)] {
            assert_eq!(exec(&pool, &message(id, sender)).await, 1);
        }
        exec(&pool, "INSERT INTO message_reactions (message_seq, user_id, reaction, created_at) SELECT seq, 11, 'like', 0 FROM messages WHERE id = 'm1'").await;
        exec(
            &pool,
            "INSERT INTO message_reads (message_seq, user_id) SELECT seq, 10 FROM messages WHERE id = 'm2'",
        )
        .await;
        let deleted_seq = count(&pool, "SELECT seq FROM messages WHERE id = 'm3'").await;
        exec(&pool, "DELETE FROM messages WHERE id = 'm3'").await;
        let before = ids_and_seqs(&pool).await;

        store.migrate().await.unwrap();

        let after = ids_and_seqs(&pool).await;
        assert_eq!(after, before);
        assert_eq!(after.len(), 2);
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM message_reactions").await, 1);
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM message_reads").await, 1);
        // Still one message per id, dialog and sender; another sender may reuse an id.
        assert_eq!(exec(&pool, &message("m1", 10)).await, 0);
        assert_eq!(exec(&pool, &message("m1", 11)).await, 1);
        // Numbers are never given twice, even the deleted last one's.
        assert_eq!(exec(&pool, &message("m4", 10)).await, 1);
        assert!(count(&pool, "SELECT seq FROM messages WHERE id = 'm4'").await > deleted_seq);
        // Foreign keys are on again and still cascade.
        exec(&pool, "DELETE FROM messages WHERE id = 'm1' AND sender_id = 10").await;
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM message_reactions").await, 0);
        exec(&pool, "DELETE FROM dialogs WHERE id = 'd1'").await;
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM messages").await, 0);
        assert_eq!(count(&pool, "SELECT COUNT(*) FROM message_reads").await, 0);
    }

    #[tokio::test]
    async fn history_survives_messages_unique_by_id_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::connect(&crate::sqlite_url(dir.path())).await.unwrap();
        history_survives_messages_unique_by_id(store.clone(), SQLITE).await;
        let indexes = names(
            store.writer(),
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' ORDER BY name",
        )
        .await;
        assert_eq!(indexes, ["messages_dialog_date", "sqlite_autoindex_messages_1"]);
        store.close().await;
    }

    #[tokio::test]
    async fn history_survives_messages_unique_by_id_on_postgres() {
        let (url, schema) = fresh_postgres_schema().await.expect("PostgreSQL for tests");
        let store = crate::connect(&url).await.unwrap();
        history_survives_messages_unique_by_id(store.clone(), POSTGRES).await;
        let indexes = names(
            store.writer(),
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'messages' AND schemaname = current_schema() \
             ORDER BY indexname",
        )
        .await;
        assert_eq!(
            indexes,
            [
                "messages_dialog_date",
                "messages_id_dialog_sender",
                "messages_pkey"
            ]
        );
        store.close().await;
        drop_postgres_schema(&schema).await.unwrap();
    }

    /// The indexes of the dialogs table before migration `version` and after it.
    async fn dialog_indexes_around(
        store: &crate::SqlStore,
        scripts: &'static [Script],
        version: i64,
        list: &str,
    ) -> (Vec<String>, Vec<String>) {
        let pool = store.writer().clone();
        migrate_to(&pool, scripts, version - 1).await;
        let before = names(&pool, list).await;
        migrate_to(&pool, scripts, version).await;
        (before, names(&pool, list).await)
    }

    fn without_update_index(before: &[String]) -> Vec<String> {
        assert!(
            before.iter().any(|name| name == "dialogs_app_updated"),
            "{before:?}"
        );
        before
            .iter()
            .filter(|name| *name != "dialogs_app_updated")
            .cloned()
            .collect()
    }

    #[tokio::test]
    async fn dialogs_lose_the_index_every_message_moved_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::connect(&crate::sqlite_url(dir.path())).await.unwrap();
        let (before, after) = dialog_indexes_around(
            &store,
            SQLITE,
            16,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dialogs' ORDER BY name",
        )
        .await;
        assert_eq!(after, without_update_index(&before));
        assert!(after.iter().any(|name| name == "dialogs_broadcast"), "{after:?}");
        store.close().await;
    }

    #[tokio::test]
    async fn dialogs_lose_the_index_every_message_moved_on_postgres() {
        let (url, schema) = fresh_postgres_schema().await.expect("PostgreSQL for tests");
        let store = crate::connect(&url).await.unwrap();
        let (before, after) = dialog_indexes_around(
            &store,
            POSTGRES,
            14,
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'dialogs' AND schemaname = current_schema() \
             ORDER BY indexname",
        )
        .await;
        assert_eq!(after, without_update_index(&before));
        assert!(after.iter().any(|name| name == "dialogs_broadcast"), "{after:?}");
        store.close().await;
        drop_postgres_schema(&schema).await.unwrap();
    }

    /// SQLite migration 15 on a database with history: dialogs, members and messages check their
    /// references at commit, on the connection that migrated and on one that was open before, and deletes
    /// still cascade at once.
    #[tokio::test]
    async fn references_are_checked_at_commit_after_migration_15_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::sqlite_url(dir.path());
        let store = crate::connect(&url).await.unwrap();
        let pool = store.writer().clone();
        migrate_to(&pool, SQLITE, 14).await;
        exec(
            &pool,
            "INSERT INTO apps (id, name, auth_key, auth_secret, created_at) VALUES (1, 'A', 'k', 's', 0)",
        )
        .await;
        exec(&pool, "INSERT INTO dialogs (id, app_id, type, user_id, created_at, updated_at) VALUES ('d1', 1, 3, 10, 0, 0)").await;
        exec(&pool, "INSERT INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES ('d1', 10, 0), ('d1', 11, 0)").await;
        assert_eq!(exec(&pool, &message("m1", 10)).await, 1);
        // Another connection, open (its schema read) before the migration.
        let other = crate::connect(&url).await.unwrap();
        assert_eq!(count(other.writer(), "SELECT COUNT(*) FROM messages").await, 1);

        store.migrate().await.unwrap();

        for table in ["dialogs", "dialog_occupants", "messages"] {
            let sql = names(
                &pool,
                &format!("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = '{table}'"),
            )
            .await;
            assert!(
                sql[0].contains("ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"),
                "{table}: {sql:?}"
            );
        }
        for connection in [&pool, other.writer()] {
            let mut tx = connection.begin().await.unwrap();
            for broken in [
                message("m2", 10).replace("'d1'", "'gone'"),
                "INSERT INTO dialog_occupants (dialog_id, user_id, joined_at) VALUES ('gone', 10, 0)".to_owned(),
                "INSERT INTO dialogs (id, app_id, type, user_id, created_at, updated_at) VALUES ('d2', 99, 3, 10, 0, 0)"
                    .to_owned(),
            ] {
                // Taken by the statement (an immediate reference would refuse it here)...
                assert_eq!(sqlx::query(&broken).execute(&mut *tx).await.unwrap().rows_affected(), 1);
            }
            // ...and refused by the commit, which keeps none of it.
            let refused = tx.commit().await.unwrap_err().to_string();
            assert!(refused.contains("FOREIGN KEY"), "{refused}");
            assert_eq!(count(&pool, "SELECT COUNT(*) FROM messages").await, 1);
            assert_eq!(count(&pool, "SELECT COUNT(*) FROM dialog_occupants").await, 2);
            assert_eq!(count(&pool, "SELECT COUNT(*) FROM dialogs").await, 1);
        }
        assert!(names(&pool, "PRAGMA foreign_key_check").await.is_empty());
        assert_eq!(names(&pool, "PRAGMA integrity_check").await, ["ok"]);
        // Deleting the app still takes its dialogs, their members and their history with it.
        exec(&pool, "DELETE FROM apps WHERE id = 1").await;
        for table in ["dialogs", "dialog_occupants", "messages"] {
            assert_eq!(
                count(&pool, &format!("SELECT COUNT(*) FROM {table}")).await,
                0,
                "{table}"
            );
        }
        other.close().await;
        store.close().await;
    }
}
