//! Dialog rooms' presence (XEP-0045 as the SDKs use it): join and leave with status 110 — plus the
//! `<xmlns><code>…</code></xmlns>` child that v6 looks for (docs/protocol.md#quirk-muc-status-shim) on
//! self-presences only — occupant join/leave events, kicks (status 301, actor in both places), and the
//! online-occupant list.

use crate::context::Context;
use crate::envelope;
use crate::ns;
use crate::parsers::disco::{self, DiscoInfoResult, DiscoItemsResult, Identity};
use crate::parsers::muc::{Muc, MucItem, MucUser};
use crate::parsers::{Iq, IqType, Presence, PresenceType};
use crate::rooms::Rooms;
use crate::router;
use crate::shared::Shared;
use crate::stanza::{self, Condition};
use crate::xml::{self, Element};
use palaver_core::model::DialogType;
use palaver_proto::{RoomJid, UserJid};

fn occupant_jid(shared: &Shared, room: &RoomJid, user_id: i64) -> String {
    format!("{}/{user_id}", room.bare(&shared.config.domain))
}

fn presence_type(available: bool) -> Option<PresenceType> {
    (!available).then_some(PresenceType::Unavailable)
}

/// A member's presence as other occupants see it: no status at all (v3 reads any status as its own).
fn occupant_presence(shared: &Shared, room: &RoomJid, user_id: i64, available: bool) -> Element {
    let role = if available { "participant" } else { "none" };
    Presence::from_to(
        presence_type(available),
        occupant_jid(shared, room, user_id),
        None,
    )
    .with_payload(MucUser::item(MucItem::new("member", role)).into())
    .into()
}

/// The joining/leaving user's own presence, to its session: status 110 first, then the v6 shim.
fn self_presence(ctx: &Context<'_>, room: &RoomJid, id: Option<&str>, available: bool) -> Presence {
    let role = if available { "participant" } else { "none" };
    let mut presence = Presence::from_to(
        presence_type(available),
        occupant_jid(ctx.shared, room, ctx.user().user_id),
        Some(ctx.sender.full_jid.clone()),
    )
    .with_payload(MucUser::with_status(MucItem::new("member", role), 110).into());
    presence.head.id = id.map(str::to_owned);
    presence
}

/// Presence to a dialog room: join (available) or leave (unavailable).
pub async fn presence(mut ctx: Context<'_>, presence: Presence, room: RoomJid, nick: Option<String>) {
    let shared = ctx.shared;
    let rooms = &ctx.state.rooms;
    let user = ctx.user();
    let session = ctx.sender.handle.id;
    if presence.type_ == Some(PresenceType::Unavailable) {
        let last = rooms.leave(&room, user.user_id, session);
        ctx.sender.handle.set_in_room(&room.dialog_id, false);
        let own = self_presence(&ctx, &room, presence.head.id.as_deref(), false);
        ctx.reply(own).await;
        if last {
            let gone = occupant_presence(shared, &room, user.user_id, false);
            tell_occupants(shared, rooms, &room, user.user_id, &gone);
        }
        return;
    }
    if presence.type_.is_some() {
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
        return ctx.reply(join_error(&presence)).await;
    }
    let first = rooms.join(&room, user.user_id, session);
    ctx.sender.handle.set_in_room(&room.dialog_id, true);
    for occupant in occupants_everywhere(shared, rooms, &room) {
        if occupant != user.user_id {
            let mut their = occupant_presence(shared, &room, occupant, true);
            xml::set_attr(&mut their, "to", ctx.sender.full_jid.clone());
            ctx.reply(their).await;
        }
    }
    let own = self_presence(&ctx, &room, presence.head.id.as_deref(), true);
    ctx.reply(own).await;
    if first {
        let joined = occupant_presence(shared, &room, user.user_id, true);
        tell_occupants(shared, rooms, &room, user.user_id, &joined);
    }
}

/// A refused join: the original `<x xmlns="http://jabber.org/protocol/muc"/>` echoed, same id, code 407.
fn join_error(presence: &Presence) -> Presence {
    Presence {
        head: presence.head.reply(),
        type_: Some(PresenceType::Error),
        payloads: vec![
            Muc::default().into(),
            stanza::error_element(Condition::RegistrationRequired, "Not a member of this dialog"),
        ],
    }
}

/// Who joined the room, through this node or another.
fn occupants_everywhere(shared: &Shared, rooms: &Rooms, room: &RoomJid) -> Vec<i64> {
    let mut occupants = rooms.occupants(room);
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
fn tell_occupants(shared: &Shared, rooms: &Rooms, room: &RoomJid, about: i64, presence: &Element) {
    tell_occupants_here(shared, rooms, room, about, presence);
    if let Some(peers) = shared.registry.peers() {
        let mut nodes: Vec<String> = peers
            .room_occupants(room.app_id, &room.dialog_id)
            .into_iter()
            .filter(|(_, user_id)| *user_id != about)
            .map(|(node, _)| node)
            .collect();
        nodes.dedup();
        if !nodes.is_empty() {
            let envelope = envelope::Envelope::RoomPresence {
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
pub fn tell_occupants_here(shared: &Shared, rooms: &Rooms, room: &RoomJid, about: i64, presence: &Element) {
    for occupant in rooms.occupants(room) {
        if occupant == about {
            continue;
        }
        let user = UserJid {
            user_id: occupant,
            app_id: room.app_id,
        };
        for session in rooms.sessions(room, occupant) {
            if let Some(handle) = shared
                .registry
                .sessions(user)
                .into_iter()
                .find(|s| s.id == session)
            {
                router::deliver_to_resource_here(shared, user, &handle.resource, presence);
            }
        }
    }
}

/// A session ends: it leaves every room it joined.
pub fn session_ended(shared: &Shared, rooms: &Rooms, user: UserJid, session: u64) {
    for (room, last) in rooms.leave_all(user.user_id, session) {
        if last {
            tell_occupants(
                shared,
                rooms,
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
pub fn kick(shared: &Shared, rooms: &Rooms, room: &RoomJid, removed: &[i64], by_user: i64) {
    let actor_jid = UserJid {
        user_id: by_user,
        app_id: room.app_id,
    }
    .bare(&shared.config.domain);
    // The same item in two namespaces: inside `<x>` for standard clients and v3, directly under
    // `<presence>` where v6 reads the actor.
    let kicked = MucItem {
        affiliation: "none".into(),
        role: "none".into(),
        actor: Some(actor_jid),
    };
    for &user_id in removed {
        let user = UserJid {
            user_id,
            app_id: room.app_id,
        };
        let presence = Presence::from_to(
            Some(PresenceType::Unavailable),
            occupant_jid(shared, room, user_id),
            None,
        )
        .with_payload(MucUser::with_status(kicked.clone(), 301).into())
        .with_payload(kicked.to_element(ns::CLIENT));
        router::deliver(shared, user, &presence.into(), None);
        for session in shared.registry.sessions(user) {
            session.set_in_room(&room.dialog_id, false);
        }
        // The removed user may have joined through another node (its own copy of the room is cleared
        // by `left_room_everywhere` below): the occupants are told here, on every node, either way.
        let joined_elsewhere = shared.registry.peers().is_some_and(|peers| {
            peers
                .room_occupants(room.app_id, &room.dialog_id)
                .iter()
                .any(|&(_, occupant)| occupant == user_id)
        });
        if rooms.remove_user(room, user_id) || joined_elsewhere {
            tell_occupants(
                shared,
                rooms,
                room,
                user_id,
                &occupant_presence(shared, room, user_id, false),
            );
        }
    }
    envelope::left_room_everywhere(shared, room, removed);
}

/// Iqs to a dialog room: disco#items lists the online members, disco#info describes the room.
pub async fn room_iq(mut ctx: Context<'_>, iq: Iq, room: RoomJid) {
    let get = iq.is_type(&IqType::Get);
    let payload = iq.payload();
    let answer = if get && payload.is_some_and(|p| p.is("query", ns::DISCO_ITEMS)) {
        match online_occupants(ctx.shared, &room, ctx.user()).await {
            Ok(items) => iq.result(Some(items.into())).into(),
            Err((condition, text)) => stanza::refuse(&iq, condition, text),
        }
    } else if get && payload.is_some_and(|p| p.is("query", ns::DISCO_INFO)) {
        let info = DiscoInfoResult {
            node: None,
            identities: vec![Identity {
                category: "conference".into(),
                type_: "text".into(),
                lang: None,
                name: None,
            }],
            features: [ns::MUC.to_owned()].into_iter().collect(),
            extensions: Vec::new(),
        };
        iq.result(Some(info.into())).into()
    } else {
        stanza::refuse(
            &iq,
            Condition::ServiceUnavailable,
            "This request is not supported",
        )
    };
    ctx.reply(answer).await
}

/// disco#items on a room: the members that are online (joined or not — joining is optional).
async fn online_occupants(
    shared: &Shared,
    room: &RoomJid,
    asker: UserJid,
) -> Result<DiscoItemsResult, (Condition, &'static str)> {
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
    let members: Vec<UserJid> = if kind == Some(DialogType::Broadcast) {
        shared.registry.app_users_online(room.app_id)
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
    let items = members
        .into_iter()
        .filter(|m| shared.registry.is_online(*m))
        .filter_map(|member| {
            Some(disco::Item {
                jid: occupant_jid(shared, room, member.user_id).parse().ok()?,
                node: None,
                name: Some(member.user_id.to_string()),
            })
        })
        .collect();
    Ok(DiscoItemsResult {
        node: None,
        items,
        rsm: None,
    })
}
