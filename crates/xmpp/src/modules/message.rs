//! 1-1 messages (`type="chat"`/`"normal"`): dialog resolution and history through the core, server-added
//! `dialog_id`/`date_sent`, delivery to every session of the recipient, sent-carbons to the sender's other
//! sessions, offline storage when the recipient has no session. Also headline and error routing.

use super::extra_params;
use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition, Target};
use crate::stanza_error::StanzaError;
use crate::xml::{self, Element};
use palaver_core::messages::PrivateMessage;
use palaver_core::model::ChatMessage;
use palaver_core::CoreError;
use palaver_proto::UserJid;
use serde_json::Value;

/// Children that make a message a signal (typing, marker, edit, delete, reaction) rather than content.
const SIGNALS: [&str; 10] = [
    "composing",
    "paused",
    "active",
    "inactive",
    "gone",
    "replace",
    "reactions",
    "remove",
    "received",
    "displayed",
];

fn has_child(message: &Element, name: &str) -> bool {
    message.children().any(|c| c.name() == name)
}

/// A real message (docs/protocol.md#xmpp-message-classification): a body or extension, and none of the
/// signal children.
pub fn is_content(message: &Element) -> bool {
    let has_payload = has_child(message, "body") || extra_params::find(message).is_some();
    has_payload && !SIGNALS.iter().any(|s| has_child(message, s))
}

/// The first child with this local name (the SDKs ignore namespaces).
pub fn signal<'a>(message: &'a Element, name: &str) -> Option<&'a Element> {
    message.children().find(|c| c.name() == name)
}

pub fn body_of(message: &Element) -> Option<String> {
    signal(message, "body").map(|b| b.text())
}

/// The message id, generated when the client gave none.
pub fn ensure_id(message: &mut Element) -> String {
    match message.attr("id") {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => {
            let id = palaver_proto::new_object_id().to_string();
            xml::set_attr(message, "id", id.clone());
            id
        }
    }
}

/// Typing notifications are only worth anything live.
pub fn is_typing_only(message: &Element) -> bool {
    ["composing", "paused", "active", "inactive", "gone"]
        .iter()
        .any(|s| has_child(message, s))
        && !has_child(message, "body")
}

/// Whether a 1-1 message should be kept for a user who is not online: chat content and markers, edits
/// and deletes, but not typing, headlines, group messages or errors.
pub fn worth_keeping(stanza: &Element) -> bool {
    stanza.name() == "message"
        && matches!(stanza.attr("type").unwrap_or("normal"), "chat" | "normal")
        && !is_typing_only(stanza)
        && (is_content(stanza) || SIGNALS.iter().any(|s| has_child(stanza, s)))
}

pub async fn handle(session: &mut Online, message: Element) {
    let config = &session.shared.config;
    match stanza::target(&message, config) {
        Target::User(user, resource) => {
            if user.app_id != session.auth.user.app_id {
                let reply = stanza::error_reply(&message, Condition::ItemNotFound, "No such user");
                return session.reply(reply).await;
            }
            if super::privacy::message_refused(session, &message, user).await {
                return;
            }
            match message.attr("type").unwrap_or("normal") {
                "chat" | "normal" => private(session, message, user, resource).await,
                "groupchat" => {
                    let reply = stanza::error_reply(
                        &message,
                        Condition::BadRequest,
                        "Group messages go to a dialog room",
                    );
                    session.reply(reply).await
                }
                "headline" => {
                    let mut message = message;
                    mark_system_message(&mut message);
                    relay(session, &message, user, resource.as_deref())
                }
                // Errors are relayed live, never stored.
                _ => relay(session, &message, user, resource.as_deref()),
            }
        }
        Target::Server => {}
        Target::Room(room, nick) => {
            if message.attr("type") == Some("headline") {
                let reply =
                    stanza::error_reply(&message, Condition::BadRequest, "System messages go to users");
                return session.reply(reply).await;
            }
            super::groupchat::handle(session, message, room, nick).await
        }
        Target::RoomService => {
            let reply = stanza::error_reply(&message, Condition::BadRequest, "Messages go to a dialog room");
            session.reply(reply).await
        }
        Target::Elsewhere => {
            let reply = stanza::error_reply(
                &message,
                Condition::RemoteServerNotFound,
                "Unknown recipient domain",
            );
            session.reply(reply).await
        }
    }
}

/// Live delivery to one resource or every available session, nothing kept.
fn relay(session: &Online, message: &Element, user: UserJid, resource: Option<&str>) {
    let shared = &session.shared;
    match resource {
        Some(resource) => {
            router::to_resource(shared, user, resource, message);
        }
        None => {
            router::to_available(shared, user, message, None);
        }
    }
}

async fn private(session: &mut Online, mut message: Element, recipient: UserJid, resource: Option<String>) {
    let arrived = std::time::Instant::now();
    let outcome = if is_content(&message) {
        accept(session, &mut message, recipient).await
    } else {
        let shared = session.shared.clone();
        apply_signal(&shared, session.auth.user, &message).await
    };
    if let Err(error) = outcome {
        let reply = StanzaError::from(&error).reply_to(&message);
        return session.reply(reply).await;
    }
    crate::metrics::message_routed(&message);
    if message.attr("type") == Some("chat") {
        carbons(session, &message);
    }
    let shared = session.shared.clone();
    if let Some(resource) = resource.as_deref() {
        if router::to_resource(&shared, recipient, resource, &message) {
            return;
        }
    }
    if is_typing_only(&message) {
        router::to_available(&shared, recipient, &message, None);
        return;
    }
    if let Err(error) = router::deliver_or_store(&shared, recipient, &message, None).await {
        let reply = StanzaError::from(&error).reply_to(&message);
        return session.reply(reply).await;
    }
    metrics::histogram!(palaver_core::metrics::DELIVERY_DURATION).record(arrived.elapsed().as_secs_f64());
}

/// Markers, edits and deletes of 1-1 messages update history (when the stanza names its dialog), then
/// travel like the message they are about.
async fn apply_signal(shared: &Shared, sender: UserJid, message: &Element) -> Result<(), CoreError> {
    let Some(dialog_id) = extra_params::find(message).and_then(|e| extra_params::value(e, "dialog_id"))
    else {
        return Ok(());
    };
    let (app_id, me) = (sender.app_id, sender.user_id);
    let history = shared.core.history();
    let target = |name: &str| {
        signal(message, name)
            .and_then(|s| s.attr("id"))
            .map(str::to_owned)
    };
    if let Some(id) = target("displayed") {
        // A marker about a message that is not (or no longer) in history is still routed.
        if let Err(error) = history.mark_read(app_id, me, &dialog_id, Some(&[id])).await {
            tracing::debug!(%error, "read marker not applied to history");
        }
    } else if let Some(id) = target("received") {
        if let Err(error) = history.mark_delivered(app_id, me, &dialog_id, &[id]).await {
            tracing::debug!(%error, "delivery marker not applied to history");
        }
    } else if let Some(id) = target("replace") {
        history
            .edit(app_id, me, &dialog_id, &id, &body_of(message).unwrap_or_default())
            .await?;
    } else if let Some(id) = target("remove") {
        history.delete_for_everyone(app_id, me, &dialog_id, &[id]).await?;
    }
    Ok(())
}

/// A headline from a user without a module identifier is a system message: the receiving SDKs ignore
/// headlines without `moduleIdentifier` (docs/protocol.md#quirk-headline-module-identifier).
fn mark_system_message(message: &mut Element) {
    let extra = extra_params::ensure(message);
    extra_params::ensure_value(extra, "moduleIdentifier", "SystemNotifications");
}

/// Runs the core rules (dialog, history) and adds what the recipient's SDK needs: `dialog_id` and
/// `date_sent` in `extraParams`.
async fn accept(session: &mut Online, message: &mut Element, recipient: UserJid) -> Result<(), CoreError> {
    let id = ensure_id(message);
    let body = body_of(message);
    let (attachments, params, save_to_history, dialog_id, date_sent) = match extra_params::find(message) {
        Some(extra) => {
            let (attachments, params) = extra_params::to_json(extra);
            let save = extra_params::value(extra, "save_to_history").is_some_and(|v| v.trim() == "1");
            let dialog = extra_params::value(extra, "dialog_id").filter(|d| !d.trim().is_empty());
            let date = extra_params::value(extra, "date_sent").and_then(|d| d.trim().parse::<i64>().ok());
            (attachments, params, save, dialog, date)
        }
        None => (Vec::new(), Default::default(), false, None, None),
    };
    let silent = palaver_core::messages::is_silent(&params);
    let submitted = PrivateMessage {
        app_id: session.auth.user.app_id,
        sender_id: session.auth.user.user_id,
        recipient_id: recipient.user_id,
        id,
        dialog_id,
        body,
        attachments: Value::Array(attachments),
        custom: extra_params::custom(params),
        date_sent,
        save_to_history,
    };
    let accepted = session
        .shared
        .core
        .messages()
        .accept_private(submitted.clone())
        .await?;
    let extra = extra_params::ensure(message);
    extra_params::ensure_value(extra, "dialog_id", &accepted.dialog.id);
    extra_params::ensure_value(extra, "date_sent", &accepted.date_sent.to_string());
    let now = session.shared.core.clock.now_millis();
    let alerted = ChatMessage {
        id: submitted.id,
        app_id: submitted.app_id,
        dialog_id: accepted.dialog.id.clone(),
        sender_id: submitted.sender_id,
        recipient_id: submitted.recipient_id,
        body: submitted.body,
        attachments: submitted.attachments,
        custom: submitted.custom,
        date_sent: accepted.date_sent,
        created_at: now,
        updated_at: now,
    };
    session
        .shared
        .core
        .messages()
        .raise_alerts(alerted, &accepted.dialog, &[recipient.user_id], silent)
        .await;
    Ok(())
}

/// XEP-0280 sent carbons to the sender's other sessions that enabled them (never received carbons: the
/// SDKs mistake those for delivery markers).
fn carbons(session: &Online, message: &Element) {
    let private = message
        .children()
        .any(|c| c.is("private", ns::CARBONS) || c.name() == "no-copy");
    if private {
        return;
    }
    let mut forwarded = xml::element("forwarded", ns::FORWARD);
    forwarded.append_child(message.clone());
    let mut wrapper = xml::element("message", ns::CLIENT);
    xml::set_attr(&mut wrapper, "from", session.bare_jid.clone());
    xml::set_attr(&mut wrapper, "type", "chat");
    wrapper.append_child(xml::with_child(xml::element("sent", ns::CARBONS), forwarded));
    router::carbons(&session.shared, session.auth.user, &wrapper, session.handle.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Element {
        text.parse().unwrap()
    }

    #[test]
    fn classifies_content_and_signals() {
        let content = parse(r#"<message xmlns="jabber:client" type="chat"><body>hi</body></message>"#);
        assert!(is_content(&content) && worth_keeping(&content));
        let edit = parse(
            r#"<message xmlns="jabber:client" type="chat"><body>new</body><replace xmlns="urn:xmpp:message-correct:0" id="x"/></message>"#,
        );
        assert!(!is_content(&edit) && worth_keeping(&edit));
        let typing = parse(
            r#"<message xmlns="jabber:client" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>"#,
        );
        assert!(!worth_keeping(&typing));
        let marker = parse(
            r#"<message xmlns="jabber:client" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="m"/></message>"#,
        );
        assert!(worth_keeping(&marker));
        let headline = parse(r#"<message xmlns="jabber:client" type="headline"><body>x</body></message>"#);
        assert!(!worth_keeping(&headline));
    }
}
