//! Group messages (`type="groupchat"` to a dialog room): posting rights and history through the core,
//! then reflection to every session of every member — joined or not, the sender's own included — as
//! `from="{room}/{sender}"` (`router::deliver_to_room`). Never stored offline (apps load group history
//! over REST); the chat alert is raised once the delivery is known, so members whose node took nothing
//! (it died or hangs) are alerted even while the session directory still lists them.

use crate::context::Context;
use crate::parsers::{Message, MessageType, Signal};
use crate::policy;
use crate::router;
use crate::shared::Shared;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use palaver_core::messages::GroupMessage;
use palaver_core::model::{ChatMessage, Dialog, DialogType};
use palaver_core::CoreError;
use palaver_proto::RoomJid;

/// A message to a dialog room (or one of its occupants).
pub async fn message(mut ctx: Context<'_>, mut message: Message, room: RoomJid, nick: Option<String>) {
    if message.is_type(&MessageType::Headline) {
        let reply = stanza::refuse(&message, Condition::BadRequest, "System messages go to users");
        return ctx.reply(reply).await;
    }
    let shared = ctx.shared;
    if room.app_id != ctx.user().app_id {
        let reply = stanza::refuse(&message, Condition::ItemNotFound, "No such dialog");
        return ctx.reply(reply).await;
    }
    if !message.is_type(&MessageType::Groupchat) || nick.is_some() {
        let reply = stanza::refuse(
            &message,
            Condition::NotAcceptable,
            "Only group messages to the room are supported",
        );
        return ctx.reply(reply).await;
    }
    let sender = ctx.user().user_id;
    let content = message.is_content();
    let outcome = if content {
        accept(shared, sender, &room, &mut message).await
    } else {
        apply_signal(shared, sender, &room, &message)
            .await
            .map(|kind| (kind, None))
    };
    let (kind, alert) = match outcome {
        Ok(accepted) => accepted,
        Err(error) => {
            // Unknown dialog 404, non-member 406, a regular user posting to a broadcast dialog 403.
            return ctx.reply(StanzaError::from(&error).refuse(&message)).await;
        }
    };
    crate::metrics::message_routed(content, true);
    // A message due a chat alert is asked of the other nodes, so the members nobody took (their node
    // died or hangs, not yet declared gone) are alerted all the same, like a 1-1 message kept offline.
    let missed = router::deliver_to_room(shared, &room, kind, sender, message.into(), alert.is_some()).await;
    if let Some(alert) = alert {
        let due = alert.due(shared, &missed);
        if !due.is_empty() {
            // Boxed, as for 1-1 messages: the largest state of this path, needed by few messages.
            Box::pin(alert.raise(shared, due)).await;
        }
    }
}

/// The chat alert an accepted group message is due, raised once its delivery is known.
struct Alert {
    message: ChatMessage,
    dialog: Dialog,
    /// The members who get the message (privacy lists applied).
    members: Vec<i64>,
    silent: bool,
}

impl Alert {
    /// The members to be alerted: those with no active session, and those nobody took the message for.
    fn due(&self, shared: &Shared, missed: &[i64]) -> Vec<i64> {
        shared
            .core
            .messages()
            .alert_recipients(&self.message, &self.dialog, &self.members, missed)
    }

    async fn raise(self: Box<Self>, shared: &Shared, due: Vec<i64>) {
        shared
            .core
            .messages()
            .raise_alert(self.message, &self.dialog, due, self.silent)
            .await;
    }
}

/// Runs the core rules for a real message and adds `dialog_id`/`date_sent`; returns the dialog type and,
/// but for broadcast dialogs, the chat alert it is due (boxed, as for 1-1 messages: it is large).
async fn accept(
    shared: &Shared,
    sender: i64,
    room: &RoomJid,
    message: &mut Message,
) -> Result<(DialogType, Option<Box<Alert>>), CoreError> {
    let (content, silent) = message.content();
    let submitted = GroupMessage {
        app_id: room.app_id,
        sender_id: sender,
        dialog_id: room.dialog_id.clone(),
        content,
    };
    let accepted = shared.core.messages().accept_group(submitted).await?;
    message.stamp_accepted(&accepted.dialog.id, accepted.message.date_sent);
    if accepted.dialog.kind != DialogType::Broadcast {
        let members = shared
            .core
            .dialogs()
            .recipients(room.app_id, &room.dialog_id)
            .await?;
        // Privacy lists: no alert for members who will not get the message either.
        let members = policy::room_recipients(shared, room.app_id, sender, members).await;
        let kind = accepted.dialog.kind;
        let alert = Box::new(Alert {
            message: accepted.message,
            dialog: accepted.dialog,
            members,
            silent,
        });
        return Ok((kind, Some(alert)));
    }
    Ok((accepted.dialog.kind, None))
}

/// Typing, edits and deletes: checks the sender may post, and applies edits/deletes to history.
async fn apply_signal(
    shared: &Shared,
    sender: i64,
    room: &RoomJid,
    message: &Message,
) -> Result<DialogType, CoreError> {
    let dialog = shared
        .core
        .dialogs()
        .for_posting(room.app_id, &room.dialog_id, sender)
        .await?;
    if message.is_typing_only() {
        return Ok(dialog.kind);
    }
    if message.signal(Signal::Replace).is_some() {
        let target = message.signal_target(Signal::Replace).unwrap_or_default();
        let body = message.body().unwrap_or_default();
        shared
            .core
            .history()
            .edit(room.app_id, sender, &room.dialog_id, target, &body)
            .await?;
    } else if message.signal(Signal::Remove).is_some() {
        let target = message
            .signal_target(Signal::Remove)
            .unwrap_or_default()
            .to_owned();
        shared
            .core
            .history()
            .delete_for_everyone(room.app_id, sender, &room.dialog_id, &[target])
            .await?;
    }
    Ok(dialog.kind)
}
