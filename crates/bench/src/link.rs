//! Connections to the server under test: XMPP over plain TCP (RFC 6120) or over WebSocket (RFC 7395),
//! opened from one of several loopback source addresses so that many thousands of connections do not run
//! out of ports on one address. Split into a reader and a writer once logged in.

use crate::scan::{Framer, Item};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bytes read at a time while logging in.
const READ_CHUNK: usize = 2048;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 256 * 1024]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    #[serde(rename = "websocket")]
    WebSocket,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// Other nodes of a cluster: client `n` connects to `[addr, others...][n % (1 + others)]`.
    pub others: Vec<SocketAddr>,
    pub transport: Transport,
    /// Local addresses to connect from, used in turn (empty: let the kernel choose).
    pub sources: Vec<IpAddr>,
}

impl Endpoint {
    pub fn tcp(addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            others: Vec::new(),
            transport: Transport::Tcp,
            sources: Vec::new(),
        }
    }

    /// `127.0.0.1` … `127.0.0.{count}` as sources.
    pub fn with_loopback_sources(mut self, count: u8) -> Endpoint {
        self.sources = (1..=count.max(1)).map(|n| IpAddr::from([127, 0, 0, n])).collect();
        self
    }

    /// The server address client `n` connects to: the nodes of a cluster in turn.
    pub fn addr_of(&self, n: usize) -> SocketAddr {
        match n % (1 + self.others.len()) {
            0 => self.addr,
            i => self.others[i - 1],
        }
    }

    /// A TCP connection from source number `n` (modulo the number of sources) to node `n` (modulo the
    /// number of nodes).
    pub async fn connect_tcp(&self, n: usize) -> io::Result<TcpStream> {
        let addr = self.addr_of(n);
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if !self.sources.is_empty() {
            socket.bind(SocketAddr::new(self.sources[n % self.sources.len()], 0))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    pub async fn connect(&self, n: usize) -> io::Result<Link> {
        let stream = self.connect_tcp(n).await?;
        match self.transport {
            Transport::Tcp => Ok(Link::Tcp(stream, Framer::new())),
            Transport::WebSocket => {
                let mut request = format!("ws://{}/", self.addr_of(n))
                    .into_client_request()
                    .map_err(io::Error::other)?;
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", "xmpp".parse().expect("a header value"));
                let (ws, _) = tokio_tungstenite::client_async(request, stream)
                    .await
                    .map_err(io::Error::other)?;
                Ok(Link::Ws(Box::new(ws)))
            }
        }
    }
}

/// A connection during login: whole-stanza reads and writes.
pub enum Link {
    Tcp(TcpStream, Framer),
    Ws(Box<WebSocketStream<TcpStream>>),
}

/// What arrived: a stanza, or the stream header / end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Open,
    Stanza(Vec<u8>),
    Close,
}

impl Link {
    pub fn transport(&self) -> Transport {
        match self {
            Link::Tcp(..) => Transport::Tcp,
            Link::Ws(_) => Transport::WebSocket,
        }
    }

    pub async fn send(&mut self, xml: &str) -> io::Result<()> {
        match self {
            Link::Tcp(stream, _) => stream.write_all(xml.as_bytes()).await,
            Link::Ws(ws) => ws.send(Message::text(xml)).await.map_err(io::Error::other),
        }
    }

    /// Reads into `out` every item now complete (at least one, unless the peer closed).
    pub async fn receive(&mut self, out: &mut Vec<Received>) -> io::Result<()> {
        match self {
            Link::Tcp(stream, framer) => loop {
                let n = stream.read(framer.spare(READ_CHUNK)).await;
                let n = match n {
                    Ok(n) => {
                        framer.filled(READ_CHUNK, n);
                        n
                    }
                    Err(e) => {
                        framer.filled(READ_CHUNK, 0);
                        return Err(e);
                    }
                };
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let before = out.len();
                framer.drain(|item| out.push(received(item)));
                if out.len() > before {
                    return Ok(());
                }
            },
            Link::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let bytes = text.as_bytes();
                        out.push(if bytes.starts_with(b"<open") {
                            Received::Open
                        } else if bytes.starts_with(b"<close") {
                            Received::Close
                        } else {
                            Received::Stanza(bytes.to_vec())
                        });
                        return Ok(());
                    }
                    Some(Ok(Message::Close(_))) | None => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(io::Error::other(e)),
                }
            },
        }
    }

    pub fn split(self) -> (Reader, Writer) {
        match self {
            Link::Tcp(stream, mut framer) => {
                framer.shrink();
                let (read, write) = stream.into_split();
                (Reader::Tcp(read, framer), Writer::Tcp(write))
            }
            Link::Ws(ws) => {
                let (sink, stream) = (*ws).split();
                (Reader::Ws(stream), Writer::Ws(sink))
            }
        }
    }
}

fn received(item: Item<'_>) -> Received {
    match item {
        Item::StreamOpen(_) => Received::Open,
        Item::Stanza(s) => Received::Stanza(s.to_vec()),
        Item::StreamClose => Received::Close,
    }
}

/// The reading half of a logged-in connection.
pub enum Reader {
    Tcp(OwnedReadHalf, Framer),
    Relay(OwnedReadHalf, crate::relay::Deframer),
    Ws(SplitStream<WebSocketStream<TcpStream>>),
}

impl Reader {
    /// Waits for data and calls `each` with every complete stanza; false once the connection ended.
    pub async fn read(&mut self, mut each: impl FnMut(&[u8])) -> bool {
        match self {
            Reader::Relay(read, deframer) => loop {
                match read_some(read, |bytes| deframer.push(bytes)).await {
                    None => continue,
                    Some(false) => return false,
                    Some(true) => {
                        deframer.drain(&mut each);
                        return true;
                    }
                }
            },
            Reader::Tcp(read, framer) => loop {
                // Reads go through one scratch buffer per thread, so an idle connection keeps only its
                // partial stanza, not a read buffer of its own.
                match read_some(read, |bytes| framer.push(bytes)).await {
                    None => continue,
                    Some(false) => return false,
                    Some(true) => {}
                }
                let mut open = true;
                framer.drain(|item| match item {
                    Item::Stanza(s) => each(s),
                    Item::StreamClose => open = false,
                    Item::StreamOpen(_) => {}
                });
                return open;
            },
            Reader::Ws(stream) => loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        if text.starts_with("<close") {
                            return false;
                        }
                        each(text.as_bytes());
                        return true;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}

/// The writing half of a logged-in connection.
pub enum Writer {
    Tcp(OwnedWriteHalf),
    /// A connection to the bare TCP relay (`crate::relay`): length-prefixed frames, no XML.
    Relay(OwnedWriteHalf),
    Ws(SplitSink<WebSocketStream<TcpStream>, Message>),
}

impl Writer {
    /// Writes stanzas (relay frames for the relay), one WebSocket frame each, otherwise in one write.
    pub async fn write_all(&mut self, items: &[Vec<u8>]) -> io::Result<()> {
        match self {
            Writer::Tcp(write) | Writer::Relay(write) => {
                if let [one] = items {
                    write.write_all(one).await
                } else {
                    write.write_all(&items.concat()).await
                }
            }
            Writer::Ws(sink) => {
                for item in items {
                    let text = String::from_utf8_lossy(item).into_owned();
                    sink.feed(Message::text(text)).await.map_err(io::Error::other)?;
                }
                sink.flush().await.map_err(io::Error::other)
            }
        }
    }

    /// Closes the XMPP stream politely, then the connection.
    pub async fn close(&mut self) {
        let end: &[u8] = match self {
            Writer::Tcp(_) => b"</stream:stream>",
            Writer::Ws(_) => b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
            Writer::Relay(_) => b"",
        };
        if !end.is_empty() {
            let _ = self.write_all(&[end.to_vec()]).await;
        }
        if let Writer::Tcp(write) | Writer::Relay(write) = self {
            let _ = write.shutdown().await;
        }
    }
}

/// Waits until `read` is readable and hands what it has to `take`: `Some(true)` after data,
/// `Some(false)` at the end or on an error, `None` on a spurious wake-up.
async fn read_some(read: &OwnedReadHalf, take: impl FnOnce(&[u8])) -> Option<bool> {
    if read.readable().await.is_err() {
        return Some(false);
    }
    SCRATCH.with_borrow_mut(|scratch| match read.try_read(scratch) {
        Ok(0) => Some(false),
        Ok(n) => {
            take(&scratch[..n]);
            Some(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(_) => Some(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_spread_over_the_nodes_in_turn() {
        let node = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let one = Endpoint::tcp(node(5222));
        assert!((0..5).all(|n| one.addr_of(n) == node(5222)));
        let three = Endpoint {
            others: vec![node(6222), node(7222)],
            ..Endpoint::tcp(node(5222))
        };
        let chosen: Vec<u16> = (0..7).map(|n| three.addr_of(n).port()).collect();
        assert_eq!(chosen, [5222, 6222, 7222, 5222, 6222, 7222, 5222]);
    }
}
