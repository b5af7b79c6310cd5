//! What one node of a cluster asks another to do for the sessions it holds, and how this node does it.
//! The payloads travel as JSON through `palaver_core::cluster::Peers`; they only ever act on this node's
//! own sessions, so nothing sent between nodes is forwarded again.

use crate::router;
use crate::server::{Shared, XmppServer};
use crate::xml::{self, Element};
use async_trait::async_trait;
use palaver_core::cluster::{PeerHandler, SessionState};
use palaver_proto::{RoomJid, UserJid};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Envelope {
    /// `stanza` to every available session of each user (its `to` is set per session).
    ToUsers {
        app_id: i64,
        users: Vec<i64>,
        stanza: String,
    },
    /// `stanza` to one session.
    ToResource {
        app_id: i64,
        user_id: i64,
        resource: String,
        stanza: String,
    },
    /// A sent carbon (its wrapper) for the user's sessions that enabled carbons.
    Carbons {
        app_id: i64,
        user_id: i64,
        stanza: String,
    },
    /// A user came online (`seconds` 0) or went offline: the status watchers on this node are told.
    Status { app_id: i64, user_id: i64, seconds: i64 },
    /// End the sessions of a user, or those that logged in with a REST session's token.
    Kill {
        app_id: i64,
        user_id: Option<i64>,
        token_session: Option<i64>,
    },
    /// A room presence about `about` for the occupants who joined through this node.
    RoomPresence {
        app_id: i64,
        dialog_id: String,
        about: i64,
        stanza: String,
    },
    /// Users were removed from a dialog: they are no longer in its room.
    LeftRoom {
        app_id: i64,
        dialog_id: String,
        users: Vec<i64>,
    },
}

impl Envelope {
    pub fn to_users(app_id: i64, users: Vec<i64>, stanza: &Element) -> Envelope {
        Envelope::ToUsers {
            app_id,
            users,
            stanza: xml::to_string(stanza),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes serialize")
    }
}

/// How many sessions took a stanza, from a node's answer.
pub fn delivered(answer: &[u8]) -> usize {
    std::str::from_utf8(answer)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

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

/// Tells the other nodes' status watchers that a user came online or went offline.
pub fn status_everywhere(shared: &Shared, user: UserJid, seconds: i64) {
    if let Some(peers) = shared.registry.peers() {
        let status = Envelope::Status {
            app_id: user.app_id,
            user_id: user.user_id,
            seconds,
        };
        peers.post_all(status.encode());
    }
}

/// Tells the other nodes that `users` left a dialog's room.
pub fn left_room_everywhere(shared: &Shared, room: &RoomJid, users: &[i64]) {
    if let Some(peers) = shared.registry.peers() {
        let left = Envelope::LeftRoom {
            app_id: room.app_id,
            dialog_id: room.dialog_id.clone(),
            users: users.to_vec(),
        };
        peers.post_all(left.encode());
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

#[async_trait]
impl PeerHandler for XmppServer {
    /// The answer is how many of this node's sessions took the stanza.
    async fn handle(&self, payload: &[u8]) -> Vec<u8> {
        let shared = &self.shared;
        let delivered = match serde_json::from_slice::<Envelope>(payload) {
            Ok(Envelope::ToUsers {
                app_id,
                users,
                stanza,
            }) => parse(&stanza).map_or(0, |stanza| {
                users
                    .into_iter()
                    .map(|user_id| {
                        router::local_to_available(shared, UserJid { user_id, app_id }, &stanza, None)
                    })
                    .sum()
            }),
            Ok(Envelope::ToResource {
                app_id,
                user_id,
                resource,
                stanza,
            }) => parse(&stanza).map_or(0, |stanza| {
                usize::from(router::local_to_resource(
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
                router::local_carbons(shared, UserJid { user_id, app_id }, &wrapper, None)
            }),
            Ok(Envelope::Status {
                app_id,
                user_id,
                seconds,
            }) => {
                crate::modules::last::notify_local(shared, UserJid { user_id, app_id }, seconds);
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
                for user_id in users {
                    for session in shared.registry.sessions(UserJid { user_id, app_id }) {
                        session.set_in_room(&room.dialog_id, false);
                    }
                    shared.rooms.remove_user(&room, user_id);
                }
                0
            }
            Ok(Envelope::RoomPresence {
                app_id,
                dialog_id,
                about,
                stanza,
            }) => parse(&stanza).map_or(0, |presence| {
                let room = RoomJid { app_id, dialog_id };
                crate::modules::muc::tell_local_occupants(shared, &room, about, &presence);
                1
            }),
            Err(error) => {
                tracing::warn!(%error, "unreadable payload from another node");
                0
            }
        };
        delivered.to_string().into_bytes()
    }

    /// The sessions of a node that died went without a word: their users' contacts and other sessions
    /// are told they are unavailable, and a user left with no session anywhere is offline since now.
    async fn node_lost(&self, sessions: Vec<SessionState>) {
        let shared = &self.shared;
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
                let mut presence = xml::element("presence", crate::ns::CLIENT);
                xml::set_attr(&mut presence, "type", "unavailable");
                xml::set_attr(
                    &mut presence,
                    "from",
                    format!("{}/{resource}", user.bare(&shared.config.domain)),
                );
                router::to_available(shared, user, &presence, None);
                crate::modules::roster::broadcast(shared, user, &presence).await;
            }
            if !shared.registry.is_online(user) {
                crate::modules::last::went_offline(shared, user).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
