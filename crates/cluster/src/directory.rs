//! Every node's replica of the cluster-wide session directory: which other node holds which sessions.
//! Pure state, fed by the announcements (`wire::Announcement`) the nodes publish; a node that has not been
//! heard of for the timeout is forgotten with all its sessions.

use crate::wire::Announcement;
use palaver_core::cluster::{NodeId, SessionState};
use std::collections::HashMap;
use std::time::{Duration, Instant};

type UserKey = (i64, i64);

#[derive(Default)]
struct NodeView {
    sessions: HashMap<UserKey, Vec<SessionState>>,
}

struct Known {
    seen: Instant,
    view: NodeView,
}

/// The other nodes and their sessions, as last announced.
#[derive(Default)]
pub struct Directory {
    nodes: HashMap<NodeId, Known>,
}

impl Directory {
    /// Applies what `node` announced, heard at `now`. A node first heard of, or heard of again, is alive.
    pub fn apply(&mut self, announcement: Announcement, now: Instant) {
        match announcement {
            Announcement::Bye { node } => {
                self.nodes.remove(&node);
            }
            Announcement::Hello { node } => self.touch(node, now),
            Announcement::Snapshot { node, sessions } => {
                let mut view = NodeView::default();
                for session in sessions {
                    view.sessions
                        .entry((session.app_id, session.user_id))
                        .or_default()
                        .push(session);
                }
                self.nodes.insert(node, Known { seen: now, view });
            }
            Announcement::Session { node, session, gone } => {
                let known = self.nodes.entry(node).or_insert_with(|| Known {
                    seen: now,
                    view: NodeView::default(),
                });
                known.seen = now;
                let key = (session.app_id, session.user_id);
                let sessions = known.view.sessions.entry(key).or_default();
                sessions.retain(|s| s.resource != session.resource);
                if !gone {
                    sessions.push(session);
                }
                if sessions.is_empty() {
                    known.view.sessions.remove(&key);
                }
            }
        }
    }

    fn touch(&mut self, node: NodeId, now: Instant) {
        self.nodes
            .entry(node)
            .or_insert_with(|| Known {
                seen: now,
                view: NodeView::default(),
            })
            .seen = now;
    }

    /// Forgets the nodes not heard of for `timeout`; returns them, each with the sessions it had.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<(NodeId, Vec<SessionState>)> {
        let gone: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, known)| now.saturating_duration_since(known.seen) > timeout)
            .map(|(node, _)| node.clone())
            .collect();
        gone.into_iter()
            .filter_map(|node| {
                let known = self.nodes.remove(&node)?;
                Some((node, known.view.sessions.into_values().flatten().collect()))
            })
            .collect()
    }

    /// Forgets one node at once; the sessions it had, if it was known.
    pub fn remove(&mut self, node: &str) -> Option<Vec<SessionState>> {
        let known = self.nodes.remove(node)?;
        Some(known.view.sessions.into_values().flatten().collect())
    }

    pub fn nodes(&self) -> Vec<NodeId> {
        self.nodes.keys().cloned().collect()
    }

    fn sessions_of(&self, app_id: i64, user_id: i64) -> impl Iterator<Item = (&NodeId, &SessionState)> {
        self.nodes.iter().flat_map(move |(node, known)| {
            known
                .view
                .sessions
                .get(&(app_id, user_id))
                .into_iter()
                .flatten()
                .map(move |session| (node, session))
        })
    }

    /// Nodes with an available session of the user, or (with `resource`) the session bound to it.
    pub fn nodes_of(&self, app_id: i64, user_id: i64, resource: Option<&str>) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .sessions_of(app_id, user_id)
            .filter(|(_, s)| match resource {
                Some(resource) => s.resource == resource,
                None => s.available,
            })
            .map(|(node, _)| node.clone())
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    pub fn available_resources(&self, app_id: i64, user_id: i64) -> Vec<String> {
        self.sessions_of(app_id, user_id)
            .filter(|(_, s)| s.available)
            .map(|(_, s)| s.resource.clone())
            .collect()
    }

    /// (node, user) for every session that joined the dialog's room.
    pub fn room_occupants(&self, app_id: i64, dialog_id: &str) -> Vec<(NodeId, i64)> {
        let mut occupants: Vec<(NodeId, i64)> = self
            .nodes
            .iter()
            .flat_map(|(node, known)| {
                known
                    .view
                    .sessions
                    .iter()
                    .filter(|((app, _), _)| *app == app_id)
                    .flat_map(|(_, sessions)| sessions)
                    .filter(|s| s.rooms.iter().any(|r| r == dialog_id))
                    .map(move |s| (node.clone(), s.user_id))
            })
            .collect();
        occupants.sort_unstable();
        occupants.dedup();
        occupants
    }

    pub fn is_online(&self, app_id: i64, user_id: i64) -> bool {
        self.sessions_of(app_id, user_id).any(|(_, s)| s.available)
    }

    pub fn is_active(&self, app_id: i64, user_id: i64) -> bool {
        self.sessions_of(app_id, user_id).any(|(_, s)| s.active)
    }

    pub fn users(&self, app_id: i64, available_only: bool) -> Vec<i64> {
        let mut users: Vec<i64> = self
            .nodes
            .values()
            .flat_map(|known| known.view.sessions.iter())
            .filter(|((app, _), sessions)| {
                *app == app_id && (!available_only || sessions.iter().any(|s| s.available))
            })
            .map(|((_, user), _)| *user)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user_id: i64, resource: &str, available: bool) -> SessionState {
        SessionState {
            app_id: 1,
            user_id,
            resource: resource.into(),
            available,
            active: available,
            rooms: vec!["room1".into()],
        }
    }

    #[test]
    fn sessions_come_and_go_and_a_silent_node_is_forgotten() {
        let mut directory = Directory::default();
        let start = Instant::now();
        directory.apply(
            Announcement::Session {
                node: "a-1".into(),
                session: session(7, "phone", false),
                gone: false,
            },
            start,
        );
        assert!(!directory.is_online(1, 7));
        assert_eq!(directory.users(1, false), vec![7]);
        directory.apply(
            Announcement::Session {
                node: "a-1".into(),
                session: session(7, "phone", true),
                gone: false,
            },
            start,
        );
        directory.apply(
            Announcement::Snapshot {
                node: "b-2".into(),
                sessions: vec![session(7, "web", true), session(8, "web", true)],
            },
            start,
        );
        assert_eq!(directory.nodes_of(1, 7, None), vec!["a-1", "b-2"]);
        assert_eq!(directory.nodes_of(1, 7, Some("web")), vec!["b-2"]);
        assert_eq!(directory.users(1, true), vec![7, 8]);
        assert_eq!(
            directory.room_occupants(1, "room1"),
            vec![
                ("a-1".to_owned(), 7),
                ("b-2".to_owned(), 7),
                ("b-2".to_owned(), 8)
            ]
        );
        assert!(directory.room_occupants(1, "room2").is_empty());
        let mut resources = directory.available_resources(1, 7);
        resources.sort();
        assert_eq!(resources, vec!["phone", "web"]);
        assert!(directory.users(2, false).is_empty());

        directory.apply(
            Announcement::Session {
                node: "a-1".into(),
                session: session(7, "phone", true),
                gone: true,
            },
            start,
        );
        assert_eq!(directory.nodes_of(1, 7, None), vec!["b-2"]);

        // b-2 keeps talking, a-1 falls silent.
        let later = start + Duration::from_secs(3);
        directory.apply(Announcement::Hello { node: "b-2".into() }, later);
        assert_eq!(
            directory.expire(later, Duration::from_secs(2)),
            vec![("a-1".to_owned(), vec![])]
        );
        assert_eq!(directory.nodes(), vec!["b-2".to_owned()]);
        // A snapshot replaces what was known; a goodbye forgets the node at once.
        directory.apply(
            Announcement::Snapshot {
                node: "b-2".into(),
                sessions: vec![],
            },
            later,
        );
        assert!(!directory.is_online(1, 8));
        directory.apply(Announcement::Bye { node: "b-2".into() }, later);
        assert!(directory.nodes().is_empty());
    }
}
