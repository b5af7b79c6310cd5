//! Parse, then dispatch: every inbound stanza is read once into its type (`parsers`), classified by
//! where it is addressed, and handed to the module that registered for it — iqs by their payload, in one
//! table from (type, namespace, element) to handler. A handler gets a narrow `Context` (who sent it, a
//! reply handle, the services and the module state it needs), never the session. The modules never call
//! each other: what one module's outcome means for another (a presence for contacts, status watchers and
//! rooms; a domain event for rooms) is sequenced here. The dispatcher also owns the modules' state.

use crate::context::{Context, ModuleState, Sender};
use crate::modules::{domain_events, groupchat, iq, last, message, muc, presence, privacy, roster};
use crate::ns;
use crate::parsers::{Iq, IqType, Message, Presence, PresenceType};
use crate::shared::Shared;
use crate::stanza::{self, Target};
use crate::xml::Element;
use palaver_core::events::Event;
use palaver_proto::{RoomJid, UserJid};
use std::future::Future;
use std::pin::Pin;

type Handled<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A handler of iqs to the server.
pub type IqHandler = for<'a> fn(Context<'a>, Iq) -> Handled<'a>;

/// Which iq types a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Types {
    Get,
    Set,
    /// Both: the handler tells them apart.
    Requests,
}

impl Types {
    fn admits(self, kind: &IqType) -> bool {
        match self {
            Types::Get => *kind == IqType::Get,
            Types::Set => *kind == IqType::Set,
            Types::Requests => kind.is_request(),
        }
    }
}

/// One entry of the table: requests of `types` to the server whose payload is `<{element} xmlns="{ns}">`
/// (any element of the namespace when `element` is None).
pub struct IqRoute {
    pub types: Types,
    pub ns: &'static str,
    pub element: Option<&'static str>,
    pub handler: IqHandler,
}

/// Boxes an async handler function into an `IqHandler`.
macro_rules! handler {
    ($f:path) => {{
        fn boxed<'a>(ctx: Context<'a>, iq: Iq) -> Handled<'a> {
            Box::pin($f(ctx, iq))
        }
        boxed as IqHandler
    }};
}

/// The iqs to the server each module answers, by payload.
fn iq_routes() -> Vec<IqRoute> {
    let route = |types, ns, element, handler| IqRoute {
        types,
        ns,
        element,
        handler,
    };
    use Types::{Get, Requests, Set};
    vec![
        route(Requests, ns::ROSTER, Some("query"), handler!(roster::query)),
        route(Requests, ns::PRIVACY, Some("query"), handler!(privacy::query)),
        route(Requests, ns::BLOCKING, None, handler!(privacy::blocking)),
        route(
            Requests,
            ns::STATUS_STREAMING,
            Some("subscribe"),
            handler!(last::subscribe),
        ),
        route(Get, ns::PING, Some("ping"), handler!(iq::ack)),
        route(Set, ns::CARBONS, Some("enable"), handler!(iq::carbons)),
        route(Set, ns::CARBONS, Some("disable"), handler!(iq::carbons)),
        route(Set, ns::SESSION, Some("session"), handler!(iq::ack)),
        route(Set, ns::MOBILE, Some("mobile"), handler!(iq::mobile)),
        route(Get, ns::DISCO_INFO, Some("query"), handler!(iq::disco_info)),
        route(Get, ns::DISCO_ITEMS, Some("query"), handler!(iq::disco_items)),
        route(Get, ns::VERSION, Some("query"), handler!(iq::version)),
        route(Set, ns::BIND, Some("bind"), handler!(iq::bind)),
    ]
}

pub struct Dispatcher {
    iq_routes: Vec<IqRoute>,
    state: ModuleState,
}

impl Default for Dispatcher {
    fn default() -> Dispatcher {
        Dispatcher {
            iq_routes: iq_routes(),
            state: ModuleState::default(),
        }
    }
}

impl Dispatcher {
    pub fn state(&self) -> &ModuleState {
        &self.state
    }

    /// Stanzas were kept offline for this available session's user after it looked for them.
    pub async fn offline_waiting(&self, mut ctx: Context<'_>) {
        presence::deliver_offline(&mut ctx).await;
    }

    /// One inbound stanza (its `from` already stamped by the session).
    pub async fn stanza(&self, ctx: Context<'_>, element: Element) {
        match element.name() {
            "message" => {
                if let Ok(message) = Message::try_from(element) {
                    self.message(ctx, message).await
                }
            }
            "presence" => {
                if let Ok(presence) = Presence::try_from(element) {
                    self.presence(ctx, presence).await
                }
            }
            _ => {
                if let Ok(iq) = Iq::try_from(element) {
                    self.iq(ctx, iq).await
                }
            }
        }
    }

    async fn message(&self, ctx: Context<'_>, message: Message) {
        match stanza::classify_head(&message.head, &ctx.shared.config) {
            Target::User(user, resource) => message::to_user(ctx, message, user, resource).await,
            Target::Server => {}
            Target::Room(room, nick) => groupchat::message(ctx, message, room, nick).await,
            target @ (Target::RoomService | Target::Elsewhere) => {
                message::misaddressed(ctx, message, target).await
            }
        }
    }

    async fn presence(&self, mut ctx: Context<'_>, presence: Presence) {
        let same_app = |user: &UserJid| user.app_id == ctx.sender.user.app_id;
        match stanza::classify_head(&presence.head, &ctx.shared.config) {
            Target::Server => match presence.type_ {
                None | Some(PresenceType::Available) => {
                    let outcome = presence::available(&mut ctx, presence).await;
                    let user = ctx.user();
                    roster::on_available(&mut ctx, &outcome.presence, outcome.first).await;
                    if !outcome.was_online {
                        last::went_online(ctx.shared, &self.state.watchers, user);
                    }
                    if outcome.first {
                        presence::deliver_offline(&mut ctx).await;
                    }
                }
                Some(PresenceType::Unavailable) => {
                    let presence = presence::unavailable(&mut ctx, presence).await;
                    self.went_away(ctx.shared, ctx.user(), &presence).await;
                }
                // Probes and subscription requests to the server itself mean nothing here.
                _ => {}
            },
            Target::User(user, None)
                if same_app(&user) && presence.type_.as_ref().is_some_and(PresenceType::is_subscription) =>
            {
                roster::subscription_request(ctx, presence, user).await
            }
            Target::User(user, resource) if same_app(&user) => {
                presence::directed(ctx, presence, user, resource).await
            }
            Target::User(..) => {}
            Target::Room(room, nick) => muc::presence(ctx, presence, room, nick).await,
            Target::RoomService => presence::misaddressed(ctx, presence, true).await,
            Target::Elsewhere => presence::misaddressed(ctx, presence, false).await,
        }
    }

    async fn iq(&self, ctx: Context<'_>, iq: Iq) {
        let Some(kind) = iq.type_.clone().filter(|t| !matches!(t, IqType::Other(_))) else {
            return iq::malformed(ctx, iq).await;
        };
        if iq.head.id.is_none() {
            return iq::malformed(ctx, iq).await;
        }
        let is_request = kind.is_request();
        match stanza::classify_head(&iq.head, &ctx.shared.config) {
            Target::Server if is_request => {
                let Some(payload) = iq.payload() else {
                    return iq::empty(ctx, iq).await;
                };
                let route = self.iq_routes.iter().find(|route| {
                    payload.has_ns(route.ns)
                        && route.element.is_none_or(|name| payload.name() == name)
                        && route.types.admits(&kind)
                });
                match route {
                    Some(route) => (route.handler)(ctx, iq).await,
                    None => iq::unsupported(ctx, iq).await,
                }
            }
            Target::Server => {}
            Target::User(user, resource) if user.app_id == ctx.sender.user.app_id => match resource {
                Some(resource) => iq::to_session(ctx, iq, user, resource).await,
                None if is_request => {
                    let last_query =
                        kind == IqType::Get && iq.payload().is_some_and(|p| p.is("query", ns::LAST));
                    if last_query {
                        last::query(ctx, iq, user).await
                    } else {
                        iq::account(ctx, iq, user).await
                    }
                }
                None => {}
            },
            Target::Room(room, None) if is_request => muc::room_iq(ctx, iq, room).await,
            _ if is_request => iq::no_such_service(ctx, iq).await,
            _ => {}
        }
    }

    /// A session went unavailable: contacts see it; if it was the user's last, the user is offline now.
    pub async fn went_away(&self, shared: &Shared, user: UserJid, presence: &Element) {
        self.presence_to_contacts(shared, user, presence).await;
        self.offline_if_gone(shared, user).await;
    }

    /// A presence of the user (its `from` a full JID) to the contacts that see it.
    pub async fn presence_to_contacts(&self, shared: &Shared, user: UserJid, presence: &Element) {
        roster::broadcast(shared, user, presence).await;
    }

    /// When the user has no available session left anywhere, it is offline since now.
    pub async fn offline_if_gone(&self, shared: &Shared, user: UserJid) {
        if !shared.registry.is_online(user) {
            last::went_offline(shared, &self.state.watchers, user).await;
        }
    }

    /// A session ended for good (already unregistered): it leaves its rooms and status subscriptions,
    /// and if it was available, the user's other sessions and contacts are told.
    pub async fn session_ended(&self, shared: &Shared, sender: &Sender, was_available: bool) {
        muc::session_ended(shared, &self.state.rooms, sender.user, sender.handle.id);
        self.state.watchers.session_ended(sender.handle.id);
        if was_available {
            let presence =
                presence::broadcast_unavailable(shared, sender.user, &sender.full_jid, sender.handle.id);
            self.went_away(shared, sender.user, &presence).await;
        }
    }

    /// A domain event with a real-time side (REST-driven messages, edits, marks, removed occupants).
    pub async fn domain_event(&self, shared: &Shared, event: Event) {
        match event {
            Event::OccupantsRemoved {
                app_id,
                dialog_id,
                removed,
                by_user,
            } => {
                let room = RoomJid { app_id, dialog_id };
                muc::kick(shared, &self.state.rooms, &room, &removed, by_user);
            }
            other => domain_events::apply(shared, other).await,
        }
    }

    /// Another node's status push for this node's watchers.
    pub fn status_here(&self, shared: &Shared, user: UserJid, seconds: i64) {
        last::notify_here(shared, &self.state.watchers, user, seconds);
    }

    /// Another node's room presence for the occupants who joined through this node.
    pub fn room_presence_here(&self, shared: &Shared, room: &RoomJid, about: i64, presence: &Element) {
        muc::tell_occupants_here(shared, &self.state.rooms, room, about, presence);
    }

    /// Users removed from a dialog on another node: no longer in its room here.
    pub fn left_room_here(&self, shared: &Shared, room: &RoomJid, users: &[i64]) {
        for &user_id in users {
            for session in shared.registry.sessions(UserJid {
                user_id,
                app_id: room.app_id,
            }) {
                session.set_in_room(&room.dialog_id, false);
            }
            self.state.rooms.remove_user(room, user_id);
        }
    }
}
