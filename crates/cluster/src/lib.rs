//! A node of a Palaver cluster: several equal nodes on one PostgreSQL database, talking over NATS.
//!
//! - The session directory (`directory.rs`): each node announces its sessions as they appear, change
//!   and end, and publishes all of them as its heartbeat; every node keeps a replica of the others'. A
//!   node not heard of for the node timeout is forgotten with its sessions, and a restarted node comes
//!   back under a new id, so no stale session outlives its node by more than the timeout.
//! - Delivery between nodes (`Peers::post`, `Peers::ask`): payloads on the receiving node's own subject,
//!   handed to its `PeerHandler` (the chat server) in arrival order; `ask` waits for the answer at most the
//!   request timeout, so a dead or stuck node makes the sender fall back (offline store, chat alert).
//! - Cache invalidation: the store's changes to cached rows are published, and the other nodes forget them.
//!
//! A NATS outage stops all of that: the client reconnects by itself, posts queue up to a bound (beyond
//! it they are dropped, with a warning), the replicas expire the silent nodes (so messages go to the offline
//! store instead of nowhere) and the heartbeats rebuild them once NATS is back.

mod directory;
mod wire;

pub use directory::Directory;
pub use wire::Announcement;

use async_trait::async_trait;
use futures_util::StreamExt;
use palaver_core::cluster::{CacheChange, NodeId, PeerHandler, Peers, SessionState};
use palaver_core::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use wire::{Broadcast, CacheNotice, Subjects};

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `nats://host:port` (comma-separated for several servers).
    pub nats_url: String,
    /// This node's name (the id adds a random incarnation to it).
    pub node_name: String,
    /// Every subject starts with it: clusters sharing a NATS server need different prefixes.
    pub prefix: String,
    /// A node not heard of for this long is declared gone, with all its sessions.
    pub node_timeout: Duration,
    /// How long a node waits for another to take a stanza before it falls back to the offline store.
    pub request_timeout: Duration,
}

impl ClusterConfig {
    /// Heartbeats come four times per node timeout, so one or two lost ones declare nobody dead.
    pub fn heartbeat(&self) -> Duration {
        (self.node_timeout / 4).max(Duration::from_millis(50))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("NATS: {0}")]
    Nats(String),
}

/// Posts waiting for the publisher task; beyond this (NATS unreachable for long) they are dropped.
const OUTBOX: usize = 65_536;

/// What waits in the outbox for the publisher task.
enum Outgoing {
    /// A publication: subject and payload.
    Publish(String, Vec<u8>),
    /// Told once everything queued before it went to the NATS client: an ask waits for it, so it leaves
    /// after the posts made before it (a group message after the typing notice that preceded it).
    Mark(tokio::sync::oneshot::Sender<()>),
}

/// This node's membership: implements `Peers` for the chat server.
pub struct Cluster {
    id: NodeId,
    config: ClusterConfig,
    subjects: Subjects,
    client: async_nats::Client,
    outbox: mpsc::Sender<Outgoing>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// This node's own sessions, as announced (the heartbeat publishes them all).
    local: Mutex<HashMap<(i64, i64, String), SessionState>>,
    directory: RwLock<Directory>,
    /// The chat server, once started (told of nodes found dead).
    handler: std::sync::OnceLock<Arc<dyn PeerHandler>>,
}

impl Cluster {
    /// Connects to NATS; nothing is subscribed or announced until `start`.
    pub async fn connect(config: ClusterConfig) -> Result<Arc<Cluster>, ClusterError> {
        let id = wire::node_id(&config.node_name);
        let options = async_nats::ConnectOptions::new()
            .name(format!("palaver {id}"))
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(config.request_timeout))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("NATS connection back"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("NATS connection lost; reconnecting")
                    }
                    other => tracing::warn!(event = %other, "NATS"),
                }
            });
        let client = async_nats::connect_with_options(config.nats_url.as_str(), options)
            .await
            .map_err(|e| ClusterError::Connect {
                url: config.nats_url.clone(),
                reason: e.to_string(),
            })?;
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        Ok(Arc::new(Cluster {
            id,
            subjects: Subjects::new(&config.prefix),
            config,
            client,
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            local: Mutex::default(),
            directory: RwLock::default(),
            handler: std::sync::OnceLock::new(),
        }))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Subscribes, says hello, and runs the directory, the deliveries to `handler` and the cache
    /// invalidation of `store` until `stopped`; then says goodbye.
    pub async fn start(
        self: &Arc<Self>,
        handler: Arc<dyn PeerHandler>,
        store: Arc<dyn Store>,
        stopped: watch::Receiver<bool>,
    ) -> Result<tokio::task::JoinHandle<()>, ClusterError> {
        let nats = |e: async_nats::SubscribeError| ClusterError::Nats(e.to_string());
        let directory = self
            .client
            .subscribe(self.subjects.directory())
            .await
            .map_err(nats)?;
        let mine = self
            .client
            .subscribe(self.subjects.node(&self.id))
            .await
            .map_err(nats)?;
        let all = self.client.subscribe(self.subjects.all()).await.map_err(nats)?;
        let cache = self.client.subscribe(self.subjects.cache()).await.map_err(nats)?;
        // The subscriptions are in place at the server before anyone is told this node exists.
        self.client
            .flush()
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))?;

        {
            let me = self.clone();
            store.on_cache_change(Arc::new(move |change: CacheChange| {
                let notice = CacheNotice {
                    node: me.id.clone(),
                    change,
                };
                me.enqueue(me.subjects.cache(), json(&notice));
            }));
        }
        let outbox = self
            .outbox_rx
            .lock()
            .expect("lock poisoned")
            .take()
            .expect("started once");
        let _ = self.handler.set(handler.clone());
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().publish(outbox));
        tasks.spawn(self.clone().follow_directory(directory));
        tasks.spawn(self.clone().serve(mine, handler.clone()));
        tasks.spawn(self.clone().serve_broadcasts(all, handler.clone()));
        tasks.spawn(self.clone().follow_cache(cache, store));
        self.enqueue(
            self.subjects.directory(),
            json(&Announcement::Hello {
                node: self.id.clone(),
            }),
        );
        self.snapshot();
        tracing::info!(node = %self.id, prefix = %self.config.prefix,
            timeout_ms = self.config.node_timeout.as_millis() as u64, "joined the cluster");

        let me = self.clone();
        Ok(tokio::spawn(async move {
            me.heartbeat(handler.as_ref(), stopped).await;
            let bye = json(&Announcement::Bye { node: me.id.clone() });
            let _ = me.client.publish(me.subjects.directory(), bye.into()).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), me.client.flush()).await;
            tasks.abort_all();
            tracing::info!(node = %me.id, "left the cluster");
        }))
    }

    /// Queues a publication; the publisher task sends them in order.
    fn enqueue(&self, subject: String, payload: Vec<u8>) {
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.outbox.try_send(Outgoing::Publish(subject, payload))
        {
            tracing::warn!("NATS outbox full; a post to another node was dropped");
        }
    }

    async fn publish(self: Arc<Self>, mut outbox: mpsc::Receiver<Outgoing>) {
        while let Some(outgoing) = outbox.recv().await {
            match outgoing {
                Outgoing::Publish(subject, payload) => {
                    if let Err(error) = self.client.publish(subject, payload.into()).await {
                        tracing::warn!(%error, "publishing to NATS failed");
                    }
                }
                Outgoing::Mark(passed) => {
                    let _ = passed.send(());
                }
            }
        }
    }

    /// Publishes every session of this node (under the lock, so it is ordered with the announcements).
    fn snapshot(&self) {
        let local = self.local.lock().expect("lock poisoned");
        let snapshot = Announcement::Snapshot {
            node: self.id.clone(),
            sessions: local.values().cloned().collect(),
        };
        self.enqueue(self.subjects.directory(), json(&snapshot));
    }

    async fn heartbeat(&self, handler: &dyn PeerHandler, mut stopped: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.heartbeat());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => return,
            }
            self.snapshot();
            let (gone, first) = {
                let mut directory = self.directory.write().expect("lock poisoned");
                let gone = directory.expire(Instant::now(), self.config.node_timeout);
                (gone, self.speaks_for_the_dead(&directory))
            };
            for (node, sessions) in gone {
                tracing::warn!(%node, sessions = sessions.len(),
                    "node declared gone: not heard of within the node timeout");
                if first && !sessions.is_empty() {
                    handler.node_lost(sessions).await;
                }
            }
        }
    }

    /// The survivor with the smallest id speaks for a dead node's sessions, so that happens once.
    fn speaks_for_the_dead(&self, directory: &Directory) -> bool {
        directory
            .nodes()
            .iter()
            .all(|node| node.as_str() > self.id.as_str())
    }

    /// NATS says nobody listens on a node's subject: its connection is gone (crash, or cut off from
    /// NATS), so it is declared gone now rather than after the node timeout. If it is alive after all,
    /// its next heartbeat brings it back.
    fn nobody_at(&self, node: &str) {
        let (sessions, first) = {
            let mut directory = self.directory.write().expect("lock poisoned");
            let sessions = directory.remove(node);
            (sessions, self.speaks_for_the_dead(&directory))
        };
        let Some(sessions) = sessions else {
            return;
        };
        tracing::warn!(%node, sessions = sessions.len(), "node declared gone: nobody listens for it on NATS");
        if let (true, false, Some(handler)) = (first, sessions.is_empty(), self.handler.get()) {
            let handler = handler.clone();
            tokio::spawn(async move { handler.node_lost(sessions).await });
        }
    }

    async fn follow_directory(self: Arc<Self>, mut messages: async_nats::Subscriber) {
        while let Some(message) = messages.next().await {
            let Ok(announcement) = serde_json::from_slice::<Announcement>(&message.payload) else {
                tracing::warn!("unreadable directory announcement");
                continue;
            };
            let from = match &announcement {
                Announcement::Hello { node }
                | Announcement::Session { node, .. }
                | Announcement::Snapshot { node, .. }
                | Announcement::Bye { node } => node.clone(),
            };
            if from == self.id {
                continue;
            }
            let hello = matches!(announcement, Announcement::Hello { .. });
            let bye = matches!(announcement, Announcement::Bye { .. });
            self.directory
                .write()
                .expect("lock poisoned")
                .apply(announcement, Instant::now());
            if hello {
                tracing::info!(node = %from, "node joined");
                self.snapshot();
            } else if bye {
                tracing::info!(node = %from, "node left");
            }
        }
    }

    async fn serve(self: Arc<Self>, mut messages: async_nats::Subscriber, handler: Arc<dyn PeerHandler>) {
        while let Some(message) = messages.next().await {
            // An ask that arrives after its sender stopped waiting (it sat in a NATS client's buffer
            // through an outage) was already kept offline there: handling it now would deliver it twice.
            if let Some(deadline) = message
                .headers
                .as_ref()
                .and_then(|h| h.get(DEADLINE_HEADER))
                .and_then(|v| v.as_str().parse::<u128>().ok())
            {
                if unix_millis() > deadline {
                    tracing::warn!("dropped an ask that arrived after its sender gave up");
                    continue;
                }
            }
            let answer = handler.handle(&message.payload).await;
            if let Some(reply) = message.reply {
                if let Err(error) = self.client.publish(reply, answer.into()).await {
                    tracing::warn!(%error, "answering another node failed");
                }
            }
        }
    }

    async fn serve_broadcasts(
        self: Arc<Self>,
        mut messages: async_nats::Subscriber,
        handler: Arc<dyn PeerHandler>,
    ) {
        while let Some(message) = messages.next().await {
            match serde_json::from_slice::<Broadcast>(&message.payload) {
                Ok(broadcast) if broadcast.node != self.id => {
                    handler.handle(&broadcast.payload).await;
                }
                Ok(_) => {}
                Err(_) => tracing::warn!("unreadable broadcast"),
            }
        }
    }

    async fn follow_cache(self: Arc<Self>, mut messages: async_nats::Subscriber, store: Arc<dyn Store>) {
        while let Some(message) = messages.next().await {
            match serde_json::from_slice::<CacheNotice>(&message.payload) {
                Ok(notice) if notice.node != self.id => store.apply_remote_change(&notice.change),
                Ok(_) => {}
                Err(_) => tracing::warn!("unreadable cache notice"),
            }
        }
    }
}

/// On an ask: when (Unix milliseconds) its sender stops waiting for the answer.
const DEADLINE_HEADER: &str = "Palaver-Deadline";

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("cluster messages serialize")
}

#[async_trait]
impl Peers for Cluster {
    fn node_id(&self) -> &str {
        &self.id
    }

    fn announce(&self, session: SessionState, gone: bool) {
        let mut local = self.local.lock().expect("lock poisoned");
        let key = (session.app_id, session.user_id, session.resource.clone());
        if gone {
            local.remove(&key);
        } else if local.get(&key) == Some(&session) {
            return;
        } else {
            local.insert(key, session.clone());
        }
        let announcement = Announcement::Session {
            node: self.id.clone(),
            session,
            gone,
        };
        // Under the lock: announcements and snapshots leave in the order they were made.
        self.enqueue(self.subjects.directory(), json(&announcement));
    }

    fn nodes_of(&self, app_id: i64, user_id: i64, resource: Option<&str>) -> Vec<NodeId> {
        self.directory
            .read()
            .expect("lock poisoned")
            .nodes_of(app_id, user_id, resource)
    }

    fn available_resources(&self, app_id: i64, user_id: i64) -> Vec<String> {
        self.directory
            .read()
            .expect("lock poisoned")
            .available_resources(app_id, user_id)
    }

    fn room_occupants(&self, app_id: i64, dialog_id: &str) -> Vec<(NodeId, i64)> {
        self.directory
            .read()
            .expect("lock poisoned")
            .room_occupants(app_id, dialog_id)
    }

    fn is_online(&self, app_id: i64, user_id: i64) -> bool {
        self.directory
            .read()
            .expect("lock poisoned")
            .is_online(app_id, user_id)
    }

    fn is_active(&self, app_id: i64, user_id: i64) -> bool {
        self.directory
            .read()
            .expect("lock poisoned")
            .is_active(app_id, user_id)
    }

    fn users(&self, app_id: i64, available_only: bool) -> Vec<i64> {
        self.directory
            .read()
            .expect("lock poisoned")
            .users(app_id, available_only)
    }

    fn post(&self, node: &str, payload: Vec<u8>) {
        self.enqueue(self.subjects.node(node), payload);
    }

    async fn ask(&self, node: &str, payload: Vec<u8>) -> Option<Vec<u8>> {
        let mut headers = async_nats::HeaderMap::new();
        let deadline = unix_millis() + self.config.request_timeout.as_millis();
        headers.insert(DEADLINE_HEADER, deadline.to_string().as_str());
        // In order with the posts already queued: the ask goes out once they have.
        let (mark, passed) = tokio::sync::oneshot::channel();
        let queued = self.outbox.try_send(Outgoing::Mark(mark)).is_ok();
        let request = async {
            if queued {
                let _ = passed.await;
            }
            self.client
                .request_with_headers(self.subjects.node(node), headers, payload.into())
                .await
        };
        match tokio::time::timeout(self.config.request_timeout, request).await {
            Ok(Ok(answer)) => Some(answer.payload.to_vec()),
            Ok(Err(error)) => {
                if error.kind() == async_nats::RequestErrorKind::NoResponders {
                    self.nobody_at(node);
                } else {
                    tracing::warn!(%node, %error, "another node did not take a stanza");
                }
                None
            }
            Err(_) => {
                tracing::warn!(%node, "another node did not answer in time");
                None
            }
        }
    }

    fn post_all(&self, payload: Vec<u8>) {
        let broadcast = Broadcast {
            node: self.id.clone(),
            payload,
        };
        self.enqueue(self.subjects.all(), json(&broadcast));
    }
}
