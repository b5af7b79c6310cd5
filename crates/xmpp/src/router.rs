//! Delivering stanzas to users: every available session, one resource, or — for 1-1 messages nobody is
//! online for — the offline store. In a cluster the sessions on other nodes count too: they get the
//! stanza through their node (`remote.rs`), once per node however many of its users it is for.

use crate::registry::Delivery;
use crate::remote::{self, Envelope};
use crate::server::Shared;
use crate::xml::{self, Element};
use palaver_core::CoreResult;
use palaver_proto::UserJid;
use std::collections::BTreeMap;

/// Sends `stanza` to every available session of `user` (except `exclude`, a session of this node), each
/// with its own `to`. Returns how many sessions of this node, plus how many other nodes, took it.
pub fn to_available(shared: &Shared, user: UserJid, stanza: &Element, exclude: Option<u64>) -> usize {
    let local = local_to_available(shared, user, stanza, exclude);
    let Some(peers) = shared.registry.peers() else {
        return local;
    };
    let nodes = peers.nodes_of(user.app_id, user.user_id, None);
    if !nodes.is_empty() {
        let payload = Envelope::to_users(user.app_id, vec![user.user_id], stanza).encode();
        for node in &nodes {
            peers.post(node, payload.clone());
        }
    }
    local + nodes.len()
}

/// Sends `stanza` to every available session of each of `users` (one app): for a group, one post per
/// other node that has any of them, not one per user.
pub fn to_many(shared: &Shared, users: &[UserJid], stanza: &Element) {
    for user in users {
        local_to_available(shared, *user, stanza, None);
    }
    let Some(peers) = shared.registry.peers() else {
        return;
    };
    let mut by_node: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for user in users {
        for node in peers.nodes_of(user.app_id, user.user_id, None) {
            by_node.entry((node, user.app_id)).or_default().push(user.user_id);
        }
    }
    for ((node, app_id), user_ids) in by_node {
        peers.post(&node, Envelope::to_users(app_id, user_ids, stanza).encode());
    }
}

/// Sends `stanza` to the available sessions of `user` on this node only (what another node asked for).
pub fn local_to_available(shared: &Shared, user: UserJid, stanza: &Element, exclude: Option<u64>) -> usize {
    let domain = &shared.config.domain;
    shared.registry.with_sessions(user, |sessions| {
        let mut delivered = 0;
        for session in sessions {
            if Some(session.id) == exclude || !session.is_available() {
                continue;
            }
            let mut copy = stanza.clone();
            xml::set_attr(&mut copy, "to", session.full_jid(domain));
            if let Delivery::Queued = session.deliver(copy) {
                delivered += 1;
            }
        }
        delivered
    })
}

/// A sent carbon (XEP-0280) to the user's other available sessions that enabled carbons, on every node.
pub fn carbons(shared: &Shared, user: UserJid, wrapper: &Element, sender_session: u64) {
    local_carbons(shared, user, wrapper, Some(sender_session));
    if let Some(peers) = shared.registry.peers() {
        let nodes = peers.nodes_of(user.app_id, user.user_id, None);
        if !nodes.is_empty() {
            let envelope = Envelope::Carbons {
                app_id: user.app_id,
                user_id: user.user_id,
                stanza: xml::to_string(wrapper),
            };
            let payload = envelope.encode();
            for node in &nodes {
                peers.post(node, payload.clone());
            }
        }
    }
}

/// A sent carbon to this node's sessions of the user that enabled carbons (except the sender's).
pub fn local_carbons(shared: &Shared, user: UserJid, wrapper: &Element, exclude: Option<u64>) -> usize {
    let domain = &shared.config.domain;
    shared.registry.with_sessions(user, |sessions| {
        let mut delivered = 0;
        for other in sessions {
            if Some(other.id) == exclude || !other.carbons() || !other.is_available() {
                continue;
            }
            let mut copy = wrapper.clone();
            xml::set_attr(&mut copy, "to", other.full_jid(domain));
            if let Delivery::Queued = other.deliver(copy) {
                delivered += 1;
            }
        }
        delivered
    })
}

/// Sends `stanza` to one bound session, on this node or another. False when there is no such session
/// or (on this node) it cannot take it.
pub fn to_resource(shared: &Shared, user: UserJid, resource: &str, stanza: &Element) -> bool {
    if local_to_resource(shared, user, resource, stanza) {
        return true;
    }
    let Some(peers) = shared.registry.peers() else {
        return false;
    };
    let Some(node) = peers
        .nodes_of(user.app_id, user.user_id, Some(resource))
        .into_iter()
        .next()
    else {
        return false;
    };
    let envelope = Envelope::ToResource {
        app_id: user.app_id,
        user_id: user.user_id,
        resource: resource.to_owned(),
        stanza: xml::to_string(stanza),
    };
    peers.post(&node, envelope.encode());
    true
}

/// Sends `stanza` to one session of this node.
pub fn local_to_resource(shared: &Shared, user: UserJid, resource: &str, stanza: &Element) -> bool {
    let Some(session) = shared.registry.session(user, resource) else {
        return false;
    };
    let mut copy = stanza.clone();
    xml::set_attr(&mut copy, "to", session.full_jid(&shared.config.domain));
    matches!(session.deliver(copy), Delivery::Queued)
}

/// A 1-1 message for `user`: to every available session, or kept for the next one when there is none.
/// It is never lost: either some session queued it or it is durable in the store when this returns. The
/// other nodes are asked, not just told: one that does not answer in time counts as no session.
pub async fn deliver_or_store(
    shared: &Shared,
    user: UserJid,
    stanza: &Element,
    exclude: Option<u64>,
) -> CoreResult<()> {
    let mut delivered = local_to_available(shared, user, stanza, exclude);
    if let Some(peers) = shared.registry.peers() {
        let nodes = peers.nodes_of(user.app_id, user.user_id, None);
        if !nodes.is_empty() {
            let payload = Envelope::to_users(user.app_id, vec![user.user_id], stanza).encode();
            let asks = nodes.iter().map(|node| peers.ask(node, payload.clone()));
            delivered += futures_util::future::join_all(asks)
                .await
                .into_iter()
                .map(|answer| answer.map_or(0, |a| remote::delivered(&a)))
                .sum::<usize>();
        }
    }
    if delivered > 0 {
        return Ok(());
    }
    let mut kept = stanza.clone();
    xml::set_attr(&mut kept, "to", user.bare(&shared.config.domain));
    shared
        .core
        .offline()
        .store(user.app_id, user.user_id, &xml::to_string(&kept))
        .await
}
