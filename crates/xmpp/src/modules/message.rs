//! 1-1 messages (`type="chat"`/`"normal"`): dialog resolution and history through the core, server-added
//! `dialog_id`/`date_sent`, delivery to every session of the recipient, sent-carbons to the sender's other
//! sessions, offline storage when the recipient has no session. Also headline and error routing.

use crate::context::Context;
use crate::parsers::carbons::Sent;
use crate::parsers::extra_params;
use crate::parsers::signal::Classification;
use crate::parsers::{Message, MessageType, Signal};
use crate::policy;
use crate::router;
use crate::shared::Shared;
use crate::stanza::{self, Condition, Target};
use crate::stanza_error::StanzaError;
use crate::xml::{self, Element};
use palaver_core::messages::PrivateMessage;
use palaver_core::model::{ChatMessage, Dialog};
use palaver_core::CoreError;
use palaver_proto::UserJid;

/// A message to a user of the domain (maybe one resource).
pub async fn to_user(mut ctx: Context<'_>, message: Message, user: UserJid, resource: Option<String>) {
    if user.app_id != ctx.user().app_id {
        let reply = stanza::refuse(&message, Condition::ItemNotFound, "No such user");
        return ctx.reply(reply).await;
    }
    let kind = message.kind();
    let classification = message.classification();
    // A chat message with content has its privacy lists checked by the core as it accepts it.
    let accepted_by_core =
        matches!(kind, MessageType::Chat | MessageType::Normal) && classification.is_content();
    if !accepted_by_core && policy::message_refused(&mut ctx, &message, user).await {
        return;
    }
    match kind {
        MessageType::Chat | MessageType::Normal => {
            private(ctx, message, classification, user, resource).await
        }
        MessageType::Groupchat => {
            let reply = stanza::refuse(
                &message,
                Condition::BadRequest,
                "Group messages go to a dialog room",
            );
            ctx.reply(reply).await
        }
        MessageType::Headline => {
            let mut message = message;
            mark_system_message(&mut message);
            deliver_live(ctx.shared, message.into(), user, resource.as_deref())
        }
        // Errors are delivered live, never stored.
        _ => deliver_live(ctx.shared, message.into(), user, resource.as_deref()),
    }
}

/// A message to the room service itself, or to another domain.
pub async fn misaddressed(mut ctx: Context<'_>, message: Message, target: Target) {
    let reply = match target {
        Target::RoomService => {
            stanza::refuse(&message, Condition::BadRequest, "Messages go to a dialog room")
        }
        _ => stanza::refuse(
            &message,
            Condition::RemoteServerNotFound,
            "Unknown recipient domain",
        ),
    };
    ctx.reply(reply).await
}

/// Live delivery to one resource or every available session, nothing kept.
fn deliver_live(shared: &Shared, message: Element, user: UserJid, resource: Option<&str>) {
    match resource {
        Some(resource) => {
            router::deliver_to_resource(shared, user, resource, &message);
        }
        None => {
            router::deliver(shared, user, &message, None);
        }
    }
}

/// A chat or normal message; `classification` is its children's, worked out by the caller (accepting
/// it adds only `extraParams`, which changes neither what it is nor whether it is only typing).
async fn private(
    mut ctx: Context<'_>,
    mut message: Message,
    classification: Classification,
    recipient: UserJid,
    resource: Option<String>,
) {
    let arrived = std::time::Instant::now();
    let shared = ctx.shared;
    let content = classification.is_content();
    let outcome = if content {
        accept(&mut ctx, &mut message, recipient).await.map(Some)
    } else {
        apply_signal(shared, ctx.user(), &message).await.map(|()| None)
    };
    let alert = match outcome {
        Ok(alert) => alert,
        Err(error) => {
            let reply = StanzaError::from(&error).refuse(&message);
            return ctx.reply(reply).await;
        }
    };
    crate::metrics::message_routed(content, false);
    let typing_only = classification.is_typing_only();
    let worth_keeping = message.worth_keeping();
    let chat = message.is_type(&MessageType::Chat);
    let carbons = chat && !message.refuses_carbons();
    let message = Element::from(message);
    if carbons {
        send_carbons(&mut ctx, &message);
    }
    let handed = deliver(
        shared,
        recipient,
        resource.as_deref(),
        message,
        typing_only,
        worth_keeping,
    )
    .await;
    // The chat alert once the delivery is known: a message kept offline is always alerted, even when
    // the recipient still looks active (a node that just died, its users not yet declared gone).
    if let Some(alert) = alert {
        let kept = matches!(handed, Ok(Some(router::Handed::KeptOffline)));
        let due = alert.due(shared, kept);
        if !due.is_empty() {
            // Boxed: raising an alert is the largest state of this path and most messages raise none,
            // so the message's own future (boxed for every inbound stanza) stays small.
            Box::pin(alert.raise(shared, due)).await;
        }
    }
    match handed {
        Err((error, mut message)) => {
            // Kept offline it was addressed to the bare JID; the error comes from the address the
            // sender used.
            let domain = &shared.config.domain;
            let addressed = match &resource {
                Some(resource) => recipient.full(domain, resource),
                None => recipient.bare(domain),
            };
            xml::set_attr(&mut message, "to", addressed);
            let reply = StanzaError::from(&error).reply_to(&message);
            ctx.reply(reply).await
        }
        Ok(Some(_)) => crate::metrics::message_delivered(arrived.elapsed()),
        Ok(None) => {}
    }
}

/// Delivers a 1-1 message to the resource it names (when that session exists and, on another node,
/// takes it), live only for typing, otherwise to every session or the offline store. `None`: sent to one
/// session or live only. A failure comes with the message, for the error reply.
async fn deliver(
    shared: &Shared,
    recipient: UserJid,
    resource: Option<&str>,
    message: Element,
    typing_only: bool,
    worth_keeping: bool,
) -> Result<Option<router::Handed>, (CoreError, Element)> {
    if let Some(resource) = resource {
        let taken = if worth_keeping {
            router::deliver_to_resource_or_nobody(shared, recipient, resource, &message).await
        } else {
            router::deliver_to_resource(shared, recipient, resource, &message)
        };
        if taken {
            return Ok(None);
        }
    }
    if typing_only {
        router::deliver(shared, recipient, &message, None);
        return Ok(None);
    }
    router::deliver_or_store(shared, recipient, message, None)
        .await
        .map(Some)
}

/// The chat alert an accepted 1-1 message is due, raised once its delivery is known.
struct Alert {
    message: ChatMessage,
    dialog: Dialog,
    silent: bool,
}

impl Alert {
    /// Who is to be alerted: the recipient when he has no active session or the message was kept
    /// offline for him.
    fn due(&self, shared: &Shared, kept_offline: bool) -> Vec<i64> {
        let recipient = self.message.recipient_id;
        let kept: &[i64] = if kept_offline { &[recipient] } else { &[] };
        shared
            .core
            .messages()
            .alert_recipients(&self.message, &self.dialog, &[recipient], kept)
    }

    async fn raise(self: Box<Self>, shared: &Shared, due: Vec<i64>) {
        shared
            .core
            .messages()
            .raise_alert(self.message, &self.dialog, due, self.silent)
            .await;
    }
}

/// Markers, edits and deletes of 1-1 messages update history (when the stanza names its dialog), then
/// travel like the message they are about.
async fn apply_signal(shared: &Shared, sender: UserJid, message: &Message) -> Result<(), CoreError> {
    let Some(dialog_id) = message.param("dialog_id") else {
        return Ok(());
    };
    let (app_id, me) = (sender.app_id, sender.user_id);
    let history = shared.core.history();
    let target = |signal: Signal| message.signal_target(signal).map(str::to_owned);
    if let Some(id) = target(Signal::Displayed) {
        // A marker about a message that is not (or no longer) in history is still routed.
        if let Err(error) = history.mark_read(app_id, me, &dialog_id, Some(&[id])).await {
            tracing::debug!(%error, "read marker not applied to history");
        }
    } else if let Some(id) = target(Signal::Received) {
        if let Err(error) = history.mark_delivered(app_id, me, &dialog_id, &[id]).await {
            tracing::debug!(%error, "delivery marker not applied to history");
        }
    } else if let Some(id) = target(Signal::Replace) {
        history
            .edit(app_id, me, &dialog_id, &id, &message.body().unwrap_or_default())
            .await?;
    } else if let Some(id) = target(Signal::Remove) {
        history.delete_for_everyone(app_id, me, &dialog_id, &[id]).await?;
    }
    Ok(())
}

/// A headline from a user without a module identifier is a system message: the receiving SDKs ignore
/// headlines without `moduleIdentifier` (docs/protocol.md#quirk-headline-module-identifier).
fn mark_system_message(message: &mut Message) {
    let extra = message.extra_params_mut();
    extra_params::ensure_value(extra, "moduleIdentifier", "SystemNotifications");
}

/// Runs the core rules (dialog, history) and adds what the recipient's SDK needs: `dialog_id` and
/// `date_sent` in `extraParams`. Returns the chat alert the message is due, boxed: it is large, and
/// held across the delivery it would make the message's future larger by twice its size.
async fn accept(
    ctx: &mut Context<'_>,
    message: &mut Message,
    recipient: UserJid,
) -> Result<Box<Alert>, CoreError> {
    let shared = ctx.shared;
    let (content, silent) = message.content();
    let dialog_id = message.param("dialog_id").filter(|d| !d.trim().is_empty());
    let sender = ctx.user();
    let submitted = PrivateMessage {
        app_id: sender.app_id,
        sender_id: sender.user_id,
        recipient_id: recipient.user_id,
        dialog_id,
        content,
    };
    let accepted = shared.core.messages().accept_private(submitted).await?;
    message.stamp_accepted(&accepted.dialog.id, accepted.message.date_sent);
    Ok(Box::new(Alert {
        message: accepted.message,
        dialog: accepted.dialog,
        silent,
    }))
}

/// XEP-0280 sent carbons to the sender's other sessions that enabled them (never received carbons: the
/// SDKs mistake those for delivery markers).
fn send_carbons(ctx: &mut Context<'_>, message: &Element) {
    if !router::wants_carbons(ctx.shared, ctx.user(), ctx.sender.handle.id) {
        return;
    }
    let mut wrapper = Message::new(Some(MessageType::Chat));
    wrapper.head.from = Some(ctx.sender.bare_jid.clone());
    wrapper.payloads.push(
        Sent {
            message: message.clone(),
        }
        .into(),
    );
    router::deliver_carbons(ctx.shared, ctx.user(), &wrapper.into(), ctx.sender.handle.id);
}
