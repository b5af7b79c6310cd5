//! XMPP over WebSocket (RFC 7395): one element per text frame, `<open/>` and `<close/>` framing.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::io::BoxedIo;
use super::parser::{Framing, StreamParser};
use super::{escape_attr, Inbound, TransportError, DEFAULT_MAX_STANZA_SIZE};
use crate::{ns, xml};

/// Hard cap on one WebSocket message; the stanza limit the session sets is enforced separately.
pub(crate) const MAX_MESSAGE_SIZE: usize = 300 * 1024;

pub(crate) fn config() -> WebSocketConfig {
    // tungstenite's 128 KiB default buffers would cost 256 KiB per idle connection. Its read buffer is
    // allocated whole when the connection opens and zero-filled before each read, so every connection
    // keeps all of it resident: 4 KiB holds any chat stanza's frame (a larger frame grows the buffer
    // for itself), where 16 KiB made an idle WebSocket session 25 KiB.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
}

pub(crate) struct WsTransport {
    ws: WebSocketStream<BoxedIo>,
    encrypted: bool,
    parser: StreamParser,
    closed: bool,
}

impl WsTransport {
    pub(crate) fn new(ws: WebSocketStream<BoxedIo>, encrypted: bool) -> Self {
        WsTransport {
            ws,
            encrypted,
            parser: StreamParser::new(Framing::Fragments, DEFAULT_MAX_STANZA_SIZE),
            closed: false,
        }
    }

    pub(crate) async fn from_raw(io: BoxedIo, encrypted: bool) -> Self {
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config())).await;
        WsTransport::new(ws, encrypted)
    }

    pub(crate) fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    pub(crate) fn last_stanza_bytes(&self) -> usize {
        self.parser.last_element_bytes()
    }

    pub(crate) fn set_max_stanza_size(&mut self, bytes: usize) {
        self.parser.set_max_element_bytes(bytes);
    }

    pub(crate) async fn next(&mut self) -> Result<Inbound, TransportError> {
        loop {
            // Several elements in one frame, or one element split over frames, are tolerated.
            if let Some(item) = self.parser.next()? {
                return Ok(item);
            }
            let message = match self.ws.next().await {
                None => return Err(TransportError::Closed),
                Some(Err(err)) => return Err(ws_error(err)),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => self.feed(text.as_bytes())?,
                Message::Binary(data) => self.feed(&data)?,
                // tungstenite queued the pong; flush it now rather than with the next outbound stanza. A
                // cancelled flush leaves it queued, so this stays cancel-safe.
                Message::Ping(_) => self.ws.flush().await.map_err(ws_error)?,
                Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(_) => {
                    let _ = self.ws.flush().await;
                    return Err(TransportError::Closed);
                }
            }
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if data.len() > self.parser.max_element_bytes() {
            return Err(TransportError::PolicyViolation);
        }
        self.parser.feed(data);
        Ok(())
    }

    pub(crate) async fn send_open(&mut self, from: &str, id: &str) -> Result<(), TransportError> {
        let open = format!(
            "<open xmlns=\"{}\" from=\"{}\" id=\"{}\" version=\"1.0\" xml:lang=\"en\"/>",
            ns::FRAMING,
            escape_attr(from),
            escape_attr(id)
        );
        self.ws.send(Message::text(open)).await.map_err(ws_error)
    }

    pub(crate) async fn send_all(&mut self, elements: &[xml::Element]) -> Result<(), TransportError> {
        for element in elements {
            self.ws
                .feed(Message::text(xml::to_string(element)))
                .await
                .map_err(ws_error)?;
        }
        self.ws.flush().await.map_err(ws_error)
    }

    pub(crate) async fn send_close(&mut self) -> Result<(), TransportError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let close = format!("<close xmlns=\"{}\"/>", ns::FRAMING);
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let result = match self.ws.send(Message::text(close)).await {
            Ok(()) => self.ws.close(Some(frame)).await,
            Err(err) => Err(err),
        };
        match result.map_err(ws_error) {
            // The peer closed first: nothing left to do.
            Err(TransportError::Closed) | Ok(()) => Ok(()),
            Err(err) => Err(err),
        }
    }

    pub(crate) async fn keepalive(&mut self) -> Result<(), TransportError> {
        self.ws.send(Message::Ping(Bytes::new())).await.map_err(ws_error)
    }
}

fn ws_error(err: WsError) -> TransportError {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match err {
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => TransportError::Closed,
        WsError::Io(err) => TransportError::Io(err),
        WsError::Capacity(_) => TransportError::PolicyViolation,
        WsError::Utf8(err) => TransportError::NotWellFormed(err),
        other => TransportError::Io(std::io::Error::other(other)),
    }
}
