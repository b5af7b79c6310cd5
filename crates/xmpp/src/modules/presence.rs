//! Presence: initial and updated presence go to the user's own sessions (RFC 6121 §4.2, and the echo the
//! SDKs expect), the first one releases the messages kept offline; unavailable presence on logout.
//! Directed presence to a user is routed live. Contact-list subscriptions come with the roster module.

use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition, Target};
use crate::xml::{self, Element};
use palaver_core::clock::iso8601;
use palaver_proto::UserJid;

/// How many offline messages are fetched per round trip to the store.
const OFFLINE_BATCH: i64 = 100;

pub async fn handle(session: &mut Online, presence: Element) {
    let config = &session.shared.config;
    match stanza::target(&presence, config) {
        Target::Server => match presence.attr("type") {
            None | Some("available") => available(session, presence).await,
            Some("unavailable") => {
                session.handle.set_available(false);
                session.presence = None;
                broadcast(session, &presence).await;
                went_away(&session.shared.clone(), session.auth.user, &presence).await;
            }
            // Probes and subscription requests to the server itself mean nothing here.
            _ => {}
        },
        Target::User(user, None)
            if user.app_id == session.auth.user.app_id
                && matches!(
                    presence.attr("type"),
                    Some("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed")
                ) =>
        {
            super::roster::subscription(session, &presence, user).await
        }
        Target::User(user, resource) if user.app_id == session.auth.user.app_id => {
            let shared = session.shared.clone();
            if super::privacy::presence_blocked(&shared, session.auth.user, user).await {
                return;
            }
            match resource {
                Some(resource) => {
                    router::to_resource(&shared, user, &resource, &presence);
                }
                None => {
                    router::to_available(&shared, user, &presence, None);
                }
            }
        }
        Target::User(..) => {}
        Target::Room(room, nick) => super::muc::handle(session, presence, room, nick).await,
        Target::RoomService => {
            let reply =
                stanza::error_reply(&presence, Condition::BadRequest, "Presence goes to a dialog room");
            session.reply(reply).await
        }
        Target::Elsewhere => {
            let reply = stanza::error_reply(&presence, Condition::RemoteServerNotFound, "Unknown domain");
            session.reply(reply).await
        }
    }
}

async fn available(session: &mut Online, presence: Element) {
    let shared = session.shared.clone();
    let user = session.auth.user;
    let was_online = shared.registry.is_online(user);
    let first = session.presence.is_none();
    session.handle.set_available(true);
    session.presence = Some(presence.clone());
    broadcast(session, &presence).await;
    super::roster::on_available(session, &presence, first).await;
    if !was_online {
        super::last::went_online(&shared, user);
    }
    if first {
        deliver_offline(session).await;
    }
}

/// A session went unavailable: contacts see it; if it was the user's last, the user is offline now.
async fn went_away(shared: &Shared, user: UserJid, presence: &Element) {
    super::roster::broadcast(shared, user, presence).await;
    if !shared.registry.is_online(user) {
        super::last::went_offline(shared, user).await;
    }
}

/// Sends a presence of this session to the user's other available sessions, and echoes it to the session
/// itself first (directly, so the echo precedes anything queued after it, such as offline messages).
async fn broadcast(session: &mut Online, presence: &Element) {
    let mut echo = presence.clone();
    xml::set_attr(&mut echo, "to", session.full_jid.clone());
    session.send(echo).await;
    router::to_available(
        &session.shared,
        session.auth.user,
        presence,
        Some(session.handle.id),
    );
}

/// Tells the user's other sessions and contacts that this session went away.
pub async fn broadcast_unavailable(shared: &Shared, user: UserJid, full_jid: &str, session_id: u64) {
    let mut presence = xml::element("presence", ns::CLIENT);
    xml::set_attr(&mut presence, "type", "unavailable");
    xml::set_attr(&mut presence, "from", full_jid);
    router::to_available(shared, user, &presence, Some(session_id));
    went_away(shared, user, &presence).await;
}

/// Hands the messages kept while the user was offline to this session, oldest first, each with a
/// `<delay/>` (XEP-0203), and forgets them once sent.
async fn deliver_offline(session: &mut Online) {
    let user = session.auth.user;
    let offline = session.shared.core.offline();
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
            if message.get_child("delay", ns::DELAY).is_some() {
                xml::set_attr(&mut message, "to", session.full_jid.clone());
                session.send(message).await;
                continue;
            }
            let mut delay = xml::element("delay", ns::DELAY);
            xml::set_attr(&mut delay, "from", session.shared.config.domain.clone());
            xml::set_attr(&mut delay, "stamp", iso8601(kept.created_at));
            message.append_child(delay);
            xml::set_attr(&mut message, "to", session.full_jid.clone());
            session.send(message).await;
        }
        session.request_ack().await;
        if let Err(error) = offline.acknowledge(user.app_id, user.user_id, &delivered).await {
            tracing::error!(%error, "forgetting delivered offline messages failed");
            return;
        }
        if (batch.len() as i64) < OFFLINE_BATCH {
            return;
        }
    }
}
