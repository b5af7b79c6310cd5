//! What the message path reads for every message, kept in memory: users, dialogs (type, occupants,
//! admins, owner, last message), the private dialog of each pair, and apps' push settings (whether
//! chat alerts are on is asked for every message to someone offline). Bounded in size (entries beyond the
//! capacity are evicted), and kept equal to the database by the store's own writes: every method that
//! changes a cached row invalidates or updates it after its transaction commits.
//!
//! A miss loads from the database and fills the entry, unless something changed meanwhile: fills and
//! invalidations take one lock and a generation counter, so a load that raced with a change is never
//! cached. Reads take no lock.

use palaver_core::cluster::{CacheChange, CacheListener};
use palaver_core::model::{ChatMessage, Dialog, User};
use quick_cache::sync::Cache;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Entries per kind.
const USERS: usize = 200_000;
const DIALOGS: usize = 200_000;
const PAIRS: usize = 200_000;
const PUSH_SETTINGS: usize = 10_000;

/// One kind of cached row.
pub(crate) struct Cached<K, V> {
    entries: Cache<K, V>,
    generation: AtomicU64,
    changes: Mutex<()>,
}

impl<K: Eq + Hash + Clone, V: Clone> Cached<K, V> {
    fn new(capacity: usize) -> Cached<K, V> {
        Cached {
            entries: Cache::new(capacity),
            generation: AtomicU64::new(0),
            changes: Mutex::new(()),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.entries.get(key)
    }

    /// Read before loading from the database; hand it back to `fill`.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what was loaded when the generation was `seen`, unless something changed since.
    pub(crate) fn fill(&self, seen: u64, key: K, value: V) {
        let _changes = self.changes.lock().expect("lock poisoned");
        if self.generation.load(Ordering::Acquire) == seen {
            self.entries.insert(key, value);
        }
    }

    /// Caches a value known to be right whatever changed meanwhile (one this node has just decided).
    pub(crate) fn insert(&self, key: K, value: V) {
        let _changes = self.changes.lock().expect("lock poisoned");
        self.entries.insert(key, value);
    }

    pub(crate) fn remove(&self, key: &K) {
        let _changes = self.changes.lock().expect("lock poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(key);
    }

    pub(crate) fn clear(&self) {
        let _changes = self.changes.lock().expect("lock poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    /// Replaces a cached entry with `change` applied to it; nothing when it is not cached.
    fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        let _changes = self.changes.lock().expect("lock poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(mut value) = self.entries.get(key) {
            change(&mut value);
            self.entries.insert(key.clone(), value);
        }
    }
}

pub(crate) struct StoreCache {
    /// (app_id, user_id) -> the user.
    pub(crate) users: Cached<(i64, i64), Arc<User>>,
    /// dialog id -> the dialog (its app is checked by the reader).
    pub(crate) dialogs: Cached<String, Arc<Dialog>>,
    /// (app_id, lower user id, higher user id) -> the pair's private dialog id.
    pub(crate) pairs: Cached<(i64, i64, i64), String>,
    /// (app_id, setting name) -> its stored value (None: not set, the default applies).
    pub(crate) push_settings: Cached<(i64, String), Option<String>>,
    /// Hears of every change (other nodes of a cluster forget the same rows).
    listener: OnceLock<CacheListener>,
}

impl Default for StoreCache {
    fn default() -> Self {
        StoreCache {
            users: Cached::new(USERS),
            dialogs: Cached::new(DIALOGS),
            pairs: Cached::new(PAIRS),
            push_settings: Cached::new(PUSH_SETTINGS),
            listener: OnceLock::new(),
        }
    }
}

impl StoreCache {
    pub(crate) fn pair_key(app_id: i64, a: i64, b: i64) -> (i64, i64, i64) {
        (app_id, a.min(b), a.max(b))
    }

    pub(crate) fn set_listener(&self, listener: CacheListener) {
        let _ = self.listener.set(listener);
    }

    fn tell(&self, change: CacheChange) {
        if let Some(listener) = self.listener.get() {
            listener(change);
        }
    }

    /// A user row changed.
    pub(crate) fn user_changed(&self, app_id: i64, user_id: i64) {
        self.users.remove(&(app_id, user_id));
        self.tell(CacheChange::User { app_id, user_id });
    }

    /// A dialog row (or its members) changed.
    pub(crate) fn dialog_changed(&self, dialog_id: &str) {
        self.dialogs.remove(&dialog_id.to_owned());
        self.tell(CacheChange::Dialog {
            dialog_id: dialog_id.to_owned(),
        });
    }

    /// An app's push setting changed.
    pub(crate) fn push_setting_changed(&self, app_id: i64, name: &str) {
        self.push_settings.remove(&(app_id, name.to_owned()));
        self.tell(CacheChange::PushSetting {
            app_id,
            name: name.to_owned(),
        });
    }

    /// Another node changed a row: forget it here, telling nobody.
    pub(crate) fn forget(&self, change: &CacheChange) {
        match change {
            CacheChange::User { app_id, user_id } => self.users.remove(&(*app_id, *user_id)),
            CacheChange::Dialog { dialog_id } => self.dialogs.remove(dialog_id),
            CacheChange::LastMessage { .. } => self.set_last_message(change),
            CacheChange::DialogDeleted { dialog_id } => {
                self.dialogs.remove(dialog_id);
                self.pairs.clear();
            }
            CacheChange::UsersDeleted => self.forget_all(),
            CacheChange::PushSetting { app_id, name } => self.push_settings.remove(&(*app_id, name.clone())),
        }
    }

    fn forget_all(&self) {
        self.users.clear();
        self.dialogs.clear();
        self.pairs.clear();
        self.push_settings.clear();
    }

    /// A message was added to history: the dialog's last message is now this one, as the database has it.
    pub(crate) fn message_saved(&self, m: &ChatMessage) {
        let change = CacheChange::LastMessage {
            dialog_id: m.dialog_id.clone(),
            message_id: m.id.clone(),
            sender_id: m.sender_id,
            body: m.body.clone(),
            date_sent: m.date_sent,
            created_at: m.created_at,
        };
        self.set_last_message(&change);
        if self.listener.get().is_some() {
            self.tell(change);
        }
    }

    fn set_last_message(&self, change: &CacheChange) {
        let CacheChange::LastMessage {
            dialog_id,
            message_id,
            sender_id,
            body,
            date_sent,
            created_at,
        } = change
        else {
            return;
        };
        self.dialogs.update(dialog_id, |dialog| {
            let dialog = Arc::make_mut(dialog);
            dialog.last_message = body.clone();
            dialog.last_message_id = Some(message_id.clone());
            dialog.last_message_user_id = Some(*sender_id);
            dialog.last_message_date_sent = Some(*date_sent);
            dialog.updated_at = *created_at;
        });
    }

    /// A dialog was deleted: it and any pair pointing at it go.
    pub(crate) fn dialog_deleted(&self, dialog_id: &str) {
        self.dialogs.remove(&dialog_id.to_owned());
        self.pairs.clear();
        self.tell(CacheChange::DialogDeleted {
            dialog_id: dialog_id.to_owned(),
        });
    }

    /// Users were deleted: their member rows went with them, in any dialog.
    pub(crate) fn users_deleted(&self) {
        self.forget_all();
        self.tell(CacheChange::UsersDeleted);
    }
}
