//! A bare TCP relay: the ceiling of what this machine can move between sockets, for comparison with the
//! chat servers. A client connects, says its number (4 bytes, little-endian), then sends frames
//! `[length u32][destination u32][payload]`; the relay hands each payload to the destination as
//! `[length u32][payload]`. The first thing a client receives is an empty frame: it is registered. No XML, no storage, no routing table beyond a map of numbers to sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Largest payload the relay accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// Connects client number `id` to the relay and waits until it is registered.
pub async fn connect(endpoint: &crate::link::Endpoint, id: u32) -> std::io::Result<TcpStream> {
    let mut stream = endpoint.connect_tcp(id as usize).await?;
    stream.write_all(&id.to_le_bytes()).await?;
    let mut ack = [0u8; 4];
    stream.read_exact(&mut ack).await?;
    Ok(stream)
}

/// A frame from a client: `[length][destination][payload]`.
pub fn frame(destination: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&destination.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Cuts `[length][payload]` frames out of a byte stream.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Calls `each` with every complete payload.
    pub fn drain(&mut self, mut each: impl FnMut(&[u8])) {
        let mut at = 0;
        while self.buf.len() >= at + 4 {
            let len = u32::from_le_bytes(self.buf[at..at + 4].try_into().expect("4 bytes")) as usize;
            if self.buf.len() < at + 4 + len {
                break;
            }
            each(&self.buf[at + 4..at + 4 + len]);
            at += 4 + len;
        }
        self.buf.drain(..at);
    }
}

type Peers = Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Vec<u8>>>>>;

/// Runs the relay on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) {
    let peers: Peers = Arc::default();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_peer(stream, peers.clone()));
    }
}

/// Starts the relay on its own thread and runtime (as a separate server would be); returns its address.
pub fn spawn_on_thread(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    std::thread::Builder::new().name("relay".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the relay");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("a tokio listener");
            serve(listener).await
        })
    })?;
    Ok(local)
}

async fn serve_peer(stream: TcpStream, peers: Peers) {
    let (mut read, mut write) = stream.into_split();
    let mut id = [0u8; 4];
    if read.read_exact(&mut id).await.is_err() {
        return;
    }
    let id = u32::from_le_bytes(id);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    // An empty frame tells the client it is registered and may be addressed.
    let _ = tx.send(0u32.to_le_bytes().to_vec());
    peers.lock().expect("peers").insert(id, tx);
    let writer = tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.clear();
            batch.extend_from_slice(&first);
            while let Ok(more) = rx.try_recv() {
                batch.extend_from_slice(&more);
                if batch.len() > 64 * 1024 {
                    break;
                }
            }
            if write.write_all(&batch).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    'read: loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut at = 0;
        while pending.len() >= at + 8 {
            let len = u32::from_le_bytes(pending[at..at + 4].try_into().expect("4 bytes")) as usize;
            if len > MAX_FRAME {
                break 'read;
            }
            if pending.len() < at + 8 + len {
                break;
            }
            let to = u32::from_le_bytes(pending[at + 4..at + 8].try_into().expect("4 bytes"));
            let mut out = Vec::with_capacity(4 + len);
            out.extend_from_slice(&pending[at..at + 4]);
            out.extend_from_slice(&pending[at + 8..at + 8 + len]);
            if let Some(peer) = peers.lock().expect("peers").get(&to) {
                let _ = peer.send(out);
            }
            at += 8 + len;
        }
        pending.drain(..at);
    }
    peers.lock().expect("peers").remove(&id);
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_apart_whatever_the_chunking() {
        let mut stream = Vec::new();
        for payload in [&b"hello"[..], b"", b"<message/>"] {
            let framed = frame(9, payload);
            // What the relay forwards: length, then payload.
            stream.extend_from_slice(&framed[..4]);
            stream.extend_from_slice(&framed[8..]);
        }
        for chunk in [1, 3, 5, 100] {
            let mut deframer = Deframer::default();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                deframer.push(piece);
                deframer.drain(|p| got.push(p.to_vec()));
            }
            assert_eq!(
                got,
                vec![b"hello".to_vec(), vec![], b"<message/>".to_vec()],
                "chunks of {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn the_relay_forwards_a_payload_to_its_destination_only() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        let mut a = TcpStream::connect(addr).await.unwrap();
        let mut b = TcpStream::connect(addr).await.unwrap();
        a.write_all(&1u32.to_le_bytes()).await.unwrap();
        b.write_all(&2u32.to_le_bytes()).await.unwrap();
        let mut ack = [0u8; 4];
        a.read_exact(&mut ack).await.unwrap();
        b.read_exact(&mut ack).await.unwrap();
        assert_eq!(ack, [0; 4]);
        a.write_all(&frame(2, b"to b")).await.unwrap();
        let mut got = [0u8; 8];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..4], &4u32.to_le_bytes());
        assert_eq!(&got[4..], b"to b");
    }
}
