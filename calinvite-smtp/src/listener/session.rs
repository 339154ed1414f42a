//! One SMTP session: the command state machine, `DATA`, and the hand-off to
//! the pipeline.

use std::borrow::Cow;
use std::net::SocketAddr;

use calinvite_core::EmailAddress;
use calinvite_core::inbound::{AuthResult, AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::Outcome;
use calinvite_core::lifecycle::{
    DomainOwner, OwnerId, PipelineError, Refusal, RefusalReason, Store, Transport,
};
use smtp_proto::{Error as ParseError, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::metrics::{ListenerCounters, add, bump};
use crate::obs::{domain_of, ms_since, outcome_name};

use super::InboundServer;
use super::refusals::{RefusalAction, RefusedMessage};
use super::verify::{Verifier, VerifyContext};
use super::wire::{Line, Wire, WireError};

/// The envelope being collected.
struct Transaction {
    /// As given; `""` for a null sender.
    mail_from: String,
    /// Accepted recipients (normalised) with their owner, in RCPT order.
    recipients: Vec<(EmailAddress, OwnerId)>,
}

struct Session<'a, S, T, V, IO> {
    server: &'a InboundServer<S, T, V>,
    wire: Wire<IO>,
    peer: SocketAddr,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    transaction: Option<Transaction>,
    commands: usize,
    errors: usize,
    /// Messages answered at the end of `DATA` (for the session's last event).
    messages: usize,
    started: Instant,
    session_deadline: Instant,
}

/// What to do after a command.
enum Next {
    Continue,
    Close,
}

pub(crate) async fn run<S, T, V, IO>(server: &InboundServer<S, T, V>, io: IO, peer: SocketAddr)
where
    S: Store,
    T: Transport,
    V: Verifier,
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    let config = &server.config;
    let started = Instant::now();
    let span = tracing::info_span!(
        "smtp_session",
        session = server.next_session_id(),
        peer = %peer,
        tls = false,
    );
    bump(&server.counters.sessions);
    let mut session = Session {
        server,
        wire: Wire::new(io, config.command_timeout),
        peer,
        helo: None,
        esmtp: false,
        tls: false,
        transaction: None,
        commands: 0,
        errors: 0,
        messages: 0,
        started,
        session_deadline: started + config.session_timeout,
    };
    session.serve().instrument(span).await;
}

impl<S, T, V, IO> Session<'_, S, T, V, IO>
where
    S: Store,
    T: Transport,
    V: Verifier,
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    fn host(&self) -> &str {
        &self.server.config.hostname
    }

    fn counters(&self) -> &ListenerCounters {
        &self.server.counters
    }

    async fn serve(&mut self) {
        let mut shutdown = self.server.shutdown.subscribe();
        if *shutdown.borrow() {
            let text = format!("421 4.3.2 {} shutting down", self.host());
            self.wire.reply(&text);
            self.wire.close().await;
            return;
        }
        tracing::debug!("session opened");
        let text = format!("220 {} ESMTP calinvite", self.host());
        self.wire.reply(&text);
        loop {
            let config = &self.server.config;
            let deadline = self
                .session_deadline
                .min(Instant::now() + config.command_timeout);
            let line = self
                .wire
                .read_line(config.max_command_bytes, deadline, Some(&mut shutdown))
                .await;
            let next = match line {
                Ok(Line::Whole { start, end }) => {
                    // Owned: the reply may need the input buffer.
                    let bytes = self.wire.bytes(start, end).to_vec();
                    self.command(&bytes).await
                }
                Ok(Line::TooLong { .. }) => {
                    bump(&self.counters().limit_line_length);
                    tracing::info!(
                        limit = config.max_command_bytes,
                        code = 500,
                        status = "5.5.2",
                        "command line too long"
                    );
                    self.error("500 5.5.2 line too long")
                }
                Err(e) => self.ended(e),
            };
            if matches!(next, Next::Close) {
                break;
            }
        }
        self.wire.close().await;
        tracing::debug!(
            commands = self.commands,
            errors = self.errors,
            messages = self.messages,
            duration_ms = ms_since(self.started),
            "session closed"
        );
    }

    /// Queues the reply to a wire error and says to close.
    fn ended(&mut self, e: WireError) -> Next {
        let text = match e {
            WireError::Timeout => {
                bump(&self.counters().limit_timeouts);
                tracing::info!(
                    code = 421,
                    status = "4.4.2",
                    in_data = self.transaction.is_some(),
                    duration_ms = ms_since(self.started),
                    "timeout; closing the session"
                );
                format!("421 4.4.2 {} timeout, closing connection", self.host())
            }
            WireError::Shutdown => {
                tracing::debug!(
                    code = 421,
                    status = "4.3.2",
                    "shutting down; closing the session"
                );
                format!("421 4.3.2 {} shutting down", self.host())
            }
            WireError::Closed => {
                tracing::debug!("the peer closed the connection");
                return Next::Close;
            }
            WireError::Io => {
                tracing::debug!("the connection failed");
                return Next::Close;
            }
        };
        self.wire.reply(&text);
        Next::Close
    }

    /// A rejected command: counted, and the connection closed after too many.
    fn error(&mut self, text: &str) -> Next {
        self.wire.reply(text);
        self.errors += 1;
        if self.errors >= self.server.config.max_errors {
            bump(&self.counters().limit_commands);
            tracing::info!(
                errors = self.errors,
                code = 421,
                status = "4.7.0",
                "too many rejected commands; closing the session"
            );
            let text = format!(
                "421 4.7.0 {} too many errors, closing connection",
                self.host()
            );
            self.wire.reply(&text);
            return Next::Close;
        }
        Next::Continue
    }

    async fn command(&mut self, line: &[u8]) -> Next {
        self.commands += 1;
        if self.commands > self.server.config.max_commands {
            bump(&self.counters().limit_commands);
            tracing::info!(
                commands = self.commands - 1,
                code = 421,
                status = "4.7.0",
                "too many commands; closing the session"
            );
            let text = format!(
                "421 4.7.0 {} too many commands, closing connection",
                self.host()
            );
            self.wire.reply(&text);
            return Next::Close;
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(r) => r,
            Err(e) => return self.parse_error(line, &e),
        };
        match request {
            Request::Ehlo { host } => self.hello(&host, true),
            Request::Helo { host } => self.hello(&host, false),
            Request::Lhlo { .. } => self.error("500 5.5.1 this is an SMTP server, not LMTP"),
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.transaction = None;
                self.wire.reply("250 2.0.0 OK");
                Next::Continue
            }
            Request::Noop { .. } => {
                self.wire.reply("250 2.0.0 OK");
                Next::Continue
            }
            Request::Quit => {
                let text = format!("221 2.0.0 {} closing connection", self.host());
                self.wire.reply(&text);
                Next::Close
            }
            Request::Vrfy { .. } => {
                self.wire.reply(
                    "252 2.5.0 cannot verify the user, but will accept mail for served addresses",
                );
                Next::Continue
            }
            Request::Help { .. } => {
                self.wire
                    .reply("214 2.0.0 calinvite accepts calendar mail: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT");
                Next::Continue
            }
            Request::StartTls => self.start_tls().await,
            Request::Bdat { .. } => self.error("502 5.5.1 CHUNKING is not offered; use DATA"),
            Request::Auth { .. } => self.error("502 5.5.1 AUTH is not offered here"),
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error("502 5.5.1 command not implemented"),
        }
    }

    fn parse_error(&mut self, line: &[u8], e: &ParseError) -> Next {
        // A web client talking to the SMTP port: nothing good can follow.
        if line.starts_with(b"GET ") || line.starts_with(b"POST ") || line.starts_with(b"CONNECT ")
        {
            tracing::info!(
                code = 554,
                status = "5.7.0",
                "an HTTP request on the SMTP port; closing"
            );
            self.wire
                .reply("554 5.7.0 this is an SMTP server; closing connection");
            return Next::Close;
        }
        let text = match e {
            ParseError::UnknownCommand => Cow::Borrowed("500 5.5.1 command not recognised"),
            ParseError::InvalidSenderAddress => {
                Cow::Borrowed("501 5.1.7 bad sender address syntax")
            }
            ParseError::InvalidRecipientAddress => {
                Cow::Borrowed("501 5.1.3 bad recipient address syntax")
            }
            ParseError::SyntaxError { syntax } => Cow::Owned(format!("501 5.5.4 syntax: {syntax}")),
            ParseError::InvalidParameter { param } => {
                Cow::Owned(format!("501 5.5.4 invalid parameter {param}"))
            }
            ParseError::UnsupportedParameter { .. } => {
                Cow::Borrowed("555 5.5.4 unsupported parameter")
            }
            _ => Cow::Borrowed("500 5.5.2 syntax error"),
        };
        self.error(&text)
    }

    fn hello(&mut self, host: &str, esmtp: bool) -> Next {
        self.helo = Some(clean(host, 255));
        self.esmtp = esmtp;
        self.transaction = None;
        let host_name = self.server.config.hostname.clone();
        if !esmtp {
            self.wire.reply(&format!("250 {host_name}"));
            return Next::Continue;
        }
        let mut lines = vec![
            host_name,
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.server.config.max_message_bytes),
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            "SMTPUTF8".to_owned(),
        ];
        if self.server.config.tls.is_some() && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.wire.reply(&format!("250{sep}{l}"));
        }
        Next::Continue
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<Cow<'_, str>>) -> Next {
        if self.helo.is_none() {
            return self.error("503 5.5.1 send EHLO or HELO first");
        }
        if self.transaction.is_some() {
            return self.error("503 5.5.1 nested MAIL command");
        }
        let offered = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME | MAIL_SMTPUTF8;
        if from.flags & !offered != 0
            || from.env_id.is_some()
            || from.trans_id.is_some()
            || from.auth.is_some()
            || from.mtrk.is_some()
            || from.solicit.is_some()
            || from.by != 0
            || from.hold_for != 0
            || from.hold_until != 0
            || from.mt_priority != 0
        {
            return self.error("555 5.5.4 MAIL parameter not offered here");
        }
        if from.size > self.server.config.max_message_bytes {
            bump(&self.counters().limit_size);
            tracing::info!(
                declared_bytes = from.size,
                limit = self.server.config.max_message_bytes,
                code = 552,
                status = "5.3.4",
                "message refused at MAIL FROM: declared SIZE over the limit"
            );
            let text = format!(
                "552 5.3.4 message size exceeds fixed limit of {} bytes",
                self.server.config.max_message_bytes
            );
            return self.error(&text);
        }
        let address = from.address.trim();
        if address.len() > 254 || address.bytes().any(|b| b.is_ascii_control()) {
            return self.error("501 5.1.7 bad sender address syntax");
        }
        self.transaction = Some(Transaction {
            mail_from: address.to_owned(),
            recipients: Vec::new(),
        });
        self.wire.reply("250 2.1.0 sender OK");
        Next::Continue
    }

    async fn rcpt(&mut self, to: smtp_proto::RcptTo<Cow<'_, str>>) -> Next {
        let max = self.server.config.max_recipients;
        let Some(transaction) = &self.transaction else {
            return self.error("503 5.5.1 send MAIL first");
        };
        if to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0 {
            return self.error("555 5.5.4 RCPT parameter not offered here");
        }
        if transaction.recipients.len() >= max {
            // Not an error: the client sends the rest in another transaction.
            bump(&self.counters().limit_recipients);
            tracing::info!(
                limit = max,
                code = 452,
                status = "4.5.3",
                "recipient limit reached"
            );
            self.wire.reply("452 4.5.3 too many recipients");
            return Next::Continue;
        }
        let Ok(address) = EmailAddress::parse(&to.address) else {
            bump(&self.counters().recipients_refused);
            tracing::info!(
                rcpt_domain = %clean(domain_of(&to.address), 254),
                code = 550,
                status = "5.7.1",
                reason = "not an address",
                "recipient refused"
            );
            let text = format!(
                "550 5.7.1 <{}>: not a mailbox this server accepts mail for (no relaying)",
                clean(&to.address, 254)
            );
            return self.error(&text);
        };
        let store = self.server.pipeline.store();
        let lookup = tokio::time::timeout(
            self.server.config.pipeline_timeout,
            store.owner_by_mailbox(&address),
        )
        .await;
        match lookup {
            Ok(Ok(Some(owner))) => {
                tracing::debug!(
                    owner = owner.id.0,
                    mailbox = mailbox_role(&owner, &address),
                    "recipient accepted"
                );
                if let Some(t) = &mut self.transaction
                    && !t.recipients.iter().any(|(a, _)| *a == address)
                {
                    t.recipients.push((address, owner.id));
                }
                self.wire.reply("250 2.1.5 recipient OK");
                Next::Continue
            }
            Ok(Ok(None)) => {
                bump(&self.counters().recipients_refused);
                tracing::info!(
                    rcpt_domain = %domain_of(address.as_str()),
                    code = 550,
                    status = "5.7.1",
                    reason = "not a served mailbox",
                    "recipient refused"
                );
                let text = format!(
                    "550 5.7.1 <{address}>: not a mailbox this server accepts mail for (no relaying)"
                );
                self.error(&text)
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    error = %e,
                    code = 451,
                    status = "4.3.0",
                    "recipient lookup failed: the store"
                );
                self.wire
                    .reply("451 4.3.0 recipient lookup failed, try again later");
                Next::Continue
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = millis(self.server.config.pipeline_timeout),
                    code = 451,
                    status = "4.3.0",
                    "recipient lookup timed out"
                );
                self.wire
                    .reply("451 4.3.0 recipient lookup failed, try again later");
                Next::Continue
            }
        }
    }

    async fn start_tls(&mut self) -> Next {
        let Some(config) = self.server.config.tls.clone() else {
            return self.error("502 5.5.1 STARTTLS is not offered");
        };
        if self.tls {
            return self.error("503 5.5.1 TLS is already active");
        }
        self.wire.reply("220 2.0.0 ready to start TLS");
        let deadline = self
            .session_deadline
            .min(Instant::now() + self.server.config.command_timeout);
        // Whatever was pipelined after STARTTLS came in clear: it is dropped
        // (RFC 3207 §4.2), never read as if it had come under TLS.
        if self.wire.start_tls(config, deadline).await.is_err() {
            tracing::info!("TLS handshake failed; closing the session");
            return Next::Close;
        }
        bump(&self.counters().tls_sessions);
        tracing::Span::current().record("tls", true);
        tracing::debug!("TLS started");
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.transaction = None;
        Next::Continue
    }

    async fn data(&mut self) -> Next {
        let has_recipients = self.transaction.as_ref().map(|t| !t.recipients.is_empty());
        match has_recipients {
            None => return self.error("503 5.5.1 send MAIL first"),
            Some(false) => return self.error("554 5.5.1 no valid recipients"),
            Some(true) => {}
        }
        self.wire.reply("354 end data with <CR><LF>.<CR><LF>");
        let config = &self.server.config;
        let deadline = self
            .session_deadline
            .min(Instant::now() + config.data_timeout);
        let max_bytes = config.max_message_bytes;
        let max_line = config.max_line_bytes;
        let mut message = Vec::new();
        // Every byte the peer sent after 354 (the size logged when refused).
        let mut received = 0usize;
        let mut too_big = false;
        let mut line_too_long = false;
        let mut bare_newline = false;
        // Only <CRLF>.<CRLF> ends the data: the line before must end in CRLF
        // (the DATA command's own line did).
        let mut after_crlf = true;
        loop {
            let line = match self.wire.read_line(max_line, deadline, None).await {
                Ok(l) => l,
                Err(e) => {
                    self.transaction = None;
                    return self.ended(e);
                }
            };
            let (start, end) = match line {
                Line::Whole { start, end } => (start, end),
                Line::TooLong { crlf } => {
                    received = received.saturating_add(max_line);
                    line_too_long = true;
                    after_crlf = crlf;
                    continue;
                }
            };
            let line = self.wire.bytes(start, end);
            received = received.saturating_add(line.len());
            let crlf = line.len() >= 2 && line[line.len() - 2] == b'\r';
            let content = &line[..line.len() - if crlf { 2 } else { 1 }];
            if !crlf || content.contains(&b'\r') {
                bare_newline = true;
            }
            if crlf && after_crlf && content == b"." {
                break;
            }
            after_crlf = crlf;
            if too_big || bare_newline || line_too_long {
                continue;
            }
            let content = content.strip_prefix(b".").unwrap_or(content);
            if message.len() + content.len() + 2 > max_bytes {
                too_big = true;
                message = Vec::new();
                continue;
            }
            message.extend_from_slice(content);
            message.extend_from_slice(b"\r\n");
        }
        let Some(transaction) = self.transaction.take() else {
            return Next::Continue;
        };
        self.messages += 1;
        if too_big || bare_newline || line_too_long {
            let counters = self.counters();
            bump(&counters.messages_refused_limit);
            let (limit, code, status) = if too_big {
                bump(&counters.limit_size);
                ("size", 552, "5.3.4")
            } else if bare_newline {
                bump(&counters.limit_bare_newline);
                ("bare-newline", 554, "5.6.0")
            } else {
                bump(&counters.limit_line_length);
                ("line-length", 554, "5.6.0")
            };
            tracing::info!(
                limit,
                bytes = received,
                recipients = transaction.recipients.len(),
                code,
                status,
                "message refused at the end of DATA"
            );
        }
        if too_big {
            let text = format!("552 5.3.4 message size exceeds fixed limit of {max_bytes} bytes");
            return self.error(&text);
        }
        if bare_newline {
            return self.error(
                "554 5.6.0 message contains a bare LF or CR; lines end with CRLF (RFC 5321 §2.3.8)",
            );
        }
        if line_too_long {
            let text = format!("554 5.6.0 message has a line longer than {max_line} bytes");
            return self.error(&text);
        }
        let reply = self.deliver(transaction, message).await;
        self.wire.reply(&reply);
        Next::Continue
    }

    /// Verifies and records the message; the reply to the end of DATA.
    async fn deliver(&mut self, transaction: Transaction, message: Vec<u8>) -> String {
        let config = &self.server.config;
        let counters = &self.server.counters;
        let bytes = message.len();
        let helo = self.helo.clone().unwrap_or_default();
        let context = VerifyContext {
            peer: self.peer.ip(),
            helo: &helo,
            mail_from: &transaction.mail_from,
            hostname: &config.hostname,
        };
        let verify_started = Instant::now();
        let verdict = tokio::time::timeout(
            config.verify_timeout,
            self.server.verifier.verify(&context, &message),
        )
        .await
        .unwrap_or_else(|_| {
            tracing::warn!(
                timeout_ms = millis(config.verify_timeout),
                "the verifier timed out; SPF and DMARC taken as temporary errors"
            );
            AuthVerdict {
                spf: AuthResult::TempError,
                dkim: Vec::new(),
                dmarc: AuthResult::TempError,
            }
        });
        let verify_ms = ms_since(verify_started);
        let id = format!(
            "{:x}{:06x}",
            self.server.pipeline.now().timestamp(),
            self.server.next_trace_id() & 0xff_ffff
        );
        let mut raw = self.received_header(&transaction, &id);
        let header_len = raw.len();
        raw.extend_from_slice(&message);
        drop(message);

        // One hand-off per domain owner among the recipients
        // (manual: design D13).
        let mut owners: Vec<OwnerId> = Vec::new();
        for (_, owner) in &transaction.recipients {
            if !owners.contains(owner) {
                owners.push(*owner);
            }
        }
        let owner_count = owners.len();
        let owner_list = owners
            .iter()
            .map(|o| o.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut outcomes: Vec<&'static str> = Vec::with_capacity(owner_count);
        let pipeline_started = Instant::now();
        let mut rejections = Vec::new();
        for owner in owners {
            let rcpt_to = transaction
                .recipients
                .iter()
                .filter(|(_, o)| *o == owner)
                .map(|(a, _)| a.to_string())
                .collect();
            let envelope = InboundEnvelope {
                mail_from: Some(transaction.mail_from.clone()),
                rcpt_to,
                peer: Some(self.peer.ip()),
            };
            let received = tokio::time::timeout(
                config.pipeline_timeout,
                self.server
                    .pipeline
                    .receive(&raw, envelope.clone(), verdict.clone()),
            )
            .await;
            let failure = match received {
                Ok(Ok(Outcome::Refused(refusal))) => {
                    let refused = RefusedMessage {
                        owner,
                        raw: &raw,
                        as_arrived: raw.get(header_len..).unwrap_or_default(),
                        envelope: &envelope,
                        verdict: &verdict,
                        refusal: &refusal,
                        trace_id: &id,
                    };
                    match self.refusal_action(refused).await {
                        RefusalAction::Taken { outcome } => {
                            tracing::debug!(
                                owner = owner.0,
                                outcome,
                                reason = refusal.reason.as_str(),
                                "refused message taken by the application"
                            );
                            outcomes.push(outcome);
                            continue;
                        }
                        RefusalAction::Retry => "the refusal hook asked for a retry".to_owned(),
                        RefusalAction::Keep => {
                            tracing::debug!(
                                owner = owner.0,
                                outcome = "refused",
                                reason = refusal.reason.as_str(),
                                "message recorded as refused"
                            );
                            outcomes.push("refused");
                            rejections.push(refusal);
                            continue;
                        }
                    }
                }
                Ok(Ok(outcome)) => {
                    let name = outcome_name(&outcome);
                    outcomes.push(name);
                    tracing::debug!(owner = owner.0, outcome = name, "message recorded");
                    continue;
                }
                Ok(Err(e)) => pipeline_failure(&e),
                Err(_) => "timeout".to_owned(),
            };
            bump(&counters.messages_deferred);
            tracing::warn!(
                id = %id,
                owner = owner.0,
                failure = %failure,
                bytes,
                verify_ms,
                pipeline_ms = ms_since(pipeline_started),
                code = 451,
                status = "4.3.0",
                "message not recorded; the sender will retry"
            );
            return "451 4.3.0 message not recorded, try again later".to_owned();
        }
        let pipeline_ms = ms_since(pipeline_started);
        let outcome = outcomes.join(",");
        if config.reject_refusals && !transaction.mail_from.is_empty() {
            // Rejected only when every owner refused it and the first refusal
            // is one the sender should hear of.
            let all_refused = rejections.len() == owner_count;
            if all_refused
                && let Some(first) = rejections.first()
                && let Some(text) = rejection(first)
            {
                bump(&counters.messages_rejected);
                let (code, status) = code_and_status(&text);
                tracing::info!(
                    id = %id,
                    owners = %owner_list,
                    outcome = %outcome,
                    reason = first.reason.as_str(),
                    bytes,
                    verify_ms,
                    pipeline_ms,
                    code,
                    status,
                    "message recorded and rejected"
                );
                return text;
            }
        }
        bump(&counters.messages_accepted);
        add(&counters.bytes_accepted, bytes as u64);
        tracing::info!(
            id = %id,
            owners = %owner_list,
            outcome = %outcome,
            reason = rejections.first().map(|r| r.reason.as_str()),
            bytes,
            verify_ms,
            pipeline_ms,
            code = 250,
            status = "2.0.0",
            "message accepted"
        );
        format!("250 2.0.0 OK id={id}")
    }

    /// What the application's [`RefusalHook`](super::RefusalHook) says about
    /// a refused message ([`RefusalAction::Keep`] without one); a hook that
    /// takes longer than the pipeline may is a retry.
    async fn refusal_action(&self, message: RefusedMessage<'_>) -> RefusalAction {
        let Some(hook) = &self.server.refusal_hook else {
            return RefusalAction::Keep;
        };
        let timeout = self.server.config.pipeline_timeout;
        tokio::time::timeout(timeout, hook.refused(message))
            .await
            .unwrap_or_else(|_| {
                tracing::warn!(
                    timeout_ms = millis(timeout),
                    "the refusal hook timed out; the sender is asked to retry"
                );
                RefusalAction::Retry
            })
    }

    fn received_header(&self, transaction: &Transaction, id: &str) -> Vec<u8> {
        let helo = self.helo.as_deref().unwrap_or("unknown");
        let protocol = match (self.esmtp, self.tls) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, true) => "SMTPS",
            (false, false) => "SMTP",
        };
        let ip = match self.peer.ip() {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("IPv6:{v6}"),
        };
        let mut header = format!(
            "Received: from {helo} ([{ip}])\r\n\tby {host} (calinvite) with {protocol} id {id}",
            host = self.host(),
        );
        // A single recipient is named; several are not (they may be private).
        if let [(only, _)] = transaction.recipients.as_slice() {
            header.push_str(&format!("\r\n\tfor <{only}>"));
        }
        header.push_str(&format!(
            ";\r\n\t{}\r\n",
            self.server.pipeline.now().to_rfc2822()
        ));
        header.into_bytes()
    }
}

/// The SMTP rejection of a recorded refusal, when the sender should hear of it.
fn rejection(refusal: &Refusal) -> Option<String> {
    let (code, text) = match refusal.reason {
        RefusalReason::NotAnOrganizer => ("550 5.7.1", "the sender is not a registered organizer"),
        // RFC 7372: multiple authentication checks failed.
        RefusalReason::AuthenticationFailed => (
            "550 5.7.26",
            "the message failed the organizer's authentication policy",
        ),
        _ => return None,
    };
    Some(format!("{code} {text}: {}", clean(&refusal.detail, 200)))
}

/// Which of an owner's mailboxes `address` is: what is logged of a served
/// recipient.
fn mailbox_role(owner: &DomainOwner, address: &EmailAddress) -> &'static str {
    if *address == owner.ingest {
        "ingest"
    } else if *address == owner.reply {
        "reply"
    } else if *address == owner.bounce {
        "bounce"
    } else {
        "other"
    }
}

/// What is logged of a pipeline failure: the store's error, or the kind of
/// failure (a refusal's or a lookup's details may name what is not logged).
fn pipeline_failure(e: &PipelineError) -> String {
    match e {
        PipelineError::Store(e) => format!("store: {e}"),
        PipelineError::Refused(r) => format!("refused: {}", r.reason.as_str()),
        PipelineError::NotFound(_) => "not found".to_owned(),
        _ => "pipeline error".to_owned(),
    }
}

/// The code and enhanced status at the start of a reply line.
fn code_and_status(reply: &str) -> (u16, &str) {
    let mut words = reply.split(' ');
    let code = words.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, words.next().unwrap_or(""))
}

/// A duration in whole milliseconds, for log fields.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Printable ASCII from peer-supplied text, for replies and headers.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(max)
        .collect()
}
