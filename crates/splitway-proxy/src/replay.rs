//! A byte stream with bytes already read from it put back in front: the client's first bytes
//! that the listener sniffed for the protocol ([`crate::server`]), or what a server sent after
//! its 101 in the read that brought the head ([`crate::upstream`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `read`, then the rest of `io`; writes go straight to `io`. `K` is kept as long as the
/// stream (the server keeps the connection's place under the cap there).
pub(crate) struct Replay<I, K = ()> {
    read: Bytes,
    io: I,
    _kept: K,
}

impl<I> Replay<I> {
    pub(crate) fn new(read: Bytes, io: I) -> Self {
        Replay {
            read,
            io,
            _kept: (),
        }
    }

    /// The same stream, holding `kept` until it is dropped.
    pub(crate) fn keeping<K>(self, kept: K) -> Replay<I, K> {
        Replay {
            read: self.read,
            io: self.io,
            _kept: kept,
        }
    }
}

impl<I: AsyncRead + Unpin, K: Unpin> AsyncRead for Replay<I, K> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin, K: Unpin> AsyncWrite for Replay<I, K> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn the_put_back_bytes_come_first_then_the_stream() {
        let (mut far, near) = tokio::io::duplex(64);
        let mut replay = Replay::new(Bytes::from_static(b"abc"), near);
        far.write_all(b"def").await.unwrap();
        drop(far);
        let mut first = [0u8; 2];
        replay.read_exact(&mut first).await.unwrap();
        let mut rest = Vec::new();
        replay.read_to_end(&mut rest).await.unwrap();
        assert_eq!((&first[..], &rest[..]), (&b"ab"[..], &b"cdef"[..]));
    }
}
