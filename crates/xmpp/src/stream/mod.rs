//! The XML stream over its transports: WebSocket (RFC 7395) and TCP (STARTTLS, direct TLS).
//!
//! A [`Transport`] turns the connection into [`Inbound`] events and writes compact, namespace-complete
//! elements; [`serve_websocket`] and [`serve_tcp`] accept connections and hand ready transports to a
//! [`ConnectionHandler`].

mod io;
pub mod kind;
mod listener;
pub(crate) mod parser;
mod tcp;
pub(crate) mod websocket;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::ns;
use crate::xml::{self, Element};

pub use listener::{
    serve_tcp, serve_websocket, starttls_acceptor, ConnectionHandler, ListenerLimits, MAX_REFUSING,
    XMPP_CLIENT_ALPN,
};

use io::BoxedIo;
pub use kind::TransportKind;
use listener::ConnectionSlot;
use tcp::TcpTransport;
use websocket::WsTransport;

/// Stanza size limit before authentication; the session raises it afterwards.
pub const DEFAULT_MAX_STANZA_SIZE: usize = 10_000;

/// What the peer sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Stream header: TCP `<stream:stream>`, WebSocket `<open/>`.
    Open(StreamHeader),
    /// A complete top-level element; unqualified elements are put in `jabber:client`.
    Stanza(Element),
    /// TCP `</stream:stream>`, WebSocket `<close/>`.
    Close,
}

/// Attributes of the peer's stream header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamHeader {
    pub to: Option<String>,
    pub from: Option<String>,
    pub version: Option<String>,
    pub lang: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the socket or sent a WebSocket close frame.
    #[error("connection closed by the peer")]
    Closed,
    #[error("XML not well-formed: {0}")]
    NotWellFormed(String),
    /// DTD, comment, processing instruction or entity.
    #[error("restricted XML: {0}")]
    RestrictedXml(String),
    /// An element over the size limit.
    #[error("element exceeds the size limit")]
    PolicyViolation,
    /// Elements nested deeper than the parser allows.
    #[error("elements are nested too deeply (more than {0} levels)")]
    TooDeep(usize),
    #[error("invalid namespace: {0}")]
    InvalidNamespace(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("handshake: {0}")]
    Handshake(String),
}

impl TransportError {
    /// RFC 6120 stream error condition to send, if any; `None` when the connection cannot carry one.
    pub fn stream_condition(&self) -> Option<&'static str> {
        match self {
            TransportError::NotWellFormed(_) => Some("not-well-formed"),
            TransportError::RestrictedXml(_) => Some("restricted-xml"),
            TransportError::PolicyViolation | TransportError::TooDeep(_) => Some("policy-violation"),
            TransportError::InvalidNamespace(_) => Some("invalid-namespace"),
            TransportError::Io(_)
            | TransportError::Closed
            | TransportError::Tls(_)
            | TransportError::Handshake(_) => None,
        }
    }
}

/// One client connection, ready for XMPP (TLS and WebSocket handshakes done).
pub struct Transport {
    inner: Inner,
    peer: SocketAddr,
    /// Releases the per-IP connection count when the transport is dropped.
    _slot: Option<ConnectionSlot>,
}

enum Inner {
    /// Boxed: tungstenite's state is several times the size of the TCP variant.
    WebSocket(Box<WsTransport>),
    Tcp(TcpTransport),
}

impl Transport {
    /// XMPP over an already connected byte stream (TCP semantics). Listeners use it; tests and embedders can
    /// pass e.g. one end of `tokio::io::duplex`.
    pub fn tcp<S>(io: S, peer: SocketAddr, encrypted: bool) -> Transport
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Transport::from_tcp(
            Box::new(io),
            peer,
            encrypted,
            listener::DEFAULT_HANDSHAKE_TIMEOUT,
            None,
        )
    }

    /// XMPP over a byte stream whose WebSocket handshake is already done (server role, no handshake here).
    pub async fn websocket<S>(io: S, peer: SocketAddr, encrypted: bool) -> Transport
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let ws = WsTransport::from_raw(Box::new(io), encrypted).await;
        Transport {
            inner: Inner::WebSocket(Box::new(ws)),
            peer,
            _slot: None,
        }
    }

    fn from_tcp(
        io: BoxedIo,
        peer: SocketAddr,
        encrypted: bool,
        handshake_timeout: Duration,
        slot: Option<ConnectionSlot>,
    ) -> Transport {
        let tcp = TcpTransport::new(io, encrypted, handshake_timeout);
        Transport {
            inner: Inner::Tcp(tcp),
            peer,
            _slot: slot,
        }
    }

    fn from_websocket(ws: WsTransport, peer: SocketAddr, slot: Option<ConnectionSlot>) -> Transport {
        Transport {
            inner: Inner::WebSocket(Box::new(ws)),
            peer,
            _slot: slot,
        }
    }

    pub fn kind(&self) -> TransportKind {
        match self.inner {
            Inner::WebSocket(_) => TransportKind::WebSocket,
            Inner::Tcp(_) => TransportKind::Tcp,
        }
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// TLS underneath: wss, direct TLS, or STARTTLS completed.
    pub fn is_encrypted(&self) -> bool {
        match &self.inner {
            Inner::WebSocket(ws) => ws.is_encrypted(),
            Inner::Tcp(tcp) => tcp.is_encrypted(),
        }
    }

    /// Largest top-level element (and stream header / WebSocket frame) accepted, in bytes.
    pub fn set_max_stanza_size(&mut self, bytes: usize) {
        match &mut self.inner {
            Inner::WebSocket(ws) => ws.set_max_stanza_size(bytes),
            Inner::Tcp(tcp) => tcp.set_max_stanza_size(bytes),
        }
    }

    /// Bytes the last stanza `next` returned took on the wire (for the byte-rate shaper).
    pub fn last_stanza_bytes(&self) -> usize {
        match &self.inner {
            Inner::WebSocket(ws) => ws.last_stanza_bytes(),
            Inner::Tcp(tcp) => tcp.last_stanza_bytes(),
        }
    }

    /// Next event. Cancel-safe: partial input stays in the transport.
    pub async fn next(&mut self) -> Result<Inbound, TransportError> {
        let inbound = match &mut self.inner {
            Inner::WebSocket(ws) => ws.next().await,
            Inner::Tcp(tcp) => tcp.next().await,
        };
        if let Ok(Inbound::Stanza(element)) = &inbound {
            crate::metrics::stanza_received(element);
        }
        inbound
    }

    /// The server's stream header (WebSocket `<open/>`, TCP `<stream:stream>`).
    pub async fn send_open(&mut self, from: &str, id: &str) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::WebSocket(ws) => ws.send_open(from, id).await,
            Inner::Tcp(tcp) => tcp.send_open(from, id).await,
        }
    }

    /// One element (WebSocket: one text frame).
    pub async fn send(&mut self, element: &Element) -> Result<(), TransportError> {
        self.send_all(std::slice::from_ref(element)).await
    }

    /// Several elements with a single flush (WebSocket: still one frame each).
    pub async fn send_all(&mut self, elements: &[Element]) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::WebSocket(ws) => ws.send_all(elements).await?,
            Inner::Tcp(tcp) => tcp.send_all(elements).await?,
        }
        crate::metrics::stanzas_sent(elements);
        Ok(())
    }

    /// Closes the stream (WebSocket: `<close/>` + close frame; TCP: `</stream:stream>` + shutdown).
    /// Idempotent.
    pub async fn send_close(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::WebSocket(ws) => ws.send_close().await,
            Inner::Tcp(tcp) => tcp.send_close().await,
        }
    }

    /// True for a TCP stream that is not encrypted yet.
    pub fn can_starttls(&self) -> bool {
        match &self.inner {
            Inner::WebSocket(_) => false,
            Inner::Tcp(tcp) => !tcp.is_encrypted(),
        }
    }

    /// TCP: after `<proceed/>` was sent, runs the TLS handshake and expects a fresh stream header.
    /// Plaintext the client pipelined after `<starttls/>` is discarded.
    pub async fn starttls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::WebSocket(_) => Err(TransportError::Tls(
                "STARTTLS is not available on WebSocket".into(),
            )),
            Inner::Tcp(tcp) => tcp.starttls(acceptor).await,
        }
    }

    /// After SASL success: expect a new stream header. TCP resets the parser; WebSocket needs nothing (the
    /// client sends a new `<open/>`).
    pub fn restart(&mut self) {
        match &mut self.inner {
            Inner::WebSocket(_) => {}
            Inner::Tcp(tcp) => tcp.restart(),
        }
    }

    /// WebSocket: a ping frame (never text on the stream, see
    /// docs/protocol.md#quirk-no-whitespace-between-elements). TCP: nothing.
    pub async fn keepalive(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::WebSocket(ws) => ws.keepalive().await,
            Inner::Tcp(_) => Ok(()),
        }
    }
}

/// Escapes an attribute value for the hand-written stream headers.
fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<stream:error>` with a condition and text.
pub fn stream_error(condition: &str, text: &str) -> Element {
    let mut error = xml::element("error", ns::STREAM);
    error.append_child(xml::element(condition, ns::STREAMS_ERRORS));
    if !text.is_empty() {
        error.append_child(xml::with_text(xml::element("text", ns::STREAMS_ERRORS), text));
    }
    error
}

/// Sends a stream error and closes the stream; the socket may already be gone.
pub async fn close_with_error(transport: &mut Transport, condition: &str, text: &str) {
    tracing::debug!(condition, text, "closing stream with an error");
    let _ = transport.send(&stream_error(condition, text)).await;
    let _ = transport.send_close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_conditions() {
        assert_eq!(
            TransportError::NotWellFormed("x".into()).stream_condition(),
            Some("not-well-formed")
        );
        assert_eq!(
            TransportError::RestrictedXml("x".into()).stream_condition(),
            Some("restricted-xml")
        );
        assert_eq!(
            TransportError::PolicyViolation.stream_condition(),
            Some("policy-violation")
        );
        assert_eq!(
            TransportError::TooDeep(64).stream_condition(),
            Some("policy-violation")
        );
        assert_eq!(
            TransportError::InvalidNamespace("x".into()).stream_condition(),
            Some("invalid-namespace")
        );
        assert_eq!(TransportError::Closed.stream_condition(), None);
        assert_eq!(
            TransportError::Io(std::io::ErrorKind::BrokenPipe.into()).stream_condition(),
            None
        );
        assert_eq!(TransportError::Tls("x".into()).stream_condition(), None);
    }

    #[test]
    fn header_attributes_are_escaped() {
        assert_eq!(escape_attr("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
    }
}
