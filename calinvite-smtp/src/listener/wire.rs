//! Bytes in and out of one connection: lines with a length cap and a
//! deadline, replies batched until the peer waits for them, and the switch to
//! TLS.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;

/// The connection, in clear or under TLS.
pub(crate) enum Stream<IO> {
    Plain(IO),
    Tls(Box<TlsStream<IO>>),
    /// Between the two, or after a failed handshake.
    Gone,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_flush(cx),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Why no line came.
#[derive(Debug)]
pub(crate) enum WireError {
    /// The peer closed the connection.
    Closed,
    /// The deadline passed.
    Timeout,
    /// Shutdown began while waiting for a command.
    Shutdown,
    /// The connection failed.
    Io,
}

/// One line read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// `buf[start..end]`, ending with LF.
    Whole { start: usize, end: usize },
    /// Longer than allowed: read and dropped. `crlf`: it ended with CRLF.
    TooLong { crlf: bool },
}

/// How much to ask the socket for at once.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) struct Wire<IO> {
    stream: Stream<IO>,
    input: Vec<u8>,
    /// Where unread input starts.
    pos: usize,
    output: Vec<u8>,
    /// Time allowed for each write.
    write_timeout: std::time::Duration,
}

impl<IO: AsyncRead + AsyncWrite + Unpin + Send> Wire<IO> {
    pub(crate) fn new(io: IO, write_timeout: std::time::Duration) -> Self {
        Wire {
            stream: Stream::Plain(io),
            input: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            output: Vec::with_capacity(512),
            write_timeout,
        }
    }

    /// The bytes of a line returned by [`read_line`](Self::read_line).
    pub(crate) fn bytes(&self, start: usize, end: usize) -> &[u8] {
        &self.input[start..end]
    }

    /// Drops unread input (what a peer pipelined after STARTTLS).
    pub(crate) fn discard_input(&mut self) {
        self.input.clear();
        self.pos = 0;
    }

    /// Queues one reply line.
    pub(crate) fn reply(&mut self, text: &str) {
        self.output.extend_from_slice(text.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    /// Writes queued replies.
    pub(crate) async fn flush(&mut self) -> Result<(), WireError> {
        if self.output.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.output);
        let written = tokio::time::timeout(self.write_timeout, async {
            self.stream.write_all(&out).await?;
            self.stream.flush().await
        })
        .await;
        let mut out = out;
        out.clear();
        self.output = out;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(WireError::Io),
            Err(_) => Err(WireError::Timeout),
        }
    }

    /// Flushes, then closes the write side.
    pub(crate) async fn close(&mut self) {
        if self.flush().await.is_ok() {
            let _ = tokio::time::timeout(self.write_timeout, self.stream.shutdown()).await;
        }
    }

    /// The next line, at most `limit` bytes with its LF, arriving before
    /// `deadline`. Replies are flushed before waiting for the peer. With
    /// `shutdown`, stops waiting when it turns true.
    pub(crate) async fn read_line(
        &mut self,
        limit: usize,
        deadline: Instant,
        mut shutdown: Option<&mut watch::Receiver<bool>>,
    ) -> Result<Line, WireError> {
        let limit = limit.max(3);
        // Unread bytes already searched for a LF.
        let mut scanned = 0;
        loop {
            let unread = &self.input[self.pos..];
            if let Some(i) = unread[scanned..].iter().position(|&b| b == b'\n') {
                let i = scanned + i;
                let start = self.pos;
                self.pos += i + 1;
                if i < limit {
                    return Ok(Line::Whole {
                        start,
                        end: start + i + 1,
                    });
                }
                let crlf = i > 0 && unread[i - 1] == b'\r';
                return Ok(Line::TooLong { crlf });
            }
            scanned = unread.len();
            if unread.len() >= limit {
                return self.discard_line(deadline).await;
            }
            self.fill(deadline, shutdown.as_deref_mut()).await?;
        }
    }

    /// Reads and drops the rest of an over-long line.
    async fn discard_line(&mut self, deadline: Instant) -> Result<Line, WireError> {
        let mut last = self.input.last().copied().unwrap_or(0);
        self.pos = self.input.len();
        loop {
            self.fill(deadline, None).await?;
            let unread = &self.input[self.pos..];
            if let Some(i) = unread.iter().position(|&b| b == b'\n') {
                let before = if i > 0 { unread[i - 1] } else { last };
                self.pos += i + 1;
                return Ok(Line::TooLong {
                    crlf: before == b'\r',
                });
            }
            last = unread.last().copied().unwrap_or(last);
            self.pos = self.input.len();
        }
    }

    /// Reads more input, after flushing replies.
    async fn fill(
        &mut self,
        deadline: Instant,
        shutdown: Option<&mut watch::Receiver<bool>>,
    ) -> Result<(), WireError> {
        self.flush().await?;
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.reserve(READ_CHUNK);
        let read = async {
            tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.input)).await
        };
        let result = match shutdown {
            Some(rx) => {
                if *rx.borrow() {
                    return Err(WireError::Shutdown);
                }
                tokio::select! {
                    r = read => r,
                    _ = rx.wait_for(|s| *s) => return Err(WireError::Shutdown),
                }
            }
            None => read.await,
        };
        match result {
            Ok(Ok(0)) => Err(WireError::Closed),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(WireError::Io),
            Err(_) => Err(WireError::Timeout),
        }
    }

    /// Switches to TLS (after `220` to STARTTLS has been flushed).
    pub(crate) async fn start_tls(
        &mut self,
        config: Arc<rustls::ServerConfig>,
        deadline: Instant,
    ) -> Result<(), WireError> {
        self.flush().await?;
        self.discard_input();
        let Stream::Plain(io) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(WireError::Io);
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        match tokio::time::timeout_at(deadline, acceptor.accept(io)).await {
            Ok(Ok(tls)) => {
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
            Ok(Err(_)) => Err(WireError::Io),
            Err(_) => Err(WireError::Timeout),
        }
    }
}
