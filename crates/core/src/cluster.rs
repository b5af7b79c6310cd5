//! Running as one of several equal nodes. The chat server finds out here which other nodes hold a user's
//! sessions and hands them stanzas; the store tells the other nodes which cached rows changed. The
//! transport between nodes (NATS) is the `palaver-cluster` crate's; a single node has no `Peers` at all
//! and nothing here costs it anything.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One node's identity for as long as its process lives: the configured name plus a random incarnation,
/// so a restarted node is a new node and nothing its previous life announced can be taken for its own.
pub type NodeId = String;

/// A chat session as the other nodes see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub app_id: i64,
    pub user_id: i64,
    pub resource: String,
    /// Sent initial presence and not yet unavailable.
    pub available: bool,
    /// Available and not marked inactive (nobody needs a chat alert).
    pub active: bool,
    /// The dialogs whose rooms this session joined (XEP-0045 presence).
    #[serde(default)]
    pub rooms: Vec<String>,
}

/// The other nodes of the cluster, as the chat server uses them.
#[async_trait]
pub trait Peers: Send + Sync {
    fn node_id(&self) -> &str;

    /// Tells the other nodes that a session of this node appeared or changed, or (`gone`) ended.
    fn announce(&self, session: SessionState, gone: bool);

    /// Other nodes holding an available session of the user, or (with `resource`) the session bound to it.
    fn nodes_of(&self, app_id: i64, user_id: i64, resource: Option<&str>) -> Vec<NodeId>;

    /// The resources of the user's available sessions on other nodes.
    fn available_resources(&self, app_id: i64, user_id: i64) -> Vec<String>;

    /// Whether the user has an available session on another node.
    fn is_online(&self, app_id: i64, user_id: i64) -> bool;

    /// Whether the user has an active session on another node.
    fn is_active(&self, app_id: i64, user_id: i64) -> bool;

    /// Who joined a dialog's room through a session on another node: (node, user id) pairs.
    fn room_occupants(&self, app_id: i64, dialog_id: &str) -> Vec<(NodeId, i64)>;

    /// The app's users with a session (`available_only`: an available one) on other nodes.
    fn users(&self, app_id: i64, available_only: bool) -> Vec<i64>;

    /// Sends `payload` to one node without waiting for it; what one node posts to another arrives in order.
    fn post(&self, node: &str, payload: Vec<u8>);

    /// Sends `payload` to one node and waits for its answer; `None` when it did not answer in time (it is
    /// gone, or too slow to count on).
    async fn ask(&self, node: &str, payload: Vec<u8>) -> Option<Vec<u8>>;

    /// Sends `payload` to every other node.
    fn post_all(&self, payload: Vec<u8>);
}

/// What a node does with what the others send it (the chat server implements it).
#[async_trait]
pub trait PeerHandler: Send + Sync {
    /// Handles one payload; the answer goes back when the sender asked.
    async fn handle(&self, payload: &[u8]) -> Vec<u8>;

    /// A node was declared gone (no heartbeat within the node timeout) with these sessions. Called on one
    /// surviving node only, so what it does (telling contacts the users went offline) happens once.
    async fn node_lost(&self, _sessions: Vec<SessionState>) {}
}

/// A cached row that changed on one node, for the others to forget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheChange {
    User {
        app_id: i64,
        user_id: i64,
    },
    Dialog {
        dialog_id: String,
    },
    /// A message was saved: the dialog's last message is now this one (others update their copy in place
    /// instead of dropping it, so a busy dialog stays cached on every node).
    LastMessage {
        dialog_id: String,
        message_id: String,
        sender_id: i64,
        body: Option<String>,
        date_sent: i64,
        created_at: i64,
    },
    /// A dialog was deleted: it and every pair's private dialog.
    DialogDeleted {
        dialog_id: String,
    },
    /// Users were deleted: everything cached may name them.
    UsersDeleted,
    /// An app's push setting (chat alerts on/off, the template) changed.
    PushSetting {
        app_id: i64,
        name: String,
    },
}

/// Called with each change the store makes to a cached row.
pub type CacheListener = Arc<dyn Fn(CacheChange) + Send + Sync>;

/// A store whose rows other nodes of a cluster cache too (`Store` includes it).
pub trait SharedCache: Send + Sync {
    /// From now on `listener` hears of every change this store makes to a row it caches.
    fn on_cache_change(&self, _listener: CacheListener) {}
    /// Forgets what another node changed (without telling the listener).
    fn apply_remote_change(&self, _change: &CacheChange) {}
}
