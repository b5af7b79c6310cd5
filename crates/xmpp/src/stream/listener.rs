//! Accept loops for the WebSocket and TCP listeners, with per-IP connection limits and handshake timeouts.
//!
//! A connection over its address's limit is not dropped silently: once its TLS and WebSocket handshakes are
//! done (under the same timeout) it goes to [`ConnectionHandler::refuse`], which tells the client why in
//! the protocol's own terms. At most [`MAX_REFUSING`] refusals run at once; beyond that a connection is
//! closed at once, so a flood of them costs little.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};

use super::io::BoxedIo;
use super::websocket::{self, WsTransport};
use super::{Transport, TransportError};

/// ALPN protocol id for XMPP client-to-server TLS (direct TLS and STARTTLS).
pub const XMPP_CLIENT_ALPN: &[u8] = b"xmpp-client";

pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections over the per-address limit being answered at the same time (per listener).
pub const MAX_REFUSING: usize = 32;

/// Receives every connection once its transport is ready (after the TLS and WebSocket handshakes).
///
/// The transport comes boxed: a future keeps its arguments for its whole life, so a `Transport` passed
/// by value (200 bytes) would stay in the handler's future, and in each future it is handed on to, beside
/// the session that finally owns it — for as long as the connection lives.
#[async_trait::async_trait]
pub trait ConnectionHandler: Send + Sync + 'static {
    async fn handle(&self, transport: Box<Transport>);

    /// A connection over the per-address limit, handshakes done: tell the client why, then close. The
    /// default closes it without a word.
    async fn refuse(&self, transport: Box<Transport>) {
        drop(transport);
    }
}

#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Simultaneous connections from one IP address, counted from accept until the transport is dropped.
    /// Loopback is not exempt; behind a reverse proxy on the same host every client shares its address, so
    /// raise this or set 0 (no limit).
    pub max_connections_per_ip: usize,
    /// Time allowed for the TLS and WebSocket handshakes (also STARTTLS).
    pub handshake_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections_per_ip: 64,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// RFC 7395 WebSocket on any path; `tls` = Some for wss.
pub async fn serve_websocket(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    limits: ListenerLimits,
    handler: Arc<dyn ConnectionHandler>,
    shutdown: watch::Receiver<bool>,
) {
    // WebSocket upgrades need HTTP/1.1; the HTTPS config may offer h2 first.
    let acceptor = tls.map(|config| TlsAcceptor::from(with_alpn(&config, b"http/1.1")));
    let timeout = limits.handshake_timeout;
    accept_loop(listener, &limits, shutdown, move |stream, peer, slot| {
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        async move {
            let handshake = async {
                let (io, encrypted) = tls_handshake(stream, acceptor.as_ref()).await?;
                let ws = tokio_tungstenite::accept_hdr_async_with_config(
                    io,
                    select_subprotocol,
                    Some(websocket::config()),
                )
                .await
                .map_err(|err| TransportError::Handshake(err.to_string()))?;
                Ok::<_, TransportError>(WsTransport::new(ws, encrypted))
            };
            // Boxed, so the handshake's large state is freed once it is done instead of staying in
            // every connection's task for its whole life.
            match tokio::time::timeout(timeout, Box::pin(handshake)).await {
                Ok(Ok(ws)) => {
                    let refused = slot.is_refusal();
                    let transport = Box::new(Transport::from_websocket(ws, peer, Some(slot)));
                    if refused {
                        handler.refuse(transport).await
                    } else {
                        handler.handle(transport).await
                    }
                }
                Ok(Err(err)) => tracing::debug!(%peer, %err, "WebSocket connection failed before XMPP"),
                Err(_) => tracing::debug!(%peer, "WebSocket handshake timed out"),
            }
        }
    })
    .await;
}

/// XMPP over TCP; `direct_tls` = Some for the 5223-style port (TLS first), None for the STARTTLS port.
pub async fn serve_tcp(
    listener: TcpListener,
    direct_tls: Option<Arc<ServerConfig>>,
    limits: ListenerLimits,
    handler: Arc<dyn ConnectionHandler>,
    shutdown: watch::Receiver<bool>,
) {
    let acceptor = direct_tls.map(|config| TlsAcceptor::from(with_alpn(&config, XMPP_CLIENT_ALPN)));
    let timeout = limits.handshake_timeout;
    accept_loop(listener, &limits, shutdown, move |stream, peer, slot| {
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        async move {
            // Boxed, so the handshake's large state is freed once it is done instead of staying in
            // every connection's task for its whole life.
            let handshake = Box::pin(tls_handshake(stream, acceptor.as_ref()));
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok((io, encrypted))) => {
                    let refused = slot.is_refusal();
                    let transport = Box::new(Transport::from_tcp(io, peer, encrypted, timeout, Some(slot)));
                    if refused {
                        handler.refuse(transport).await
                    } else {
                        handler.handle(transport).await
                    }
                }
                Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    })
    .await;
}

/// The acceptor for STARTTLS: the given (HTTPS) config with ALPN `xmpp-client`.
pub fn starttls_acceptor(config: &Arc<ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(with_alpn(config, XMPP_CLIENT_ALPN))
}

fn with_alpn(config: &Arc<ServerConfig>, protocol: &[u8]) -> Arc<ServerConfig> {
    let mut config = ServerConfig::clone(config);
    config.alpn_protocols = vec![protocol.to_vec()];
    Arc::new(config)
}

async fn tls_handshake(
    stream: TcpStream,
    acceptor: Option<&TlsAcceptor>,
) -> Result<(BoxedIo, bool), TransportError> {
    match acceptor {
        None => Ok((Box::new(stream), false)),
        Some(acceptor) => {
            let tls = acceptor
                .accept(stream)
                .await
                .map_err(|err| TransportError::Tls(err.to_string()))?;
            Ok((Box::new(tls), true))
        }
    }
}

/// Browsers and the `ws` package abort unless `xmpp` is echoed when they asked for it
/// (docs/protocol.md#xmpp-transports); clients that ask for nothing are served anyway, clients that ask
/// only for something else are refused.
#[allow(clippy::result_large_err)] // the signature is tungstenite's callback
fn select_subprotocol(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let mut offered = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .peekable();
    if offered.peek().is_none() {
        return Ok(response);
    }
    if offered.any(|protocol| protocol == "xmpp") {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("xmpp"));
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some(
        "this endpoint speaks the 'xmpp' WebSocket subprotocol\n".into(),
    ));
    *refusal.status_mut() = StatusCode::BAD_REQUEST;
    Err(refusal)
}

/// Accepts until shutdown (or until the shutdown sender is dropped); each connection runs in its own task.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limits: &ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
    mut on_connection: F,
) where
    F: FnMut(TcpStream, SocketAddr, ConnectionSlot) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let counter = IpCounter::default();
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let local = listener
        .local_addr()
        .map(|a| a.port().to_string())
        .unwrap_or_default();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let (stream, peer) = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match counter.acquire(peer.ip(), limits.max_connections_per_ip) {
            Some(slot) => slot,
            None => match refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    tracing::debug!(%peer, "too many connections from this address; refusing");
                    ConnectionSlot::Refusal { _permit: permit }
                }
                Err(_) => {
                    tracing::debug!(%peer, "too many connections from this address; closed unanswered");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // One span per connection: every event of this connection says which one it is.
        let span = tracing::info_span!("xmpp", %peer, port = %local, user = tracing::field::Empty);
        tokio::spawn(on_connection(stream, peer, slot).instrument(span));
    }
}

/// Live connections per IP address.
#[derive(Clone, Default)]
struct IpCounter(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl IpCounter {
    fn acquire(&self, ip: IpAddr, max: usize) -> Option<ConnectionSlot> {
        let ip = ip.to_canonical();
        let mut counts = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if max != 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot::Counted {
            _count: CountedSlot {
                counter: self.clone(),
                ip,
            },
        })
    }
}

/// What a connection holds while it lives; dropping it (with the transport or the failed handshake) frees
/// what it counts against.
pub(crate) enum ConnectionSlot {
    /// Within its address's limit.
    Counted { _count: CountedSlot },
    /// Over the limit: only answered with a refusal (one of `MAX_REFUSING`).
    Refusal { _permit: OwnedSemaphorePermit },
}

impl ConnectionSlot {
    fn is_refusal(&self) -> bool {
        matches!(self, ConnectionSlot::Refusal { .. })
    }
}

pub(crate) struct CountedSlot {
    counter: IpCounter,
    ip: IpAddr,
}

impl Drop for CountedSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counter
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}
