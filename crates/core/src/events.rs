//! Domain events: what one part of the server tells the others. REST-sent messages, edits, marks and
//! deletes reach the XMPP sessions this way, chat alerts reach the push dispatcher, and a destroyed login
//! ends the chat sessions that used it.
//!
//! Nothing is ever dropped: each subscriber has a bounded queue of its own, and a publisher whose
//! subscriber is behind waits for room (back-pressure) instead of the event being lost. Subscribers name
//! the events they take, so one that publishes (the XMPP server raises chat alerts) never waits on its
//! own queue.

use crate::model::{ChatMessage, DialogType};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

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
        dialog_type: DialogType,
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
        dialog_type: DialogType,
        dialog_name: Option<String>,
        recipients: Vec<i64>,
        silent: bool,
    },
    /// An operator asked for a test chat alert: the push dispatcher sends one, rendered with the app's
    /// template, to every device of the user (whether chat alerts are on or not). `id` makes it unique.
    ChatAlertTest {
        app_id: i64,
        user_id: i64,
        id: String,
        text: String,
    },
    /// Users left a dialog or were removed from it: their live sessions get the room's kick presence.
    OccupantsRemoved {
        app_id: i64,
        dialog_id: String,
        removed: Vec<i64>,
        by_user: i64,
    },
}

/// Which events a subscriber takes.
pub type Interest = fn(&Event) -> bool;

/// Every event.
pub fn everything(_: &Event) -> bool {
    true
}

/// The receiving end of a subscription.
pub type EventReceiver = mpsc::Receiver<Event>;

struct Subscriber {
    interest: Interest,
    queue: mpsc::Sender<Event>,
}

#[derive(Clone)]
pub struct EventBus {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
    capacity: usize,
}

impl EventBus {
    /// Each subscriber's queue holds `capacity` events before publishers wait.
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            subscribers: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    /// Hands the event to every subscriber that takes it, waiting for room in each queue. Nobody
    /// listening is fine; a subscriber that went away is forgotten.
    pub async fn publish(&self, event: Event) {
        let targets: Vec<mpsc::Sender<Event>> = self
            .subscribers
            .read()
            .expect("lock poisoned")
            .iter()
            .filter(|s| (s.interest)(&event))
            .map(|s| s.queue.clone())
            .collect();
        let mut gone = false;
        for target in targets {
            gone |= target.send(event.clone()).await.is_err();
        }
        if gone {
            self.subscribers
                .write()
                .expect("lock poisoned")
                .retain(|s| !s.queue.is_closed());
        }
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> EventReceiver {
        self.subscribe_to(everything)
    }

    /// The events `interest` takes, published from now on.
    pub fn subscribe_to(&self, interest: Interest) -> EventReceiver {
        let (queue, receiver) = mpsc::channel(self.capacity);
        self.subscribers
            .write()
            .expect("lock poisoned")
            .push(Subscriber { interest, queue });
        receiver
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destroyed(n: i64) -> Event {
        Event::SessionDestroyed {
            app_id: 1,
            session_id: n,
        }
    }

    #[tokio::test]
    async fn a_slow_subscriber_holds_the_publisher_back_and_loses_nothing() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        let mut alerts_only = bus.subscribe_to(|e| matches!(e, Event::ChatAlert { .. }));
        let publisher = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for n in 0..1000 {
                    bus.publish(destroyed(n)).await;
                }
            })
        };
        for n in 0..1000 {
            assert_eq!(slow.recv().await, Some(destroyed(n)));
            if n % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        publisher.await.unwrap();
        assert!(alerts_only.try_recv().is_err(), "it takes no other events");
        drop(slow);
        // A subscriber that went away no longer holds anyone back.
        for n in 0..10 {
            bus.publish(destroyed(n)).await;
        }
        assert_eq!(bus.subscribers.read().unwrap().len(), 1);
    }
}
