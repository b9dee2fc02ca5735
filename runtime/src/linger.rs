//! Lingering close for the plain-HTTP servers (Knative, `avatar-local`),
//! as nginx does it: when a connection is dropped while the client may
//! still be sending (an upload answered 401, 400 or 413 before its body was
//! read), the socket is not closed at once — closing it with unread data
//! makes the kernel send a reset, and a reset can reach the client before
//! the answer, which it then never sees. Instead the rest of the request is
//! read and discarded, up to [`LINGER_BYTES`] or [`LINGER_TIME`], and the
//! socket closed after that. On Lambda, API Gateway reads the whole request
//! before the function runs, so nothing is needed there.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The most a dropped connection reads and discards, bytes: an upload's
/// limit with room to spare (a larger body may still be cut off).
pub const LINGER_BYTES: u64 = 32 * 1024 * 1024;

/// The longest a dropped connection lingers.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

/// A [`TcpListener`] whose connections linger when dropped.
#[derive(Debug)]
pub struct LingeringListener(pub TcpListener);

impl axum::serve::Listener for LingeringListener {
    type Io = LingeringStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (LingeringStream(Some(stream)), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that drains what the client still sends once dropped.
#[derive(Debug)]
pub struct LingeringStream(Option<TcpStream>);

impl LingeringStream {
    fn stream(&mut self) -> &mut TcpStream {
        self.0.as_mut().expect("the stream is only taken on drop")
    }
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.is_write_vectored())
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let (Some(mut stream), Ok(runtime)) =
            (self.0.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            // Our answer is written; say so (FIN), then read what is left.
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            let mut rest = (&mut stream).take(LINGER_BYTES);
            let _ = tokio::time::timeout(
                LINGER_TIME,
                tokio::io::copy(&mut rest, &mut tokio::io::sink()),
            )
            .await;
        });
    }
}
