//! Privacy lists (XEP-0016 as ConnectyCube profiles it, docs/protocol.md#xmpp-privacy-lists), the XEP-0191
//! blocking command on the same lists, and their enforcement.
//!
//! Managing: `jabber:iq:privacy` iqs to the server — names, a list by name (an unknown name gets an empty
//! `<list name="…"/>`, not `item-not-found`: v3's `getList` never settles on an error), create/replace (a
//! new list needs at least one item: one without is a `bad-request`), delete (a list without items), the
//! default list (declined with an empty `<default/>`) and the session's active list (`<active/>`). Editing
//! or deleting the default list is allowed; deleting it leaves no default.
//! Nothing is pushed to other sessions: the SDKs answer `iq type="set"` pushes with errors and mistake any
//! iq carrying a `<query>` for a last-activity push (docs/protocol.md#quirk-iq-query-is-last-activity).
//!
//! Enforcing: only the **default** list, whether its owner is online or not (an active list is kept and
//! reported for the session but not enforced — the SDKs never set one). See `palaver_core::privacy` for how
//! a list is evaluated. Hooks:
//! * 1-1 messages (`message_refused`, before the message is stored): a message from a user the recipient
//!   blocks gets `service-unavailable` (503, "Service not available."); a message to a user the sender
//!   blocks two-way gets `not-acceptable` (406). Typing notifications, markers and errors are dropped
//!   quietly.
//! * iqs routed to a session (`iq_refused`): the same, for requests; results and errors are dropped.
//! * directed presence (`presence_blocked`): dropped quietly both ways (`presence-in`/`presence-out`).
//! * group messages (`room_recipients`, in the fan-out): a member whose list blocks the sender gets
//!   nothing (no error to anyone), and a sender's two-way block keeps his messages from that member. An
//!   occupant is matched by its `muc.{domain}/{uid}` items and by its user JID items alike.
//! * `blocks`/`blocks_in_rooms` for the other modules (last activity answers 403 to blocked users).

use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use crate::xml::{self, Element};
use palaver_core::privacy::{Action, PrivacyItem, PrivacyList, Stanzas, Target};
use palaver_proto::UserJid;

pub use palaver_core::privacy::Kind;

/// XEP-0016.
pub const NS: &str = "jabber:iq:privacy";
/// XEP-0191.
pub const BLOCKING: &str = "urn:xmpp:blocking";
/// The list the blocking command creates (and makes the default) for a user without a default list.
pub const BLOCKLIST_NAME: &str = "blocklist";

/// The text of the error a blocked sender gets; the SDKs hand it to the app as `info`.
pub const BLOCKED_TEXT: &str = "Service not available.";
/// The text of the error the owner of a two-way block gets when writing to the blocked user.
pub const BLOCKING_TEXT: &str = "You have blocked this user.";

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
pub async fn message_refused(session: &mut Online, message: &Element, recipient: UserJid) -> bool {
    let sender = session.auth.user;
    let shared = session.shared.clone();
    let refusal = if blocks(&shared, sender, recipient, Kind::MessageOut).await {
        (Condition::NotAcceptable, BLOCKING_TEXT)
    } else if blocks(&shared, recipient, sender, Kind::Message).await {
        (Condition::ServiceUnavailable, BLOCKED_TEXT)
    } else {
        return false;
    };
    if message.attr("type") != Some("error") && !is_automatic(message) {
        session
            .reply(stanza::error_reply(message, refusal.0, refusal.1))
            .await;
    }
    true
}

/// Typing notifications and delivery/read markers: the SDKs send them by themselves (v6 a `received`
/// marker for every message it gets), so an error about one would only puzzle the app.
fn is_automatic(message: &Element) -> bool {
    let marker = ["received", "displayed"]
        .iter()
        .any(|name| super::message::signal(message, name).is_some());
    super::message::is_typing_only(message) || (marker && super::message::body_of(message).is_none())
}

/// Checks an iq from this session's user to a session of `recipient`. Blocked requests are answered
/// with an error, blocked results and errors dropped; true when the iq must not be routed.
pub async fn iq_refused(session: &mut Online, iq: &Element, recipient: UserJid) -> bool {
    let sender = session.auth.user;
    let shared = session.shared.clone();
    let refusal = if blocks(&shared, sender, recipient, Kind::IqOut).await {
        (Condition::NotAcceptable, BLOCKING_TEXT)
    } else if blocks(&shared, recipient, sender, Kind::Iq).await {
        (Condition::ServiceUnavailable, BLOCKED_TEXT)
    } else {
        return false;
    };
    if matches!(iq.attr("type"), Some("get" | "set")) {
        session.reply(stanza::error_reply(iq, refusal.0, refusal.1)).await;
    }
    true
}

/// Whether a directed presence from `from` to `to` must be dropped.
pub async fn presence_blocked(shared: &Shared, from: UserJid, to: UserJid) -> bool {
    blocks(shared, from, to, Kind::PresenceOut).await || blocks(shared, to, from, Kind::PresenceIn).await
}

// --- Managing lists: jabber:iq:privacy ---

fn refusal(condition: Condition, text: &str) -> StanzaError {
    StanzaError::new(condition, text)
}

/// Answers a `jabber:iq:privacy` iq to the server.
pub async fn iq(session: &mut Online, iq: &Element) -> Element {
    let query = iq.children().next();
    let outcome = match (iq.attr("type"), query) {
        (Some("get"), Some(query)) => get(session, query).await,
        (Some("set"), Some(query)) => set(session, query).await,
        _ => Err(refusal(Condition::BadRequest, "Expected a privacy query")),
    };
    match outcome {
        Ok(payload) => stanza::iq_result(iq, payload),
        Err(error) => error.reply_to(iq),
    }
}

fn name_of(element: &Element) -> Option<&str> {
    element.attr("name").filter(|n| !n.is_empty())
}

async fn get(session: &mut Online, query: &Element) -> Result<Option<Element>, StanzaError> {
    let user = session.auth.user;
    let privacy = session.shared.core.privacy();
    let children: Vec<&Element> = query.children().collect();
    match children.as_slice() {
        [] => {
            let names = privacy
                .names(user.app_id, user.user_id)
                .await
                .map_err(StanzaError::from)?;
            let mut answer = xml::element("query", NS);
            // The SDKs report every child's name in `names`, active and default included
            // (docs/protocol.md#quirk-privacy-list-reading).
            if let Some(active) = session
                .handle
                .privacy_active()
                .filter(|a| names.lists.contains(a))
            {
                answer.append_child(xml::with_attr(xml::element("active", NS), "name", active));
            }
            if let Some(default) = &names.default {
                answer.append_child(xml::with_attr(
                    xml::element("default", NS),
                    "name",
                    default.clone(),
                ));
            }
            for name in names.lists {
                answer.append_child(xml::with_attr(xml::element("list", NS), "name", name));
            }
            Ok(Some(answer))
        }
        [list] if list.name() == "list" => {
            let name = name_of(list).ok_or_else(|| refusal(Condition::BadRequest, "A list needs a name"))?;
            let found = privacy
                .list(user.app_id, user.user_id, name)
                .await
                .map_err(StanzaError::from)?;
            // An unknown list reads as an empty one (docs/protocol.md#quirk-privacy-list-reading).
            let found = found.unwrap_or_else(|| PrivacyList {
                name: name.to_owned(),
                items: Vec::new(),
            });
            Ok(Some(xml::with_child(
                xml::element("query", NS),
                list_element(&found),
            )))
        }
        _ => Err(refusal(
            Condition::BadRequest,
            "Ask for the list names or for exactly one list",
        )),
    }
}

async fn set(session: &mut Online, query: &Element) -> Result<Option<Element>, StanzaError> {
    let user = session.auth.user;
    let shared = session.shared.clone();
    let privacy = shared.core.privacy();
    let children: Vec<&Element> = query.children().collect();
    let [child] = children.as_slice() else {
        return Err(refusal(Condition::BadRequest, "Change one thing at a time"));
    };
    match child.name() {
        "active" => {
            match name_of(child) {
                None => session.handle.set_privacy_active(None),
                Some(name) => {
                    let exists = privacy
                        .list(user.app_id, user.user_id, name)
                        .await
                        .map_err(StanzaError::from)?
                        .is_some();
                    if !exists {
                        return Err(refusal(
                            Condition::ItemNotFound,
                            "There is no privacy list of that name",
                        ));
                    }
                    session.handle.set_privacy_active(Some(name.to_owned()));
                }
            }
            Ok(None)
        }
        "default" => {
            privacy
                .set_default(user.app_id, user.user_id, name_of(child))
                .await
                .map_err(StanzaError::from)?;
            Ok(None)
        }
        "list" => {
            let name = name_of(child).ok_or_else(|| refusal(Condition::BadRequest, "A list needs a name"))?;
            let items = parse_items(child)?;
            if items.is_empty() {
                // A list without items removes an existing list (XEP-0016); it cannot create one, since a
                // new list needs at least one item.
                let existed = privacy
                    .delete(user.app_id, user.user_id, name)
                    .await
                    .map_err(StanzaError::from)?;
                if !existed {
                    return Err(refusal(
                        Condition::BadRequest,
                        "A privacy list needs at least one item",
                    ));
                }
                for other in shared.registry.sessions(user) {
                    if other.privacy_active().as_deref() == Some(name) {
                        other.set_privacy_active(None);
                    }
                }
            } else {
                privacy
                    .put(
                        user.app_id,
                        user.user_id,
                        PrivacyList {
                            name: name.to_owned(),
                            items,
                        },
                    )
                    .await
                    .map_err(StanzaError::from)?;
            }
            Ok(None)
        }
        _ => Err(refusal(Condition::BadRequest, "Unknown privacy request")),
    }
}

fn parse_items(list: &Element) -> Result<Vec<PrivacyItem>, StanzaError> {
    let mut items = Vec::new();
    for item in list.children().filter(|c| c.name() == "item") {
        let value = match item.attr("type") {
            None => None,
            Some("jid") => match item.attr("value") {
                Some(value) if !value.is_empty() => Some(value.to_owned()),
                _ => return Err(refusal(Condition::BadRequest, "A jid item needs a value")),
            },
            Some("group" | "subscription") => {
                return Err(refusal(
                    Condition::FeatureNotImplemented,
                    "Only jid items and items without a type are supported",
                ))
            }
            Some(_) => return Err(refusal(Condition::BadRequest, "Unknown item type")),
        };
        let action = item
            .attr("action")
            .and_then(Action::parse)
            .ok_or_else(|| refusal(Condition::BadRequest, "An item needs action allow or deny"))?;
        let order = item
            .attr("order")
            .and_then(|o| o.trim().parse::<u32>().ok())
            .ok_or_else(|| refusal(Condition::BadRequest, "An item needs an unsigned integer order"))?;
        let stanzas = item
            .children()
            .filter_map(|c| Stanzas::from_name(c.name()))
            .fold(Stanzas::EVERYTHING, Stanzas::with);
        items.push(PrivacyItem {
            order: order as i64,
            value,
            action,
            stanzas,
        });
    }
    Ok(items)
}

fn list_element(list: &PrivacyList) -> Element {
    let mut element = xml::with_attr(xml::element("list", NS), "name", list.name.clone());
    for item in &list.items {
        let mut entry = xml::element("item", NS);
        if let Some(value) = &item.value {
            xml::set_attr(&mut entry, "type", "jid");
            xml::set_attr(&mut entry, "value", value.clone());
        }
        xml::set_attr(&mut entry, "action", item.action.as_str());
        xml::set_attr(&mut entry, "order", item.order.to_string());
        for kind in item.stanzas.names() {
            entry.append_child(xml::element(kind, NS));
        }
        element.append_child(entry);
    }
    element
}

// --- XEP-0191 blocking command, on the default list ---
//
// A blocked JID is a deny item without stanza kinds (every stanza, both ways) at the top of the default
// list; for a user of the app it comes with its `muc.{domain}/{uid}` item, as the SDKs write pairs. A user
// without a default list gets one named `blocklist`. Pushes go only to sessions that asked for the
// blocklist (never to the SDKs, which do not).

fn is_block(item: &PrivacyItem) -> bool {
    item.action == Action::Deny && item.stanzas.is_everything() && item.value.is_some()
}

/// Answers a `urn:xmpp:blocking` iq to the server.
pub async fn blocking(session: &mut Online, iq: &Element) -> Element {
    let outcome = match (iq.attr("type"), iq.children().next()) {
        (Some("get"), Some(request)) if request.name() == "blocklist" => blocklist(session).await,
        (Some("set"), Some(request)) if matches!(request.name(), "block" | "unblock") => {
            change_blocks(session, request).await
        }
        _ => Err(refusal(Condition::BadRequest, "Unknown blocking request")),
    };
    match outcome {
        Ok(payload) => stanza::iq_result(iq, payload),
        Err(error) => error.reply_to(iq),
    }
}

async fn default_list(shared: &Shared, user: UserJid) -> Result<Option<PrivacyList>, StanzaError> {
    let privacy = shared.core.privacy();
    let names = privacy
        .names(user.app_id, user.user_id)
        .await
        .map_err(StanzaError::from)?;
    match names.default {
        Some(name) => privacy
            .list(user.app_id, user.user_id, &name)
            .await
            .map_err(StanzaError::from),
        None => Ok(None),
    }
}

async fn blocklist(session: &mut Online) -> Result<Option<Element>, StanzaError> {
    session.handle.set_wants_blocklist();
    let user = session.auth.user;
    let list = default_list(&session.shared, user).await?;
    let mut answer = xml::element("blocklist", BLOCKING);
    for item in list.iter().flat_map(|l| &l.items).filter(|i| is_block(i)) {
        let value = item.value.as_deref().unwrap_or_default();
        if matches!(Target::of(Some(value), user.app_id), Target::Occupant(_)) {
            continue;
        }
        answer.append_child(xml::with_attr(xml::element("item", BLOCKING), "jid", value));
    }
    Ok(Some(answer))
}

async fn change_blocks(session: &mut Online, request: &Element) -> Result<Option<Element>, StanzaError> {
    let user = session.auth.user;
    let shared = session.shared.clone();
    let jids: Vec<String> = request
        .children()
        .filter(|c| c.name() == "item")
        .filter_map(|c| c.attr("jid"))
        .filter(|j| !j.is_empty())
        .map(str::to_owned)
        .collect();
    let block = request.name() == "block";
    if block && jids.is_empty() {
        return Err(refusal(Condition::BadRequest, "Name at least one JID to block"));
    }
    let existing = default_list(&shared, user).await?;
    let is_default = existing.is_some();
    let mut list = existing.unwrap_or_else(|| PrivacyList {
        name: BLOCKLIST_NAME.to_owned(),
        items: Vec::new(),
    });
    // The values each JID stands for: itself, and its occupant item for a user of the app.
    let muc = shared.config.muc_domain();
    let partners = |jid: &str| -> Vec<String> {
        match Target::of(Some(jid), user.app_id) {
            Target::User(uid) => vec![jid.to_owned(), format!("{muc}/{uid}")],
            _ => vec![jid.to_owned()],
        }
    };
    if block {
        let mut added: Vec<PrivacyItem> = Vec::new();
        for jid in &jids {
            let present = list
                .items
                .iter()
                .any(|i| is_block(i) && i.value.as_deref() == Some(jid.as_str()));
            if present {
                continue;
            }
            for value in partners(jid) {
                added.push(PrivacyItem::jid(0, &value, Action::Deny, Stanzas::EVERYTHING));
            }
        }
        added.append(&mut list.items);
        list.items = added;
    } else if jids.is_empty() {
        list.items.retain(|i| !is_block(i));
    } else {
        let values: Vec<String> = jids.iter().flat_map(|j| partners(j)).collect();
        list.items
            .retain(|i| !(is_block(i) && values.iter().any(|v| i.value.as_deref() == Some(v.as_str()))));
    }
    for (n, item) in list.items.iter_mut().enumerate() {
        item.order = n as i64 + 1;
    }
    let privacy = shared.core.privacy();
    let name = list.name.clone();
    if list.items.is_empty() && !is_default {
        // Unblocking with nothing blocked: nothing to keep.
    } else if list.items.is_empty() {
        // Keep the (now empty of blocks) default list's place: XEP-0016 cannot store an empty list, so the
        // default goes with it.
        privacy
            .delete(user.app_id, user.user_id, &name)
            .await
            .map_err(StanzaError::from)?;
    } else {
        privacy
            .put(user.app_id, user.user_id, list)
            .await
            .map_err(StanzaError::from)?;
        if !is_default {
            privacy
                .set_default(user.app_id, user.user_id, Some(&name))
                .await
                .map_err(StanzaError::from)?;
        }
    }
    push_blocklist(&shared, user, request);
    Ok(None)
}

/// XEP-0191 pushes to the user's sessions that asked for the blocklist (no `from`: the SDKs would take an
/// iq push with one for something else).
fn push_blocklist(shared: &Shared, user: UserJid, request: &Element) {
    for session in shared.registry.sessions(user) {
        if !session.wants_blocklist() {
            continue;
        }
        let mut push = xml::element("iq", crate::ns::CLIENT);
        xml::set_attr(&mut push, "type", "set");
        xml::set_attr(
            &mut push,
            "id",
            format!("push-{}", palaver_proto::random_hex_token(6)),
        );
        push.append_child(request.clone());
        router::to_resource(shared, user, &session.resource, &push);
    }
}
