//! Who is online, as the chat server knows it, for the REST calls that ask (`GET /users/online`). The
//! chat server registers itself at start-up; until then (or in a process without one) nobody is online.

use std::sync::{Arc, RwLock};

pub trait OnlineDirectory: Send + Sync {
    /// Ids of the app's users with an available chat session, ascending.
    fn online_users(&self, app_id: i64) -> Vec<i64>;
    /// Whether the user has a chat session that is available and not marked inactive: someone is
    /// looking at it, so chat alerts are not needed.
    fn is_active(&self, app_id: i64, user_id: i64) -> bool;
}

#[derive(Default)]
pub struct Online {
    directory: RwLock<Option<Arc<dyn OnlineDirectory>>>,
}

impl Online {
    pub fn register(&self, directory: Arc<dyn OnlineDirectory>) {
        *self.directory.write().expect("lock poisoned") = Some(directory);
    }

    pub fn is_active(&self, app_id: i64, user_id: i64) -> bool {
        match self.directory.read().expect("lock poisoned").as_ref() {
            Some(directory) => directory.is_active(app_id, user_id),
            None => false,
        }
    }

    pub fn users(&self, app_id: i64) -> Vec<i64> {
        match self.directory.read().expect("lock poisoned").as_ref() {
            Some(directory) => directory.online_users(app_id),
            None => Vec::new(),
        }
    }
}
