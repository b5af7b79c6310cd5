//! The XMPP server as a whole: shared state, and the handler every listener hands its connections to.

use crate::config::XmppConfig;
use crate::dispatch::Dispatcher;
use crate::shared::Shared;
use crate::stream::{ConnectionHandler, Transport};
use async_trait::async_trait;
use palaver_core::cluster::{PeerHandler, SessionState};
use palaver_core::events::Event;
use palaver_core::Core;
use palaver_proto::UserJid;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Runs sessions for the listeners and knows when they have all ended.
#[derive(Clone)]
pub struct XmppServer {
    pub shared: Arc<Shared>,
    /// The feature modules: their handlers and their state.
    pub dispatcher: Arc<Dispatcher>,
}

impl XmppServer {
    pub fn new(
        core: Core,
        config: XmppConfig,
        starttls: Option<TlsAcceptor>,
        shutdown: watch::Receiver<bool>,
    ) -> XmppServer {
        XmppServer {
            shared: Arc::new(Shared::new(core, config, starttls, shutdown)),
            dispatcher: Arc::new(Dispatcher::default()),
        }
    }

    /// Ends chat sessions when the domain says their login is gone. Runs until shutdown.
    pub async fn follow_events(self) {
        // Chat alerts are the push dispatcher's; this task raises them itself and must never wait on them.
        let mut events =
            self.shared.core.events.subscribe_to(|event| {
                !matches!(event, Event::ChatAlert { .. } | Event::ChatAlertTest { .. })
            });
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = shutdown.changed() => return,
            };
            match event {
                Some(Event::SessionDestroyed { app_id, session_id }) => {
                    crate::remote::kill_everywhere(&self.shared, app_id, None, Some(session_id));
                }
                Some(Event::UserDeleted { app_id, user_id } | Event::UserBlocked { app_id, user_id }) => {
                    crate::remote::kill_everywhere(&self.shared, app_id, Some(user_id), None);
                }
                // Message events are the chat modules' business (group and REST-driven delivery).
                Some(other) => self.dispatcher.domain_event(&self.shared, other).await,
                None => return,
            }
        }
    }

    /// Makes this server one node of a cluster (before any session starts): its sessions are announced
    /// to `peers` and stanzas for the other nodes' sessions go through them. What the other nodes send
    /// here is handled by `remote.rs` (this server is the cluster's `PeerHandler`, below).
    pub fn join_cluster(&self, peers: Arc<dyn palaver_core::cluster::Peers>) {
        self.shared.registry.join_cluster(peers);
    }

    /// Lets the REST API ask who is online.
    pub fn register_online_directory(&self) {
        self.shared.core.online.register(Arc::new(self.clone()));
    }

    pub fn handler(&self) -> Arc<dyn ConnectionHandler> {
        Arc::new(self.clone())
    }

    /// Waits until every session has ended (they close their streams when shutdown is signalled), at
    /// most `limit`.
    pub async fn drained(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.shared.idle.notified();
                if self.shared.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

#[async_trait]
impl ConnectionHandler for XmppServer {
    async fn handle(&self, transport: Box<Transport>) {
        self.shared.active.fetch_add(1, Ordering::AcqRel);
        let _counted = crate::metrics::ConnectionMetric::open(transport.kind());
        crate::session::run(self.shared.clone(), self.dispatcher.clone(), transport).await;
        if self.shared.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.idle.notify_waiters();
        }
    }

    /// Over the per-address limit: the client's stream header is awaited (briefly), answered with ours and
    /// a `policy-violation` stream error, and the stream closed; the client's own close is awaited too, so
    /// closing the socket does not reset the connection before the client has read why.
    async fn refuse(&self, mut transport: Box<Transport>) {
        let wait = REFUSAL_WAIT;
        let _ = tokio::time::timeout(wait, transport.next()).await;
        let _ = transport
            .send_open(&self.shared.config.domain, &palaver_proto::random_hex_token(8))
            .await;
        crate::stream::close_with_error(
            &mut transport,
            "policy-violation",
            "Too many connections from your address",
        )
        .await;
        let _ = tokio::time::timeout(wait, async { while transport.next().await.is_ok() {} }).await;
    }
}

/// How long a refused connection is given to send its stream header, and to close after the error.
const REFUSAL_WAIT: Duration = Duration::from_secs(5);

impl palaver_core::online::OnlineDirectory for XmppServer {
    fn is_active(&self, app_id: i64, user_id: i64) -> bool {
        self.shared.registry.is_active(UserJid { user_id, app_id })
    }

    fn online_users(&self, app_id: i64) -> Vec<i64> {
        self.shared.registry.app_users(app_id, true)
    }
}

#[async_trait]
impl PeerHandler for XmppServer {
    /// The answer is how many of this node's sessions took the stanza.
    async fn handle(&self, payload: &[u8]) -> Vec<u8> {
        crate::remote::handle(&self.shared, &self.dispatcher, payload).await
    }

    async fn node_lost(&self, sessions: Vec<SessionState>) {
        crate::remote::node_lost(&self.shared, &self.dispatcher, sessions).await
    }
}
