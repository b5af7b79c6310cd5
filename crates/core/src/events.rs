//! Domain events: what one part of the server tells the others (the XMPP server ends chat sessions whose
//! login token was destroyed, for instance). In-process broadcast; subscribers that fall behind lose the
//! oldest events, never block the publisher.

use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A REST session ended (logout, expiry purge); chat sessions that logged in with its token end too.
    SessionDestroyed { app_id: i64, session_id: i64 },
    /// An account was deleted; all its chat sessions end.
    UserDeleted { app_id: i64, user_id: i64 },
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
