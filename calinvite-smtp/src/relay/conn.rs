//! One client connection to a relay: connect, greeting, EHLO, STARTTLS,
//! AUTH, and mail transactions (pipelined, with BDAT where offered).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::wire::{Capabilities, Reply, ReplyParser, dot_stuff, mail_from};
use super::{Credentials, RelayConfig, Security};

/// A byte stream: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What went wrong talking to the relay.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Before a transaction (connect, greeting, EHLO, TLS, AUTH): says
    /// nothing about the recipient. Always retried.
    Session(String),
    /// The connection broke or timed out during a transaction, before the
    /// relay's final reply: the message may or may not have been taken;
    /// retried (the Message-ID lets the far end recognise a duplicate).
    Lost(String),
    /// The relay answered 4xx.
    Transient(Reply, &'static str),
    /// The relay answered 5xx.
    Permanent(Reply, &'static str),
    /// The message cannot go through this relay at all (too large for its
    /// SIZE, a non-ASCII address without SMTPUTF8).
    Unsendable(String),
}

/// An open, greeted (and, as configured, secured and authenticated)
/// connection.
pub(crate) struct Conn {
    io: BufReader<Box<dyn Io>>,
    caps: Capabilities,
    pub(crate) sent: usize,
    pub(crate) last_used: Instant,
    /// Whether the connection must not be reused (a reply said it closes,
    /// or the stream is in an unknown state).
    pub(crate) broken: bool,
    /// Replies read in the current transaction.
    pub(crate) txn_replies: usize,
    /// The relay closed the connection (end of stream, or a write failed).
    pub(crate) closed_by_peer: bool,
    /// The connection's span: what is logged while it is used goes in it.
    pub(crate) span: tracing::Span,
    buf: Vec<u8>,
    line: Vec<u8>,
}

impl Conn {
    /// Connects and prepares a session as `config` asks. The connection's
    /// span is the current one (its TLS and extension fields are recorded).
    pub(crate) async fn open(config: &RelayConfig) -> Result<Conn, Failure> {
        let addr = (config.host.as_str(), config.port);
        let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                Failure::Session(format!(
                    "connecting to {}:{} timed out after {:?}",
                    config.host, config.port, config.connect_timeout
                ))
            })?
            .map_err(|e| {
                Failure::Session(format!(
                    "connecting to {}:{}: {e}",
                    config.host, config.port
                ))
            })?;
        // Every command goes out in one write: no reason to wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match config.security {
            Security::Tls => Box::new(tls(config, tcp).await?),
            _ => Box::new(tcp),
        };
        let mut conn = Conn {
            io: BufReader::with_capacity(8192, io),
            caps: Capabilities::default(),
            sent: 0,
            last_used: Instant::now(),
            broken: false,
            txn_replies: 0,
            closed_by_peer: false,
            span: tracing::Span::current(),
            buf: Vec::new(),
            line: Vec::new(),
        };
        let greeting = conn
            .read_session(config.command_timeout, "greeting")
            .await?;
        if greeting.code != 220 {
            return Err(Failure::Session(format!("relay greeting: {greeting}")));
        }
        conn.ehlo(config).await?;
        let wants_tls = match config.security {
            Security::StartTls => {
                if !conn.caps.starttls {
                    return Err(Failure::Session(
                        "the relay does not offer STARTTLS, which the configuration requires"
                            .into(),
                    ));
                }
                true
            }
            Security::Opportunistic => conn.caps.starttls && config.tls.is_some(),
            Security::None | Security::Tls => false,
        };
        if wants_tls {
            conn.write(b"STARTTLS\r\n").await?;
            let reply = conn
                .read_session(config.command_timeout, "STARTTLS")
                .await?;
            if reply.code != 220 {
                return Err(Failure::Session(format!("STARTTLS refused: {reply}")));
            }
            // Anything the server sent after its 220 was sent before the TLS
            // handshake and must not be trusted (command injection).
            if !conn.io.buffer().is_empty() {
                return Err(Failure::Session(
                    "the relay sent data after its STARTTLS reply".into(),
                ));
            }
            let plain = conn.io.into_inner();
            let secured = tls(config, plain).await?;
            conn.io = BufReader::with_capacity(8192, Box::new(secured));
            conn.caps = Capabilities::default();
            conn.ehlo(config).await?;
        }
        let tls = wants_tls || matches!(config.security, Security::Tls);
        conn.span.record("tls", tls);
        conn.span.record("pipelining", conn.caps.pipelining);
        conn.span.record("chunking", conn.caps.chunking);
        conn.span.record("size_limit", conn.caps.size);
        if let Some(credentials) = &config.credentials {
            let secure = matches!(config.security, Security::Tls) || wants_tls;
            if !secure && !config.allow_plaintext_auth {
                return Err(Failure::Session(
                    "refusing to send credentials over an unencrypted connection \
                     (use STARTTLS or TLS, or allow plaintext AUTH explicitly)"
                        .into(),
                ));
            }
            conn.auth(config, credentials).await?;
            tracing::debug!("authenticated");
        }
        Ok(conn)
    }

    async fn ehlo(&mut self, config: &RelayConfig) -> Result<(), Failure> {
        let cmd = format!("EHLO {}\r\n", config.helo_name);
        self.write(cmd.as_bytes()).await?;
        let reply = self.read_session(config.command_timeout, "EHLO").await?;
        if !reply.is_positive() {
            return Err(Failure::Session(format!("EHLO refused: {reply}")));
        }
        self.caps = Capabilities::from_ehlo(&reply);
        Ok(())
    }

    async fn auth(&mut self, config: &RelayConfig, c: &Credentials) -> Result<(), Failure> {
        let t = config.command_timeout;
        if self.caps.auth.iter().any(|m| m == "PLAIN") {
            let mut token = Vec::with_capacity(c.user.len() + c.password.len() + 2);
            token.push(0);
            token.extend_from_slice(c.user.as_bytes());
            token.push(0);
            token.extend_from_slice(c.password.as_bytes());
            let cmd = format!("AUTH PLAIN {}\r\n", BASE64.encode(token));
            self.write(cmd.as_bytes()).await?;
        } else if self.caps.auth.iter().any(|m| m == "LOGIN") {
            self.write(b"AUTH LOGIN\r\n").await?;
            for (what, value) in [("user name", &c.user), ("password", &c.password)] {
                let reply = self.read_session(t, "AUTH LOGIN").await?;
                if reply.code != 334 {
                    return Err(Failure::Session(format!(
                        "AUTH LOGIN refused before the {what}: {reply}"
                    )));
                }
                let line = format!("{}\r\n", BASE64.encode(value.as_bytes()));
                self.write(line.as_bytes()).await?;
            }
        } else {
            return Err(Failure::Session(format!(
                "the relay offers no AUTH mechanism calinvite speaks (PLAIN, LOGIN); it offers: {}",
                if self.caps.auth.is_empty() {
                    "none".to_string()
                } else {
                    self.caps.auth.join(" ")
                }
            )));
        }
        let reply = self.read_session(t, "AUTH").await?;
        if reply.code != 235 {
            return Err(Failure::Session(format!("authentication failed: {reply}")));
        }
        Ok(())
    }

    /// Sends one message to one recipient. `Ok` only on the relay's 250 to
    /// the content.
    pub(crate) async fn send(
        &mut self,
        config: &RelayConfig,
        from: &str,
        to: &str,
        message: &[u8],
    ) -> Result<Reply, Failure> {
        if let Some(limit) = self.caps.size
            && message.len() as u64 > limit
        {
            return Err(Failure::Unsendable(format!(
                "the message ({} bytes) exceeds the relay's SIZE limit of {limit} bytes",
                message.len()
            )));
        }
        self.txn_replies = 0;
        let utf8 = !from.is_ascii() || !to.is_ascii();
        if utf8 && !self.caps.smtputf8 {
            return Err(Failure::Unsendable(
                "a non-ASCII address needs SMTPUTF8, which the relay does not offer".into(),
            ));
        }
        let eight_bit = self.caps.eight_bit && !message.is_ascii();
        let t = config.command_timeout;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(mail_from(from, message.len(), eight_bit, utf8).as_bytes());
        buf.extend_from_slice(format!("RCPT TO:<{to}>\r\n").as_bytes());
        let result = if self.caps.chunking && config.chunking {
            // MAIL, RCPT and BDAT … LAST with the bytes unchanged, in one
            // write; three replies (RFC 3030, RFC 2920). The server reads
            // the chunk whatever it thought of MAIL and RCPT.
            buf.extend_from_slice(format!("BDAT {} LAST\r\n", message.len()).as_bytes());
            buf.extend_from_slice(message);
            let r = self.write(&buf).await;
            self.buf = buf;
            r?;
            let replies = self
                .read_pipelined(&[(t, "MAIL"), (t, "RCPT"), (config.data_timeout, "BDAT")])
                .await?;
            first_failure(&replies)
        } else if self.caps.pipelining && config.pipelining {
            buf.extend_from_slice(b"DATA\r\n");
            let r = self.write(&buf).await;
            self.buf = buf;
            r?;
            let mut replies = self
                .read_pipelined(&[(t, "MAIL"), (t, "RCPT"), (t, "DATA")])
                .await?;
            if replies.len() < 3 {
                return first_failure(&replies);
            }
            let (data, _) = replies.remove(2);
            let rcpt = replies.remove(1);
            let mail = replies.remove(0);
            self.finish_data(config, message, [mail, rcpt], data).await
        } else {
            self.buf = buf;
            let mail_cmd = mail_from(from, message.len(), eight_bit, utf8);
            self.write(mail_cmd.as_bytes()).await?;
            let mail = self.read_txn(t).await?;
            if !mail.is_positive() {
                return first_failure(&[(mail, "MAIL")]);
            }
            self.write(format!("RCPT TO:<{to}>\r\n").as_bytes()).await?;
            let rcpt = self.read_txn(t).await?;
            if !rcpt.is_positive() {
                return first_failure(&[(rcpt, "RCPT")]);
            }
            self.write(b"DATA\r\n").await?;
            let data = self.read_txn(t).await?;
            self.finish_data(config, message, [(mail, "MAIL"), (rcpt, "RCPT")], data)
                .await
        };
        if result.is_ok() {
            self.sent += 1;
        }
        result
    }

    /// After the reply to DATA: the content if all went well, else a lone
    /// dot when the server is waiting for content it must discard.
    async fn finish_data(
        &mut self,
        config: &RelayConfig,
        message: &[u8],
        before: [(Reply, &'static str); 2],
        data: Reply,
    ) -> Result<Reply, Failure> {
        let accepted = before.iter().all(|(r, _)| r.is_positive());
        if data.code != 354 {
            let [a, b] = before;
            return first_failure(&[a, b, (data, "DATA")]);
        }
        if !accepted {
            // RFC 2920 §3.1: with no valid recipient, end the content at once.
            self.write(b".\r\n").await?;
            let _ = self.read_txn(config.data_timeout).await?;
            let [a, b] = before;
            return first_failure(&[a, b]);
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        dot_stuff(message, &mut buf);
        let r = self.write(&buf).await;
        self.buf = buf;
        r?;
        let end = self.read_txn(config.data_timeout).await?;
        first_failure(&[(end, "end of DATA")])
    }

    /// Resets the transaction after a refusal, so the connection can be
    /// used again; marks it broken when that fails.
    pub(crate) async fn reset(&mut self, config: &RelayConfig) {
        if self.broken {
            return;
        }
        let ok = match self.write(b"RSET\r\n").await {
            Ok(()) => matches!(
                self.read(config.command_timeout).await,
                Ok(r) if r.is_positive()
            ),
            Err(_) => false,
        };
        if !ok {
            self.broken = true;
        }
    }

    /// Says goodbye (best effort, briefly).
    pub(crate) async fn quit(mut self) {
        if self.broken {
            return;
        }
        if self.write(b"QUIT\r\n").await.is_ok() {
            let _ = self.read(Duration::from_secs(2)).await;
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let io = self.io.get_mut();
        let r = async {
            io.write_all(bytes).await?;
            io.flush().await
        }
        .await;
        r.map_err(|e| {
            self.broken = true;
            self.closed_by_peer = true;
            Failure::Lost(format!("writing to the relay: {e}"))
        })
    }

    /// Reads a reply during session set-up.
    async fn read_session(&mut self, t: Duration, step: &str) -> Result<Reply, Failure> {
        self.read(t).await.map_err(|e| match e {
            Failure::Lost(m) => Failure::Session(format!("{step}: {m}")),
            other => other,
        })
    }

    /// Reads the replies to pipelined commands, in order. Stops early at a
    /// 421 (the relay is closing); a connection lost after a refusal
    /// reports the refusal, which says more.
    async fn read_pipelined(
        &mut self,
        steps: &[(Duration, &'static str)],
    ) -> Result<Vec<(Reply, &'static str)>, Failure> {
        let mut replies = Vec::with_capacity(steps.len());
        for &(t, step) in steps {
            match self.read_txn(t).await {
                Ok(r) => {
                    let closing = r.is_closing();
                    replies.push((r, step));
                    if closing {
                        break;
                    }
                }
                Err(e) => {
                    if replies
                        .iter()
                        .any(|(r, _)| !(r.is_positive() || r.is_intermediate()))
                    {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        Ok(replies)
    }

    /// Reads a reply during a transaction; a 421 marks the connection closed.
    async fn read_txn(&mut self, t: Duration) -> Result<Reply, Failure> {
        let reply = self.read(t).await?;
        self.txn_replies += 1;
        if reply.is_closing() {
            self.broken = true;
        }
        Ok(reply)
    }

    async fn read(&mut self, t: Duration) -> Result<Reply, Failure> {
        match tokio::time::timeout(t, self.read_reply()).await {
            Ok(r) => r,
            Err(_) => {
                self.broken = true;
                Err(Failure::Lost(format!(
                    "the relay did not answer within {t:?}"
                )))
            }
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, Failure> {
        let mut parser = ReplyParser::default();
        loop {
            self.line.clear();
            let n = {
                let limited = (&mut self.io).take(super::wire::MAX_REPLY_LINE as u64 + 2);
                let mut limited = limited;
                limited.read_until(b'\n', &mut self.line).await
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.broken = true;
                    return Err(Failure::Lost(format!("reading from the relay: {e}")));
                }
            };
            if n == 0 {
                self.broken = true;
                self.closed_by_peer = true;
                return Err(Failure::Lost("the relay closed the connection".into()));
            }
            let mut line = self.line.as_slice();
            if let Some(l) = line.strip_suffix(b"\n") {
                line = l;
            } else {
                self.broken = true;
                return Err(Failure::Lost("SMTP reply line too long".into()));
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match parser.push(line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => continue,
                Err(e) => {
                    self.broken = true;
                    return Err(Failure::Lost(e.to_string()));
                }
            }
        }
    }
}

/// `Ok` with the last reply when every reply is positive (3xx counts for
/// DATA), else the first refusal.
fn first_failure(replies: &[(Reply, &'static str)]) -> Result<Reply, Failure> {
    for (reply, step) in replies {
        if reply.is_positive() || reply.is_intermediate() {
            continue;
        }
        return Err(if reply.is_transient() {
            Failure::Transient(reply.clone(), step)
        } else {
            Failure::Permanent(reply.clone(), step)
        });
    }
    replies
        .last()
        .map(|(r, _)| r.clone())
        .ok_or_else(|| Failure::Lost("no reply".into()))
}

async fn tls<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    config: &RelayConfig,
    stream: S,
) -> Result<tokio_rustls::client::TlsStream<S>, Failure> {
    let Some(tls) = &config.tls else {
        return Err(Failure::Session(
            "TLS is required but no TLS client configuration was given".into(),
        ));
    };
    let name = config.server_name.as_deref().unwrap_or(&config.host);
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|e| Failure::Session(format!("TLS server name {name:?}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
    tokio::time::timeout(
        config.connect_timeout,
        connector.connect(server_name, stream),
    )
    .await
    .map_err(|_| Failure::Session("the TLS handshake timed out".into()))?
    .map_err(|e| Failure::Session(format!("TLS handshake with {name}: {e}")))
}
