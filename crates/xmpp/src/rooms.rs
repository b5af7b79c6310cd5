//! Who has joined which dialog room (XEP-0045 presence), per session. Joining is optional for messaging —
//! group messages reach every member's sessions anyway — but the SDKs' join/leave calls and occupant
//! events depend on it.

use palaver_proto::RoomJid;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

#[derive(Default)]
pub struct Rooms {
    /// room → user id → the sessions of that user in the room.
    joined: RwLock<HashMap<RoomJid, HashMap<i64, HashSet<u64>>>>,
}

impl Rooms {
    /// Records a session joining; true when it is the user's first session in the room.
    pub fn join(&self, room: &RoomJid, user_id: i64, session: u64) -> bool {
        let mut joined = self.joined.write().expect("lock poisoned");
        let users = joined.entry(room.clone()).or_default();
        let sessions = users.entry(user_id).or_default();
        let first = sessions.is_empty();
        sessions.insert(session);
        first
    }

    /// Records a session leaving; true when the user has no session left in the room.
    pub fn leave(&self, room: &RoomJid, user_id: i64, session: u64) -> bool {
        let mut joined = self.joined.write().expect("lock poisoned");
        let Some(users) = joined.get_mut(room) else {
            return false;
        };
        let Some(sessions) = users.get_mut(&user_id) else {
            return false;
        };
        let was_in = sessions.remove(&session);
        let last = was_in && sessions.is_empty();
        if sessions.is_empty() {
            users.remove(&user_id);
        }
        if users.is_empty() {
            joined.remove(room);
        }
        last
    }

    /// Removes a user from a room altogether (kicked); true when the user was in it.
    pub fn remove_user(&self, room: &RoomJid, user_id: i64) -> bool {
        let mut joined = self.joined.write().expect("lock poisoned");
        let Some(users) = joined.get_mut(room) else {
            return false;
        };
        let was_in = users.remove(&user_id).is_some();
        if users.is_empty() {
            joined.remove(room);
        }
        was_in
    }

    /// Every room a session is in, leaving them all: (room, user id, whether it was the user's last session).
    pub fn leave_all(&self, user_id: i64, session: u64) -> Vec<(RoomJid, bool)> {
        let rooms: Vec<RoomJid> = {
            let joined = self.joined.read().expect("lock poisoned");
            joined
                .iter()
                .filter(|(_, users)| users.get(&user_id).is_some_and(|s| s.contains(&session)))
                .map(|(room, _)| room.clone())
                .collect()
        };
        rooms
            .into_iter()
            .map(|room| {
                let last = self.leave(&room, user_id, session);
                (room, last)
            })
            .collect()
    }

    /// The users who joined a room.
    pub fn occupants(&self, room: &RoomJid) -> Vec<i64> {
        let joined = self.joined.read().expect("lock poisoned");
        let mut users: Vec<i64> = joined
            .get(room)
            .map(|u| u.keys().copied().collect())
            .unwrap_or_default();
        users.sort_unstable();
        users
    }

    /// The sessions through which a user joined a room.
    pub fn sessions(&self, room: &RoomJid, user_id: i64) -> Vec<u64> {
        let joined = self.joined.read().expect("lock poisoned");
        joined
            .get(room)
            .and_then(|u| u.get(&user_id))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_users_by_session() {
        let rooms = Rooms::default();
        let room = RoomJid {
            app_id: 1,
            dialog_id: "5c094c0ce588ce6856f87422".into(),
        };
        assert!(rooms.join(&room, 5, 1));
        assert!(!rooms.join(&room, 5, 2));
        assert!(rooms.join(&room, 6, 3));
        assert_eq!(rooms.occupants(&room), vec![5, 6]);
        assert!(!rooms.leave(&room, 5, 1));
        assert_eq!(rooms.leave_all(5, 2), vec![(room.clone(), true)]);
        assert_eq!(rooms.occupants(&room), vec![6]);
        assert!(rooms.remove_user(&room, 6));
        assert!(rooms.occupants(&room).is_empty());
    }
}
