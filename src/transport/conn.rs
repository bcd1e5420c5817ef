//! One accepted connection: the socket, its place under the connection cap, the time it has to
//! start speaking HTTP, and what calls on it can learn about it.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::OwnedSemaphorePermit,
    time::Sleep,
};

use super::budget::Budgets;

/// Bytes a client must send within the handshake timeout: the HTTP/2 connection preface is 24
/// bytes (an HTTP/1.1 request line for gRPC-Web is longer).
pub const HANDSHAKE_BYTES: usize = 24;

/// What a call can learn about its connection (a request extension).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The budgets this connection's calls count their waiting bytes against.
    pub budgets: Budgets,
    /// SHA-256 of the client's TLS certificate (DER), when it presented one that chains to the
    /// configured client CA.
    pub client_certificate_sha256: Option<[u8; 32]>,
}

/// An accepted connection (TCP, or TLS over TCP) that fails its reads when the client has not
/// sent [`HANDSHAKE_BYTES`] of HTTP before the handshake deadline, and frees its place under the
/// connection cap when dropped.
#[derive(Debug)]
pub struct Conn<S> {
    stream: S,
    handshake: Option<Pin<Box<Sleep>>>,
    received: usize,
    _slot: OwnedSemaphorePermit,
}

impl<S> Conn<S> {
    /// Wraps `stream`, holding `slot` under the connection cap, with `handshake` to start.
    pub fn new(stream: S, slot: OwnedSemaphorePermit, handshake: Sleep) -> Self {
        Self {
            stream,
            handshake: Some(Box::pin(handshake)),
            received: 0,
            _slot: slot,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = this.handshake.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not start HTTP within the handshake timeout",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if this.handshake.is_some() {
            this.received += buf.filled().len() - before;
            if this.received >= HANDSHAKE_BYTES {
                this.handshake = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
