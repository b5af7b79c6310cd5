//! Chat messages entering the system, over XMPP or REST alike: which dialog they belong to, who may send
//! them (dialog membership, broadcast rights, privacy lists), and their place in history. Both
//! transports submit here; neither holds one of these rules.

use crate::events::Event;
use crate::model::{ChatMessage, Dialog, DialogType};
use crate::privacy::Kind;
use crate::{Core, CoreError, CoreResult, Denial};
use serde_json::{Map, Value};

/// What a sender wrote, the same whichever kind of dialog it goes to.
#[derive(Debug, Clone)]
pub struct MessageContent {
    /// The client's message id.
    pub id: String,
    pub body: Option<String>,
    pub attachments: Value,
    pub custom: Map<String, Value>,
    /// The client's `date_sent`, if it gave one.
    pub date_sent: Option<i64>,
    pub save_to_history: bool,
}

impl MessageContent {
    /// The message as accepted into `dialog` at `now` (Unix milliseconds): `date_sent` is the client's
    /// value or the receive time in seconds, `created_at` the receive time; `recipient_id` 0 in a group
    /// dialog.
    fn accepted(
        self,
        dialog: &Dialog,
        app_id: i64,
        sender_id: i64,
        recipient_id: i64,
        now: i64,
    ) -> ChatMessage {
        ChatMessage {
            id: self.id,
            app_id,
            dialog_id: dialog.id.clone(),
            sender_id,
            recipient_id,
            body: self.body,
            attachments: self.attachments,
            custom: self.custom,
            date_sent: self.date_sent.unwrap_or(now / 1000),
            created_at: now,
            updated_at: now,
        }
    }
}

/// A 1-1 message as the sender submitted it.
#[derive(Debug, Clone)]
pub struct PrivateMessage {
    pub app_id: i64,
    pub sender_id: i64,
    pub recipient_id: i64,
    /// The dialog the client named, if any.
    pub dialog_id: Option<String>,
    pub content: MessageContent,
}

/// A group message (group, public or broadcast dialog) as the sender submitted it.
#[derive(Debug, Clone)]
pub struct GroupMessage {
    pub app_id: i64,
    pub sender_id: i64,
    pub dialog_id: String,
    pub content: MessageContent,
}

/// What became of an accepted message.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub dialog: Dialog,
    /// The message as accepted, in its dialog: `date_sent` is the client's value or the server's
    /// receive time (Unix seconds), `created_at` the receive time (also when not saved to history).
    pub message: ChatMessage,
    /// False when history already had this message (a resend).
    pub stored_now: bool,
}

pub struct MessageService {
    core: Core,
}

impl MessageService {
    pub(crate) fn new(core: Core) -> MessageService {
        MessageService { core }
    }

    /// Accepts a 1-1 message: the recipient must be a user of the app; the dialog is the one named (which
    /// must be the pair's private dialog) or the pair's private dialog, created on first use. Saved to
    /// history when asked.
    pub async fn accept_private(&self, message: PrivateMessage) -> CoreResult<Accepted> {
        let store = &self.core.store;
        if message.recipient_id == message.sender_id {
            return Err(CoreError::Forbidden(
                "You cannot send a message to yourself".into(),
            ));
        }
        // Privacy lists before anything is stored: a refused message leaves no trace (no history row,
        // no unread count). This is the one check of a 1-1 message's lists, for REST and XMPP alike.
        let privacy = self.core.privacy();
        let (app_id, sender, recipient) = (message.app_id, message.sender_id, message.recipient_id);
        if privacy
            .blocks(app_id, sender, recipient, Kind::MessageOut)
            .await?
        {
            return Err(CoreError::Forbidden(Denial::BlockedBySender));
        }
        if privacy.blocks(app_id, recipient, sender, Kind::Message).await? {
            return Err(CoreError::Forbidden(Denial::BlockedByRecipient));
        }
        if !store.user_exists(message.app_id, message.recipient_id).await? {
            return Err(CoreError::NotFound);
        }
        let now = self.core.clock.now_millis();
        let dialog = match &message.dialog_id {
            Some(id) => {
                let dialog = store
                    .dialog(message.app_id, id)
                    .await?
                    .ok_or(CoreError::NotFound)?;
                let pair = [message.sender_id, message.recipient_id];
                if dialog.kind != DialogType::Private || !pair.iter().all(|u| dialog.occupants.contains(u)) {
                    return Err(CoreError::Forbidden(
                        "The dialog is not the private dialog of these users".into(),
                    ));
                }
                dialog
            }
            None => {
                store
                    .private_dialog_for_message(message.app_id, message.sender_id, message.recipient_id, now)
                    .await?
            }
        };
        self.keep(dialog, message.content, app_id, sender, recipient, now)
            .await
    }

    /// Accepts a group message: the sender must be allowed to post to the dialog (occupant, subscriber, or
    /// owner/admin of a broadcast). Saved to history when asked.
    pub async fn accept_group(&self, message: GroupMessage) -> CoreResult<Accepted> {
        let dialog = self
            .core
            .dialogs()
            .for_posting(message.app_id, &message.dialog_id, message.sender_id)
            .await?;
        let now = self.core.clock.now_millis();
        self.keep(dialog, message.content, message.app_id, message.sender_id, 0, now)
            .await
    }

    /// The end of accepting a message into `dialog`: saved to history when asked.
    async fn keep(
        &self,
        dialog: Dialog,
        content: MessageContent,
        app_id: i64,
        sender_id: i64,
        recipient_id: i64,
        now: i64,
    ) -> CoreResult<Accepted> {
        let save_to_history = content.save_to_history;
        let message = content.accepted(&dialog, app_id, sender_id, recipient_id, now);
        let stored_now = match save_to_history {
            true => self.core.store.save_message(&message).await?,
            false => false,
        };
        Ok(Accepted {
            dialog,
            message,
            stored_now,
        })
    }
}

/// `silent=1` (or `true`) in a message's parameters asks for no chat alert.
pub fn is_silent(custom: &Map<String, Value>) -> bool {
    custom
        .get("silent")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.trim() == "1" || v.trim() == "true")
}

impl MessageService {
    /// Chat alerts for an accepted message: the recipients (never the sender) with no active chat session
    /// right now, and those in `kept_offline` (no session took the message, it waits in the offline store)
    /// whatever their sessions look like, are announced to the push dispatcher (which honours `silent`
    /// and per-dialog settings). `kept_offline` matters in a cluster: a node that has just died still
    /// counts its users as active until the node timeout, though nobody there takes their messages.
    /// Broadcast dialogs raise none: they would notify every user of the app; nor does an app whose
    /// operator turned chat alerts off.
    pub async fn raise_alerts(
        &self,
        message: ChatMessage,
        dialog: &Dialog,
        recipients: &[i64],
        silent: bool,
        kept_offline: &[i64],
    ) {
        let due = self.alert_recipients(&message, dialog, recipients, kept_offline);
        self.raise_alert(message, dialog, due, silent).await;
    }

    /// The recipients `raise_alerts` would alert, found without waiting for anything: most messages
    /// alert nobody (their recipients are online), and a caller on the message path can skip the
    /// alert's work altogether then.
    pub fn alert_recipients(
        &self,
        message: &ChatMessage,
        dialog: &Dialog,
        recipients: &[i64],
        kept_offline: &[i64],
    ) -> Vec<i64> {
        if dialog.kind == DialogType::Broadcast {
            return Vec::new();
        }
        let online = &self.core.online;
        recipients
            .iter()
            .copied()
            .filter(|&user_id| user_id != message.sender_id)
            .filter(|&user_id| kept_offline.contains(&user_id) || !online.is_active(message.app_id, user_id))
            .collect()
    }

    /// Announces a chat alert to `due` (from `alert_recipients`), unless there is nobody to alert or the
    /// app's operator turned chat alerts off.
    pub async fn raise_alert(&self, message: ChatMessage, dialog: &Dialog, due: Vec<i64>, silent: bool) {
        if due.is_empty() {
            return;
        }
        match self.core.push().chat_alerts_enabled(message.app_id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, "reading whether chat alerts are on failed; raising the alert");
            }
        }
        self.core
            .events
            .publish(Event::ChatAlert {
                dialog_type: dialog.kind,
                dialog_name: dialog.name.clone(),
                recipients: due,
                silent,
                message,
            })
            .await;
    }
}
