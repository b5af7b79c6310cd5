//! Who is online: every bound session of every user, with the queue that reaches it. The router and the
//! feature modules find recipients here.

use crate::queue::{self, QueueReceiver, QueueSender, TrySendError};
use crate::stream::Transport;
use crate::xml::Element;
use futures_util::task::AtomicWaker;
use palaver_core::cluster::{Peers, SessionState};
use palaver_proto::UserJid;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::task::Poll;

/// Something for a session to do on behalf of another part of the server. Boxed, so a queue's buffer
/// holds pointers, not elements.
#[derive(Debug)]
pub enum Command {
    /// Send this stanza (its `to` is already the session's full JID).
    Deliver(Box<Element>),
    /// A new connection asks to take this session over (XEP-0198 resumption).
    Resume(Box<ResumeRequest>),
    /// Stanzas were kept offline for this available session's user: hand them over. A session that
    /// became available while one was being kept may have looked for them before it was there.
    OfflineWaiting,
}

/// A resumption in flight (XEP-0198): the new connection and the client's `h`, for the session it resumes.
pub struct ResumeRequest {
    pub transport: Transport,
    pub h: u32,
    pub previd: String,
}

impl std::fmt::Debug for ResumeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeRequest")
            .field("h", &self.h)
            .field("previd", &self.previd)
            .finish()
    }
}

/// The handle other tasks use to reach a session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub id: u64,
    pub user: UserJid,
    pub resource: String,
    /// The REST session whose token this chat session logged in with, if any.
    pub token_session: Option<i64>,
    tx: QueueSender<Command>,
    state: Arc<SharedState>,
}

#[derive(Debug, Default)]
struct SharedState {
    /// Sent initial presence and not yet unavailable.
    available: AtomicBool,
    /// Marked inactive by the client (XEP-0352 CSI or ConnectyCube's `markInactive`): still connected,
    /// but counts as offline for chat alerts.
    inactive: AtomicBool,
    carbons: AtomicBool,
    /// Wakes the session's task, the one waiter of `killed`, when the session must end (slow consumer,
    /// token revoked, replaced). A waker, not a `Notify`: the session polls `killed` on every turn of
    /// its loop, and a `Notify`'s waiter is checked under its list's lock at each poll.
    kill: AtomicWaker,
    killed: AtomicBool,
    /// Why, when the reason is worth telling the client (the stream error's text).
    kill_reason: OnceLock<&'static str>,
    /// XEP-0198 id when the session can be resumed.
    resume_id: RwLock<Option<String>>,
    /// XEP-0016: the privacy list this session made active, if any (see `modules::privacy`).
    privacy_active: RwLock<Option<String>>,
    /// XEP-0191: the session asked for the blocklist, so it gets blocklist pushes.
    wants_blocklist: AtomicBool,
    /// The dialogs whose rooms the session joined (for the other nodes of a cluster).
    rooms: RwLock<Vec<String>>,
    /// In a cluster: the other nodes, told of this session's changes until it is unregistered.
    peers: Option<PeersRef>,
    unregistered: AtomicBool,
}

#[derive(Clone)]
struct PeersRef(Arc<dyn Peers>);

impl std::fmt::Debug for PeersRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Peers({})", self.0.node_id())
    }
}

/// The stream error text for a session closed because its client did not read fast enough.
pub const TOO_SLOW: &str = "Too slow to read: the server's queue of stanzas for this session is full";

pub enum Delivery {
    Queued,
    /// The session is gone or too slow; the stanza comes back.
    Failed(Element),
}

impl SessionHandle {
    pub fn is_available(&self) -> bool {
        self.state.available.load(Ordering::Acquire)
    }

    pub fn set_available(&self, available: bool) {
        self.state.available.store(available, Ordering::Release);
        self.announce();
    }

    pub fn set_inactive(&self, inactive: bool) {
        self.state.inactive.store(inactive, Ordering::Release);
        self.announce();
    }

    /// Tells the other nodes of a cluster how this session is now (nothing on a single node, or once
    /// the session has been unregistered).
    fn announce(&self) {
        let Some(PeersRef(peers)) = &self.state.peers else {
            return;
        };
        let gone = self.state.unregistered.load(Ordering::Acquire);
        if gone {
            return;
        }
        peers.announce(self.state_for_peers(), false);
    }

    fn state_for_peers(&self) -> SessionState {
        SessionState {
            app_id: self.user.app_id,
            user_id: self.user.user_id,
            resource: self.resource.clone(),
            available: self.is_available(),
            active: self.is_active(),
            rooms: self.state.rooms.read().expect("lock poisoned").clone(),
        }
    }

    /// Records that this session joined (`true`) or left a dialog's room, for the other nodes.
    pub fn set_in_room(&self, dialog_id: &str, joined: bool) {
        {
            let mut rooms = self.state.rooms.write().expect("lock poisoned");
            let was = rooms.iter().any(|r| r == dialog_id);
            if was == joined {
                return;
            }
            if joined {
                rooms.push(dialog_id.to_owned());
            } else {
                rooms.retain(|r| r != dialog_id);
            }
        }
        self.announce();
    }

    /// Available and not marked inactive: someone is looking at this session.
    pub fn is_active(&self) -> bool {
        self.is_available() && !self.state.inactive.load(Ordering::Acquire)
    }

    pub fn carbons(&self) -> bool {
        self.state.carbons.load(Ordering::Acquire)
    }

    pub fn set_carbons(&self, enabled: bool) {
        self.state.carbons.store(enabled, Ordering::Release);
    }

    /// Queues a stanza without waiting. A full queue means a slow consumer: the session is told to end
    /// (and that is logged once, however many stanzas fail until it has ended).
    pub fn deliver(&self, stanza: Element) -> Delivery {
        match self.tx.try_send(Command::Deliver(Box::new(stanza))) {
            Ok(()) => Delivery::Queued,
            Err(TrySendError::Full(Command::Deliver(stanza))) => {
                if self.kill_because(TOO_SLOW) {
                    tracing::warn!(user = %self.user, resource = %self.resource,
                        queue = self.tx.capacity(), "outbound queue full; closing slow session");
                }
                Delivery::Failed(*stanza)
            }
            Err(TrySendError::Closed(Command::Deliver(stanza))) => Delivery::Failed(*stanza),
            Err(_) => unreachable!("only Deliver commands are sent here"),
        }
    }

    /// Hands the session a command even when its queue is full (a resumption must not be refused for
    /// lack of room); the command comes back when the session has ended.
    pub fn command(&self, command: Command) -> Result<(), Command> {
        self.tx.send_past_limit(command)
    }

    pub fn kill(&self) {
        self.mark_killed();
    }

    /// Like `kill`, recording why (the first reason given wins). True only for the call that killed it.
    pub fn kill_because(&self, reason: &'static str) -> bool {
        let _ = self.state.kill_reason.set(reason);
        self.mark_killed()
    }

    /// Sets the flag, then wakes the session (`killed` looks at the flag after registering its waker).
    /// True only for the call that set it.
    fn mark_killed(&self) -> bool {
        let first = !self.state.killed.swap(true, Ordering::AcqRel);
        self.state.kill.wake();
        first
    }

    /// Why the session was killed, when a reason was given (see `kill_because`).
    pub fn kill_reason(&self) -> Option<&'static str> {
        self.state.kill_reason.get().copied()
    }

    pub fn is_killed(&self) -> bool {
        self.state.killed.load(Ordering::Acquire)
    }

    /// Resolves when `kill` is called. For the session's own task only: one waiter at a time.
    pub async fn killed(&self) {
        std::future::poll_fn(|cx| {
            // Registered before looking, so a kill in between wakes this task.
            self.state.kill.register(cx.waker());
            match self.is_killed() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }

    pub fn full_jid(&self, domain: &str) -> String {
        self.user.full(domain, &self.resource)
    }

    pub fn set_resume_id(&self, id: Option<String>) {
        *self.state.resume_id.write().expect("lock poisoned") = id;
    }

    pub fn resume_id(&self) -> Option<String> {
        self.state.resume_id.read().expect("lock poisoned").clone()
    }

    pub fn privacy_active(&self) -> Option<String> {
        self.state.privacy_active.read().expect("lock poisoned").clone()
    }

    pub fn set_privacy_active(&self, name: Option<String>) {
        *self.state.privacy_active.write().expect("lock poisoned") = name;
    }

    pub fn wants_blocklist(&self) -> bool {
        self.state.wants_blocklist.load(Ordering::Acquire)
    }

    pub fn set_wants_blocklist(&self) {
        self.state.wants_blocklist.store(true, Ordering::Release);
    }
}

/// The live sessions of this node, and in a cluster what the other nodes announced of theirs.
#[derive(Default)]
pub struct Registry {
    /// Looked up several times for every message: hashed with foldhash, not SipHash (user ids are
    /// assigned by the server, so nobody can choose them to collide).
    users: RwLock<foldhash::HashMap<UserJid, Vec<SessionHandle>>>,
    next_id: AtomicU64,
    peers: OnceLock<Arc<dyn Peers>>,
}

impl Registry {
    /// Makes this node a member of a cluster: sessions registered from now on are announced to `peers`,
    /// and the presence questions below count the other nodes' sessions too.
    pub fn join_cluster(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The other nodes, in a cluster.
    pub fn peers(&self) -> Option<&Arc<dyn Peers>> {
        self.peers.get()
    }

    /// Registers a freshly bound session; returns its handle and the receiving end of its queue.
    pub fn register(
        &self,
        user: UserJid,
        resource: String,
        token_session: Option<i64>,
        queue: usize,
    ) -> (SessionHandle, QueueReceiver<Command>) {
        let (tx, rx) = queue::bounded(queue);
        let handle = SessionHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            user,
            resource,
            token_session,
            tx,
            state: Arc::new(SharedState {
                peers: self.peers.get().cloned().map(PeersRef),
                ..SharedState::default()
            }),
        };
        // Most users have one session: room for exactly one (a growing `Vec` would reserve four).
        self.users
            .write()
            .expect("lock poisoned")
            .entry(user)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(handle.clone());
        handle.announce();
        (handle, rx)
    }

    pub fn unregister(&self, handle: &SessionHandle) {
        {
            let mut users = self.users.write().expect("lock poisoned");
            if let Some(sessions) = users.get_mut(&handle.user) {
                sessions.retain(|s| s.id != handle.id);
                if sessions.is_empty() {
                    users.remove(&handle.user);
                }
            }
        }
        if !handle.state.unregistered.swap(true, Ordering::AcqRel) {
            if let Some(PeersRef(peers)) = &handle.state.peers {
                peers.announce(handle.state_for_peers(), true);
            }
        }
    }

    /// Runs `f` on the user's sessions under the registry's read lock, without copying them: for the hot
    /// paths (routing, carbons, presence checks). `f` must not block or call back into the registry.
    pub fn with_sessions<R>(&self, user: UserJid, f: impl FnOnce(&[SessionHandle]) -> R) -> R {
        let users = self.users.read().expect("lock poisoned");
        f(users.get(&user).map(Vec::as_slice).unwrap_or_default())
    }

    pub fn sessions(&self, user: UserJid) -> Vec<SessionHandle> {
        self.users
            .read()
            .expect("lock poisoned")
            .get(&user)
            .cloned()
            .unwrap_or_default()
    }

    pub fn session(&self, user: UserJid, resource: &str) -> Option<SessionHandle> {
        self.sessions(user).into_iter().find(|s| s.resource == resource)
    }

    /// The session that offered resumption under `resume_id`.
    pub fn resumable(&self, user: UserJid, resume_id: &str) -> Option<SessionHandle> {
        self.sessions(user)
            .into_iter()
            .find(|s| s.resume_id().as_deref() == Some(resume_id))
    }

    /// Whether a user has a session that is available and active (chat alerts go to users without one),
    /// on this node or another.
    pub fn is_active(&self, user: UserJid) -> bool {
        self.with_sessions(user, |sessions| sessions.iter().any(SessionHandle::is_active))
            || self
                .peers
                .get()
                .is_some_and(|p| p.is_active(user.app_id, user.user_id))
    }

    /// Whether a user has an available session, on this node or another.
    pub fn is_online(&self, user: UserJid) -> bool {
        self.with_sessions(user, |sessions| sessions.iter().any(SessionHandle::is_available))
            || self
                .peers
                .get()
                .is_some_and(|p| p.is_online(user.app_id, user.user_id))
    }

    /// The full JIDs of the user's available sessions, on this node and the others.
    pub fn available_jids(&self, user: UserJid, domain: &str) -> Vec<String> {
        let mut jids: Vec<String> = self.with_sessions(user, |sessions| {
            sessions
                .iter()
                .filter(|s| s.is_available())
                .map(|s| s.full_jid(domain))
                .collect()
        });
        if let Some(peers) = self.peers.get() {
            let bare = user.bare(domain);
            jids.extend(
                peers
                    .available_resources(user.app_id, user.user_id)
                    .into_iter()
                    .map(|resource| format!("{bare}/{resource}")),
            );
        }
        jids
    }

    /// The app's users with a session (`available_only`: an available one) on any node, ascending.
    pub fn app_users(&self, app_id: i64, available_only: bool) -> Vec<i64> {
        let mut users: Vec<i64> = self
            .all()
            .into_iter()
            .filter(|s| s.user.app_id == app_id && (!available_only || s.is_available()))
            .map(|s| s.user.user_id)
            .collect();
        if let Some(peers) = self.peers.get() {
            users.extend(peers.users(app_id, available_only));
        }
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Every user of an app with a session, on any node.
    pub fn app_users_online(&self, app_id: i64) -> Vec<UserJid> {
        self.app_users(app_id, false)
            .into_iter()
            .map(|user_id| UserJid { user_id, app_id })
            .collect()
    }

    /// Every session, for shutdown and token revocation.
    pub fn all(&self) -> Vec<SessionHandle> {
        self.users
            .read()
            .expect("lock poisoned")
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    pub fn count(&self) -> usize {
        self.users
            .read()
            .expect("lock poisoned")
            .values()
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn killed_wakes_its_waiter_once_killed_even_after_a_wait_given_up() {
        let registry = Registry::default();
        let user = UserJid {
            user_id: 7,
            app_id: 1,
        };
        let (handle, _rx) = registry.register(user, "res".into(), None, 1);
        let given_up = tokio::time::timeout(std::time::Duration::from_millis(5), handle.killed()).await;
        assert!(given_up.is_err(), "not killed yet");
        let killer = handle.clone();
        let kill = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            killer.kill_because("replaced")
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), handle.killed())
            .await
            .expect("the kill wakes the waiting task");
        assert!(kill.await.unwrap(), "the first kill");
        assert_eq!(handle.kill_reason(), Some("replaced"));
        handle.killed().await;
    }

    #[tokio::test]
    async fn sessions_register_deliver_and_leave() {
        let registry = Registry::default();
        let user = UserJid {
            user_id: 5,
            app_id: 1,
        };
        let (a, mut rx_a) = registry.register(user, "res-a".into(), None, 1);
        let (b, _rx_b) = registry.register(user, "res-b".into(), None, 1);
        assert_eq!(registry.count(), 2);
        assert!(!registry.is_online(user));
        a.set_available(true);
        assert!(registry.is_online(user));
        assert_eq!(registry.session(user, "res-b").unwrap().id, b.id);

        assert!(matches!(
            a.deliver(crate::xml::element("message", crate::ns::CLIENT)),
            Delivery::Queued
        ));
        // The queue holds one: the next one finds it full and marks the session slow.
        assert!(matches!(
            a.deliver(crate::xml::element("message", crate::ns::CLIENT)),
            Delivery::Failed(_)
        ));
        assert!(a.is_killed());
        assert_eq!(a.kill_reason(), Some(TOO_SLOW));
        // Later ones fail too, without killing it again.
        assert!(matches!(
            a.deliver(crate::xml::element("message", crate::ns::CLIENT)),
            Delivery::Failed(_)
        ));
        assert!(!a.kill_because(TOO_SLOW));
        assert_eq!(b.kill_reason(), None);
        assert!(matches!(rx_a.recv().await, Some(Command::Deliver(_))));

        registry.unregister(&a);
        registry.unregister(&b);
        assert_eq!(registry.count(), 0);
        assert!(registry.sessions(user).is_empty());
    }
}
