//! The inbound SMTP listener: where organizers' invitations, recipients'
//! replies and delivery reports reach calinvite.
//!
//! A [`Listener`] accepts TCP connections and speaks ESMTP (RFC 5321) with
//! PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8 and, when a
//! certificate is configured, STARTTLS. It is never an open relay: each
//! `RCPT TO` is looked up with
//! [`Store::owner_by_mailbox`]
//! and only the ingest, reply and bounce mailboxes of a domain owner are
//! accepted (exact addresses, compared after calinvite's normalisation; there
//! is no sub-addressing, because calinvite never sends a tagged address).
//! Every other recipient gets `550 5.7.1`.
//!
//! # When the sender hears `250`
//!
//! After `DATA`, the message is first given to the [`Verifier`] (SPF, DKIM,
//! DMARC; [D7](calinvite_core::manual::design#d7)) and then to
//! [`Pipeline::receive`], once
//! per domain owner among the recipients (a message to two tenants is handled
//! as two, so neither sees the other's verdicts;
//! [D13](calinvite_core::manual::design#d13)). `250` is written only
//! after every call returned `Ok`, that is after the store committed. An
//! `Err` (the store is unavailable) or a pipeline that takes longer than
//! [`ListenerConfig::pipeline_timeout`] gets `451 4.3.0`: the sender keeps the
//! message and retries, so nothing that was acknowledged can be lost. A
//! retry of a message whose commit did land is harmless: the core recognises
//! repeated organizer messages and replies.
//!
//! A refusal the core records (`Outcome::Refused`) is answered `250` — the
//! refusal is in the store, for reports — except where the sender should
//! learn of it and a rejection hurts no one: a message to an ingest address
//! from someone who is not a registered organizer (`550 5.7.1`) or that
//! failed the organizer's authentication policy (`550 5.7.26`), and never
//! for a message with a null sender (bounces are never bounced). Replies are
//! always answered `250`: a rejection would tell a prober which invitation
//! tokens exist. [`ListenerConfig::reject_refusals`] turns rejections off.
//! An application that wants more for some refusals (keeping the message of
//! a sender who may register later) installs a [`RefusalHook`]
//! ([`InboundServer::with_refusal_hook`]): it decides, after the pipeline,
//! whether the sender hears the refusal, gets `250`, or is asked to retry.
//!
//! # What is added to the message
//!
//! Like any MTA that accepts a message (RFC 5321 §4.4), the listener prepends
//! one `Received:` trace header naming the peer, its HELO, the protocol and a
//! trace id. The verifier sees the message exactly as it arrived.
//!
//! # Limits
//!
//! Everything a peer sends is bounded (see [`ListenerConfig`]): message size
//! (advertised with SIZE, refused at `MAIL FROM` and again while reading
//! `DATA`: `552 5.3.4`), line length (`500 5.5.2` for commands, `554 5.6.0`
//! for message lines), recipients (`452 4.5.3`), commands and errors per
//! connection, the time to send one command, the whole `DATA` and the whole
//! session (`421 4.4.2`), and concurrent connections (`421 4.7.0` when full).
//! `DATA` that holds a bare LF or a bare CR is refused (`554 5.6.0`, RFC 5321
//! §2.3.8: lines end with CRLF), and only `<CRLF>.<CRLF>` ends a message, so
//! mail can never be smuggled through the listener.
//!
//! # Logs and counters
//!
//! Each session runs in an `smtp_session` [`tracing`] span (peer address,
//! session id, whether TLS is on). Each message ends in one event with the
//! owners it went to, the pipeline's outcome, the reply code and enhanced
//! status, its size and the time the verifier and the pipeline took; limit
//! hits are logged at `info`, a full listener and a failing store at `warn`.
//! Message content is never logged, nor the invitation token a reply
//! carries (in its UID and references, never in the address it comes to);
//! recipients are logged as the role of the mailbox (`ingest`, `reply`,
//! `bounce`) or, when refused, as their domain. [`InboundServer::metrics`]
//! (and [`Listener::metrics`], [`ListenerHandle::metrics`]) reads the
//! counters in [`ListenerMetrics`].
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use calinvite_core::lifecycle::{MemoryStore, Pipeline, RecordingTransport};
//! use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
//! use calinvite_store::system::{OsRandom, SystemClock};
//!
//! # async fn run() -> std::io::Result<()> {
//! let pipeline = Arc::new(Pipeline::new(
//!     MemoryStore::new(),
//!     RecordingTransport::new(),
//!     Arc::new(SystemClock),
//!     Box::new(OsRandom),
//! ));
//! let mut config = ListenerConfig::new("mx.events.example.com");
//! config.max_recipients = 20;
//! let listener = Listener::bind("0.0.0.0:25", config, pipeline, NoVerification).await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! // Serves until `stop` is sent or dropped; then sessions finish their
//! // transaction and get 421.
//! listener
//!     .serve(async {
//!         let _ = stopped.await;
//!     })
//!     .await?;
//! # drop(stop);
//! # Ok(())
//! # }
//! ```

mod refusals;
mod session;
mod verify;
mod wire;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use calinvite_core::lifecycle::{Pipeline, Store, Transport};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::metrics::{ListenerCounters, ListenerMetrics, bump};

pub use refusals::{RefusalAction, RefusalFuture, RefusalHook, RefusedMessage};
pub use verify::{NoVerification, Verifier, VerifyContext};

/// How the listener behaves. [`ListenerConfig::new`] gives defaults that suit
/// a public MX; change fields after it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// The name in the greeting, the EHLO reply and `Received:` headers.
    pub hostname: String,
    /// Largest message accepted, in bytes, as it arrives (advertised with SIZE).
    /// Default 10 MiB, the core's own inbound limit.
    pub max_message_bytes: usize,
    /// Longest line of a message, CRLF included. RFC 5321 §4.5.3.1.6 allows
    /// 1,000 but asks servers to be lenient; real calendar mail has longer
    /// lines. Default 8,192.
    pub max_line_bytes: usize,
    /// Longest command line, CRLF included (RFC 5321 allows 512 plus what
    /// extensions add). Default 2,048.
    pub max_command_bytes: usize,
    /// Most recipients of one message (`452 4.5.3` beyond). Default 100, the
    /// minimum RFC 5321 §4.5.3.1.8 asks servers to accept.
    pub max_recipients: usize,
    /// Most commands in one connection (a sender reconnects after the `421`).
    /// Default 10,000: about 3,000 messages.
    pub max_commands: usize,
    /// Most rejected commands in one connection before it is closed. Default 10.
    pub max_errors: usize,
    /// Most connections served at once; beyond, `421 4.7.0` and close. Default 256.
    pub max_connections: usize,
    /// Time to send one whole command line (also the TLS handshake and each
    /// write). Default 5 minutes (RFC 5321 §4.5.3.2.7).
    pub command_timeout: Duration,
    /// Time to send a whole message after `354`. Default 10 minutes.
    pub data_timeout: Duration,
    /// Time for a whole connection. Default 30 minutes.
    pub session_timeout: Duration,
    /// Time the verifier may take; after it, every result is a temporary error.
    /// Default 30 seconds.
    pub verify_timeout: Duration,
    /// Time the pipeline may take to record a message; after it, `451`.
    /// Default 60 seconds.
    pub pipeline_timeout: Duration,
    /// On shutdown, how long sessions may take to finish. Default 30 seconds.
    pub shutdown_grace: Duration,
    /// STARTTLS is offered when set. Build it with an explicit provider
    /// (`rustls::ServerConfig::builder_with_provider`), never the process default.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Whether the refusals a sender should hear of are rejected with `5xx`
    /// after being recorded (see the module docs). Default `true`.
    pub reject_refusals: bool,
}

impl ListenerConfig {
    /// Defaults, with `hostname` in the greeting.
    pub fn new(hostname: impl Into<String>) -> Self {
        ListenerConfig {
            hostname: hostname.into(),
            max_message_bytes: 10 * 1024 * 1024,
            max_line_bytes: 8192,
            max_command_bytes: 2048,
            max_recipients: 100,
            max_commands: 10_000,
            max_errors: 10,
            max_connections: 256,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(1800),
            verify_timeout: Duration::from_secs(30),
            pipeline_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            tls: None,
            reject_refusals: true,
        }
    }
}

/// The SMTP service without a socket: configuration, pipeline and verifier,
/// serving one connection at a time through
/// [`handle_connection`](Self::handle_connection). A [`Listener`] feeds it
/// from TCP; tests and fuzzers feed it any byte stream.
pub struct InboundServer<S, T, V> {
    config: ListenerConfig,
    pipeline: Arc<Pipeline<S, T>>,
    verifier: V,
    refusal_hook: Option<Box<dyn RefusalHook>>,
    shutdown: watch::Sender<bool>,
    trace_ids: AtomicU64,
    session_ids: AtomicU64,
    counters: Arc<ListenerCounters>,
}

impl<S, T, V> std::fmt::Debug for InboundServer<S, T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Store, T: Transport, V: Verifier> InboundServer<S, T, V> {
    /// A server handing messages to `pipeline`, with verdicts from `verifier`.
    pub fn new(config: ListenerConfig, pipeline: Arc<Pipeline<S, T>>, verifier: V) -> Self {
        let (shutdown, _) = watch::channel(false);
        InboundServer {
            config,
            pipeline,
            verifier,
            refusal_hook: None,
            shutdown,
            trace_ids: AtomicU64::new(0),
            session_ids: AtomicU64::new(0),
            counters: Arc::default(),
        }
    }

    /// Installs `hook`: it sees every message the pipeline refuses and
    /// decides what the sender hears ([`RefusalHook`]).
    #[must_use]
    pub fn with_refusal_hook(mut self, hook: impl RefusalHook) -> Self {
        self.refusal_hook = Some(Box::new(hook));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ListenerConfig {
        &self.config
    }

    /// The pipeline messages go to.
    pub fn pipeline(&self) -> &Arc<Pipeline<S, T>> {
        &self.pipeline
    }

    /// What the server has done so far: sessions, messages accepted and
    /// refused, limit hits.
    pub fn metrics(&self) -> ListenerMetrics {
        self.counters.snapshot()
    }

    /// Serves one SMTP session on `io` (a connection from `peer`) until the
    /// peer quits, a limit closes it, or shutdown begins. Never panics on
    /// anything the peer sends.
    pub async fn handle_connection<IO>(&self, io: IO, peer: SocketAddr)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        session::run(self, io, peer).await;
    }

    /// Asks every session to finish: each answers `421 4.3.2` at its next
    /// command (a message being recorded is recorded first).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    fn next_trace_id(&self) -> u64 {
        self.trace_ids.fetch_add(1, Ordering::Relaxed)
    }

    fn next_session_id(&self) -> u64 {
        self.session_ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// A bound TCP listener feeding an [`InboundServer`].
pub struct Listener<S, T, V> {
    tcp: TcpListener,
    server: Arc<InboundServer<S, T, V>>,
}

impl<S, T, V> std::fmt::Debug for Listener<S, T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.tcp.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl<S, T, V> Listener<S, T, V>
where
    S: Store + 'static,
    T: Transport + 'static,
    V: Verifier,
{
    /// Binds `addr` (port 0 picks a free port) for a server handing messages
    /// to `pipeline`.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: ListenerConfig,
        pipeline: Arc<Pipeline<S, T>>,
        verifier: V,
    ) -> io::Result<Self> {
        let tcp = TcpListener::bind(addr).await?;
        Ok(Self::from_tcp(
            tcp,
            Arc::new(InboundServer::new(config, pipeline, verifier)),
        ))
    }

    /// A listener on an already bound socket.
    pub fn from_tcp(tcp: TcpListener, server: Arc<InboundServer<S, T, V>>) -> Self {
        Listener { tcp, server }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The server behind it.
    pub fn server(&self) -> &Arc<InboundServer<S, T, V>> {
        &self.server
    }

    /// What the listener has done so far (see [`InboundServer::metrics`]).
    pub fn metrics(&self) -> ListenerMetrics {
        self.server.metrics()
    }

    /// Accepts connections until `shutdown` completes; then stops accepting,
    /// asks sessions to finish, and waits up to
    /// [`ListenerConfig::shutdown_grace`] before dropping the rest.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Listener { tcp, server } = self;
        let config = &server.config;
        let sessions = Arc::new(Semaphore::new(config.max_connections.max(1)));
        // Connections turned away still get a 421; a flood of them gets nothing.
        let turned_away = Arc::new(Semaphore::new(64));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = tcp.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors and the like: back off, keep serving.
                            tracing::warn!(error = %e, "accepting a connection failed; backing off");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = socket.set_nodelay(true);
                    if let Ok(permit) = sessions.clone().try_acquire_owned() {
                        let server = server.clone();
                        tasks.spawn(async move {
                            server.handle_connection(socket, peer).await;
                            drop(permit);
                        });
                    } else if let Ok(permit) = turned_away.clone().try_acquire_owned() {
                        bump(&server.counters.connections_turned_away);
                        tracing::warn!(
                            peer = %peer,
                            max_connections = config.max_connections,
                            code = 421,
                            status = "4.7.0",
                            "connection limit reached; connection turned away"
                        );
                        let hostname = config.hostname.clone();
                        tasks.spawn(async move {
                            turn_away(socket, &hostname).await;
                            drop(permit);
                        });
                    } else {
                        bump(&server.counters.connections_turned_away);
                        tracing::warn!(
                            peer = %peer,
                            max_connections = config.max_connections,
                            "connection limit reached; connection dropped without a reply"
                        );
                    }
                }
            }
        }
        drop(tcp);
        tracing::info!(
            sessions = tasks.len(),
            "listener stopping; sessions asked to finish"
        );
        server.begin_shutdown();
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                sessions = tasks.len(),
                grace_ms = u64::try_from(config.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
                "sessions still open after the shutdown grace; dropped"
            );
            tasks.shutdown().await;
        }
        Ok(())
    }

    /// Serves on a spawned task; the handle stops it.
    pub fn spawn(self) -> io::Result<ListenerHandle> {
        let local_addr = self.local_addr()?;
        let counters = self.server.counters.clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(self.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Ok(ListenerHandle {
            local_addr,
            stop,
            task,
            counters,
        })
    }
}

/// A listener serving on its own task.
#[derive(Debug)]
pub struct ListenerHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<io::Result<()>>,
    counters: Arc<ListenerCounters>,
}

impl ListenerHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the listener has done so far (see [`InboundServer::metrics`]).
    pub fn metrics(&self) -> ListenerMetrics {
        self.counters.snapshot()
    }

    /// Stops accepting, lets sessions finish (within the grace period) and
    /// waits for the listener to end.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stop.send_replace(true);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

/// Tells a connection beyond the limit to come back later.
async fn turn_away(mut socket: TcpStream, hostname: &str) {
    let line = format!("421 4.7.0 {hostname} too many connections, try again later\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        socket.write_all(line.as_bytes()).await?;
        socket.shutdown().await
    })
    .await;
}
