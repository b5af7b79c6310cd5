//! Contact lists (RFC 6121, the v3 SDK's `contactList`): roster get/set/remove with pushes to every
//! session, presence subscriptions with both sides' states kept by the core, pending requests delivered
//! at login, and presence exchanged between contacts (broadcast on change, probes on login).
//! Roster pushes carry no `from`: the SDKs take any iq with a `from` and a `<query>` for a last-activity
//! push (docs/protocol.md#quirk-iq-query-is-last-activity).

use crate::context::Context;
use crate::parsers::roster::{Item, Roster};
use crate::parsers::{Iq, IqType, Presence, PresenceType};
use crate::policy;
use crate::router;
use crate::shared::Shared;
use crate::stanza::{self, Condition};
use crate::stanza_error::StanzaError;
use crate::xml::Element;
use palaver_core::contacts::RosterRow;
use palaver_proto::{new_object_id, UserJid};

fn item(row: &RosterRow, app_id: i64, domain: &str) -> Item {
    let jid = UserJid {
        user_id: row.contact_id,
        app_id,
    }
    .bare(domain);
    Item {
        jid: Some(jid),
        subscription: Some(row.subscription.as_str().to_owned()),
        ask: row.ask,
        name: row.name.clone(),
    }
}

fn roster(items: impl IntoIterator<Item = Item>) -> Roster {
    Roster {
        items: items.into_iter().collect(),
    }
}

/// Tells every session of `user` that one item changed (or, with `removed`, is gone).
fn push(shared: &Shared, user: UserJid, row: &RosterRow, removed: bool) {
    let mut changed = item(row, user.app_id, &shared.config.domain);
    if removed || !row.in_roster {
        changed.subscription = Some("remove".to_owned());
        changed.ask = false;
    }
    let iq: Element = Iq::new(IqType::Set, format!("push-{}", new_object_id()))
        .with_payload(roster([changed]))
        .into();
    for session in shared.registry.sessions(user) {
        router::deliver_to_resource(shared, user, &session.resource, &iq);
    }
}

/// `jabber:iq:roster` get and set.
pub async fn query(mut ctx: Context<'_>, iq: Iq) {
    let answer = answer(&mut ctx, &iq).await;
    ctx.reply(answer).await
}

async fn answer(ctx: &mut Context<'_>, iq: &Iq) -> Element {
    let shared = ctx.shared;
    let user = ctx.user();
    let contacts = shared.core.contacts();
    if iq.is_type(&IqType::Get) {
        return match contacts.roster(user.app_id, user.user_id).await {
            Ok(rows) => {
                let items = rows
                    .iter()
                    .map(|row| item(row, user.app_id, &shared.config.domain));
                iq.result(Some(roster(items).into())).into()
            }
            Err(error) => StanzaError::from(&error).refuse(iq),
        };
    }
    let query = iq.payload().filter(|q| q.is("query", crate::ns::ROSTER));
    let has_item = query.is_some_and(|q| q.children().any(|c| c.name() == "item"));
    if !has_item {
        return stanza::refuse(iq, Condition::BadRequest, "A roster set carries one item");
    }
    let requested = query
        .cloned()
        .and_then(|q| Roster::try_from(q).ok())
        .and_then(|r| r.items.into_iter().next());
    let contact = match requested
        .as_ref()
        .and_then(|item| item.jid.as_deref())
        .map(|jid| stanza::classify(jid, &shared.config))
    {
        Some(stanza::Target::User(contact, None)) if contact.app_id == user.app_id => contact,
        _ => return stanza::refuse(iq, Condition::ItemNotFound, "No such user"),
    };
    let requested = requested.expect("classified above");
    if requested.is_removal() {
        return match contacts.remove(user.app_id, user.user_id, contact.user_id).await {
            Ok(Some(change)) => {
                // RFC 6121 §2.5.2: removing a contact cancels both directions.
                if change.user.subscription != palaver_core::contacts::Subscription::None || change.user.ask {
                    let from = user.bare(&shared.config.domain);
                    for kind in [PresenceType::Unsubscribe, PresenceType::Unsubscribed] {
                        deliver(shared, contact, subscription_presence(&from, kind));
                    }
                }
                push(shared, user, &change.user, true);
                push(shared, contact, &change.contact, !change.contact.in_roster);
                iq.result(None).into()
            }
            Ok(None) => stanza::refuse(iq, Condition::ItemNotFound, "Not in the contact list"),
            Err(error) => StanzaError::from(&error).refuse(iq),
        };
    }
    match contacts
        .set(user.app_id, user.user_id, contact.user_id, requested.name)
        .await
    {
        Ok(row) => {
            push(shared, user, &row, false);
            iq.result(None).into()
        }
        Err(error) => StanzaError::from(&error).refuse(iq),
    }
}

fn subscription_presence(from: &str, kind: PresenceType) -> Presence {
    Presence::from_to(Some(kind), from, None)
}

/// Subscription stanzas must reach the contact: live if online, else when it next logs in (requests are
/// kept as pending; answers are already reflected in its roster).
fn deliver(shared: &Shared, to: UserJid, presence: Presence) {
    router::deliver(shared, to, &presence.into(), None);
}

/// subscribe / subscribed / unsubscribe / unsubscribed from this user to a contact.
pub async fn subscription_request(mut ctx: Context<'_>, presence: Presence, contact: UserJid) {
    let shared = ctx.shared;
    let user = ctx.user();
    let contacts = shared.core.contacts();
    let kind = presence.type_.clone().unwrap_or(PresenceType::Unsubscribed);
    if matches!(kind, PresenceType::Subscribed | PresenceType::Unsubscribed) {
        // Answered: a new request from this contact will be shown again.
        ctx.session
            .shown_requests
            .remove(&contact.bare(&shared.config.domain));
    }
    let change = match kind {
        PresenceType::Subscribe => {
            contacts
                .subscribe(user.app_id, user.user_id, contact.user_id)
                .await
        }
        PresenceType::Subscribed => {
            contacts
                .subscribed(user.app_id, user.user_id, contact.user_id)
                .await
        }
        PresenceType::Unsubscribe => {
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
            return ctx.reply(StanzaError::from(&error).refuse(&presence)).await;
        }
    };
    push(shared, user, &change.user, false);
    if !change.route {
        return;
    }
    // Subscription presences carry the sender's bare JID (RFC 6121 §3.1.2).
    let from = user.bare(&shared.config.domain);
    deliver(shared, contact, subscription_presence(&from, kind.clone()));
    if change.contact.in_roster {
        push(shared, contact, &change.contact, false);
    }
    if kind == PresenceType::Subscribed {
        // The new subscriber sees this user's current presence at once.
        for own in shared.registry.available_jids(user, &shared.config.domain) {
            deliver(shared, contact, Presence::from_to(None, own, None));
        }
    }
}

/// After a session's presence changed: contacts that see this user get it; on the first presence the
/// session also gets its contacts' presence and the requests waiting for an answer.
pub async fn on_available(ctx: &mut Context<'_>, presence: &Element, first: bool) {
    let shared = ctx.shared;
    let user = ctx.user();
    let contacts = shared.core.contacts();
    broadcast(shared, user, presence).await;
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
                let probe_answer = Presence::from_to(None, their, Some(ctx.sender.full_jid.clone()));
                ctx.reply(probe_answer).await;
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
            let mut request = subscription_presence(&from, PresenceType::Subscribe);
            request.head.to = Some(ctx.sender.full_jid.clone());
            let request = Element::from(request);
            if ctx.session.first_showing(&request) {
                ctx.reply(request).await;
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
        if policy::blocks(shared, contact, user, policy::Kind::PresenceIn).await
            || policy::blocks(shared, user, contact, policy::Kind::PresenceOut).await
        {
            continue;
        }
        router::deliver(
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
