//! Who follows whose online status (ConnectyCube's status streaming), per session: the last-activity
//! module's state, owned by the dispatcher.

use palaver_proto::UserJid;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// Who follows whose status: target → (watcher, watcher's session).
#[derive(Default)]
pub struct StatusWatchers {
    watchers: RwLock<HashMap<UserJid, HashSet<(UserJid, u64)>>>,
}

impl StatusWatchers {
    pub fn set(&self, target: UserJid, watcher: (UserJid, u64), enable: bool) {
        let mut map = self.watchers.write().expect("lock poisoned");
        if enable {
            map.entry(target).or_default().insert(watcher);
        } else if let Some(set) = map.get_mut(&target) {
            set.remove(&watcher);
            if set.is_empty() {
                map.remove(&target);
            }
        }
    }

    pub fn of(&self, target: UserJid) -> Vec<(UserJid, u64)> {
        self.watchers
            .read()
            .expect("lock poisoned")
            .get(&target)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Subscriptions are per session: they go when it does.
    pub fn session_ended(&self, session: u64) {
        let mut map = self.watchers.write().expect("lock poisoned");
        map.retain(|_, set| {
            set.retain(|(_, s)| *s != session);
            !set.is_empty()
        });
    }
}
