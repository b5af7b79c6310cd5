//! The byte stream under a transport: plain TCP, TLS over TCP, or anything else (tests use duplex pipes).

use tokio::io::{AsyncRead, AsyncWrite};

/// Boxed so STARTTLS can wrap the stream in place and TLS/plain share one code path.
pub(crate) type BoxedIo = Box<dyn AsyncIo>;

pub(crate) trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncIo for T {}
