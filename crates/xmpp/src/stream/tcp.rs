//! XMPP over TCP (RFC 6120): one long `<stream:stream>` document, STARTTLS upgrade in place.

use std::time::Duration;

use std::pin::Pin;
use std::task::{ready, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::io::BoxedIo;
use super::parser::{Framing, StreamParser};
use super::{escape_attr, Inbound, TransportError, DEFAULT_MAX_STANZA_SIZE};
use crate::{ns, xml};

/// The most one read takes from the socket.
const READ_SIZE: usize = 16 * 1024;

thread_local! {
    /// Every connection on a thread reads through this one buffer and hands the bytes to its parser at
    /// once, so a connection waiting for data holds no read buffer of its own (most connections wait
    /// most of the time).
    static READ_SCRATCH: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

pub(crate) struct TcpTransport {
    /// `None` only while STARTTLS owns the socket (and after it failed).
    io: Option<BoxedIo>,
    encrypted: bool,
    parser: StreamParser,
    closed: bool,
    handshake_timeout: Duration,
}

impl TcpTransport {
    pub(crate) fn new(io: BoxedIo, encrypted: bool, handshake_timeout: Duration) -> Self {
        TcpTransport {
            io: Some(io),
            encrypted,
            parser: StreamParser::new(Framing::Stream, DEFAULT_MAX_STANZA_SIZE),
            closed: false,
            handshake_timeout,
        }
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

    fn io(&mut self) -> Result<&mut BoxedIo, TransportError> {
        self.io.as_mut().ok_or(TransportError::Closed)
    }

    pub(crate) async fn next(&mut self) -> Result<Inbound, TransportError> {
        loop {
            if self.parser.is_closed() {
                return Err(TransportError::Closed);
            }
            if let Some(item) = self.parser.next()? {
                return Ok(item);
            }
            // The only await: a cancelled read consumes nothing (bytes reach the parser in the same poll
            // that reads them), everything else lives in `self`.
            let io = self.io.as_mut().ok_or(TransportError::Closed)?;
            let parser = &mut self.parser;
            let n = std::future::poll_fn(|cx| {
                READ_SCRATCH.with_borrow_mut(|scratch| {
                    let mut buf = ReadBuf::new(scratch);
                    ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
                    parser.feed(buf.filled());
                    Poll::Ready(Ok::<_, std::io::Error>(buf.filled().len()))
                })
            })
            .await?;
            if n == 0 {
                return Err(TransportError::Closed);
            }
        }
    }

    pub(crate) async fn send_open(&mut self, from: &str, id: &str) -> Result<(), TransportError> {
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' from='{}' id='{}' version='1.0' \
             xml:lang='en'>",
            ns::CLIENT,
            ns::STREAM,
            escape_attr(from),
            escape_attr(id)
        );
        self.write(header.as_bytes()).await
    }

    pub(crate) async fn send_all(&mut self, elements: &[xml::Element]) -> Result<(), TransportError> {
        self.write(xml::to_string_all(elements).as_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let io = self.io()?;
        io.write_all(bytes).await?;
        io.flush().await?;
        Ok(())
    }

    pub(crate) async fn send_close(&mut self) -> Result<(), TransportError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.write(b"</stream:stream>").await?;
        self.io()?.shutdown().await?;
        Ok(())
    }

    pub(crate) async fn starttls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> Result<(), TransportError> {
        if self.encrypted {
            return Err(TransportError::Tls("the stream is already encrypted".into()));
        }
        let io = self.io.take().ok_or(TransportError::Closed)?;
        self.parser.reset();
        let tls = tokio::time::timeout(self.handshake_timeout, acceptor.accept(io))
            .await
            .map_err(|_| TransportError::Tls("handshake timed out".into()))?
            .map_err(|err| TransportError::Tls(err.to_string()))?;
        self.io = Some(Box::new(tls));
        self.encrypted = true;
        Ok(())
    }

    pub(crate) fn restart(&mut self) {
        self.parser.restart();
    }
}
