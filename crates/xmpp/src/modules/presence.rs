//! Presence: initial and updated presence go to the user's own sessions (RFC 6121 §4.2, and the echo the
//! SDKs expect), the first one releases the messages kept offline; unavailable presence on logout.
//! Directed presence to a user is routed live. What contacts, status watchers and rooms make of a
//! presence is theirs (the dispatcher calls them with the outcome of `available` and `unavailable`).

use crate::context::Context;
use crate::parsers::delay::{self, Delay};
use crate::parsers::{Presence, PresenceType};
use crate::policy;
use crate::router;
use crate::shared::Shared;
use crate::stanza::{self, Condition};
use crate::xml::{self, Element};
use palaver_core::clock::iso8601;
use palaver_proto::UserJid;

/// How many offline messages are fetched per round trip to the store.
const OFFLINE_BATCH: i64 = 100;

/// What an available presence changed, for the modules that follow presence.
pub struct Available {
    /// The presence as broadcast.
    pub presence: Element,
    /// The session's first presence: it gets its contacts' presence and its offline messages now.
    pub first: bool,
    /// Whether the user had an available session before this one.
    pub was_online: bool,
}

/// Initial or updated presence to the server.
pub async fn available(ctx: &mut Context<'_>, presence: Presence) -> Available {
    let shared = ctx.shared;
    let user = ctx.user();
    let was_online = shared.registry.is_online(user);
    let first = !ctx.session.available;
    ctx.sender.handle.set_available(true);
    let presence = Element::from(presence);
    ctx.session.available = true;
    broadcast(ctx, &presence).await;
    Available {
        presence,
        first,
        was_online,
    }
}

/// Unavailable presence to the server: the session stays, but is no longer available. Returns the
/// presence as broadcast.
pub async fn unavailable(ctx: &mut Context<'_>, presence: Presence) -> Element {
    ctx.sender.handle.set_available(false);
    ctx.session.available = false;
    let presence = Element::from(presence);
    broadcast(ctx, &presence).await;
    presence
}

/// Presence to another user of the app (subscriptions aside): routed live, unless privacy lists forbid.
pub async fn directed(ctx: Context<'_>, presence: Presence, to: UserJid, resource: Option<String>) {
    let shared = ctx.shared;
    if policy::presence_blocked(shared, ctx.user(), to).await {
        return;
    }
    let presence = Element::from(presence);
    match resource {
        Some(resource) => {
            router::deliver_to_resource(shared, to, &resource, &presence);
        }
        None => {
            router::deliver(shared, to, &presence, None);
        }
    }
}

/// Presence to the room service itself or to another domain.
pub async fn misaddressed(mut ctx: Context<'_>, presence: Presence, room_service: bool) {
    let reply = if room_service {
        stanza::refuse(&presence, Condition::BadRequest, "Presence goes to a dialog room")
    } else {
        stanza::refuse(&presence, Condition::RemoteServerNotFound, "Unknown domain")
    };
    ctx.reply(reply).await
}

/// Sends a presence of this session to the user's other available sessions, and echoes it to the session
/// itself first (directly, so the echo precedes anything queued after it, such as offline messages).
async fn broadcast(ctx: &mut Context<'_>, presence: &Element) {
    let mut echo = presence.clone();
    xml::set_attr(&mut echo, "to", ctx.sender.full_jid.clone());
    ctx.reply(echo).await;
    router::deliver(ctx.shared, ctx.user(), presence, Some(ctx.sender.handle.id));
}

/// Tells the user's other sessions that this session went away; returns the presence for its contacts.
pub fn broadcast_unavailable(shared: &Shared, user: UserJid, full_jid: &str, session_id: u64) -> Element {
    let presence: Element = Presence::from_to(Some(PresenceType::Unavailable), full_jid, None).into();
    router::deliver(shared, user, &presence, Some(session_id));
    presence
}

/// Hands the messages kept while the user was offline to this session, oldest first, each with a
/// `<delay/>` (XEP-0203), and forgets them once sent.
pub async fn deliver_offline(ctx: &mut Context<'_>) {
    let user = ctx.user();
    let shared = ctx.shared;
    let offline = shared.core.offline();
    loop {
        let batch = match offline.pending(user.app_id, user.user_id, OFFLINE_BATCH).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(%error, "reading offline messages failed");
                return;
            }
        };
        if batch.is_empty() {
            return;
        }
        let mut delivered = Vec::with_capacity(batch.len());
        for kept in &batch {
            delivered.push(kept.seq);
            let Ok(mut message) = kept.payload.parse::<Element>() else {
                tracing::warn!(seq = kept.seq, "dropping an unreadable offline message");
                continue;
            };
            // A message kept twice (delivered, unacknowledged, kept again) carries one delay: the first.
            if !delay::has_delay(&message) {
                message.append_child(
                    Delay {
                        from: Some(shared.config.domain.clone()),
                        stamp: iso8601(kept.created_at),
                    }
                    .into(),
                );
            }
            xml::set_attr(&mut message, "to", ctx.sender.full_jid.clone());
            ctx.reply(message).await;
        }
        ctx.reply.request_ack().await;
        if let Err(error) = offline.acknowledge(user.app_id, user.user_id, &delivered).await {
            tracing::error!(%error, "forgetting delivered offline messages failed");
            return;
        }
        if (batch.len() as i64) < OFFLINE_BATCH {
            return;
        }
    }
}
