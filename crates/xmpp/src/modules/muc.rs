//! Dialog rooms' presence (XEP-0045 as the SDKs use it): join and leave with status 110 — plus the
//! `<xmlns><code>…</code></xmlns>` child that v6 looks for (docs/protocol.md#quirk-muc-status-shim) on
//! self-presences only — occupant join/leave events, kicks (status 301, actor in both places), and the
//! online-occupant list.

use super::groupchat::{app_users_online, muc_user};
use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition};
use crate::xml::{self, Element};
use palaver_core::model::dialog_type;
use palaver_proto::{RoomJid, UserJid};

fn item(affiliation: &str, role: &str) -> Element {
    let mut item = xml::element("item", ns::MUC_USER);
    xml::set_attr(&mut item, "affiliation", affiliation);
    xml::set_attr(&mut item, "role", role);
    item
}

fn status(code: &str) -> Element {
    xml::with_attr(xml::element("status", ns::MUC_USER), "code", code)
}

/// The v6 shim: `<xmlns><code>{code}</code></xmlns>`.
fn shim(code: &str) -> Element {
    xml::with_child(
        xml::element("xmlns", ns::MUC_USER),
        xml::with_text(xml::element("code", ns::MUC_USER), code),
    )
}

/// A member's presence as other occupants see it: no status at all (v3 reads any status as its own).
fn occupant_presence(shared: &Shared, room: &RoomJid, user_id: i64, available: bool) -> Element {
    let mut presence = xml::element("presence", ns::CLIENT);
    xml::set_attr(
        &mut presence,
        "from",
        format!("{}/{user_id}", room.bare(&shared.config.domain)),
    );
    if !available {
        xml::set_attr(&mut presence, "type", "unavailable");
    }
    let (affiliation, role) = if available {
        ("member", "participant")
    } else {
        ("member", "none")
    };
    presence.append_child(xml::with_child(muc_user(), item(affiliation, role)));
    presence
}

/// The joining/leaving user's own presence: status 110 first, then the v6 shim.
fn self_presence(
    shared: &Shared,
    room: &RoomJid,
    user_id: i64,
    id: Option<&str>,
    available: bool,
) -> Element {
    let mut presence = xml::element("presence", ns::CLIENT);
    xml::set_attr(
        &mut presence,
        "from",
        format!("{}/{user_id}", room.bare(&shared.config.domain)),
    );
    if let Some(id) = id {
        xml::set_attr(&mut presence, "id", id);
    }
    if !available {
        xml::set_attr(&mut presence, "type", "unavailable");
    }
    let mut x = muc_user();
    x.append_child(item("member", if available { "participant" } else { "none" }));
    x.append_child(status("110"));
    x.append_child(shim("110"));
    presence.append_child(x);
    presence
}

pub async fn handle(session: &mut Online, presence: Element, room: RoomJid, nick: Option<String>) {
    let shared = session.shared.clone();
    let user = session.auth.user;
    let leaving = presence.attr("type") == Some("unavailable");
    if leaving {
        let last = shared.rooms.leave(&room, user.user_id, session.handle.id);
        session.handle.set_in_room(&room.dialog_id, false);
        let own = self_presence(&shared, &room, user.user_id, presence.attr("id"), false);
        session.reply(with_to(own, &session.full_jid)).await;
        if last {
            tell_occupants(
                &shared,
                &room,
                user.user_id,
                &occupant_presence(&shared, &room, user.user_id, false),
            );
        }
        return;
    }
    if presence.attr("type").is_some() {
        return;
    }
    let allowed = room.app_id == user.app_id
        && nick.is_some()
        && matches!(
            shared
                .core
                .dialogs()
                .can_read(room.app_id, &room.dialog_id, user.user_id)
                .await,
            Ok(true)
        );
    if !allowed {
        return session.reply(join_error(&presence)).await;
    }
    let first = shared.rooms.join(&room, user.user_id, session.handle.id);
    session.handle.set_in_room(&room.dialog_id, true);
    for occupant in occupants_everywhere(&shared, &room) {
        if occupant != user.user_id {
            let their = occupant_presence(&shared, &room, occupant, true);
            session.reply(with_to(their, &session.full_jid)).await;
        }
    }
    let own = self_presence(&shared, &room, user.user_id, presence.attr("id"), true);
    session.reply(with_to(own, &session.full_jid)).await;
    if first {
        tell_occupants(
            &shared,
            &room,
            user.user_id,
            &occupant_presence(&shared, &room, user.user_id, true),
        );
    }
}

fn with_to(mut stanza: Element, to: &str) -> Element {
    xml::set_attr(&mut stanza, "to", to);
    stanza
}

/// A refused join: the original `<x xmlns="http://jabber.org/protocol/muc"/>` echoed, same id, code 407.
fn join_error(presence: &Element) -> Element {
    let mut reply = xml::element("presence", ns::CLIENT);
    xml::set_attr(&mut reply, "type", "error");
    if let Some(id) = presence.attr("id") {
        xml::set_attr(&mut reply, "id", id);
    }
    if let Some(to) = presence.attr("to") {
        xml::set_attr(&mut reply, "from", to);
    }
    if let Some(from) = presence.attr("from") {
        xml::set_attr(&mut reply, "to", from);
    }
    reply.append_child(xml::element("x", ns::MUC));
    let error = stanza::error_element(Condition::RegistrationRequired, "Not a member of this dialog");
    reply.append_child(error);
    reply
}

/// Sends a presence to the sessions of every other user who joined the room.
/// Who joined the room, through this node or another.
fn occupants_everywhere(shared: &Shared, room: &RoomJid) -> Vec<i64> {
    let mut occupants = shared.rooms.occupants(room);
    if let Some(peers) = shared.registry.peers() {
        occupants.extend(
            peers
                .room_occupants(room.app_id, &room.dialog_id)
                .into_iter()
                .map(|(_, user_id)| user_id),
        );
        occupants.sort_unstable();
        occupants.dedup();
    }
    occupants
}

/// Sends a room presence about `about` to the room's other occupants, on every node.
fn tell_occupants(shared: &Shared, room: &RoomJid, about: i64, presence: &Element) {
    tell_local_occupants(shared, room, about, presence);
    if let Some(peers) = shared.registry.peers() {
        let mut nodes: Vec<String> = peers
            .room_occupants(room.app_id, &room.dialog_id)
            .into_iter()
            .filter(|(_, user_id)| *user_id != about)
            .map(|(node, _)| node)
            .collect();
        nodes.dedup();
        if !nodes.is_empty() {
            let envelope = crate::remote::Envelope::RoomPresence {
                app_id: room.app_id,
                dialog_id: room.dialog_id.clone(),
                about,
                stanza: xml::to_string(presence),
            };
            let payload = envelope.encode();
            for node in nodes {
                peers.post(&node, payload.clone());
            }
        }
    }
}

/// Sends a room presence to the occupants who joined through this node.
pub fn tell_local_occupants(shared: &Shared, room: &RoomJid, about: i64, presence: &Element) {
    for occupant in shared.rooms.occupants(room) {
        if occupant == about {
            continue;
        }
        let user = UserJid {
            user_id: occupant,
            app_id: room.app_id,
        };
        for session in shared.rooms.sessions(room, occupant) {
            if let Some(handle) = shared
                .registry
                .sessions(user)
                .into_iter()
                .find(|s| s.id == session)
            {
                router::local_to_resource(shared, user, &handle.resource, presence);
            }
        }
    }
}

/// A session ends: it leaves every room it joined.
pub fn session_ended(shared: &Shared, user: UserJid, session: u64) {
    for (room, last) in shared.rooms.leave_all(user.user_id, session) {
        if last {
            tell_occupants(
                shared,
                &room,
                user.user_id,
                &occupant_presence(shared, &room, user.user_id, false),
            );
        }
    }
}

/// Members removed from a dialog: each of their live sessions gets the kick self-presence (status 301
/// first, v6 shim, actor under `<x>` and directly under `<presence>`), and remaining occupants a plain
/// unavailable presence.
pub fn kick(shared: &Shared, room: &RoomJid, removed: &[i64], by_user: i64) {
    let actor_jid = UserJid {
        user_id: by_user,
        app_id: room.app_id,
    }
    .bare(&shared.config.domain);
    // The same item in two namespaces: inside `<x>` for standard clients and v3, directly under
    // `<presence>` where v6 reads the actor.
    let kicked_item = |namespace: &str| {
        let mut kicked = xml::element("item", namespace);
        xml::set_attr(&mut kicked, "affiliation", "none");
        xml::set_attr(&mut kicked, "role", "none");
        kicked.append_child(xml::with_attr(
            xml::element("actor", namespace),
            "jid",
            actor_jid.clone(),
        ));
        kicked
    };
    for &user_id in removed {
        let mut presence = xml::element("presence", ns::CLIENT);
        xml::set_attr(
            &mut presence,
            "from",
            format!("{}/{user_id}", room.bare(&shared.config.domain)),
        );
        xml::set_attr(&mut presence, "type", "unavailable");
        let mut x = muc_user();
        x.append_child(kicked_item(ns::MUC_USER));
        x.append_child(status("301"));
        x.append_child(shim("301"));
        presence.append_child(x);
        presence.append_child(kicked_item(ns::CLIENT));
        router::to_available(
            shared,
            UserJid {
                user_id,
                app_id: room.app_id,
            },
            &presence,
            None,
        );
        for session in shared.registry.sessions(UserJid {
            user_id,
            app_id: room.app_id,
        }) {
            session.set_in_room(&room.dialog_id, false);
        }
        if shared.rooms.remove_user(room, user_id) {
            tell_occupants(
                shared,
                room,
                user_id,
                &occupant_presence(shared, room, user_id, false),
            );
        }
    }
    crate::remote::left_room_everywhere(shared, room, removed);
}

/// disco#items on a room: the members that are online (joined or not — joining is optional).
pub async fn online_occupants(
    shared: &Shared,
    room: &RoomJid,
    asker: UserJid,
) -> Result<Element, (Condition, &'static str)> {
    if room.app_id != asker.app_id
        || !matches!(
            shared
                .core
                .dialogs()
                .can_read(room.app_id, &room.dialog_id, asker.user_id)
                .await,
            Ok(true)
        )
    {
        return Err((Condition::Forbidden, "Not a member of this dialog"));
    }
    let kind = shared
        .core
        .store
        .dialog(room.app_id, &room.dialog_id)
        .await
        .ok()
        .flatten()
        .map(|d| d.kind);
    let members: Vec<UserJid> = if kind == Some(dialog_type::BROADCAST) {
        app_users_online(shared, room.app_id)
    } else {
        let ids = shared
            .core
            .dialogs()
            .recipients(room.app_id, &room.dialog_id)
            .await
            .unwrap_or_default();
        ids.into_iter()
            .map(|user_id| UserJid {
                user_id,
                app_id: room.app_id,
            })
            .collect()
    };
    let mut query = xml::element("query", ns::DISCO_ITEMS);
    for member in members.into_iter().filter(|m| shared.registry.is_online(*m)) {
        let mut entry = xml::element("item", ns::DISCO_ITEMS);
        xml::set_attr(
            &mut entry,
            "jid",
            format!("{}/{}", room.bare(&shared.config.domain), member.user_id),
        );
        xml::set_attr(&mut entry, "name", member.user_id.to_string());
        query.append_child(entry);
    }
    Ok(query)
}
