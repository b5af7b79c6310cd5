//! Domain events that end in stanzas: what REST does to messages and dialogs shows up in real time, the
//! same way as when a client does it over XMPP. (Removed occupants are the room module's: the dispatcher
//! hands `OccupantsRemoved` there.)

use crate::ns;
use crate::parsers::correction::{Remove, Replace};
use crate::parsers::extra_params::{self, ExtraParams};
use crate::parsers::markers::{Markable, Marker};
use crate::parsers::reactions::Reactions;
use crate::parsers::{Message, MessageType};
use crate::policy;
use crate::router;
use crate::shared::Shared;
use crate::xml::{self, Element};
use palaver_core::events::Event;
use palaver_core::model::DialogType;
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
            let mut stanza = Message::new(None);
            stanza.head.id = Some(message.id.clone());
            if let Some(body) = &message.body {
                stanza.set_body(body.clone());
            }
            stanza
                .payloads
                .push(ExtraParams::from_json(&params, &message.attachments).into());
            if markable {
                stanza.payloads.push(Markable.into());
            }
            let stanza = Element::from(stanza);
            let sender = UserJid {
                user_id: message.sender_id,
                app_id: message.app_id,
            };
            let kept = deliver(
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
                    .raise_alerts(message, &dialog, &recipients, silent, &kept)
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
            stanza.append_child(
                Replace {
                    id: message_id,
                    last: true,
                }
                .into(),
            );
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
                stanza.append_child(Remove { id }.into());
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
                stanza.append_child(Marker::new(read, id).into());
                xml::set_attr(&mut stanza, "type", "chat");
                xml::set_attr(&mut stanza, "from", reader.bare(&shared.config.domain));
                let to = UserJid {
                    user_id: sender,
                    app_id,
                };
                if let Err((error, _)) = router::deliver_or_store(shared, to, stanza, None).await {
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
            let mut stanza = Message::new(Some(MessageType::Headline));
            stanza.head.id = Some(id);
            stanza.head.from = Some(
                UserJid {
                    user_id: sender_id,
                    app_id,
                }
                .bare(&shared.config.domain),
            );
            stanza
                .payloads
                .push(ExtraParams::from_json(&params, &serde_json::Value::Null).into());
            let stanza = Element::from(stanza);
            router::deliver(
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
            stanza.append_child(
                Reactions {
                    user_id: user_id.to_string(),
                    message_id,
                    add,
                    remove,
                }
                .into(),
            );
            let kind = kind_of(shared, app_id, &dialog_id).await;
            let reactor = UserJid { user_id, app_id };
            if kind == DialogType::Private {
                // The reacting user's own devices update too (group reflections reach them anyway).
                let mut own = stanza.clone();
                xml::set_attr(&mut own, "type", "chat");
                xml::set_attr(&mut own, "from", reactor.bare(&shared.config.domain));
                router::deliver(shared, reactor, &own, None);
            }
            deliver(shared, reactor, &dialog_id, kind, &recipients, stanza, false).await;
        }
        Event::OccupantsRemoved { .. }
        | Event::SessionDestroyed { .. }
        | Event::UserDeleted { .. }
        | Event::UserBlocked { .. }
        | Event::ChatAlert { .. }
        | Event::ChatAlertTest { .. } => {}
    }
}

/// A fresh message carrying only `extraParams/dialog_id` (markers, edits, deletes, reactions).
fn signal_message(dialog_id: &str) -> Element {
    let mut stanza = Message::new(None);
    stanza.head.id = Some(new_object_id().to_string());
    let mut extra = extra_params::empty();
    extra_params::ensure_value(&mut extra, "dialog_id", dialog_id);
    stanza.payloads.push(extra);
    stanza.into()
}

async fn kind_of(shared: &Shared, app_id: i64, dialog_id: &str) -> DialogType {
    match shared.core.store.dialog(app_id, dialog_id).await {
        Ok(Some(dialog)) => dialog.kind,
        _ => DialogType::Private,
    }
}

/// Sends a stanza "from" a user into a dialog: 1-1 to each recipient (kept offline when `keep`), group
/// dialogs reflected from the room (the other nodes asked when `keep`). Returns the recipients it was
/// kept offline for or, in a group, whom no session took though the session directory lists them.
async fn deliver(
    shared: &Shared,
    from: UserJid,
    dialog_id: &str,
    kind: DialogType,
    recipients: &[i64],
    mut stanza: Element,
    keep: bool,
) -> Vec<i64> {
    let mut kept = Vec::new();
    if kind != DialogType::Private {
        let room = RoomJid {
            app_id: from.app_id,
            dialog_id: dialog_id.to_owned(),
        };
        return router::deliver_to_room(shared, &room, kind, from.user_id, stanza, keep).await;
    }
    xml::set_attr(&mut stanza, "type", "chat");
    xml::set_attr(&mut stanza, "from", from.bare(&shared.config.domain));
    for &recipient in recipients.iter().filter(|&&r| r != from.user_id) {
        let to = UserJid {
            user_id: recipient,
            app_id: from.app_id,
        };
        // REST-originated 1-1 traffic honours privacy lists like stanzas sent over XMPP do.
        if policy::blocks(shared, to, from, policy::Kind::Message).await
            || policy::blocks(shared, from, to, policy::Kind::MessageOut).await
        {
            continue;
        }
        if keep {
            match router::deliver_or_store(shared, to, stanza.clone(), None).await {
                Ok(router::Handed::KeptOffline) => kept.push(recipient),
                Ok(router::Handed::Live) => {}
                Err((error, _)) => {
                    tracing::warn!(%error, "a REST-originated message could not be kept for an offline user");
                }
            }
        } else {
            router::deliver(shared, to, &stanza, None);
        }
    }
    kept
}
