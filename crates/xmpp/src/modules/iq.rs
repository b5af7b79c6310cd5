//! Iqs: the server's own (ping, carbons, session, disco, version), iqs to a user's bare JID answered on
//! the account's behalf, and iqs to a full JID routed to that session.

use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition, Target};
use crate::xml::{self, Element};

/// Features listed in disco#info.
const FEATURES: [&str; 14] = [
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::CARBONS,
    ns::SM,
    ns::VERSION,
    ns::CHAT_MARKERS,
    ns::DELAY,
    ns::ROSTER,
    ns::CSI,
    ns::MUC,
    "jabber:iq:privacy",
    "urn:xmpp:blocking",
    "jabber:iq:last",
];

pub async fn handle(session: &mut Online, iq: Element) {
    let kind = iq.attr("type").unwrap_or("").to_owned();
    if !matches!(kind.as_str(), "get" | "set" | "result" | "error") || iq.attr("id").is_none() {
        let reply = stanza::error_reply(&iq, Condition::BadRequest, "An iq needs an id and a type");
        return session.reply(reply).await;
    }
    let is_request = matches!(kind.as_str(), "get" | "set");
    match stanza::target(&iq, &session.shared.config) {
        Target::Server if is_request => {
            let reply = match payload(&iq) {
                Some(query) if query.is("query", ns::ROSTER) => super::roster::iq(session, &iq).await,
                Some(query) if query.is("query", super::privacy::NS) => {
                    super::privacy::iq(session, &iq).await
                }
                Some(request) if request.ns() == super::privacy::BLOCKING => {
                    super::privacy::blocking(session, &iq).await
                }
                Some(request) if request.is("subscribe", super::last::STATUS_STREAMING) => {
                    super::last::subscribe(session, &iq, request)
                }
                _ => server_iq(session, &iq),
            };
            session.reply(reply).await
        }
        Target::Server => {}
        Target::User(user, resource) if user.app_id == session.auth.user.app_id => match resource {
            Some(resource) => {
                if super::privacy::iq_refused(session, &iq, user).await {
                    return;
                }
                let shared = session.shared.clone();
                if !router::to_resource(&shared, user, &resource, &iq) && is_request {
                    let reply =
                        stanza::error_reply(&iq, Condition::ServiceUnavailable, "That session is not online");
                    session.reply(reply).await
                }
            }
            None if is_request => {
                let shared = session.shared.clone();
                let reply = account_iq(&shared, &iq, session.auth.user, user).await;
                session.reply(reply).await
            }
            None => {}
        },
        Target::Room(room, None) if is_request => {
            let shared = session.shared.clone();
            let reply = room_iq(&shared, &iq, &room, session.auth.user).await;
            session.reply(reply).await
        }
        _ if is_request => {
            let reply = stanza::error_reply(&iq, Condition::ServiceUnavailable, "No such service");
            session.reply(reply).await
        }
        _ => {}
    }
}

fn payload(iq: &Element) -> Option<&Element> {
    iq.children().next()
}

/// Answers an iq addressed to the server.
fn server_iq(session: &Online, iq: &Element) -> Element {
    let get = iq.attr("type") == Some("get");
    let Some(query) = payload(iq) else {
        return stanza::error_reply(iq, Condition::BadRequest, "Empty iq");
    };
    match (query.name(), query.ns().as_str(), get) {
        ("ping", ns::PING, true) => stanza::iq_result(iq, None),
        ("enable", ns::CARBONS, false) => {
            session.handle.set_carbons(true);
            stanza::iq_result(iq, None)
        }
        ("disable", ns::CARBONS, false) => {
            session.handle.set_carbons(false);
            stanza::iq_result(iq, None)
        }
        ("session", ns::SESSION, false) => stanza::iq_result(iq, None),
        // ConnectyCube's markInactive() sends enable="true" and markActive() enable="false"
        // (docs/protocol.md#quirk-mobile-enable-inverted).
        ("mobile", ns::MOBILE, false) => {
            session.handle.set_inactive(query.attr("enable") == Some("true"));
            stanza::iq_result(iq, None)
        }
        ("query", ns::DISCO_INFO, true) => stanza::iq_result(iq, Some(disco_info())),
        ("query", ns::DISCO_ITEMS, true) => {
            stanza::iq_result(iq, Some(xml::element("query", ns::DISCO_ITEMS)))
        }
        ("query", ns::VERSION, true) => {
            let mut version = xml::element("query", ns::VERSION);
            version.append_child(xml::with_text(xml::element("name", ns::VERSION), "Palaver"));
            version.append_child(xml::with_text(
                xml::element("version", ns::VERSION),
                env!("CARGO_PKG_VERSION"),
            ));
            stanza::iq_result(iq, Some(version))
        }
        ("bind", ns::BIND, false) => {
            stanza::error_reply(iq, Condition::NotAllowed, "A resource is already bound")
        }
        _ => stanza::error_reply(iq, Condition::ServiceUnavailable, "This request is not supported"),
    }
}

fn disco_info() -> Element {
    let mut query = xml::element("query", ns::DISCO_INFO);
    let mut identity = xml::element("identity", ns::DISCO_INFO);
    xml::set_attr(&mut identity, "category", "server");
    xml::set_attr(&mut identity, "type", "im");
    xml::set_attr(&mut identity, "name", "Palaver");
    query.append_child(identity);
    for feature in FEATURES {
        query.append_child(xml::with_attr(
            xml::element("feature", ns::DISCO_INFO),
            "var",
            feature,
        ));
    }
    query
}

/// Iqs to a user's bare JID are answered by the server for the account (RFC 6121 §8.5.1): a ping
/// succeeds when the account exists.
async fn account_iq(
    shared: &Shared,
    iq: &Element,
    asker: palaver_proto::UserJid,
    user: palaver_proto::UserJid,
) -> Element {
    let get = iq.attr("type") == Some("get");
    if get && payload(iq).is_some_and(|p| p.is("query", super::last::LAST)) {
        return super::last::query(shared, iq, asker, user).await;
    }
    let exists = shared.core.users().get(user.app_id, user.user_id).await.is_ok();
    let is_ping = get && payload(iq).is_some_and(|p| p.is("ping", ns::PING));
    match (exists, is_ping) {
        (false, _) => stanza::error_reply(iq, Condition::ServiceUnavailable, "No such user"),
        (true, true) => stanza::iq_result(iq, None),
        (true, false) => {
            stanza::error_reply(iq, Condition::ServiceUnavailable, "This request is not supported")
        }
    }
}

/// Iqs to a dialog room: disco#items lists the online members, disco#info describes the room.
async fn room_iq(
    shared: &Shared,
    iq: &Element,
    room: &palaver_proto::RoomJid,
    asker: palaver_proto::UserJid,
) -> Element {
    let query = payload(iq);
    let get = iq.attr("type") == Some("get");
    match query.map(|q| (q.name(), q.ns())) {
        Some(("query", namespace)) if get && namespace == ns::DISCO_ITEMS => {
            match super::muc::online_occupants(shared, room, asker).await {
                Ok(items) => stanza::iq_result(iq, Some(items)),
                Err((condition, text)) => stanza::error_reply(iq, condition, text),
            }
        }
        Some(("query", namespace)) if get && namespace == ns::DISCO_INFO => {
            let mut info = xml::element("query", ns::DISCO_INFO);
            let mut identity = xml::element("identity", ns::DISCO_INFO);
            xml::set_attr(&mut identity, "category", "conference");
            xml::set_attr(&mut identity, "type", "text");
            info.append_child(identity);
            info.append_child(xml::with_attr(
                xml::element("feature", ns::DISCO_INFO),
                "var",
                ns::MUC,
            ));
            stanza::iq_result(iq, Some(info))
        }
        _ => stanza::error_reply(iq, Condition::ServiceUnavailable, "This request is not supported"),
    }
}
