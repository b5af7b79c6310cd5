//! What one node of a cluster sends another: the payloads travel as JSON through
//! `palaver_core::cluster::Peers`, and only ever act on the receiving node's own sessions (`remote.rs`).

use crate::shared::Shared;
use crate::xml::{self, Element};
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
    /// `stanza` to every available session of each user, like `ToUsers`, for a group message whose
    /// members are due a chat alert where nobody took it: the answer names the users that took it
    /// (`took`), not a count. A node that does not know this variant answers 0 and delivers nothing,
    /// which reads as "none of them", so nobody goes without an alert.
    ToMembers {
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
    /// Stanzas were kept offline for a user: this node's available sessions of the user take them.
    OfflineWaiting { app_id: i64, user_id: i64 },
}

impl Envelope {
    pub fn to_users(app_id: i64, users: Vec<i64>, stanza: &Element) -> Envelope {
        Envelope::ToUsers {
            app_id,
            users,
            stanza: xml::to_string(stanza),
        }
    }

    pub fn to_members(app_id: i64, users: Vec<i64>, stanza: &Element) -> Envelope {
        Envelope::ToMembers {
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

/// The answer to `ToMembers`: the users at least one of whose sessions took the stanza (a JSON array).
pub fn took_answer(users: &[i64]) -> Vec<u8> {
    serde_json::to_vec(users).expect("user ids serialize")
}

/// Which users took a `ToMembers` stanza, from a node's answer; none when it is unreadable (a count from
/// a node that did not know the envelope).
pub fn took(answer: &[u8]) -> Vec<i64> {
    serde_json::from_slice(answer).unwrap_or_default()
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
