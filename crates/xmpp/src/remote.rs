//! What one node of a cluster asks another to do for the sessions it holds, and how this node does it.
//! The payloads travel as JSON through `palaver_core::cluster::Peers`; they only ever act on this node's
//! own sessions, so nothing sent between nodes is forwarded again.

use crate::dispatch::Dispatcher;
use crate::envelope::{self, Envelope};
use crate::parsers::{Presence, PresenceType};
use crate::router;
use crate::shared::Shared;
use crate::xml::Element;
use palaver_core::cluster::SessionState;
use palaver_proto::{RoomJid, UserJid};

/// Ends this node's sessions that `kill` names.
pub fn kill_local(shared: &Shared, app_id: i64, user_id: Option<i64>, token_session: Option<i64>) {
    let sessions = match user_id {
        Some(user_id) => shared.registry.sessions(UserJid { user_id, app_id }),
        None => shared.registry.all(),
    };
    for session in sessions {
        if session.user.app_id == app_id
            && (token_session.is_none() || session.token_session == token_session)
        {
            session.kill();
        }
    }
}

/// Ends the sessions `kill` names on every node.
pub fn kill_everywhere(shared: &Shared, app_id: i64, user_id: Option<i64>, token_session: Option<i64>) {
    kill_local(shared, app_id, user_id, token_session);
    if let Some(peers) = shared.registry.peers() {
        let kill = Envelope::Kill {
            app_id,
            user_id,
            token_session,
        };
        peers.post_all(kill.encode());
    }
}

fn parse(stanza: &str) -> Option<Element> {
    match stanza.parse::<Element>() {
        Ok(element) => Some(element),
        Err(error) => {
            tracing::warn!(%error, "another node sent an unreadable stanza");
            None
        }
    }
}

/// What another node asks of this one; the answer is how many of this node's sessions took the stanza
/// (for `ToMembers`, which users did).
pub async fn handle(shared: &Shared, dispatcher: &Dispatcher, payload: &[u8]) -> Vec<u8> {
    {
        let delivered = match serde_json::from_slice::<Envelope>(payload) {
            Ok(Envelope::ToMembers {
                app_id,
                users,
                stanza,
            }) => {
                let took: Vec<i64> = parse(&stanza).map_or_else(Vec::new, |stanza| {
                    users
                        .into_iter()
                        .filter(|&user_id| {
                            router::deliver_here(shared, UserJid { user_id, app_id }, &stanza, None) > 0
                        })
                        .collect()
                });
                return envelope::took_answer(&took);
            }
            Ok(Envelope::ToUsers {
                app_id,
                users,
                stanza,
            }) => parse(&stanza).map_or(0, |stanza| {
                users
                    .into_iter()
                    .map(|user_id| router::deliver_here(shared, UserJid { user_id, app_id }, &stanza, None))
                    .sum()
            }),
            Ok(Envelope::ToResource {
                app_id,
                user_id,
                resource,
                stanza,
            }) => parse(&stanza).map_or(0, |stanza| {
                usize::from(router::deliver_to_resource_here(
                    shared,
                    UserJid { user_id, app_id },
                    &resource,
                    &stanza,
                ))
            }),
            Ok(Envelope::Carbons {
                app_id,
                user_id,
                stanza,
            }) => parse(&stanza).map_or(0, |wrapper| {
                router::deliver_carbons_here(shared, UserJid { user_id, app_id }, &wrapper, None)
            }),
            Ok(Envelope::Status {
                app_id,
                user_id,
                seconds,
            }) => {
                dispatcher.status_here(shared, UserJid { user_id, app_id }, seconds);
                0
            }
            Ok(Envelope::Kill {
                app_id,
                user_id,
                token_session,
            }) => {
                kill_local(shared, app_id, user_id, token_session);
                0
            }
            Ok(Envelope::LeftRoom {
                app_id,
                dialog_id,
                users,
            }) => {
                let room = RoomJid { app_id, dialog_id };
                dispatcher.left_room_here(shared, &room, &users);
                0
            }
            Ok(Envelope::OfflineWaiting { app_id, user_id }) => {
                router::offline_waiting_here(shared, UserJid { user_id, app_id });
                0
            }
            Ok(Envelope::RoomPresence {
                app_id,
                dialog_id,
                about,
                stanza,
            }) => parse(&stanza).map_or(0, |presence| {
                let room = RoomJid { app_id, dialog_id };
                dispatcher.room_presence_here(shared, &room, about, &presence);
                1
            }),
            Err(error) => {
                tracing::warn!(%error, "unreadable payload from another node");
                0
            }
        };
        delivered.to_string().into_bytes()
    }
}

/// The sessions of a node that died went without a word: their users' contacts and other sessions are
/// told they are unavailable, and a user left with no session anywhere is offline since now.
pub async fn node_lost(shared: &Shared, dispatcher: &Dispatcher, sessions: Vec<SessionState>) {
    {
        let mut users: std::collections::BTreeMap<(i64, i64), Vec<String>> = Default::default();
        for session in sessions.into_iter().filter(|s| s.available) {
            users
                .entry((session.app_id, session.user_id))
                .or_default()
                .push(session.resource);
        }
        for ((app_id, user_id), resources) in users {
            let user = UserJid { user_id, app_id };
            for resource in resources {
                let presence: Element = Presence::from_to(
                    Some(PresenceType::Unavailable),
                    format!("{}/{resource}", user.bare(&shared.config.domain)),
                    None,
                )
                .into();
                router::deliver(shared, user, &presence, None);
                dispatcher.presence_to_contacts(shared, user, &presence).await;
            }
            dispatcher.offline_if_gone(shared, user).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::delivered;
    use crate::xml;

    #[test]
    fn envelopes_round_trip() {
        let mut stanza = xml::element("message", crate::ns::CLIENT);
        stanza.append_child(xml::with_text(xml::element("body", crate::ns::CLIENT), "hé <b>"));
        let envelope = Envelope::to_users(3, vec![7, 8], &stanza);
        let decoded: Envelope = serde_json::from_slice(&envelope.encode()).unwrap();
        let Envelope::ToUsers { stanza: text, .. } = &decoded else {
            panic!("{decoded:?}");
        };
        assert_eq!(parse(text).unwrap(), stanza);
        assert_eq!(decoded, envelope);
        assert_eq!(delivered(b"2"), 2);
        assert_eq!(delivered(b"junk"), 0);
        let members = Envelope::to_members(3, vec![7, 8], &stanza);
        let decoded: Envelope = serde_json::from_slice(&members.encode()).unwrap();
        assert_eq!(decoded, members);
        let waiting = Envelope::OfflineWaiting {
            app_id: 3,
            user_id: 7,
        };
        let decoded: Envelope = serde_json::from_slice(&waiting.encode()).unwrap();
        assert_eq!(decoded, waiting);
        assert_eq!(envelope::took(&envelope::took_answer(&[7, 8])), [7, 8]);
        // A node that did not know the envelope answers a count: read as nobody took it.
        assert_eq!(envelope::took(b"0"), Vec::<i64>::new());
    }
}
