//! What nodes publish to each other, and on which NATS subjects. Everything is JSON; every subject starts
//! with the cluster's prefix, so clusters (and tests) sharing one NATS server never hear each other.

use palaver_core::cluster::{CacheChange, NodeId, SessionState};
use serde::{Deserialize, Serialize};

/// On `<prefix>.directory`: the session directory's traffic, in each node's publishing order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Announcement {
    /// A node started: everyone answers with a snapshot, so it learns the directory at once.
    Hello { node: NodeId },
    /// A session of `node` appeared, changed, or (`gone`) ended.
    Session {
        node: NodeId,
        session: SessionState,
        gone: bool,
    },
    /// Every session of `node`: its heartbeat, replacing whatever was known of it.
    Snapshot {
        node: NodeId,
        sessions: Vec<SessionState>,
    },
    /// `node` is shutting down.
    Bye { node: NodeId },
}

/// On `<prefix>.cache`: a node changed a cached row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheNotice {
    pub node: NodeId,
    pub change: CacheChange,
}

/// On `<prefix>.all`: a payload for every node but the sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    pub node: NodeId,
    pub payload: Vec<u8>,
}

pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Subjects {
        Subjects {
            prefix: prefix.trim_end_matches('.').to_owned(),
        }
    }

    pub fn directory(&self) -> String {
        format!("{}.directory", self.prefix)
    }

    pub fn cache(&self) -> String {
        format!("{}.cache", self.prefix)
    }

    pub fn all(&self) -> String {
        format!("{}.all", self.prefix)
    }

    /// Where a node takes the payloads meant for it alone.
    pub fn node(&self, node: &str) -> String {
        format!("{}.node.{node}", self.prefix)
    }
}

/// A node's id: its name made safe for a subject token, and a random incarnation.
pub fn node_id(name: &str) -> NodeId {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let incarnation: u32 = rand::random();
    format!("{safe}-{incarnation:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_subject_tokens_and_differ_per_incarnation() {
        let a = node_id("eu.west 1");
        let b = node_id("eu.west 1");
        assert!(a.starts_with("eu_west_1-"));
        assert_ne!(a, b);
        assert_eq!(Subjects::new("t1.").node(&a), format!("t1.node.{a}"));
    }
}
