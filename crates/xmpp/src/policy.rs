//! Privacy lists as the rest of the server applies them (XEP-0016 as ConnectyCube profiles it,
//! docs/protocol.md#xmpp-privacy-lists): only the **default** list is enforced, whether its owner is online
//! or not. The privacy module manages the lists; the chat, presence, roster and last-activity modules and
//! the router ask here. Hooks:
//! * 1-1 messages (`message_refused`, before the message is stored; content messages in the core, as it
//!   accepts them): a message from a user the recipient blocks gets `service-unavailable` (503, "Service
//!   not available."); a message to a user the sender blocks two-way gets `not-acceptable` (406). Typing
//!   notifications, markers and errors are dropped quietly.
//! * iqs routed to a session (`iq_refused`): the same, for requests; results and errors are dropped.
//! * directed presence (`presence_blocked`): dropped quietly both ways (`presence-in`/`presence-out`).
//! * group messages (`room_recipients`, in the room delivery): a member whose list blocks the sender gets
//!   nothing (no error to anyone), and a sender's two-way block keeps his messages from that member. An
//!   occupant is matched by its `muc.{domain}/{uid}` items and by its user JID items alike.
//! * `blocks`/`blocks_in_rooms` for everything else (last activity answers 403 to blocked users).

use crate::context::Context;
use crate::parsers::{Iq, Message, MessageType};
use crate::shared::Shared;
use crate::stanza_error::StanzaError;
use palaver_core::{CoreError, Denial};
use palaver_proto::UserJid;

pub use palaver_core::privacy::Kind;

/// Whether `owner`'s default list blocks this kind of 1-1 traffic with `peer` (`Kind::Message`, `Iq`,
/// `PresenceIn`: from `peer` to `owner`; `PresenceOut`, `MessageOut`, `IqOut`: from `owner` to `peer`).
/// A failure to read the list allows (and is logged).
pub async fn blocks(shared: &Shared, owner: UserJid, peer: UserJid, kind: Kind) -> bool {
    if owner.app_id != peer.app_id || owner == peer {
        return false;
    }
    match shared
        .core
        .privacy()
        .blocks(owner.app_id, owner.user_id, peer.user_id, kind)
        .await
    {
        Ok(blocked) => blocked,
        Err(error) => {
            tracing::error!(%error, %owner, "reading a privacy list failed; allowing");
            false
        }
    }
}

/// Like `blocks`, for `occupant`'s traffic in group rooms.
pub async fn blocks_in_rooms(shared: &Shared, owner: UserJid, occupant: UserJid, kind: Kind) -> bool {
    if owner.app_id != occupant.app_id || owner == occupant {
        return false;
    }
    match shared
        .core
        .privacy()
        .blocks_in_rooms(owner.app_id, owner.user_id, occupant.user_id, kind)
        .await
    {
        Ok(blocked) => blocked,
        Err(error) => {
            tracing::error!(%error, %owner, "reading a privacy list failed; allowing");
            false
        }
    }
}

/// The members a group stanza from `sender` may reach (see the module docs). Order is kept.
pub async fn room_recipients(shared: &Shared, app_id: i64, sender: i64, members: Vec<i64>) -> Vec<i64> {
    match shared
        .core
        .privacy()
        .room_recipients(app_id, sender, members.clone())
        .await
    {
        Ok(allowed) => allowed,
        Err(error) => {
            tracing::error!(%error, "reading privacy lists failed; delivering to every member");
            members
        }
    }
}

/// `room_recipients` for a list of users (broadcast dialogs).
pub async fn room_audience(shared: &Shared, app_id: i64, sender: i64, users: Vec<UserJid>) -> Vec<UserJid> {
    let ids = users.iter().map(|u| u.user_id).collect();
    room_recipients(shared, app_id, sender, ids)
        .await
        .into_iter()
        .map(|user_id| UserJid { user_id, app_id })
        .collect()
}

/// Checks a 1-1 message from this session's user to `recipient` before anything else happens to it. When
/// blocked, answers the sender (unless the message is an error, a typing notification or a marker) and
/// returns true: the message must then be dropped — not stored, delivered, carbon-copied or pushed.
/// Content messages are not checked here: the core checks them as it accepts them (`accept_private`,
/// for REST and XMPP alike), and its refusal maps to the same error.
pub async fn message_refused(ctx: &mut Context<'_>, message: &Message, recipient: UserJid) -> bool {
    let Some(denial) = refusal(ctx.shared, ctx.user(), recipient, Kind::MessageOut, Kind::Message).await
    else {
        return false;
    };
    if !message.is_type(&MessageType::Error) && !is_automatic(message) {
        ctx.reply(StanzaError::from(&CoreError::Forbidden(denial)).refuse(message))
            .await;
    }
    true
}

/// Why `sender` may not send `recipient` this kind of 1-1 traffic (`outgoing` checked in the sender's
/// list, `incoming` in the recipient's), if he may not.
async fn refusal(
    shared: &Shared,
    sender: UserJid,
    recipient: UserJid,
    outgoing: Kind,
    incoming: Kind,
) -> Option<Denial> {
    if blocks(shared, sender, recipient, outgoing).await {
        Some(Denial::BlockedBySender)
    } else if blocks(shared, recipient, sender, incoming).await {
        Some(Denial::BlockedByRecipient)
    } else {
        None
    }
}

/// Typing notifications and delivery/read markers: the SDKs send them by themselves (v6 a `received`
/// marker for every message it gets), so an error about one would only puzzle the app.
fn is_automatic(message: &Message) -> bool {
    let seen = message.classification();
    seen.is_typing_only() || (seen.marker && !seen.body)
}

/// Checks an iq from this session's user to a session of `recipient`. Blocked requests are answered
/// with an error, blocked results and errors dropped; true when the iq must not be routed.
pub async fn iq_refused(ctx: &mut Context<'_>, iq: &Iq, recipient: UserJid) -> bool {
    let Some(denial) = refusal(ctx.shared, ctx.user(), recipient, Kind::IqOut, Kind::Iq).await else {
        return false;
    };
    if iq.is_request() {
        ctx.reply(StanzaError::from(&CoreError::Forbidden(denial)).refuse(iq))
            .await;
    }
    true
}

/// Whether a directed presence from `from` to `to` must be dropped.
pub async fn presence_blocked(shared: &Shared, from: UserJid, to: UserJid) -> bool {
    blocks(shared, from, to, Kind::PresenceOut).await || blocks(shared, to, from, Kind::PresenceIn).await
}
