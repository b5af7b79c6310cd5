//! Delivering stanzas to users: every available session, one resource, a dialog room's audience, or — for
//! 1-1 messages nobody is online for — the offline store. In a cluster the sessions on other nodes count too: they get the
//! stanza through their node (`remote.rs`), once per node however many of its users it is for.

use crate::envelope::{self, Envelope};
use crate::policy;
use crate::registry::{Command, Delivery, SessionHandle};
use crate::shared::Shared;
use crate::xml::{self, Element};
use palaver_core::cluster::Peers;
use palaver_core::model::DialogType;
use palaver_core::CoreError;
use palaver_proto::{RoomJid, UserJid};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sends `stanza` to every available session of `user` (except `exclude`, a session of this node), each
/// with its own `to`. Returns how many sessions of this node, plus how many other nodes, took it.
pub fn deliver(shared: &Shared, user: UserJid, stanza: &Element, exclude: Option<u64>) -> usize {
    let local = deliver_here(shared, user, stanza, exclude);
    local
        + post_to_nodes_of(shared, user, || {
            Envelope::to_users(user.app_id, vec![user.user_id], stanza)
        })
}

/// Posts an envelope (made only when needed) to each other node with an available session of `user`;
/// returns how many nodes that is.
fn post_to_nodes_of(shared: &Shared, user: UserJid, envelope: impl FnOnce() -> Envelope) -> usize {
    let Some(peers) = shared.registry.peers() else {
        return 0;
    };
    let nodes = peers.nodes_of(user.app_id, user.user_id, None);
    if !nodes.is_empty() {
        let payload = envelope().encode();
        for node in &nodes {
            peers.post(node, payload.clone());
        }
    }
    nodes.len()
}

/// Sends `stanza` to every available session of each of `users` (one app): for a group, one post per
/// other node that has any of them, not one per user.
pub fn deliver_to_users(shared: &Shared, users: &[UserJid], stanza: &Element) {
    for user in users {
        deliver_here(shared, *user, stanza, None);
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

/// Like `deliver_to_users`, for a group message that is due a chat alert wherever nobody took it (see
/// `Handed::KeptOffline` for 1-1): the other nodes are asked, not just told, all at once and one envelope
/// per node, and the answers awaited (at most the cluster's request timeout). Returns the users sent to
/// another node whom no session took, here or on a node that answered in time: the users whose sessions
/// were all on a node that died or hangs, before it is declared gone.
pub async fn deliver_to_users_asking(shared: &Shared, users: &[UserJid], stanza: &Element) -> Vec<i64> {
    let mut taken = std::collections::BTreeSet::new();
    for user in users {
        if deliver_here(shared, *user, stanza, None) > 0 {
            taken.insert((user.app_id, user.user_id));
        }
    }
    let Some(peers) = shared.registry.peers() else {
        return Vec::new();
    };
    let mut by_node: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for user in users {
        for node in peers.nodes_of(user.app_id, user.user_id, None) {
            by_node.entry((node, user.app_id)).or_default().push(user.user_id);
        }
    }
    let asks = by_node.iter().map(|((node, app_id), user_ids)| {
        peers.ask(
            node,
            Envelope::to_members(*app_id, user_ids.clone(), stanza).encode(),
        )
    });
    let answers = futures_util::future::join_all(asks).await;
    for (((_, app_id), user_ids), answer) in by_node.iter().zip(&answers) {
        if let Some(answer) = answer {
            for user_id in envelope::took(answer) {
                if user_ids.contains(&user_id) {
                    taken.insert((*app_id, user_id));
                }
            }
        }
    }
    let mut missed: Vec<i64> = by_node
        .iter()
        .flat_map(|((_, app_id), user_ids)| user_ids.iter().map(move |&user_id| (*app_id, user_id)))
        .filter(|user| !taken.contains(user))
        .map(|(_, user_id)| user_id)
        .collect();
    missed.sort_unstable();
    missed.dedup();
    missed
}

/// Sends `stanza` to the available sessions of `user` on this node only (what another node asked for).
pub fn deliver_here(shared: &Shared, user: UserJid, stanza: &Element, exclude: Option<u64>) -> usize {
    hand_here(shared, user, Handout::Borrowed(stanza), exclude).0
}

/// A stanza handed to sessions, each with its own `to`: of a borrowed one each session gets a copy; an
/// owned one the last session takes itself (in 1-1 chat, most often the only one), saving a deep copy.
enum Handout<'a> {
    Borrowed(&'a Element),
    /// None once the last session took it (and again Some if that session could not).
    Owned(Option<Element>),
}

impl Handout<'_> {
    fn for_session(&mut self, last: bool) -> Element {
        match self {
            Handout::Borrowed(stanza) => Element::clone(stanza),
            Handout::Owned(stanza) if last => stanza.take().expect("the last session takes it once"),
            Handout::Owned(stanza) => stanza.clone().expect("kept until the last session"),
        }
    }

    fn refused(&mut self, stanza: Element) {
        if let Handout::Owned(slot @ None) = self {
            *slot = Some(stanza);
        }
    }
}

/// Hands `stanza` to the available sessions of `user` on this node (except `exclude`). Returns how many
/// queued it, and the owned stanza when no session kept it.
fn hand_here(
    shared: &Shared,
    user: UserJid,
    mut stanza: Handout<'_>,
    exclude: Option<u64>,
) -> (usize, Option<Element>) {
    let domain = &shared.config.domain;
    let delivered = shared.registry.with_sessions(user, |sessions| {
        let mut takers = sessions
            .iter()
            .filter(|session| Some(session.id) != exclude && session.is_available())
            .peekable();
        let mut delivered = 0;
        while let Some(session) = takers.next() {
            let mut copy = stanza.for_session(takers.peek().is_none());
            xml::set_attr(&mut copy, "to", session.full_jid(domain));
            match session.deliver(copy) {
                Delivery::Queued => delivered += 1,
                Delivery::Failed(refused) => stanza.refused(refused),
            }
        }
        delivered
    });
    let left = match stanza {
        Handout::Owned(left) => left,
        Handout::Borrowed(_) => None,
    };
    (delivered, left)
}

/// A sent carbon (XEP-0280) to the user's other available sessions that enabled carbons, on every node.
pub fn deliver_carbons(shared: &Shared, user: UserJid, wrapper: &Element, sender_session: u64) {
    deliver_carbons_here(shared, user, wrapper, Some(sender_session));
    post_to_nodes_of(shared, user, || Envelope::Carbons {
        app_id: user.app_id,
        user_id: user.user_id,
        stanza: xml::to_string(wrapper),
    });
}

/// Whether a sent carbon of a message from `sender_session` would reach anyone: another session of the
/// user here that enabled carbons, or a session of the user on another node. Checked before the
/// carbon is built, since most users have one session.
pub fn wants_carbons(shared: &Shared, user: UserJid, sender_session: u64) -> bool {
    let here = shared.registry.with_sessions(user, |sessions| {
        sessions
            .iter()
            .any(|other| takes_carbons(other, Some(sender_session)))
    });
    here || shared
        .registry
        .peers()
        .is_some_and(|peers| !peers.nodes_of(user.app_id, user.user_id, None).is_empty())
}

/// Whether a session takes sent carbons: available, carbons enabled, not the one excluded (the sender's).
fn takes_carbons(session: &SessionHandle, exclude: Option<u64>) -> bool {
    Some(session.id) != exclude && session.carbons() && session.is_available()
}

/// A sent carbon to this node's sessions of the user that enabled carbons (except the sender's).
pub fn deliver_carbons_here(
    shared: &Shared,
    user: UserJid,
    wrapper: &Element,
    exclude: Option<u64>,
) -> usize {
    let domain = &shared.config.domain;
    shared.registry.with_sessions(user, |sessions| {
        let mut delivered = 0;
        for other in sessions {
            if !takes_carbons(other, exclude) {
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
pub fn deliver_to_resource(shared: &Shared, user: UserJid, resource: &str, stanza: &Element) -> bool {
    if deliver_to_resource_here(shared, user, resource, stanza) {
        return true;
    }
    match resource_elsewhere(shared, user, resource, stanza) {
        Some((peers, node, payload)) => {
            peers.post(&node, payload);
            true
        }
        None => false,
    }
}

/// Like `deliver_to_resource`, for a stanza that must not be lost (a 1-1 message worth keeping): a session
/// on another node is asked, not just told, and one that does not answer in time (its node died or hangs)
/// counts as no session, so the caller falls back to the user's other sessions or the offline store.
pub async fn deliver_to_resource_or_nobody(
    shared: &Shared,
    user: UserJid,
    resource: &str,
    stanza: &Element,
) -> bool {
    if deliver_to_resource_here(shared, user, resource, stanza) {
        return true;
    }
    let Some((peers, node, payload)) = resource_elsewhere(shared, user, resource, stanza) else {
        return false;
    };
    peers
        .ask(&node, payload)
        .await
        .is_some_and(|answer| envelope::delivered(&answer) > 0)
}

/// In a cluster, the node with the session `resource` of `user`, and the envelope that hands it `stanza`.
fn resource_elsewhere<'a>(
    shared: &'a Shared,
    user: UserJid,
    resource: &str,
    stanza: &Element,
) -> Option<(&'a Arc<dyn Peers>, String, Vec<u8>)> {
    let peers = shared.registry.peers()?;
    let node = peers
        .nodes_of(user.app_id, user.user_id, Some(resource))
        .into_iter()
        .next()?;
    let envelope = Envelope::ToResource {
        app_id: user.app_id,
        user_id: user.user_id,
        resource: resource.to_owned(),
        stanza: xml::to_string(stanza),
    };
    Some((peers, node, envelope.encode()))
}

/// Sends `stanza` to one session of this node.
pub fn deliver_to_resource_here(shared: &Shared, user: UserJid, resource: &str, stanza: &Element) -> bool {
    let Some(session) = shared.registry.session(user, resource) else {
        return false;
    };
    let mut copy = stanza.clone();
    xml::set_attr(&mut copy, "to", session.full_jid(&shared.config.domain));
    matches!(session.deliver(copy), Delivery::Queued)
}

/// Where a 1-1 message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// At least one session (here or on another node) queued it.
    Live,
    /// Nobody took it: it waits in the offline store (a chat alert is due, whatever the session
    /// directory says of the recipient).
    KeptOffline,
}

/// A 1-1 message for `user`: to every available session, or kept for the next one when there is none.
/// It is never lost: either some session queued it or it is durable in the store when this returns. The
/// other nodes are asked, not just told: one that does not answer in time counts as no session. When it
/// can be neither delivered nor kept, the error comes with the stanza (for the sender's error reply).
pub async fn deliver_or_store(
    shared: &Shared,
    user: UserJid,
    stanza: Element,
    exclude: Option<u64>,
) -> Result<Handed, (CoreError, Element)> {
    // The other nodes' envelope is made before a session here takes the stanza.
    let elsewhere = shared.registry.peers().and_then(|peers| {
        let nodes = peers.nodes_of(user.app_id, user.user_id, None);
        (!nodes.is_empty()).then(|| {
            let payload = Envelope::to_users(user.app_id, vec![user.user_id], &stanza).encode();
            (peers, nodes, payload)
        })
    });
    let (mut delivered, left) = hand_here(shared, user, Handout::Owned(Some(stanza)), exclude);
    if let Some((peers, nodes, payload)) = elsewhere {
        let asks = nodes.iter().map(|node| peers.ask(node, payload.clone()));
        delivered += futures_util::future::join_all(asks)
            .await
            .into_iter()
            .map(|answer| answer.map_or(0, |a| envelope::delivered(&a)))
            .sum::<usize>();
    }
    if delivered > 0 {
        return Ok(Handed::Live);
    }
    let mut kept = left.expect("a stanza no session queued is given back");
    match keep_offline(shared, user, &mut kept).await {
        Ok(()) => Ok(Handed::KeptOffline),
        Err(error) => Err((error, kept)),
    }
}

/// Keeps `stanza`, readdressed to the user's bare JID, in `user`'s offline store, then tells every available
/// session of the user to take it. A session's initial presence makes it available, then looks for
/// offline stanzas; one that looked while this was still being written found nothing, but became
/// available before the write ended, so it is among those told. On other nodes the session directory
/// says which are available; one whose announcement has not arrived yet when this is stored can still
/// miss it until its next login.
pub async fn keep_offline(shared: &Shared, user: UserJid, stanza: &mut Element) -> Result<(), CoreError> {
    xml::set_attr(stanza, "to", user.bare(&shared.config.domain));
    shared
        .core
        .offline()
        .store(user.app_id, user.user_id, &xml::to_string(stanza))
        .await?;
    offline_waiting_here(shared, user);
    post_to_nodes_of(shared, user, || Envelope::OfflineWaiting {
        app_id: user.app_id,
        user_id: user.user_id,
    });
    Ok(())
}

/// Tells this node's available sessions of `user` that stanzas wait for them in the offline store.
pub fn offline_waiting_here(shared: &Shared, user: UserJid) {
    shared.registry.with_sessions(user, |sessions| {
        for session in sessions.iter().filter(|session| session.is_available()) {
            // An error means the session has ended: the stanzas wait for the next one.
            let _ = session.command(Command::OfflineWaiting);
        }
    });
}

/// Reflects a group stanza from `sender` to every member's available sessions (every online user of the
/// app for a broadcast dialog), as `from="{room}/{sender}"`, `type="groupchat"`. Privacy lists: users who
/// block the sender, or whom he blocks two-way, get nothing. With `ask` (a message due a chat alert;
/// broadcast dialogs raise none), the other nodes are asked (`deliver_to_users_asking`) and the members
/// nobody took are returned; otherwise they are only told, and nothing is returned.
pub async fn deliver_to_room(
    shared: &Shared,
    room: &RoomJid,
    kind: DialogType,
    sender: i64,
    mut message: Element,
    ask: bool,
) -> Vec<i64> {
    xml::set_attr(
        &mut message,
        "from",
        format!("{}/{sender}", room.bare(&shared.config.domain)),
    );
    xml::set_attr(&mut message, "type", "groupchat");
    let audience = if kind == DialogType::Broadcast {
        let online = shared.registry.app_users_online(room.app_id);
        policy::room_audience(shared, room.app_id, sender, online).await
    } else {
        match shared
            .core
            .dialogs()
            .recipients(room.app_id, &room.dialog_id)
            .await
        {
            Ok(members) => policy::room_recipients(shared, room.app_id, sender, members)
                .await
                .into_iter()
                .map(|user_id| UserJid {
                    user_id,
                    app_id: room.app_id,
                })
                .collect(),
            Err(error) => {
                tracing::error!(%error, dialog = %room.dialog_id, "reading the dialog's members failed");
                return Vec::new();
            }
        }
    };
    if ask && kind != DialogType::Broadcast {
        return deliver_to_users_asking(shared, &audience, &message).await;
    }
    deliver_to_users(shared, &audience, &message);
    Vec::new()
}
