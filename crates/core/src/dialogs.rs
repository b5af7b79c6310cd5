//! Dialogs: creating, listing, changing and deleting them, membership (occupants, subscribers, admins),
//! and the per-user settings (hidden, notifications, cleared history). The XMPP server asks here who may
//! post to a dialog, who receives its messages and who may read it.
//!
//! Roles (docs/protocol.md#rest-dialog-roles): the owner (`user_id`, "super admin"), up to five admins, and
//! members — the occupants of group (2), private (3) and meeting (5) dialogs, the subscribers of public (4)
//! ones.
//! Broadcast dialogs (1) have no members: everyone in the application reads them, the owner and admins
//! post to them, and only the admin API creates them.
//!
//! `DialogStore` (at the end, with the list query and the change types) is where dialogs are kept.

use crate::accounts::{UserCondition, UserField, UserQuery};
use crate::error::{StoreError, StoreResult};
use crate::events::Event;
use crate::model::{Dialog, DialogType, DialogView, User};
use crate::query::{FilterOp, FilterValue};
use crate::{Core, CoreError, CoreResult};
use async_trait::async_trait;
use palaver_proto::{new_object_id, private_dialog_id};
use serde_json::{Map, Value};

/// Admins a dialog may have besides its owner.
pub const MAX_ADMINS: usize = 5;
/// The largest page of the list calls.
pub const MAX_PAGE: i64 = 100;
/// Custom extension fields a dialog may carry.
pub const MAX_EXTENSIONS: usize = 20;
const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 2000;

/// `POST /chat/Dialog` (and the admin API's broadcast dialogs) as the caller sent it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialogInput {
    pub kind: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub photo: Option<String>,
    pub occupants: Vec<i64>,
    pub admins: Vec<i64>,
    /// Raw: values are coerced to strings; `null` values are dropped.
    pub extensions: Option<Map<String, Value>>,
    pub permissions: Option<Map<String, Value>>,
}

/// `PUT /chat/Dialog/{id}`. `Some(None)` clears a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialogUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub photo: Option<Option<String>>,
    /// Merged into the current extensions (a `null` value removes that key); `Some(None)` resets them.
    pub extensions: Option<Option<Map<String, Value>>>,
    pub permissions: Option<Option<Map<String, Value>>>,
    pub push_occupants: Vec<i64>,
    pub pull_occupants: Vec<i64>,
    pub push_admins: Vec<i64>,
    pub pull_admins: Vec<i64>,
    pub push_pinned: Vec<String>,
    pub pull_pinned: Vec<String>,
}

/// What became of each id of a (multi-id) delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteOutcome {
    pub deleted: Vec<String>,
    pub not_found: Vec<String>,
    pub forbidden: Vec<String>,
}

pub struct DialogService {
    core: Core,
}

fn needs_admin() -> CoreError {
    CoreError::Forbidden("Only the owner and admins of this dialog may do this".into())
}

impl DialogService {
    pub(crate) fn new(core: Core) -> DialogService {
        DialogService { core }
    }

    // --- The contract the XMPP server uses ---

    /// The dialog a user posts to: NotFound if there is no such dialog in the app; Forbidden if the user
    /// may not post (not an occupant of 2/3/5, not a subscriber of 4, not the owner or an admin of a
    /// broadcast 1).
    pub async fn for_posting(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<Dialog> {
        let dialog = self.get(app_id, dialog_id).await?;
        let allowed = if dialog.kind == DialogType::Broadcast {
            dialog.is_owner_or_admin(user_id)
        } else {
            dialog.is_member(user_id)
        };
        if !allowed {
            return Err(if dialog.kind == DialogType::Broadcast {
                CoreError::Forbidden("Only the owner and admins may post to a broadcast dialog".into())
            } else {
                CoreError::not_member()
            });
        }
        Ok(dialog)
    }

    /// Who receives a dialog's messages: its member ids (occupants / subscribers), the sender included.
    /// Broadcast dialogs have no members and return an empty list: the caller fans their messages out to
    /// every online user of the application. NotFound if there is no such dialog in the app.
    pub async fn recipients(&self, app_id: i64, dialog_id: &str) -> CoreResult<Vec<i64>> {
        Ok(self.get(app_id, dialog_id).await?.occupants)
    }

    /// Whether the user may read (and join) the dialog's room: its members, and everyone in the app for a
    /// broadcast dialog. NotFound if there is no such dialog in the app.
    pub async fn can_read(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<bool> {
        let dialog = self.get(app_id, dialog_id).await?;
        Ok(dialog.kind == DialogType::Broadcast || dialog.is_member(user_id))
    }

    /// Whether the user wants push alerts for the dialog's messages (default yes).
    pub async fn notifications_enabled(&self, dialog_id: &str, user_id: i64) -> CoreResult<bool> {
        Ok(self.core.store.dialog_notifications(dialog_id, user_id).await?)
    }

    // --- Reads ---

    /// The dialog, if it exists in the app.
    pub async fn get(&self, app_id: i64, dialog_id: &str) -> CoreResult<Dialog> {
        self.core
            .store
            .dialog(app_id, dialog_id)
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// The dialog as `user_id` sees it (unread count, last message status).
    pub async fn view(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<DialogView> {
        self.core
            .store
            .dialog_view(app_id, dialog_id, user_id)
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// A page of the caller's dialogs and how many match in all.
    pub async fn list(&self, query: &DialogQuery) -> CoreResult<(Vec<DialogView>, i64)> {
        let mut query = query.clone();
        query.limit = query.limit.clamp(1, MAX_PAGE);
        query.skip = query.skip.max(0);
        Ok(self.core.store.list_dialogs(&query).await?)
    }

    pub async fn count(&self, query: &DialogQuery) -> CoreResult<i64> {
        Ok(self.core.store.count_dialogs(query).await?)
    }

    /// The members of a dialog as users, in joining order: anyone in the app may see a public dialog's
    /// subscribers; other dialogs show theirs to their participants. Broadcast dialogs have none.
    pub async fn members(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        limit: i64,
        skip: i64,
    ) -> CoreResult<Vec<User>> {
        let dialog = self.get(app_id, dialog_id).await?;
        if dialog.kind != DialogType::Public && !is_participant(&dialog, user_id) {
            return Err(CoreError::not_member());
        }
        let page: Vec<i64> = dialog
            .occupants
            .iter()
            .copied()
            .skip(skip.max(0) as usize)
            .take(limit.clamp(1, MAX_PAGE) as usize)
            .collect();
        let mut users = self.users_of_app(app_id, &page).await?;
        users.sort_by_key(|u| page.iter().position(|id| *id == u.id));
        Ok(users)
    }

    // --- Creation ---

    /// `POST /chat/Dialog` by `user_id`: group (2), private (3, the pair's existing dialog when there is
    /// one), public (4) and meeting (5) dialogs; broadcast dialogs only come from the admin API.
    pub async fn create(&self, app_id: i64, user_id: i64, input: DialogInput) -> CoreResult<DialogView> {
        let code = input
            .kind
            .ok_or_else(|| CoreError::invalid("type", "can't be blank"))?;
        let kind = match DialogType::from_code(code) {
            Some(DialogType::Broadcast) => {
                return Err(CoreError::Forbidden(
                    "Broadcast dialogs can be created only through the admin API".into(),
                ))
            }
            Some(kind) => kind,
            None => return Err(CoreError::invalid("type", "is not included in the list")),
        };
        if kind == DialogType::Private {
            return self.create_private(app_id, user_id, input).await;
        }
        let name = required_name(input.name.as_deref())?;
        let mut members = vec![user_id];
        if kind != DialogType::Public {
            if input.occupants.is_empty() {
                return Err(CoreError::invalid("occupants_ids", "can't be blank"));
            }
            self.require_users(app_id, "occupants_ids", &input.occupants)
                .await?;
            push_unique(&mut members, &input.occupants);
        }
        let admins = self
            .admins_for_new_dialog(app_id, kind, user_id, &members, &input.admins)
            .await?;
        let dialog = self
            .insert(NewDialog {
                id: new_object_id().to_string(),
                app_id,
                kind,
                owner_id: user_id,
                name: Some(name),
                description: optional_text("description", input.description)?,
                photo: optional_text("photo", input.photo)?,
                extensions: input.extensions.map(|e| extensions(&e)).transpose()?,
                permissions: input.permissions.map(|p| permissions(&p)),
                members,
                admins,
                now: self.core.clock.now_millis(),
            })
            .await?;
        self.view(app_id, &dialog.id, user_id).await
    }

    async fn create_private(&self, app_id: i64, user_id: i64, input: DialogInput) -> CoreResult<DialogView> {
        let mut opponents: Vec<i64> = Vec::new();
        push_unique(&mut opponents, &input.occupants);
        opponents.retain(|u| *u != user_id);
        let opponent = match opponents.as_slice() {
            [] => {
                return Err(CoreError::Rejected(
                    "Occupants_ids is missing opponent ID.".into(),
                ))
            }
            [one] => *one,
            _ => {
                return Err(CoreError::invalid(
                    "occupants_ids",
                    "a private dialog has exactly one opponent",
                ))
            }
        };
        self.require_users(app_id, "occupants_ids", &[opponent]).await?;
        let new_id = private_dialog_id(app_id, user_id, opponent).to_string();
        let now = self.core.clock.now_millis();
        let (dialog, made) = self
            .core
            .store
            .private_dialog(app_id, user_id, opponent, &new_id, now)
            .await?;
        if made {
            // Just made: it takes the optional fields of the request.
            let change = DialogChange {
                description: optional_text("description", input.description)?.map(Some),
                photo: optional_text("photo", input.photo)?.map(Some),
                extensions: input.extensions.map(|e| extensions(&e)).transpose()?.map(Some),
                permissions: input.permissions.map(|p| Some(permissions(&p))),
                max_admins: MAX_ADMINS,
                ..DialogChange::default()
            };
            if !change.is_empty() {
                self.core
                    .store
                    .change_dialog(app_id, &dialog.id, &change, now)
                    .await?;
            }
        } else {
            // Creating it again brings it back to the list of a user who deleted it for himself.
            self.core
                .store
                .set_dialog_hidden(&dialog.id, user_id, false)
                .await?;
        }
        self.view(app_id, &dialog.id, user_id).await
    }

    /// The admin API: a broadcast dialog, which everyone in the app reads, owned by `owner_id` or by no
    /// user (owner id 0: only its admins post to it).
    pub async fn create_broadcast(
        &self,
        app_id: i64,
        owner_id: Option<i64>,
        input: DialogInput,
    ) -> CoreResult<DialogView> {
        self.core.store.app(app_id).await?.ok_or(CoreError::NotFound)?;
        if let Some(owner_id) = owner_id {
            self.require_users(app_id, "user_id", &[owner_id]).await?;
        }
        let owner_id = owner_id.unwrap_or(NO_OWNER);
        let name = required_name(input.name.as_deref())?;
        let admins = self
            .admins_for_new_dialog(app_id, DialogType::Broadcast, owner_id, &[], &input.admins)
            .await?;
        let dialog = self
            .insert(NewDialog {
                id: new_object_id().to_string(),
                app_id,
                kind: DialogType::Broadcast,
                owner_id,
                name: Some(name),
                description: optional_text("description", input.description)?,
                photo: optional_text("photo", input.photo)?,
                extensions: input.extensions.map(|e| extensions(&e)).transpose()?,
                permissions: input.permissions.map(|p| permissions(&p)),
                members: Vec::new(),
                admins,
                now: self.core.clock.now_millis(),
            })
            .await?;
        self.view(app_id, &dialog.id, owner_id).await
    }

    async fn insert(&self, dialog: NewDialog) -> CoreResult<Dialog> {
        Ok(self.core.store.create_dialog(&dialog).await?)
    }

    async fn admins_for_new_dialog(
        &self,
        app_id: i64,
        kind: DialogType,
        owner_id: i64,
        members: &[i64],
        requested: &[i64],
    ) -> CoreResult<Vec<i64>> {
        let mut admins = Vec::new();
        push_unique(&mut admins, requested);
        admins.retain(|u| *u != owner_id);
        if admins.is_empty() {
            return Ok(admins);
        }
        if kind == DialogType::Private {
            return Err(CoreError::invalid("admins_ids", "private dialogs have no admins"));
        }
        if admins.len() > MAX_ADMINS {
            return Err(too_many_admins());
        }
        self.require_users(app_id, "admins_ids", &admins).await?;
        // Admins of group and meeting dialogs are occupants; those of public and broadcast ones need not be.
        let needs_membership = kind != DialogType::Public && kind != DialogType::Broadcast;
        if needs_membership && admins.iter().any(|a| !members.contains(a)) {
            return Err(CoreError::invalid(
                "admins_ids",
                "must be occupants of the dialog",
            ));
        }
        Ok(admins)
    }

    // --- Changes ---

    /// `PUT /chat/Dialog/{id}` by `user_id`, under the role rules of docs/protocol.md#rest-dialog-roles.
    pub async fn update(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        update: DialogUpdate,
    ) -> CoreResult<DialogView> {
        let dialog = self.get(app_id, dialog_id).await?;
        let change = self.authorize_update(&dialog, user_id, update).await?;
        self.apply(&dialog, user_id, &change).await?;
        self.view(app_id, dialog_id, user_id).await
    }

    /// `PUT /chat/Dialog/{id}/admins`: the owner adds or removes admins of a group, public or broadcast
    /// dialog.
    pub async fn set_admins(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        push: Vec<i64>,
        pull: Vec<i64>,
    ) -> CoreResult<DialogView> {
        let update = DialogUpdate {
            push_admins: push,
            pull_admins: pull,
            ..DialogUpdate::default()
        };
        self.update(app_id, dialog_id, user_id, update).await
    }

    /// `POST /chat/Dialog/{id}/subscribe`: joins a public dialog as a subscriber, or a group dialog as an
    /// occupant. Subscribing again only brings a hidden dialog back.
    pub async fn subscribe(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<DialogView> {
        let dialog = self.get(app_id, dialog_id).await?;
        match dialog.kind {
            DialogType::Public | DialogType::Group | DialogType::Meeting => {
                if !dialog.is_member(user_id) {
                    let change = DialogChange {
                        add_members: vec![user_id],
                        max_admins: MAX_ADMINS,
                        ..DialogChange::default()
                    };
                    self.apply(&dialog, user_id, &change).await?;
                }
                self.core
                    .store
                    .set_dialog_hidden(dialog_id, user_id, false)
                    .await?;
            }
            DialogType::Broadcast => {
                // Everyone reads broadcast dialogs already.
                self.core
                    .store
                    .set_dialog_hidden(dialog_id, user_id, false)
                    .await?;
            }
            _ => {
                return Err(CoreError::Forbidden(
                    "Only public and group dialogs can be subscribed to".into(),
                ))
            }
        }
        self.view(app_id, dialog_id, user_id).await
    }

    /// `DELETE /chat/Dialog/{id}/subscribe`: leaves a public or group dialog (a no-op for a non-member).
    pub async fn unsubscribe(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<()> {
        let dialog = self.get(app_id, dialog_id).await?;
        match dialog.kind {
            DialogType::Public | DialogType::Group | DialogType::Meeting => {
                if dialog.is_member(user_id) {
                    let change = DialogChange {
                        remove_members: vec![user_id],
                        max_admins: MAX_ADMINS,
                        ..DialogChange::default()
                    };
                    self.apply(&dialog, user_id, &change).await?;
                }
                Ok(())
            }
            _ => Err(CoreError::Forbidden(
                "Only public and group dialogs can be unsubscribed from".into(),
            )),
        }
    }

    /// Checks an update against the role rules and turns it into a store change.
    async fn authorize_update(
        &self,
        dialog: &Dialog,
        user_id: i64,
        update: DialogUpdate,
    ) -> CoreResult<DialogChange> {
        let kind = dialog.kind;
        let privileged = dialog.is_owner_or_admin(user_id);
        if !is_participant(dialog, user_id) {
            return Err(if kind == DialogType::Broadcast {
                needs_admin()
            } else {
                CoreError::not_member()
            });
        }
        let mut change = DialogChange {
            max_admins: MAX_ADMINS,
            ..DialogChange::default()
        };

        // Name, photo, description: any occupant of a group, owner and admins elsewhere, nobody in a
        // private dialog. Extensions and permissions follow the same rule but are open to both users of
        // a private dialog.
        let renames = update.name.is_some() || update.description.is_some() || update.photo.is_some();
        let customizes = update.extensions.is_some() || update.permissions.is_some();
        if renames || customizes {
            let allowed = match kind {
                DialogType::Group | DialogType::Meeting => true,
                DialogType::Private => !renames,
                _ => privileged,
            };
            if !allowed {
                return Err(if kind == DialogType::Private {
                    CoreError::Forbidden("Private dialogs can't be renamed".into())
                } else {
                    needs_admin()
                });
            }
        }
        if let Some(name) = update.name {
            change.name = Some(Some(required_name(name.as_deref())?));
        }
        if let Some(description) = update.description {
            change.description = Some(optional_text("description", description)?);
        }
        if let Some(photo) = update.photo {
            change.photo = Some(optional_text("photo", photo)?);
        }
        if let Some(new) = update.extensions {
            change.extensions = Some(match new {
                None => None,
                Some(new) => {
                    let mut merged = dialog.extensions.clone().unwrap_or_default();
                    for (key, value) in new {
                        if value.is_null() {
                            merged.remove(&key);
                        } else {
                            merged.insert(key, value);
                        }
                    }
                    let merged = extensions(&merged)?;
                    (!merged.is_empty()).then_some(merged)
                }
            });
        }
        if let Some(new) = update.permissions {
            change.permissions = Some(new.map(|p| permissions(&p)));
        }

        // Occupants: any occupant of a group adds; leaving is open to every member of a group or public
        // dialog; removing others is for the owner and admins of a group (never the owner himself).
        let mut add = Vec::new();
        push_unique(&mut add, &update.push_occupants);
        add.retain(|u| !dialog.is_member(*u));
        if !update.push_occupants.is_empty() {
            if !matches!(kind, DialogType::Group | DialogType::Meeting) {
                return Err(CoreError::Forbidden(
                    "Occupants can be added only to group dialogs".into(),
                ));
            }
            self.require_users(dialog.app_id, "occupants_ids", &add).await?;
        }
        let mut remove = Vec::new();
        push_unique(&mut remove, &update.pull_occupants);
        if !remove.is_empty() {
            let leaving_only = remove == [user_id];
            let allowed = match kind {
                DialogType::Group | DialogType::Meeting => {
                    leaving_only
                        || (privileged && remove.iter().all(|u| *u == user_id || *u != dialog.user_id))
                }
                DialogType::Public => leaving_only,
                _ => false,
            };
            if !allowed {
                return Err(match kind {
                    DialogType::Private | DialogType::Broadcast => {
                        CoreError::Forbidden("Occupants of this dialog can't be changed".into())
                    }
                    _ => CoreError::Forbidden("Only the owner and admins may remove other occupants".into()),
                });
            }
            remove.retain(|u| dialog.is_member(*u));
        }

        // Admins: the owner only, not in private dialogs, at most five.
        let mut add_admins = Vec::new();
        push_unique(&mut add_admins, &update.push_admins);
        add_admins.retain(|u| *u != dialog.user_id && !dialog.admins.contains(u));
        let mut remove_admins = Vec::new();
        push_unique(&mut remove_admins, &update.pull_admins);
        remove_admins.retain(|u| dialog.admins.contains(u));
        if !update.push_admins.is_empty() || !update.pull_admins.is_empty() {
            if kind == DialogType::Private {
                return Err(CoreError::Forbidden("Private dialogs have no admins".into()));
            }
            if dialog.user_id != user_id {
                return Err(CoreError::Forbidden(
                    "Only the owner may change the admins of this dialog".into(),
                ));
            }
            let remaining = dialog.admins.len() - remove_admins.len();
            if remaining + add_admins.len() > MAX_ADMINS {
                return Err(too_many_admins());
            }
            self.require_users(dialog.app_id, "admins_ids", &add_admins)
                .await?;
            if matches!(kind, DialogType::Group | DialogType::Meeting) {
                let member_after = |u: &i64| (dialog.is_member(*u) || add.contains(u)) && !remove.contains(u);
                if !add_admins.iter().all(member_after) {
                    return Err(CoreError::invalid(
                        "admins_ids",
                        "must be occupants of the dialog",
                    ));
                }
            }
        }

        // Pinned messages: owner and admins, or either user of a private dialog.
        if !update.push_pinned.is_empty() || !update.pull_pinned.is_empty() {
            let allowed = kind == DialogType::Private || privileged;
            if !allowed {
                return Err(needs_admin());
            }
            change.add_pinned = update.push_pinned;
            change.remove_pinned = update.pull_pinned;
        }

        change.add_members = add;
        change.remove_members = remove;
        change.add_admins = add_admins;
        change.remove_admins = remove_admins;
        Ok(change)
    }

    /// Stores a change and tells live sessions about removed members.
    async fn apply(&self, before: &Dialog, actor: i64, change: &DialogChange) -> CoreResult<Dialog> {
        if change.is_empty() {
            return Ok(before.clone());
        }
        // Admins of a group are occupants: one who leaves or is removed stops being an admin. (Admins of
        // public and broadcast dialogs need no member row.)
        let mut change = change.clone();
        if matches!(before.kind, DialogType::Group | DialogType::Meeting) {
            for user in &change.remove_members {
                if before.admins.contains(user) && !change.remove_admins.contains(user) {
                    change.remove_admins.push(*user);
                }
            }
        }
        let now = self.core.clock.now_millis();
        let after = self
            .core
            .store
            .change_dialog(before.app_id, &before.id, &change, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(field) if field == "admins_ids" => too_many_admins(),
                other => CoreError::Store(other),
            })?
            .ok_or(CoreError::NotFound)?;
        let removed: Vec<i64> = before
            .occupants
            .iter()
            .copied()
            .filter(|u| !after.occupants.contains(u))
            .collect();
        if !removed.is_empty() {
            self.core
                .events
                .publish(Event::OccupantsRemoved {
                    app_id: before.app_id,
                    dialog_id: before.id.clone(),
                    removed,
                    by_user: actor,
                })
                .await;
        }
        Ok(after)
    }

    // --- Deletion and per-user state ---

    /// `DELETE /chat/Dialog/{ids}`: without `force` each dialog disappears from the caller's list until a
    /// new message arrives; with `force` the owner deletes it for everyone.
    pub async fn delete(
        &self,
        app_id: i64,
        ids: &[String],
        user_id: i64,
        force: bool,
    ) -> CoreResult<DeleteOutcome> {
        let mut outcome = DeleteOutcome::default();
        for id in ids {
            let dialog = match self.core.store.dialog(app_id, id).await? {
                Some(d) if is_participant(&d, user_id) => d,
                _ => {
                    outcome.not_found.push(id.clone());
                    continue;
                }
            };
            if force {
                if dialog.user_id != user_id {
                    outcome.forbidden.push(id.clone());
                    continue;
                }
                if self.core.store.delete_dialog(app_id, id).await? {
                    let removed: Vec<i64> = dialog
                        .occupants
                        .iter()
                        .copied()
                        .filter(|u| *u != user_id)
                        .collect();
                    if !removed.is_empty() {
                        self.core
                            .events
                            .publish(Event::OccupantsRemoved {
                                app_id,
                                dialog_id: id.clone(),
                                removed,
                                by_user: user_id,
                            })
                            .await;
                    }
                }
            } else {
                self.core.store.set_dialog_hidden(id, user_id, true).await?;
            }
            outcome.deleted.push(id.clone());
        }
        Ok(outcome)
    }

    /// `DELETE /chat/Dialog/clearHistory/{id}`: the caller stops seeing the dialog's current messages.
    pub async fn clear_history(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<()> {
        let dialog = self.readable(app_id, dialog_id, user_id).await?;
        Ok(self.core.store.clear_dialog_history(&dialog.id, user_id).await?)
    }

    /// `GET /chat/Dialog/{id}/notifications`.
    pub async fn notifications(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<bool> {
        let dialog = self.readable(app_id, dialog_id, user_id).await?;
        Ok(self.core.store.dialog_notifications(&dialog.id, user_id).await?)
    }

    /// `PUT /chat/Dialog/{id}/notifications`.
    pub async fn set_notifications(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        enabled: bool,
    ) -> CoreResult<bool> {
        let dialog = self.readable(app_id, dialog_id, user_id).await?;
        self.core
            .store
            .set_dialog_notifications(&dialog.id, user_id, enabled)
            .await?;
        Ok(enabled)
    }

    /// The dialog if the user reads it: a member, or anyone for a broadcast dialog.
    async fn readable(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<Dialog> {
        let dialog = self.get(app_id, dialog_id).await?;
        if dialog.kind == DialogType::Broadcast || dialog.is_member(user_id) {
            Ok(dialog)
        } else {
            Err(CoreError::not_member())
        }
    }

    // --- Helpers ---

    /// Users of the app among `ids`.
    async fn users_of_app(&self, app_id: i64, ids: &[i64]) -> CoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = UserQuery {
            app_id,
            conditions: vec![UserCondition {
                field: UserField::Id,
                op: FilterOp::In,
                values: ids.iter().map(|id| FilterValue::Int(*id)).collect(),
            }],
            sort: None,
            limit: ids.len() as i64,
            skip: 0,
        };
        Ok(self.core.store.list_users(&query).await?.0)
    }

    /// 422 naming `field` unless every id is a user of the app.
    async fn require_users(&self, app_id: i64, field: &str, ids: &[i64]) -> CoreResult<()> {
        let mut wanted = Vec::new();
        push_unique(&mut wanted, ids);
        let found: Vec<i64> = self
            .users_of_app(app_id, &wanted)
            .await?
            .iter()
            .map(|u| u.id)
            .collect();
        let unknown: Vec<String> = wanted
            .iter()
            .filter(|id| !found.contains(id))
            .map(|id| id.to_string())
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(CoreError::invalid(
                field,
                &format!("contains unknown users: {}", unknown.join(", ")),
            ))
        }
    }
}

/// The owner id of a broadcast dialog an operator made without naming a user.
pub const NO_OWNER: i64 = 0;

/// Members, and the owner and admins (who keep their role without a member row).
fn is_participant(dialog: &Dialog, user_id: i64) -> bool {
    dialog.kind == DialogType::Broadcast || dialog.is_member(user_id) || dialog.is_owner_or_admin(user_id)
}

fn too_many_admins() -> CoreError {
    CoreError::invalid(
        "admins_ids",
        &format!("a dialog can have at most {MAX_ADMINS} admins"),
    )
}

fn push_unique(target: &mut Vec<i64>, ids: &[i64]) {
    for id in ids {
        if !target.contains(id) {
            target.push(*id);
        }
    }
}

fn required_name(name: Option<&str>) -> CoreResult<String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(CoreError::invalid("name", "can't be blank"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(CoreError::invalid(
            "name",
            &format!("is too long (maximum is {MAX_NAME} characters)"),
        ));
    }
    Ok(name.to_owned())
}

/// Trimmed text; empty means "not set".
fn optional_text(field: &str, text: Option<String>) -> CoreResult<Option<String>> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
        return Err(CoreError::invalid(
            field,
            &format!("is too long (maximum is {MAX_TEXT} characters)"),
        ));
    }
    Ok(text)
}

/// Extension values as strings (numbers and booleans as their text); `null` values dropped. Keys are
/// `[A-Za-z0-9_-]`, at most `MAX_EXTENSIONS` of them.
pub fn extensions(raw: &Map<String, Value>) -> CoreResult<Map<String, Value>> {
    let mut clean = Map::new();
    for (key, value) in raw {
        let valid_key = !key.is_empty()
            && key.len() <= 64
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_key {
            return Err(CoreError::invalid(
                "extensions",
                &format!("'{key}' is not a valid key"),
            ));
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(CoreError::invalid(
                    "extensions",
                    &format!("the value of '{key}' must be a string"),
                ))
            }
        };
        if text.chars().count() > MAX_TEXT {
            return Err(CoreError::invalid(
                "extensions",
                &format!("the value of '{key}' is too long"),
            ));
        }
        clean.insert(key.clone(), Value::String(text));
    }
    if clean.len() > MAX_EXTENSIONS {
        return Err(CoreError::invalid(
            "extensions",
            &format!("at most {MAX_EXTENSIONS} fields"),
        ));
    }
    Ok(clean)
}

/// `{"allow_preview": bool}`; other keys are dropped.
pub fn permissions(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut clean = Map::new();
    if let Some(value) = raw.get("allow_preview") {
        let allow = match value {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_i64() == Some(1),
            Value::String(s) => matches!(s.trim(), "1" | "true"),
            _ => false,
        };
        clean.insert("allow_preview".into(), Value::Bool(allow));
    }
    clean
}

// --- Storage ---

/// A dialog field the list call may filter or sort on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogField {
    /// `_id`, compared as text.
    Id,
    Type,
    Name,
    /// The owner (`user_id`).
    OwnerId,
    /// Unix seconds.
    LastMessageDateSent,
    /// Unix milliseconds.
    CreatedAt,
    /// Unix milliseconds.
    UpdatedAt,
    /// The member ids: Eq/In match dialogs having any of the values, All those having every value,
    /// Ne/Nin those having none.
    Occupants,
    /// `extensions[key]`, compared as text. Keys are `[A-Za-z0-9_-]+`.
    Extension(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DialogCondition {
    pub field: DialogField,
    pub op: FilterOp,
    pub values: Vec<FilterValue>,
}

/// A page of the dialogs `user_id` sees: those he is a member of and has not hidden, and the app's
/// broadcast dialogs he has not hidden.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogQuery {
    pub app_id: i64,
    pub user_id: i64,
    pub conditions: Vec<DialogCondition>,
    /// Field and ascending?; `None` sorts by last message date, then update time, newest first.
    pub sort: Option<(DialogField, bool)>,
    pub limit: i64,
    pub skip: i64,
}

/// A dialog to insert, with its member rows and admins.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDialog {
    pub id: String,
    pub app_id: i64,
    pub kind: DialogType,
    pub owner_id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub photo: Option<String>,
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
    pub permissions: Option<serde_json::Map<String, serde_json::Value>>,
    pub members: Vec<i64>,
    pub admins: Vec<i64>,
    pub now: i64,
}

/// A change of a dialog, applied in one transaction. `Some(None)` clears a field, `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialogChange {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub photo: Option<Option<String>>,
    pub extensions: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    pub permissions: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    /// New members join visible (not hidden) with nothing unread; existing ones are left as they are.
    pub add_members: Vec<i64>,
    /// Removed members also stop being admins.
    pub remove_members: Vec<i64>,
    pub add_admins: Vec<i64>,
    pub remove_admins: Vec<i64>,
    pub add_pinned: Vec<String>,
    pub remove_pinned: Vec<String>,
    /// When the dialog would end up with more admins than this, nothing changes and the store answers
    /// `StoreError::Conflict("admins_ids")`.
    pub max_admins: usize,
}

impl DialogChange {
    /// Whether the change touches anything at all.
    pub fn is_empty(&self) -> bool {
        *self
            == DialogChange {
                max_admins: self.max_admins,
                ..DialogChange::default()
            }
    }
}

/// Where dialogs, their members and admins, and each user's own state of a dialog are kept.
///
/// Per-user dialog state (hidden, notifications, cleared history) lives in the member row; broadcast
/// dialogs have no member rows and keep it per reader instead.
#[async_trait]
pub trait DialogStore: Send + Sync {
    async fn dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<Option<Dialog>>;
    /// The private dialog of two users, created (with `new_id`) if they have none yet, and whether this
    /// call made it; stored when it returns.
    async fn private_dialog(
        &self,
        app_id: i64,
        a: i64,
        b: i64,
        new_id: &str,
        now: i64,
    ) -> StoreResult<(Dialog, bool)>;
    /// The same for a message between them, which only needs the dialog's id, type and members (the
    /// rest of what it returns may be a new dialog's, for a pair whose row was made earlier): a pair with
    /// no dialog gets one under the pair's own id (`palaver_proto::private_dialog_id`, so that every node
    /// makes the same; derived only when the pair is not known already), written behind: stored with or
    /// before the next write that is waited for (the message's own history row, if any), and seen by
    /// readers a few milliseconds later.
    async fn private_dialog_for_message(&self, app_id: i64, a: i64, b: i64, now: i64) -> StoreResult<Dialog>;
    /// Inserts a dialog with its member rows and admins.
    async fn create_dialog(&self, dialog: &NewDialog) -> StoreResult<Dialog>;
    /// One page of the dialogs the user sees, and how many there are in all.
    async fn list_dialogs(&self, query: &DialogQuery) -> StoreResult<(Vec<DialogView>, i64)>;
    /// How many dialogs the query matches.
    async fn count_dialogs(&self, query: &DialogQuery) -> StoreResult<i64>;
    /// A dialog of the app with `viewer_id`'s unread count and last-message status (he need not be a
    /// member).
    async fn dialog_view(
        &self,
        app_id: i64,
        dialog_id: &str,
        viewer_id: i64,
    ) -> StoreResult<Option<DialogView>>;
    /// Applies a change and bumps `updated_at`; `None` when the dialog does not exist.
    async fn change_dialog(
        &self,
        app_id: i64,
        dialog_id: &str,
        change: &DialogChange,
        now: i64,
    ) -> StoreResult<Option<Dialog>>;
    /// Deletes a dialog for everyone, with its history. False when there was no such dialog.
    async fn delete_dialog(&self, app_id: i64, dialog_id: &str) -> StoreResult<bool>;
    /// Hides the dialog from the user's list (or shows it again). A new message shows it again.
    async fn set_dialog_hidden(&self, dialog_id: &str, user_id: i64, hidden: bool) -> StoreResult<()>;
    /// Clears the history for the user only: messages up to the newest one now stop being his
    /// (`cleared_seq`), and nothing stays unread.
    async fn clear_dialog_history(&self, dialog_id: &str, user_id: i64) -> StoreResult<()>;
    /// Whether the user gets push alerts for the dialog (default true).
    async fn dialog_notifications(&self, dialog_id: &str, user_id: i64) -> StoreResult<bool>;
    async fn set_dialog_notifications(&self, dialog_id: &str, user_id: i64, enabled: bool)
        -> StoreResult<()>;
}
