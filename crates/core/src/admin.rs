//! Operators' actions, for the admin API and the command line alike: applications, users (search, block,
//! password reset, sessions), dialogs of any type (broadcast ones without an owner user), message
//! moderation and live figures. Every change is written to the audit log (`admin_audit`) and logged at
//! INFO under the target `palaver::audit`, never with secrets.

use crate::admin_store::{AdminUser, AuditEntry, Counts, DialogSearch, MessageModeration};
use crate::credentials::derive_credentials;
use crate::dialogs::{DialogInput, DialogUpdate};
use crate::events::Event;
use crate::model::{App, ChatMessage, Dialog, DialogType, DialogView, Profile, Session, User};
use crate::{Core, CoreError, CoreResult};
use serde_json::{json, Value};

/// The largest page the search calls return.
pub const MAX_PAGE: i64 = 100;

/// The server's figures at one moment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub counts: Counts,
    /// Users with an available chat session (every application, or the one asked about).
    pub users_online: i64,
    /// Bytes the database takes.
    pub storage_bytes: i64,
}

pub struct AdminService {
    core: Core,
    origin: &'static str,
}

impl AdminService {
    pub(crate) fn new(core: Core, origin: &'static str) -> AdminService {
        AdminService { core, origin }
    }

    /// Records an action in the audit log and the `palaver::audit` log.
    async fn audit(
        &self,
        action: &str,
        app_id: Option<i64>,
        target: Option<String>,
        detail: Value,
    ) -> CoreResult<()> {
        tracing::info!(
            target: "palaver::audit",
            origin = self.origin,
            action,
            app_id,
            target = target.as_deref().unwrap_or(""),
            detail = %detail,
            "admin action"
        );
        let entry = AuditEntry {
            id: 0,
            at: self.core.clock.now_millis(),
            origin: self.origin.to_owned(),
            action: action.to_owned(),
            app_id,
            target,
            detail,
        };
        Ok(self.core.store.admin().record_audit(&entry).await?)
    }

    /// Records an operator's change made through another service (push settings, for instance).
    pub async fn record(&self, action: &str, app_id: Option<i64>, detail: Value) -> CoreResult<()> {
        self.audit(action, app_id, None, detail).await
    }

    /// The newest audit entries first.
    pub async fn audit_log(&self, limit: i64, skip: i64) -> CoreResult<Vec<AuditEntry>> {
        Ok(self
            .core
            .store
            .admin()
            .audit_log(limit.clamp(1, MAX_PAGE), skip.max(0))
            .await?)
    }

    // --- Applications ---

    pub async fn create_app(&self, name: &str) -> CoreResult<App> {
        let app = self.core.apps().create(name).await?;
        self.audit("app.create", Some(app.id), None, json!({ "name": app.name }))
            .await?;
        Ok(app)
    }

    pub async fn rename_app(&self, app_id: i64, name: &str) -> CoreResult<App> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::invalid("name", "can't be blank"));
        }
        let app = self
            .core
            .store
            .admin()
            .rename_app(app_id, name)
            .await?
            .ok_or(CoreError::NotFound)?;
        self.audit("app.rename", Some(app_id), None, json!({ "name": name }))
            .await?;
        Ok(app)
    }

    /// New `auth_key` and `auth_secret`; the old ones stop working at once (sessions already made live on).
    pub async fn rotate_app_keys(&self, app_id: i64) -> CoreResult<App> {
        let (auth_key, auth_secret) = crate::apps::new_keys();
        let app = self
            .core
            .store
            .admin()
            .set_app_keys(app_id, &auth_key, &auth_secret)
            .await?
            .ok_or(CoreError::NotFound)?;
        self.audit("app.rotate_keys", Some(app_id), None, json!({}))
            .await?;
        Ok(app)
    }

    /// Deletes an application with its users, dialogs, messages and settings.
    pub async fn delete_app(&self, app_id: i64) -> CoreResult<()> {
        if !self.core.store.admin().delete_app(app_id).await? {
            return Err(CoreError::NotFound);
        }
        self.audit("app.delete", Some(app_id), None, json!({})).await
    }

    // --- Users ---

    pub async fn search_users(
        &self,
        app_id: i64,
        text: Option<&str>,
        limit: i64,
        skip: i64,
    ) -> CoreResult<(Vec<AdminUser>, i64)> {
        self.core.apps().get(app_id).await?;
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        Ok(self
            .core
            .store
            .admin()
            .search_users(app_id, text, limit.clamp(1, MAX_PAGE), skip.max(0))
            .await?)
    }

    pub async fn user(&self, app_id: i64, user_id: i64) -> CoreResult<AdminUser> {
        let user = self.core.users().get(app_id, user_id).await?;
        let blocked_at = self.core.store.admin().blocked_at(app_id, user_id).await?;
        Ok(AdminUser { user, blocked_at })
    }

    pub async fn create_user(
        &self,
        app_id: i64,
        profile: Profile,
        password: Option<String>,
    ) -> CoreResult<User> {
        self.core.apps().get(app_id).await?;
        let user = self.core.users().signup(app_id, profile, password).await?;
        self.audit(
            "user.create",
            Some(app_id),
            Some(user.id.to_string()),
            json!({ "login": user.profile.login, "email": user.profile.email }),
        )
        .await?;
        Ok(user)
    }

    /// Blocks a user: no new REST session or chat login, and every session he has ends now.
    pub async fn block_user(&self, app_id: i64, user_id: i64) -> CoreResult<AdminUser> {
        self.core.users().get(app_id, user_id).await?;
        let now = self.core.clock.now_millis();
        self.core
            .store
            .admin()
            .set_blocked(app_id, user_id, true, now)
            .await?;
        let ended = self.end_all_sessions(app_id, user_id).await?;
        self.core
            .events
            .publish(Event::UserBlocked { app_id, user_id })
            .await;
        self.audit(
            "user.block",
            Some(app_id),
            Some(user_id.to_string()),
            json!({ "sessions_ended": ended.len() }),
        )
        .await?;
        self.user(app_id, user_id).await
    }

    pub async fn unblock_user(&self, app_id: i64, user_id: i64) -> CoreResult<AdminUser> {
        self.core.users().get(app_id, user_id).await?;
        let now = self.core.clock.now_millis();
        self.core
            .store
            .admin()
            .set_blocked(app_id, user_id, false, now)
            .await?;
        self.audit("user.unblock", Some(app_id), Some(user_id.to_string()), json!({}))
            .await?;
        self.user(app_id, user_id).await
    }

    /// Sets a new password without the old one; the user's sessions end (their tokens were tied to the old
    /// password's keys for chat logins anyway).
    pub async fn reset_password(&self, app_id: i64, user_id: i64, password: String) -> CoreResult<()> {
        self.core.users().get(app_id, user_id).await?;
        let min = crate::users::MIN_PASSWORD_LEN;
        if password.chars().count() < min {
            return Err(CoreError::invalid(
                "password",
                &format!("is too short (minimum is {min} characters)"),
            ));
        }
        let iterations = self.core.settings.scram_iterations;
        let credentials = tokio::task::spawn_blocking(move || derive_credentials(&password, iterations))
            .await
            .map_err(|e| CoreError::Rejected(e.to_string()))?;
        self.core
            .store
            .set_credentials(app_id, user_id, &credentials)
            .await?;
        let ended = self.end_all_sessions(app_id, user_id).await?;
        self.audit(
            "user.reset_password",
            Some(app_id),
            Some(user_id.to_string()),
            json!({ "sessions_ended": ended.len() }),
        )
        .await
    }

    pub async fn delete_user(&self, app_id: i64, user_id: i64) -> CoreResult<()> {
        if !self.core.store.delete_user(app_id, user_id).await? {
            return Err(CoreError::NotFound);
        }
        self.core
            .events
            .publish(Event::UserDeleted { app_id, user_id })
            .await;
        self.audit("user.delete", Some(app_id), Some(user_id.to_string()), json!({}))
            .await
    }

    /// The user's live REST sessions.
    pub async fn sessions(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<Session>> {
        self.core.users().get(app_id, user_id).await?;
        let now = self.core.clock.now_millis();
        Ok(self.core.store.user_sessions(app_id, user_id, now).await?)
    }

    /// Ends one of the user's sessions, or all of them with `None`; chat sessions that logged in with their
    /// tokens end too. Returns the ids ended.
    pub async fn end_sessions(
        &self,
        app_id: i64,
        user_id: i64,
        session_id: Option<i64>,
    ) -> CoreResult<Vec<i64>> {
        self.core.users().get(app_id, user_id).await?;
        let ended = match session_id {
            None => self.end_all_sessions(app_id, user_id).await?,
            Some(id) => {
                let session = self.core.store.session_by_id(id).await?;
                if !session.is_some_and(|s| s.app_id == app_id && s.user_id == Some(user_id)) {
                    return Err(CoreError::NotFound);
                }
                self.end_session(app_id, id).await?;
                vec![id]
            }
        };
        self.audit(
            "user.end_sessions",
            Some(app_id),
            Some(user_id.to_string()),
            json!({ "sessions": ended }),
        )
        .await?;
        Ok(ended)
    }

    async fn end_all_sessions(&self, app_id: i64, user_id: i64) -> CoreResult<Vec<i64>> {
        let now = self.core.clock.now_millis();
        let mut ended = Vec::new();
        for session in self.core.store.user_sessions(app_id, user_id, now).await? {
            self.end_session(app_id, session.id).await?;
            ended.push(session.id);
        }
        Ok(ended)
    }

    async fn end_session(&self, app_id: i64, session_id: i64) -> CoreResult<()> {
        self.core.store.delete_session(session_id).await?;
        self.core
            .events
            .publish(Event::SessionDestroyed { app_id, session_id })
            .await;
        Ok(())
    }

    // --- Dialogs ---

    pub async fn search_dialogs(&self, search: &DialogSearch) -> CoreResult<(Vec<Dialog>, i64)> {
        self.core.apps().get(search.app_id).await?;
        let mut search = search.clone();
        search.limit = search.limit.clamp(1, MAX_PAGE);
        search.skip = search.skip.max(0);
        search.name = search.name.filter(|n| !n.trim().is_empty());
        let (ids, total) = self.core.store.admin().search_dialogs(&search).await?;
        let mut dialogs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(dialog) = self.core.store.dialog(search.app_id, &id).await? {
                dialogs.push(dialog);
            }
        }
        Ok((dialogs, total))
    }

    /// A dialog with its members' profiles.
    pub async fn dialog(&self, app_id: i64, dialog_id: &str) -> CoreResult<(Dialog, Vec<User>)> {
        let dialog = self.core.dialogs().get(app_id, dialog_id).await?;
        let mut occupants = Vec::with_capacity(dialog.occupants.len());
        for id in &dialog.occupants {
            if let Some(user) = self.core.store.user(app_id, *id).await? {
                occupants.push(user);
            }
        }
        Ok((dialog, occupants))
    }

    /// Creates a dialog of any type. Broadcast dialogs need no owner user (the operator owns them: owner
    /// id 0, and only their admins post); the other types are created as `owner` would create them.
    pub async fn create_dialog(
        &self,
        app_id: i64,
        owner: Option<i64>,
        input: DialogInput,
    ) -> CoreResult<DialogView> {
        self.core.apps().get(app_id).await?;
        let broadcast = input.kind.is_none_or(|code| code == DialogType::Broadcast.code());
        let view = if broadcast {
            self.core.dialogs().create_broadcast(app_id, owner, input).await?
        } else {
            let owner = owner.ok_or_else(|| CoreError::invalid("user_id", "can't be blank"))?;
            self.core.dialogs().create(app_id, owner, input).await?
        };
        let dialog = &view.dialog;
        self.audit(
            "dialog.create",
            Some(app_id),
            Some(dialog.id.clone()),
            json!({ "type": dialog.kind, "name": dialog.name, "owner": dialog.user_id }),
        )
        .await?;
        Ok(view)
    }

    /// Changes a dialog with its owner's rights.
    pub async fn update_dialog(
        &self,
        app_id: i64,
        dialog_id: &str,
        update: DialogUpdate,
    ) -> CoreResult<DialogView> {
        let dialog = self.core.dialogs().get(app_id, dialog_id).await?;
        let detail = json!({
            "name": update.name,
            "push_occupants": update.push_occupants,
            "pull_occupants": update.pull_occupants,
            "push_admins": update.push_admins,
            "pull_admins": update.pull_admins,
        });
        let view = self
            .core
            .dialogs()
            .update(app_id, dialog_id, dialog.user_id, update)
            .await?;
        self.audit("dialog.update", Some(app_id), Some(dialog_id.to_owned()), detail)
            .await?;
        Ok(view)
    }

    /// Deletes a dialog for everyone, with its history.
    pub async fn delete_dialog(&self, app_id: i64, dialog_id: &str) -> CoreResult<()> {
        let dialog = self.core.dialogs().get(app_id, dialog_id).await?;
        let outcome = self
            .core
            .dialogs()
            .delete(app_id, &[dialog_id.to_owned()], dialog.user_id, true)
            .await?;
        if outcome.deleted.is_empty() {
            return Err(CoreError::NotFound);
        }
        self.audit(
            "dialog.delete",
            Some(app_id),
            Some(dialog_id.to_owned()),
            json!({}),
        )
        .await
    }

    // --- Messages ---

    pub async fn search_messages(
        &self,
        search: &MessageModeration,
    ) -> CoreResult<(Vec<(i64, ChatMessage)>, i64)> {
        self.core.apps().get(search.app_id).await?;
        let mut search = search.clone();
        search.limit = search.limit.clamp(1, MAX_PAGE);
        search.skip = search.skip.max(0);
        search.text = search.text.filter(|t| !t.is_empty());
        Ok(self.core.store.admin().search_messages(&search).await?)
    }

    /// Deletes messages of a dialog for everyone; members online see them go. Returns the ids deleted.
    pub async fn delete_messages(
        &self,
        app_id: i64,
        dialog_id: &str,
        ids: &[String],
    ) -> CoreResult<Vec<String>> {
        let dialog = self.core.dialogs().get(app_id, dialog_id).await?;
        let found = self
            .core
            .store
            .admin()
            .message_seqs(app_id, dialog_id, ids)
            .await?;
        if found.is_empty() {
            return Err(CoreError::NotFound);
        }
        let seqs: Vec<i64> = found.iter().map(|(seq, _)| *seq).collect();
        let gone = self.core.store.delete_messages(dialog_id, &seqs).await?;
        let deleted: Vec<String> = found
            .into_iter()
            .filter(|(seq, _)| gone.contains(seq))
            .map(|(_, id)| id)
            .collect();
        self.core
            .events
            .publish(Event::MessagesDeleted {
                app_id,
                dialog_id: dialog_id.to_owned(),
                message_ids: deleted.clone(),
                by_user: dialog.user_id,
                recipients: dialog.occupants.clone(),
            })
            .await;
        self.audit(
            "message.delete",
            Some(app_id),
            Some(dialog_id.to_owned()),
            json!({ "message_ids": deleted }),
        )
        .await?;
        Ok(deleted)
    }

    // --- Figures ---

    /// Counts, users online and storage, for one application or the whole server.
    pub async fn figures(&self, app_id: Option<i64>) -> CoreResult<Figures> {
        let now = self.core.clock.now_millis();
        let users_online = self.users_online(app_id).await?;
        Ok(Figures {
            counts: self.core.store.admin().counts(app_id, now).await?,
            users_online,
            storage_bytes: self.storage_bytes().await?,
        })
    }

    /// Users with an available chat session, in one application or all.
    pub async fn users_online(&self, app_id: Option<i64>) -> CoreResult<i64> {
        let apps = match app_id {
            Some(id) => vec![self.core.apps().get(id).await?],
            None => self.core.apps().list().await?,
        };
        Ok(apps
            .iter()
            .map(|app| self.core.online.users(app.id).len() as i64)
            .sum())
    }

    /// Bytes the database takes.
    pub async fn storage_bytes(&self) -> CoreResult<i64> {
        Ok(self.core.store.admin().storage_bytes().await?)
    }

    /// Copies a SQLite database into a new file while the server runs.
    pub async fn backup(&self, path: &str) -> CoreResult<()> {
        self.core.store.admin().backup_into(path).await?;
        self.audit("server.backup", None, Some(path.to_owned()), json!({}))
            .await
    }
}
