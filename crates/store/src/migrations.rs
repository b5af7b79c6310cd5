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
