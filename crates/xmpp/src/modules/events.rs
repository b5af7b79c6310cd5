//! Domain events that end in stanzas: what REST does to messages and dialogs shows up in real time, the
//! same way as when a client does it over XMPP.

use super::extra_params;
use super::groupchat::fan_out;
use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::xml::{self, Element};
use palaver_core::events::Event;
use palaver_core::model::dialog_type;
use palaver_proto::{new_object_id, RoomJid, UserJid};

/// Turns an event into deliveries. Events without a real-time side are ignored here.
pub async fn apply(shared: &Shared, event: Event) {
    match event {
        Event::MessageSent {
            message,
            dialog_type,
            recipients,
            markable,
        } => {
            let mut params = message.custom.clone();
            params.insert("dialog_id".into(), message.dialog_id.clone().into());
            params.insert("save_to_history".into(), "1".into());
            params.insert("date_sent".into(), message.date_sent.to_string().into());
            let mut stanza = xml::element("message", ns::CLIENT);
            xml::set_attr(&mut stanza, "id", message.id.clone());
            if let Some(body) = &message.body {
                stanza.append_child(xml::with_text(xml::element("body", ns::CLIENT), body.clone()));
            }
            stanza.append_child(extra_params::from_json(&params, &message.attachments));
            if markable {
                stanza.append_child(xml::element("markable", ns::CHAT_MARKERS));
            }
            let sender = UserJid {
                user_id: message.sender_id,
                app_id: message.app_id,
            };
            deliver(
                shared,
                sender,
                &message.dialog_id,
                dialog_type,
                &recipients,
                stanza,
                true,
            )
            .await;
            if let Ok(Some(dialog)) = shared.core.store.dialog(message.app_id, &message.dialog_id).await {
                let silent = palaver_core::messages::is_silent(&message.custom);
                shared
                    .core
                    .messages()
                    .raise_alerts(message, &dialog, &recipients, silent)
                    .await;
            }
        }
        Event::MessageEdited {
            app_id,
            dialog_id,
            message_id,
            editor_id,
            body,
            recipients,
        } => {
            let mut stanza = signal_message(&dialog_id);
            stanza.append_child(xml::with_text(xml::element("body", ns::CLIENT), body));
            let mut replace = xml::element("replace", ns::CORRECTION);
            xml::set_attr(&mut replace, "id", message_id);
            xml::set_attr(&mut replace, "last", "true");
            stanza.append_child(replace);
            let kind = kind_of(shared, app_id, &dialog_id).await;
            let editor = UserJid {
                user_id: editor_id,
                app_id,
            };
            deliver(shared, editor, &dialog_id, kind, &recipients, stanza, true).await;
        }
        Event::MessagesDeleted {
            app_id,
            dialog_id,
            message_ids,
            by_user,
            recipients,
        } => {
            let kind = kind_of(shared, app_id, &dialog_id).await;
            let by = UserJid {
                user_id: by_user,
                app_id,
            };
            for id in message_ids {
                let mut stanza = signal_message(&dialog_id);
                stanza.append_child(xml::with_attr(
                    xml::element("remove", ns::MESSAGE_DELETE),
                    "id",
                    id,
                ));
                deliver(shared, by, &dialog_id, kind, &recipients, stanza, true).await;
            }
        }
        Event::MessagesMarked {
            app_id,
            dialog_id,
            reader_id,
            read,
            marked,
        } => {
            let reader = UserJid {
                user_id: reader_id,
                app_id,
            };
            for (sender, id) in marked {
                if sender == reader_id {
                    continue;
                }
                let mut stanza = signal_message(&dialog_id);
                let marker = if read { "displayed" } else { "received" };
                stanza.append_child(xml::with_attr(xml::element(marker, ns::CHAT_MARKERS), "id", id));
                xml::set_attr(&mut stanza, "type", "chat");
                xml::set_attr(&mut stanza, "from", reader.bare(&shared.config.domain));
                let to = UserJid {
                    user_id: sender,
                    app_id,
                };
                if let Err(error) = router::deliver_or_store(shared, to, &stanza, None).await {
                    tracing::warn!(%error, "a read/delivered marker could not be kept");
                }
            }
        }
        Event::SystemMessage {
            app_id,
            sender_id,
            recipient_id,
            id,
            extension,
        } => {
            let mut params = extension;
            params.insert("moduleIdentifier".into(), "SystemNotifications".into());
            let mut stanza = xml::element("message", ns::CLIENT);
            xml::set_attr(&mut stanza, "type", "headline");
            xml::set_attr(&mut stanza, "id", id);
            xml::set_attr(
                &mut stanza,
                "from",
                UserJid {
                    user_id: sender_id,
                    app_id,
                }
                .bare(&shared.config.domain),
            );
            stanza.append_child(extra_params::from_json(&params, &serde_json::Value::Null));
            router::to_available(
                shared,
                UserJid {
                    user_id: recipient_id,
                    app_id,
                },
                &stanza,
                None,
            );
        }
        Event::ReactionsChanged {
            app_id,
            dialog_id,
            message_id,
            user_id,
            add,
            remove,
            recipients,
        } => {
            let mut stanza = signal_message(&dialog_id);
            let mut reactions = xml::element("reactions", ns::CLIENT);
            xml::set_attr(&mut reactions, "user_id", user_id.to_string());
            xml::set_attr(&mut reactions, "message_id", message_id);
            for (flag, reaction) in [("add", add), ("remove", remove)] {
                if let Some(reaction) = reaction {
                    let mut child = xml::with_attr(xml::element("reaction", ns::CLIENT), flag, "true");
                    xml::set_attr(&mut child, "type", reaction);
                    reactions.append_child(child);
                }
            }
            stanza.append_child(reactions);
            let kind = kind_of(shared, app_id, &dialog_id).await;
            let reactor = UserJid { user_id, app_id };
            if kind == dialog_type::PRIVATE {
                // The reacting user's own devices update too (group reflections reach them anyway).
                let mut own = stanza.clone();
                xml::set_attr(&mut own, "type", "chat");
                xml::set_attr(&mut own, "from", reactor.bare(&shared.config.domain));
                router::to_available(shared, reactor, &own, None);
            }
            deliver(shared, reactor, &dialog_id, kind, &recipients, stanza, false).await;
        }
        Event::OccupantsRemoved {
            app_id,
            dialog_id,
            removed,
            by_user,
        } => {
            let room = RoomJid { app_id, dialog_id };
            super::muc::kick(shared, &room, &removed, by_user);
        }
        Event::SessionDestroyed { .. }
        | Event::UserDeleted { .. }
        | Event::UserBlocked { .. }
        | Event::ChatAlert { .. }
        | Event::ChatAlertTest { .. } => {}
    }
}

/// A fresh message carrying only `extraParams/dialog_id` (markers, edits, deletes, reactions).
fn signal_message(dialog_id: &str) -> Element {
    let mut stanza = xml::element("message", ns::CLIENT);
    xml::set_attr(&mut stanza, "id", new_object_id().to_string());
    let mut extra = xml::element("extraParams", ns::CLIENT);
    extra.append_child(xml::with_text(xml::element("dialog_id", ns::CLIENT), dialog_id));
    stanza.append_child(extra);
    stanza
}

async fn kind_of(shared: &Shared, app_id: i64, dialog_id: &str) -> i64 {
    match shared.core.store.dialog(app_id, dialog_id).await {
        Ok(Some(dialog)) => dialog.kind,
        _ => dialog_type::PRIVATE,
    }
}

/// Sends a stanza "from" a user into a dialog: 1-1 to each recipient (kept offline when `keep`), group
/// dialogs reflected from the room.
async fn deliver(
    shared: &Shared,
    from: UserJid,
    dialog_id: &str,
    kind: i64,
    recipients: &[i64],
    mut stanza: Element,
    keep: bool,
) {
    if kind != dialog_type::PRIVATE {
        let room = RoomJid {
            app_id: from.app_id,
            dialog_id: dialog_id.to_owned(),
        };
        fan_out(shared, &room, kind, from.user_id, &stanza).await;
        return;
    }
    xml::set_attr(&mut stanza, "type", "chat");
    xml::set_attr(&mut stanza, "from", from.bare(&shared.config.domain));
    for &recipient in recipients.iter().filter(|&&r| r != from.user_id) {
        let to = UserJid {
            user_id: recipient,
            app_id: from.app_id,
        };
        // REST-originated 1-1 traffic honours privacy lists like stanzas sent over XMPP do.
        if super::privacy::blocks(shared, to, from, super::privacy::Kind::Message).await
            || super::privacy::blocks(shared, from, to, super::privacy::Kind::MessageOut).await
        {
            continue;
        }
        if keep {
            if let Err(error) = router::deliver_or_store(shared, to, &stanza, None).await {
                tracing::warn!(%error, "a REST-originated message could not be kept for an offline user");
            }
        } else {
            router::to_available(shared, to, &stanza, None);
        }
    }
}
