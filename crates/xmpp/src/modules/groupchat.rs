//! Group messages (`type="groupchat"` to a dialog room): posting rights and history through the core,
//! then reflection to every session of every member — joined or not, the sender's own included — as
//! `from="{room}/{sender}"`. Never stored offline (apps load group history over REST).

use super::extra_params;
use super::message::{body_of, is_content, is_typing_only, signal};
use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use crate::xml::{self, Element};
use palaver_core::messages::GroupMessage;
use palaver_core::model::{dialog_type, ChatMessage};
use palaver_core::CoreError;
use palaver_proto::{RoomJid, UserJid};
use serde_json::Value;

pub async fn handle(session: &mut Online, mut message: Element, room: RoomJid, nick: Option<String>) {
    let shared = session.shared.clone();
    let refuse =
        |condition: Condition, text: &str, message: &Element| stanza::error_reply(message, condition, text);
    if room.app_id != session.auth.user.app_id {
        return session
            .reply(refuse(Condition::ItemNotFound, "No such dialog", &message))
            .await;
    }
    if message.attr("type") != Some("groupchat") || nick.is_some() {
        let reply = refuse(
            Condition::NotAcceptable,
            "Only group messages to the room are supported",
            &message,
        );
        return session.reply(reply).await;
    }
    let sender = session.auth.user.user_id;
    let outcome = if is_content(&message) {
        accept(&shared, sender, &room, &mut message).await
    } else {
        apply_signal(&shared, sender, &room, &message).await
    };
    let kind = match outcome {
        Ok(kind) => kind,
        Err(error) => {
            // Unknown dialog 404, non-member 406, a regular user posting to a broadcast dialog 403.
            return session.reply(StanzaError::from(&error).reply_to(&message)).await;
        }
    };
    crate::metrics::message_routed(&message);
    fan_out(&shared, &room, kind, sender, &message).await;
}

/// Runs the core rules for a real message and adds `dialog_id`/`date_sent`; returns the dialog type.
async fn accept(
    shared: &Shared,
    sender: i64,
    room: &RoomJid,
    message: &mut Element,
) -> Result<i64, CoreError> {
    let id = super::message::ensure_id(message);
    let (attachments, params, save, date_sent) = match extra_params::find(message) {
        Some(extra) => {
            let (attachments, params) = extra_params::to_json(extra);
            let save = extra_params::value(extra, "save_to_history").is_some_and(|v| v.trim() == "1");
            let date = extra_params::value(extra, "date_sent").and_then(|d| d.trim().parse::<i64>().ok());
            (attachments, params, save, date)
        }
        None => (Vec::new(), Default::default(), false, None),
    };
    let silent = palaver_core::messages::is_silent(&params);
    let submitted = GroupMessage {
        app_id: room.app_id,
        sender_id: sender,
        dialog_id: room.dialog_id.clone(),
        id,
        body: body_of(message),
        attachments: Value::Array(attachments),
        custom: extra_params::custom(params),
        date_sent,
        save_to_history: save,
    };
    let accepted = shared.core.messages().accept_group(submitted.clone()).await?;
    let extra = extra_params::ensure(message);
    extra_params::ensure_value(extra, "dialog_id", &accepted.dialog.id);
    extra_params::ensure_value(extra, "date_sent", &accepted.date_sent.to_string());
    if accepted.dialog.kind != dialog_type::BROADCAST {
        let members = shared
            .core
            .dialogs()
            .recipients(room.app_id, &room.dialog_id)
            .await?;
        // Privacy lists: no alert for members who will not get the message either.
        let members = super::privacy::room_recipients(shared, room.app_id, sender, members).await;
        let now = shared.core.clock.now_millis();
        let alerted = ChatMessage {
            id: submitted.id,
            app_id: submitted.app_id,
            dialog_id: accepted.dialog.id.clone(),
            sender_id: sender,
            recipient_id: 0,
            body: submitted.body,
            attachments: submitted.attachments,
            custom: submitted.custom,
            date_sent: accepted.date_sent,
            created_at: now,
            updated_at: now,
        };
        shared
            .core
            .messages()
            .raise_alerts(alerted, &accepted.dialog, &members, silent)
            .await;
    }
    Ok(accepted.dialog.kind)
}

/// Typing, edits and deletes: checks the sender may post, and applies edits/deletes to history.
async fn apply_signal(
    shared: &Shared,
    sender: i64,
    room: &RoomJid,
    message: &Element,
) -> Result<i64, CoreError> {
    let dialog = shared
        .core
        .dialogs()
        .for_posting(room.app_id, &room.dialog_id, sender)
        .await?;
    if is_typing_only(message) {
        return Ok(dialog.kind);
    }
    if let Some(replace) = signal(message, "replace") {
        let target = replace.attr("id").unwrap_or_default();
        let body = body_of(message).unwrap_or_default();
        shared
            .core
            .history()
            .edit(room.app_id, sender, &room.dialog_id, target, &body)
            .await?;
    } else if let Some(remove) = signal(message, "remove") {
        let target = remove.attr("id").unwrap_or_default().to_owned();
        shared
            .core
            .history()
            .delete_for_everyone(room.app_id, sender, &room.dialog_id, &[target])
            .await?;
    }
    Ok(dialog.kind)
}

/// Reflects a group stanza from `sender` to every member's available sessions (every online user of the
/// app for a broadcast dialog).
pub async fn fan_out(shared: &Shared, room: &RoomJid, kind: i64, sender: i64, message: &Element) {
    let mut reflected = message.clone();
    xml::set_attr(
        &mut reflected,
        "from",
        format!("{}/{sender}", room.bare(&shared.config.domain)),
    );
    xml::set_attr(&mut reflected, "type", "groupchat");
    let audience = if kind == dialog_type::BROADCAST {
        let online = app_users_online(shared, room.app_id);
        // Privacy lists: users who block the sender, or whom he blocks two-way, get nothing.
        super::privacy::room_audience(shared, room.app_id, sender, online).await
    } else {
        match shared
            .core
            .dialogs()
            .recipients(room.app_id, &room.dialog_id)
            .await
        {
            Ok(members) => super::privacy::room_recipients(shared, room.app_id, sender, members)
                .await
                .into_iter()
                .map(|user_id| UserJid {
                    user_id,
                    app_id: room.app_id,
                })
                .collect(),
            Err(error) => {
                tracing::error!(%error, dialog = %room.dialog_id, "reading the dialog's members failed");
                return;
            }
        }
    };
    router::to_many(shared, &audience, &reflected);
}

/// Every user of an app with a session, on any node.
pub fn app_users_online(shared: &Shared, app_id: i64) -> Vec<UserJid> {
    shared
        .registry
        .app_users(app_id, false)
        .into_iter()
        .map(|user_id| UserJid { user_id, app_id })
        .collect()
}

/// `<x xmlns="http://jabber.org/protocol/muc#user">` helpers shared with the room presence module.
pub fn muc_user() -> Element {
    xml::element("x", ns::MUC_USER)
}
