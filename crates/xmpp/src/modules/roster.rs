//! Contact lists (RFC 6121, the v3 SDK's `contactList`): roster get/set/remove with pushes to every
//! session, presence subscriptions with both sides' states kept by the core, pending requests delivered
//! at login, and presence exchanged between contacts (broadcast on change, probes on login).
//! Roster pushes carry no `from`: the SDKs take any iq with a `from` and a `<query>` for a last-activity
//! push (docs/protocol.md#quirk-iq-query-is-last-activity).

use crate::ns;
use crate::router;
use crate::server::Shared;
use crate::session::online::Online;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use crate::xml::{self, Element};
use palaver_core::contacts::RosterRow;
use palaver_proto::{new_object_id, UserJid};

fn item(row: &RosterRow, app_id: i64, domain: &str) -> Element {
    let mut item = xml::element("item", ns::ROSTER);
    xml::set_attr(
        &mut item,
        "jid",
        UserJid {
            user_id: row.contact_id,
            app_id,
        }
        .bare(domain),
    );
    xml::set_attr(&mut item, "subscription", row.subscription.as_str());
    if row.ask {
        xml::set_attr(&mut item, "ask", "subscribe");
    }
    if let Some(name) = &row.name {
        xml::set_attr(&mut item, "name", name.clone());
    }
    item
}

/// Tells every session of `user` that one item changed (or, with `removed`, is gone).
fn push(shared: &Shared, user: UserJid, row: &RosterRow, removed: bool) {
    let mut changed = item(row, user.app_id, &shared.config.domain);
    if removed || !row.in_roster {
        xml::set_attr(&mut changed, "subscription", "remove");
        xml::remove_attr(&mut changed, "ask");
    }
    let mut iq = xml::element("iq", ns::CLIENT);
    xml::set_attr(&mut iq, "type", "set");
    xml::set_attr(&mut iq, "id", format!("push-{}", new_object_id()));
    iq.append_child(xml::with_child(xml::element("query", ns::ROSTER), changed));
    for session in shared.registry.sessions(user) {
        router::to_resource(shared, user, &session.resource, &iq);
    }
}

/// `jabber:iq:roster` get and set.
pub async fn iq(session: &mut Online, iq: &Element) -> Element {
    let shared = session.shared.clone();
    let user = session.auth.user;
    let contacts = shared.core.contacts();
    if iq.attr("type") == Some("get") {
        return match contacts.roster(user.app_id, user.user_id).await {
            Ok(rows) => {
                let mut query = xml::element("query", ns::ROSTER);
                for row in &rows {
                    query.append_child(item(row, user.app_id, &shared.config.domain));
                }
                stanza::iq_result(iq, Some(query))
            }
            Err(error) => StanzaError::from(&error).reply_to(iq),
        };
    }
    let requested = iq
        .get_child("query", ns::ROSTER)
        .and_then(|q| q.children().find(|c| c.name() == "item"));
    let Some(requested) = requested else {
        return stanza::error_reply(iq, Condition::BadRequest, "A roster set carries one item");
    };
    let contact = match requested
        .attr("jid")
        .map(|jid| stanza::classify(jid, &shared.config))
    {
        Some(stanza::Target::User(contact, None)) if contact.app_id == user.app_id => contact,
        _ => return stanza::error_reply(iq, Condition::ItemNotFound, "No such user"),
    };
    if requested.attr("subscription") == Some("remove") {
        return match contacts.remove(user.app_id, user.user_id, contact.user_id).await {
            Ok(Some(change)) => {
                // RFC 6121 §2.5.2: removing a contact cancels both directions.
                if change.user.subscription != palaver_core::contacts::Subscription::None || change.user.ask {
                    let from = user.bare(&shared.config.domain);
                    for kind in ["unsubscribe", "unsubscribed"] {
                        deliver(&shared, contact, &subscription_presence(&from, kind)).await;
                    }
                }
                push(&shared, user, &change.user, true);
                push(&shared, contact, &change.contact, !change.contact.in_roster);
                stanza::iq_result(iq, None)
            }
            Ok(None) => stanza::error_reply(iq, Condition::ItemNotFound, "Not in the contact list"),
            Err(error) => StanzaError::from(&error).reply_to(iq),
        };
    }
    let name = requested.attr("name").map(str::to_owned);
    match contacts
        .set(user.app_id, user.user_id, contact.user_id, name)
        .await
    {
        Ok(row) => {
            push(&shared, user, &row, false);
            stanza::iq_result(iq, None)
        }
        Err(error) => StanzaError::from(&error).reply_to(iq),
    }
}

fn subscription_presence(from: &str, kind: &str) -> Element {
    let mut presence = xml::element("presence", ns::CLIENT);
    xml::set_attr(&mut presence, "type", kind);
    xml::set_attr(&mut presence, "from", from);
    presence
}

/// Subscription stanzas must reach the contact: live if online, else when it next logs in (requests are
/// kept as pending; answers are already reflected in its roster).
async fn deliver(shared: &Shared, to: UserJid, presence: &Element) {
    router::to_available(shared, to, presence, None);
}

/// subscribe / subscribed / unsubscribe / unsubscribed from this user to a contact.
pub async fn subscription(session: &mut Online, presence: &Element, contact: UserJid) {
    let shared = session.shared.clone();
    let user = session.auth.user;
    let contacts = shared.core.contacts();
    let kind = presence.attr("type").unwrap_or_default().to_owned();
    if matches!(kind.as_str(), "subscribed" | "unsubscribed") {
        // Answered: a new request from this contact will be shown again.
        session
            .shown_requests
            .remove(&contact.bare(&shared.config.domain));
    }
    let change = match kind.as_str() {
        "subscribe" => {
            contacts
                .subscribe(user.app_id, user.user_id, contact.user_id)
                .await
        }
        "subscribed" => {
            contacts
                .subscribed(user.app_id, user.user_id, contact.user_id)
                .await
        }
        "unsubscribe" => {
            contacts
                .unsubscribe(user.app_id, user.user_id, contact.user_id)
                .await
        }
        _ => {
            contacts
                .unsubscribed(user.app_id, user.user_id, contact.user_id)
                .await
        }
    };
    let change = match change {
        Ok(change) => change,
        Err(error) => {
            // Past the contact limit (v3 sends subscribe even when its roster set failed) or unknown user.
            return session.reply(StanzaError::from(&error).reply_to(presence)).await;
        }
    };
    push(&shared, user, &change.user, false);
    if !change.route {
        return;
    }
    // Subscription presences carry the sender's bare JID (RFC 6121 §3.1.2).
    let from = user.bare(&shared.config.domain);
    deliver(&shared, contact, &subscription_presence(&from, &kind)).await;
    if change.contact.in_roster {
        push(&shared, contact, &change.contact, false);
    }
    if kind == "subscribed" {
        // The new subscriber sees this user's current presence at once.
        for own in shared.registry.available_jids(user, &shared.config.domain) {
            let mut available = xml::element("presence", ns::CLIENT);
            xml::set_attr(&mut available, "from", own);
            router::to_available(&shared, contact, &available, None);
        }
    }
}

/// After a session's presence changed: contacts that see this user get it; on the first presence the
/// session also gets its contacts' presence and the requests waiting for an answer.
pub async fn on_available(session: &mut Online, presence: &Element, first: bool) {
    let shared = session.shared.clone();
    let user = session.auth.user;
    let contacts = shared.core.contacts();
    broadcast(&shared, user, presence).await;
    if !first {
        return;
    }
    if let Ok(watched) = contacts.watched(user.app_id, user.user_id).await {
        for contact in watched {
            let contact = UserJid {
                user_id: contact,
                app_id: user.app_id,
            };
            for their in shared.registry.available_jids(contact, &shared.config.domain) {
                let mut probe_answer = xml::element("presence", ns::CLIENT);
                xml::set_attr(&mut probe_answer, "from", their);
                xml::set_attr(&mut probe_answer, "to", session.full_jid.clone());
                session.send(probe_answer).await;
            }
        }
    }
    if let Ok(pending) = contacts.pending_requests(user.app_id, user.user_id).await {
        for contact in pending {
            let from = UserJid {
                user_id: contact,
                app_id: user.app_id,
            }
            .bare(&shared.config.domain);
            let mut request = subscription_presence(&from, "subscribe");
            xml::set_attr(&mut request, "to", session.full_jid.clone());
            if session.first_showing(&request) {
                session.send(request).await;
            }
        }
    }
}

/// Sends a presence of this user (its `from` already the session's full JID) to the contacts that see it.
pub async fn broadcast(shared: &Shared, user: UserJid, presence: &Element) {
    let Ok(subscribers) = shared
        .core
        .contacts()
        .subscribers(user.app_id, user.user_id)
        .await
    else {
        return;
    };
    for subscriber in subscribers {
        let contact = UserJid {
            user_id: subscriber,
            app_id: user.app_id,
        };
        // Privacy lists: the contact may refuse this user's presence, or the user hide it from the contact.
        if super::privacy::blocks(shared, contact, user, super::privacy::Kind::PresenceIn).await
            || super::privacy::blocks(shared, user, contact, super::privacy::Kind::PresenceOut).await
        {
            continue;
        }
        router::to_available(
            shared,
            UserJid {
                user_id: subscriber,
                app_id: user.app_id,
            },
            presence,
            None,
        );
    }
}
