//! Domain events: what one part of the server tells the others (the XMPP server ends chat sessions whose
//! login token was destroyed, for instance). In-process broadcast; subscribers that fall behind lose the
//! oldest events, never block the publisher.

use crate::model::ChatMessage;
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A REST session ended (logout, expiry purge); chat sessions that logged in with its token end too.
    SessionDestroyed { app_id: i64, session_id: i64 },
    /// An account was deleted; all its chat sessions end.
    UserDeleted { app_id: i64, user_id: i64 },
    /// An operator blocked an account; all its chat sessions end.
    UserBlocked { app_id: i64, user_id: i64 },
    /// A message created through REST with `send_to_chat=1`: deliver it in real time to `recipients`
    /// (every member but the sender) as if the sender had sent it over XMPP.
    MessageSent {
        message: ChatMessage,
        dialog_type: i64,
        recipients: Vec<i64>,
        markable: bool,
    },
    /// A message body changed through REST: recipients get an edit (`<replace/>`).
    MessageEdited {
        app_id: i64,
        dialog_id: String,
        message_id: String,
        editor_id: i64,
        body: String,
        recipients: Vec<i64>,
    },
    /// Messages were deleted for everyone through REST: recipients get `<remove/>` for each.
    MessagesDeleted {
        app_id: i64,
        dialog_id: String,
        message_ids: Vec<String>,
        by_user: i64,
        recipients: Vec<i64>,
    },
    /// Messages were marked read (or delivered) through REST: each sender gets the marker.
    MessagesMarked {
        app_id: i64,
        dialog_id: String,
        reader_id: i64,
        read: bool,
        marked: Vec<(i64, String)>,
    },
    /// A system message (REST `POST /chat/Message/system`): a headline to the recipient's sessions.
    SystemMessage {
        app_id: i64,
        sender_id: i64,
        recipient_id: i64,
        id: String,
        extension: serde_json::Map<String, serde_json::Value>,
    },
    /// Reactions changed on a message: its dialog's members get the update.
    ReactionsChanged {
        app_id: i64,
        dialog_id: String,
        message_id: String,
        user_id: i64,
        add: Option<String>,
        remove: Option<String>,
        recipients: Vec<i64>,
    },
    /// A chat message reached users who have no active session (offline, or every session marked
    /// inactive): the push dispatcher sends them chat alerts. `recipients` never includes the sender.
    ChatAlert {
        message: ChatMessage,
        dialog_type: i64,
        dialog_name: Option<String>,
        recipients: Vec<i64>,
        silent: bool,
    },
    /// Users left a dialog or were removed from it: their live sessions get the room's kick presence.
    OccupantsRemoved {
        app_id: i64,
        dialog_id: String,
        removed: Vec<i64>,
        by_user: i64,
    },
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            sender: broadcast::channel(capacity).0,
        }
    }

    /// Publishes to whoever listens now; nobody listening is fine.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024)
    }
}
