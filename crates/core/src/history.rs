//! Chat history after the fact: reading it, read/delivered marks, edits, deletes, reactions, unread counts
//! and search. The REST API (`/chat/Message`) and the XMPP server (markers, corrections, deletions) call
//! the same functions here. Nothing in this module publishes events: the REST handlers publish after a
//! call succeeds, and the XMPP side routes its own stanzas.
//!
//! `MessageStore` (at the end, with the history and search queries) is where messages, offline stanzas and
//! their per-user state are kept.

use crate::error::StoreResult;
use crate::messages::{GroupMessage, MessageContent, PrivateMessage};
use crate::model::{ChatMessage, OfflineMessage};
use crate::model::{Dialog, DialogType, DialogView, HistoryMessage, User};
use crate::query::{FilterOp, FilterValue};
use crate::{Core, CoreError, CoreResult};
use async_trait::async_trait;
use palaver_proto::new_object_id;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// What deleting for everyone did to each requested id (the dialog API's bulk-delete shape).
pub use crate::dialogs::DeleteOutcome;

/// Longest reaction accepted (an emoji with modifiers is well under this).
pub const MAX_REACTION_BYTES: usize = 64;
/// How many of the last messages `preview=1` shows.
pub const PREVIEW_MESSAGES: i64 = 20;
/// Search limits (docs/protocol.md#rest-search).
pub const SEARCH_MIN_TEXT_CHARS: usize = 5;
pub const SEARCH_MAX_DIALOGS: usize = 10;
pub const SEARCH_MAX_LIMIT: i64 = 100;
pub const SEARCH_MAX_RANGE_SECONDS: i64 = 92 * 24 * 60 * 60;

/// A message created through REST.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub app_id: i64,
    pub sender_id: i64,
    /// The dialog, or (for a private dialog) just the other user.
    pub dialog_id: Option<String>,
    pub recipient_id: Option<i64>,
    pub body: Option<String>,
    /// A JSON array of attachment objects.
    pub attachments: Value,
    pub custom: Map<String, Value>,
    /// The client's Unix seconds, if it gave any.
    pub date_sent: Option<i64>,
}

/// What a REST-created message holds, under `id`: always saved to history.
fn saved_content(new: &NewMessage, id: &str) -> MessageContent {
    MessageContent {
        id: id.to_owned(),
        body: new.body.clone(),
        attachments: new.attachments.clone(),
        custom: new.custom.clone(),
        date_sent: new.date_sent,
        save_to_history: true,
    }
}

/// `GET /chat/search` results.
#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    /// As the searching user sees them.
    pub dialogs: Vec<DialogView>,
    pub messages: Vec<HistoryMessage>,
    pub users: Vec<User>,
}

/// Dialog rights the history rules need; the rules themselves are the dialog service's
/// (`DialogService::{can_read, for_posting}`, `Dialog::is_owner_or_admin`). Members are the dialog's
/// occupant rows (occupants of group, private and meeting dialogs, subscribers of public ones); broadcast
/// dialogs have none and are read by everyone in the application.
mod rights {
    use super::*;

    /// `DialogService::can_read`, on a dialog already loaded.
    pub fn can_read(dialog: &Dialog, user_id: i64) -> bool {
        dialog.kind == DialogType::Broadcast || dialog.is_member(user_id)
    }

    /// The owner and admins delete anyone's messages in group, public and broadcast dialogs.
    pub fn may_delete_others(dialog: &Dialog, user_id: i64) -> bool {
        matches!(
            dialog.kind,
            DialogType::Group | DialogType::Public | DialogType::Broadcast
        ) && dialog.is_owner_or_admin(user_id)
    }
}

/// Every member of the dialog but `actor`: who hears about what `actor` did.
pub fn others(dialog: &Dialog, actor: i64) -> Vec<i64> {
    dialog.occupants.iter().copied().filter(|u| *u != actor).collect()
}

pub struct HistoryService {
    core: Core,
}

impl HistoryService {
    pub(crate) fn new(core: Core) -> HistoryService {
        HistoryService { core }
    }

    /// The dialog, if it exists in the app and `user_id` may read it.
    pub async fn readable_dialog(&self, app_id: i64, dialog_id: &str, user_id: i64) -> CoreResult<Dialog> {
        let dialog = self.core.dialogs().get(app_id, dialog_id).await?;
        if !rights::can_read(&dialog, user_id) {
            return Err(CoreError::not_member());
        }
        Ok(dialog)
    }

    /// One page of the dialog's history as `query.viewer_id` sees it; with `mark_as_read` the returned
    /// messages become read for him (and show so). Also returns the newly read (sender, id) pairs.
    pub async fn list(
        &self,
        query: &HistoryQuery,
        mark_as_read: bool,
    ) -> CoreResult<(Vec<HistoryMessage>, Vec<(i64, String)>)> {
        let viewer = query.viewer_id;
        self.readable_dialog(query.app_id, &query.dialog_id, viewer)
            .await?;
        let mut page = self.core.store.history(query).await?;
        let mut marked = Vec::new();
        if mark_as_read {
            let ids: Vec<String> = page
                .iter()
                .filter(|m| m.message.sender_id != viewer && !m.read_ids.contains(&viewer))
                .map(|m| m.message.id.clone())
                .collect();
            if !ids.is_empty() {
                marked = self
                    .core
                    .store
                    .mark_messages(query.app_id, &query.dialog_id, viewer, Some(&ids), true)
                    .await?;
                for message in page.iter_mut().filter(|m| m.message.sender_id != viewer) {
                    for list in [&mut message.read_ids, &mut message.delivered_ids] {
                        if !list.contains(&viewer) {
                            list.push(viewer);
                        }
                    }
                }
            }
        }
        Ok((page, marked))
    }

    /// `preview=1`: the last messages of a dialog (oldest first), for its members and — when the dialog's
    /// `permissions.allow_preview` is true — for anyone in the app. Nothing is marked read.
    pub async fn preview(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
    ) -> CoreResult<Vec<HistoryMessage>> {
        let dialog = self.core.dialogs().get(app_id, dialog_id).await?;
        let open = dialog
            .permissions
            .as_ref()
            .and_then(|p| p.get("allow_preview"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !open && !rights::can_read(&dialog, user_id) {
            return Err(CoreError::not_member());
        }
        let mut last = self
            .core
            .store
            .history(&HistoryQuery {
                app_id,
                dialog_id: dialog_id.to_owned(),
                viewer_id: user_id,
                conditions: Vec::new(),
                sort: (MessageField::DateSent, false),
                limit: PREVIEW_MESSAGES,
                skip: 0,
            })
            .await?;
        last.reverse();
        Ok(last)
    }

    /// Creates a message through REST: in the named dialog (posting rights checked), or in the private
    /// dialog with `recipient_id` (created if needed). Returns the stored message and its dialog.
    pub async fn create(&self, new: NewMessage) -> CoreResult<(HistoryMessage, Dialog)> {
        let store = &self.core.store;
        let id = new_object_id().to_string();
        let dialog = match (&new.dialog_id, new.recipient_id) {
            (Some(dialog_id), recipient) => {
                let dialog = self.core.dialogs().get(new.app_id, dialog_id).await?;
                if dialog.kind == DialogType::Private {
                    if !dialog.occupants.contains(&new.sender_id) {
                        return Err(CoreError::not_member());
                    }
                    let other = dialog
                        .occupants
                        .iter()
                        .copied()
                        .find(|u| *u != new.sender_id)
                        .ok_or_else(CoreError::not_member)?;
                    if recipient.is_some_and(|r| r != other) {
                        return Err(CoreError::invalid(
                            "recipient_id",
                            "is not the other occupant of the private dialog",
                        ));
                    }
                    self.create_private(&new, &id, other, Some(dialog_id.clone()))
                        .await?
                } else {
                    self.core
                        .messages()
                        .accept_group(GroupMessage {
                            app_id: new.app_id,
                            sender_id: new.sender_id,
                            dialog_id: dialog_id.clone(),
                            content: saved_content(&new, &id),
                        })
                        .await?
                        .dialog
                }
            }
            (None, Some(recipient)) => self.create_private(&new, &id, recipient, None).await?,
            (None, None) => {
                return Err(CoreError::invalid(
                    "chat_dialog_id",
                    "is required (or recipient_id for a private dialog)",
                ))
            }
        };
        let stored = store
            .messages_by_ids(
                new.app_id,
                new.sender_id,
                Some(&dialog.id),
                std::slice::from_ref(&id),
            )
            .await?
            .into_iter()
            .find(|m| m.message.sender_id == new.sender_id)
            .ok_or_else(|| CoreError::Rejected("The message was not stored".into()))?;
        Ok((stored, dialog))
    }

    async fn create_private(
        &self,
        new: &NewMessage,
        id: &str,
        recipient_id: i64,
        dialog_id: Option<String>,
    ) -> CoreResult<Dialog> {
        let accepted = self
            .core
            .messages()
            .accept_private(PrivateMessage {
                app_id: new.app_id,
                sender_id: new.sender_id,
                recipient_id,
                dialog_id,
                content: saved_content(new, id),
            })
            .await?;
        Ok(accepted.dialog)
    }

    /// The messages with these ids that `user_id` can see, each with its dialog, in dialogs he may read
    /// (only `dialog_id` if given).
    pub async fn find(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_id: Option<&str>,
        ids: &[String],
    ) -> CoreResult<Vec<(Dialog, HistoryMessage)>> {
        let found = self
            .core
            .store
            .messages_by_ids(app_id, user_id, dialog_id, ids)
            .await?;
        let mut dialogs: BTreeMap<String, Option<Dialog>> = BTreeMap::new();
        let mut visible = Vec::with_capacity(found.len());
        for message in found {
            let id = message.message.dialog_id.clone();
            if !dialogs.contains_key(&id) {
                let dialog = self.core.store.dialog(app_id, &id).await?;
                let dialog = dialog.filter(|d| rights::can_read(d, user_id));
                dialogs.insert(id.clone(), dialog);
            }
            if let Some(Some(dialog)) = dialogs.get(&id) {
                visible.push((dialog.clone(), message));
            }
        }
        Ok(visible)
    }

    /// Marks messages (or, with None, every message of the dialog) read by `reader_id` (also delivered);
    /// returns the newly read (sender_id, message_id) pairs; unread counters exact.
    pub async fn mark_read(
        &self,
        app_id: i64,
        reader_id: i64,
        dialog_id: &str,
        message_ids: Option<&[String]>,
    ) -> CoreResult<Vec<(i64, String)>> {
        self.mark(app_id, reader_id, dialog_id, message_ids, true).await
    }

    /// Marks messages delivered to `user_id`; returns the newly delivered (sender_id, message_id) pairs.
    pub async fn mark_delivered(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_id: &str,
        message_ids: &[String],
    ) -> CoreResult<Vec<(i64, String)>> {
        self.mark(app_id, user_id, dialog_id, Some(message_ids), false)
            .await
    }

    /// Marks the listed messages (all with `None`) read (`read`) or delivered; see `mark_read`.
    pub async fn mark(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_id: &str,
        message_ids: Option<&[String]>,
        read: bool,
    ) -> CoreResult<Vec<(i64, String)>> {
        self.readable_dialog(app_id, dialog_id, user_id).await?;
        Ok(self
            .core
            .store
            .mark_messages(app_id, dialog_id, user_id, message_ids, read)
            .await?)
    }

    /// Changes the body of the editor's own message.
    pub async fn edit(
        &self,
        app_id: i64,
        editor_id: i64,
        dialog_id: &str,
        message_id: &str,
        body: &str,
    ) -> CoreResult<()> {
        self.edit_in(app_id, editor_id, dialog_id, message_id, body)
            .await
            .map(|_| ())
    }

    /// `edit`, returning the dialog.
    pub async fn edit_in(
        &self,
        app_id: i64,
        editor_id: i64,
        dialog_id: &str,
        message_id: &str,
        body: &str,
    ) -> CoreResult<Dialog> {
        let dialog = self.readable_dialog(app_id, dialog_id, editor_id).await?;
        let now = self.core.clock.now_millis();
        if self
            .core
            .store
            .edit_message(app_id, dialog_id, editor_id, message_id, body, now)
            .await?
        {
            return Ok(dialog);
        }
        let exists = !self
            .core
            .store
            .messages_by_ids(app_id, editor_id, Some(dialog_id), &[message_id.to_owned()])
            .await?
            .is_empty();
        if exists {
            Err(CoreError::Forbidden("You can edit only your own messages".into()))
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// Deletes for everyone (own messages; any message for the owner and admins of group, public and
    /// broadcast dialogs); returns the ids deleted. Any id the user may not delete refuses the whole request.
    pub async fn delete_for_everyone(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_id: &str,
        message_ids: &[String],
    ) -> CoreResult<Vec<String>> {
        let (_, outcome) = self.delete_in(app_id, user_id, dialog_id, message_ids).await?;
        if !outcome.forbidden.is_empty() {
            return Err(CoreError::Forbidden(
                "You may delete only your own messages".into(),
            ));
        }
        Ok(outcome.deleted)
    }

    /// `delete_for_everyone` with the dialog and what became of each id.
    pub async fn delete_in(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_id: &str,
        message_ids: &[String],
    ) -> CoreResult<(Dialog, DeleteOutcome)> {
        let dialog = self.readable_dialog(app_id, dialog_id, user_id).await?;
        let found = self
            .core
            .store
            .messages_by_ids(app_id, user_id, Some(dialog_id), message_ids)
            .await?;
        let admin = rights::may_delete_others(&dialog, user_id);
        let mut outcome = DeleteOutcome::default();
        let mut seqs = Vec::new();
        for id in unique(message_ids) {
            let matching: Vec<&HistoryMessage> = found.iter().filter(|m| m.message.id == id).collect();
            if matching.is_empty() {
                outcome.not_found.push(id);
                continue;
            }
            let allowed: Vec<i64> = matching
                .iter()
                .filter(|m| admin || m.message.sender_id == user_id)
                .map(|m| m.seq)
                .collect();
            if allowed.is_empty() {
                outcome.forbidden.push(id);
            } else {
                seqs.extend(allowed);
                outcome.deleted.push(id);
            }
        }
        self.core.store.delete_messages(dialog_id, &seqs).await?;
        Ok((dialog, outcome))
    }

    /// Deletes messages for `user_id` only; returns the ids hidden (the others were not found).
    pub async fn delete_for_me(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_id: &str,
        message_ids: &[String],
    ) -> CoreResult<Vec<String>> {
        self.readable_dialog(app_id, dialog_id, user_id).await?;
        let found = self
            .core
            .store
            .messages_by_ids(app_id, user_id, Some(dialog_id), message_ids)
            .await?;
        let seqs: Vec<i64> = found.iter().map(|m| m.seq).collect();
        let hidden: HashSet<i64> = self
            .core
            .store
            .hide_messages(dialog_id, user_id, &seqs)
            .await?
            .into_iter()
            .collect();
        Ok(unique(
            &found
                .iter()
                .filter(|m| hidden.contains(&m.seq))
                .map(|m| m.message.id.clone())
                .collect::<Vec<_>>(),
        ))
    }

    /// Adds and/or removes the user's reaction on a message he can see.
    pub async fn react(
        &self,
        app_id: i64,
        user_id: i64,
        message_id: &str,
        add: Option<&str>,
        remove: Option<&str>,
    ) -> CoreResult<()> {
        self.react_in(app_id, user_id, message_id, add, remove)
            .await
            .map(|_| ())
    }

    /// `react`, returning the dialog and the message.
    pub async fn react_in(
        &self,
        app_id: i64,
        user_id: i64,
        message_id: &str,
        add: Option<&str>,
        remove: Option<&str>,
    ) -> CoreResult<(Dialog, HistoryMessage)> {
        let add = add.filter(|r| !r.is_empty());
        let remove = remove.filter(|r| !r.is_empty());
        if add.is_none() && remove.is_none() {
            return Err(CoreError::invalid("add", "or remove is required"));
        }
        for (field, reaction) in [("add", add), ("remove", remove)] {
            if let Some(reaction) = reaction {
                if reaction.len() > MAX_REACTION_BYTES || reaction.chars().any(char::is_control) {
                    return Err(CoreError::invalid(field, "is not a valid reaction"));
                }
            }
        }
        let (dialog, message) = self.one(app_id, user_id, message_id).await?;
        let now = self.core.clock.now_millis();
        self.core
            .store
            .set_reaction(message.seq, user_id, add, remove, now)
            .await?;
        Ok((dialog, message))
    }

    /// The reactions on a message: reaction → user ids.
    pub async fn reactions(
        &self,
        app_id: i64,
        user_id: i64,
        message_id: &str,
    ) -> CoreResult<BTreeMap<String, Vec<i64>>> {
        let (_, message) = self.one(app_id, user_id, message_id).await?;
        let mut grouped: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (user, reaction) in message.reactions {
            grouped.entry(reaction).or_default().push(user);
        }
        Ok(grouped)
    }

    /// The newest visible message with this id in a dialog the user may read.
    async fn one(&self, app_id: i64, user_id: i64, message_id: &str) -> CoreResult<(Dialog, HistoryMessage)> {
        self.find(app_id, user_id, None, &[message_id.to_owned()])
            .await?
            .into_iter()
            .max_by_key(|(_, m)| m.seq)
            .ok_or(CoreError::NotFound)
    }

    /// The user's unread counts: the total and, for each requested dialog, its own. The total covers the
    /// requested dialogs, or all his dialogs when none are named.
    pub async fn unread(
        &self,
        app_id: i64,
        user_id: i64,
        dialog_ids: Option<&[String]>,
    ) -> CoreResult<(i64, Vec<(String, i64)>)> {
        let counts: BTreeMap<String, i64> = self
            .core
            .store
            .unread_counts(app_id, user_id)
            .await?
            .into_iter()
            .collect();
        match dialog_ids {
            None => Ok((counts.values().sum(), Vec::new())),
            Some(ids) => {
                let per_dialog: Vec<(String, i64)> = unique(ids)
                    .into_iter()
                    .map(|id| {
                        let n = counts.get(&id).copied().unwrap_or(0);
                        (id, n)
                    })
                    .collect();
                Ok((per_dialog.iter().map(|(_, n)| n).sum(), per_dialog))
            }
        }
    }

    /// Checks a system message (`POST /chat/Message/system`): the recipient must be a user of the app.
    /// Returns the new message id. Nothing is stored.
    pub async fn system_message(&self, app_id: i64, recipient_id: i64) -> CoreResult<String> {
        if !self.core.store.user_exists(app_id, recipient_id).await? {
            return Err(CoreError::NotFound);
        }
        Ok(new_object_id().to_string())
    }

    /// Searches the user's dialogs: names and message bodies containing the text (case-sensitive), and
    /// the senders of the messages found.
    pub async fn search(&self, search: &MessageSearch) -> CoreResult<SearchResults> {
        if search.text.chars().count() < SEARCH_MIN_TEXT_CHARS {
            return Err(CoreError::invalid(
                "search_text",
                "must be longer than 4 characters",
            ));
        }
        if search
            .dialog_ids
            .as_ref()
            .is_some_and(|ids| ids.len() > SEARCH_MAX_DIALOGS)
        {
            return Err(CoreError::invalid(
                "chat_dialog_ids",
                "may name at most 10 dialogs",
            ));
        }
        if let (Some(from), Some(to)) = (search.date_from, search.date_to) {
            if to - from > SEARCH_MAX_RANGE_SECONDS {
                return Err(CoreError::invalid(
                    "start_date",
                    "must be at most 3 months after end_date",
                ));
            }
        }
        let mut search = search.clone();
        search.limit = search.limit.clamp(1, SEARCH_MAX_LIMIT);
        let store = &self.core.store;
        let mut results = SearchResults::default();
        for id in store.search_dialogs(&search).await? {
            if let Some(view) = store.dialog_view(search.app_id, &id, search.user_id).await? {
                results.dialogs.push(view);
            }
        }
        results.messages = store.search_messages(&search).await?;
        let mut seen = HashSet::new();
        for message in &results.messages {
            let sender = message.message.sender_id;
            if seen.insert(sender) {
                if let Some(user) = store.user(search.app_id, sender).await? {
                    results.users.push(user);
                }
            }
        }
        Ok(results)
    }
}

/// The ids in their first-seen order, without repeats.
fn unique(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

// --- Storage ---

/// A message field that history filters and sorts may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageField {
    Id,
    Body,
    /// Unix seconds.
    DateSent,
    SenderId,
    RecipientId,
    /// Unix milliseconds.
    CreatedAt,
    /// Unix milliseconds.
    UpdatedAt,
    /// `attachments.type`: matches messages having an attachment of that type (Eq/In only).
    AttachmentType,
    /// A custom parameter, compared as text (Eq, Ne, In, Nin only). Names are `[A-Za-z0-9_-]+`.
    Custom(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageCondition {
    pub field: MessageField,
    pub op: FilterOp,
    pub values: Vec<FilterValue>,
}

/// One page of a dialog's history as one user sees it: without the messages he deleted for himself or
/// cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub app_id: i64,
    pub dialog_id: String,
    pub viewer_id: i64,
    pub conditions: Vec<MessageCondition>,
    /// Field and ascending?; ties are broken by arrival order in the same direction.
    pub sort: (MessageField, bool),
    pub limit: i64,
    pub skip: i64,
}

/// A text search over the messages and dialog names of a user's dialogs.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSearch {
    pub app_id: i64,
    pub user_id: i64,
    /// Case-sensitive substring.
    pub text: String,
    /// Only these dialogs (still only the user's own).
    pub dialog_ids: Option<Vec<String>>,
    /// Bounds on `date_sent`, Unix seconds, inclusive.
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
    pub limit: i64,
}

/// Where chat history, offline stanzas and the per-user state of messages (read, delivered, hidden,
/// reactions) are kept.
///
/// Every call that changes read state or unread counters first locks the dialog's row, so they are
/// serialised per dialog with each other and with `save_message`, and the counters stay exact.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message, moves the dialog's last message and counts it unread for every other occupant, in
    /// one transaction. False (and nothing changed) when the sender already stored this id in this dialog.
    async fn save_message(&self, message: &ChatMessage) -> StoreResult<bool>;
    async fn message(
        &self,
        app_id: i64,
        dialog_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<ChatMessage>>;
    /// Keeps a stanza for later, unless the user already has `max_per_user` waiting (then None): the count
    /// and the insert are one atomic step.
    async fn push_offline(
        &self,
        app_id: i64,
        user_id: i64,
        payload: &str,
        now: i64,
        max_per_user: i64,
    ) -> StoreResult<Option<i64>>;
    /// Oldest first, at most `limit`.
    async fn offline_messages(
        &self,
        app_id: i64,
        user_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<OfflineMessage>>;
    async fn count_offline(&self, app_id: i64, user_id: i64) -> StoreResult<i64>;
    async fn delete_offline(&self, app_id: i64, user_id: i64, seqs: &[i64]) -> StoreResult<()>;
    /// One page of history, with each message's read/delivered/reaction state.
    async fn history(&self, query: &HistoryQuery) -> StoreResult<Vec<HistoryMessage>>;
    /// The messages of the app with one of these ids that `viewer_id` can still see (not deleted for
    /// himself, not cleared), in any dialog or only in `dialog_id`; oldest first. Says nothing about
    /// whether the viewer may read the dialog.
    async fn messages_by_ids(
        &self,
        app_id: i64,
        viewer_id: i64,
        dialog_id: Option<&str>,
        ids: &[String],
    ) -> StoreResult<Vec<HistoryMessage>>;
    /// Marks the listed messages of the dialog (all of them with `None`) read (`read`, which implies
    /// delivered) or delivered by `user_id`, skipping his own, hidden and cleared ones. Returns the newly
    /// marked (sender, id) pairs. Reading lowers the user's unread count by the newly read messages that
    /// were counted for him (all-read sets it to 0), in the same transaction.
    async fn mark_messages(
        &self,
        app_id: i64,
        dialog_id: &str,
        user_id: i64,
        ids: Option<&[String]>,
        read: bool,
    ) -> StoreResult<Vec<(i64, String)>>;
    /// Changes the body of the sender's message (and the dialog's last message if it is that one). False
    /// when the sender has no such message in the dialog.
    async fn edit_message(
        &self,
        app_id: i64,
        dialog_id: &str,
        sender_id: i64,
        message_id: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// Deletes messages of the dialog for `user_id` only; unread ones stop counting. Returns the seqs newly
    /// hidden.
    async fn hide_messages(&self, dialog_id: &str, user_id: i64, seqs: &[i64]) -> StoreResult<Vec<i64>>;
    /// Deletes messages of the dialog for everyone: unread counters drop, the dialog's last message moves
    /// back if it was one of them. Returns the seqs deleted.
    async fn delete_messages(&self, dialog_id: &str, seqs: &[i64]) -> StoreResult<Vec<i64>>;
    /// Adds and/or removes one user's reaction on a message (removal first).
    async fn set_reaction(
        &self,
        seq: i64,
        user_id: i64,
        add: Option<&str>,
        remove: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    /// The user's unread count in each of his dialogs of the app.
    async fn unread_counts(&self, app_id: i64, user_id: i64) -> StoreResult<Vec<(String, i64)>>;
    /// Visible messages of the user's dialogs whose body contains the text, newest first.
    async fn search_messages(&self, search: &MessageSearch) -> StoreResult<Vec<HistoryMessage>>;
    /// Ids of the user's dialogs whose name contains the text, most recently updated first.
    async fn search_dialogs(&self, search: &MessageSearch) -> StoreResult<Vec<String>>;
}
