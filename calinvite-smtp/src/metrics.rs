//! Counters an application exports as metrics.
//!
//! A [`Listener`](crate::listener::Listener) (and its
//! [`InboundServer`](crate::listener::InboundServer) and
//! [`ListenerHandle`](crate::listener::ListenerHandle)) and an
//! [`SmtpRelay`](crate::relay::SmtpRelay) count what they do in atomic
//! counters that only ever rise from the moment they were created. `metrics()`
//! reads them all into a plain snapshot struct, which an application turns
//! into Prometheus counters, OpenTelemetry metrics or log lines as it likes:
//!
//! ```
//! use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
//!
//! let relay = SmtpRelay::new(RelayConfig::plaintext("127.0.0.1", 25))?;
//! let m = relay.metrics();
//! assert_eq!(m.messages_sent, 0);
//! println!("sent {} (transient failures {})", m.messages_sent, m.transient_failures);
//! # Ok::<(), calinvite_smtp::relay::ConfigError>(())
//! ```
//!
//! Reading is cheap (a relaxed load per field) and never blocks a session or
//! a send. Counters are read one by one, so a snapshot taken while messages
//! flow may be a message apart between fields.

use std::sync::atomic::{AtomicU64, Ordering};

/// Declares a snapshot struct and the atomic counters behind it, field for
/// field, with the same documentation.
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $snapshot:ident / $atomics:ident {
            $( $(#[$fmeta:meta])* $field:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $snapshot {
            $( $(#[$fmeta])* pub $field: u64, )*
        }

        /// The live counters behind the snapshot.
        #[derive(Debug, Default)]
        pub(crate) struct $atomics {
            $( pub(crate) $field: AtomicU64, )*
        }

        impl $atomics {
            /// Every counter, read now.
            pub(crate) fn snapshot(&self) -> $snapshot {
                $snapshot {
                    $( $field: self.$field.load(Ordering::Relaxed), )*
                }
            }
        }
    };
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

counters! {
    /// What an inbound SMTP listener has done since it was created.
    ///
    /// A message is counted once, at the reply to its end of `DATA`: as
    /// accepted (`250`), rejected after being recorded (`550`, a refusal the
    /// sender should hear of), deferred (`451`, the store failed or was too
    /// slow) or refused for a limit (size, line length, bare LF). Limit hits
    /// are also counted by kind.
    pub struct ListenerMetrics / ListenerCounters {
        /// SMTP sessions served (connections given a greeting).
        sessions,
        /// Sessions that switched to TLS with STARTTLS.
        tls_sessions,
        /// Connections turned away with `421 4.7.0` because
        /// the listener served its maximum of connections.
        connections_turned_away,
        /// Messages answered `250`: recorded by the pipeline.
        messages_accepted,
        /// Bytes of the accepted messages, as they arrived.
        bytes_accepted,
        /// Messages recorded as refused and rejected with `5xx` (a sender
        /// who is not an organizer, a failed authentication policy).
        messages_rejected,
        /// Messages answered `451`: not recorded, the sender retries.
        messages_deferred,
        /// Messages refused at the end of `DATA` for a limit (size, line
        /// length, bare LF or CR).
        messages_refused_limit,
        /// Recipients refused with `550 5.7.1`: not a mailbox the listener
        /// serves (relaying attempts, typos).
        recipients_refused,
        /// `SIZE` limit hits, at `MAIL FROM` or while reading `DATA`.
        limit_size,
        /// Line-length limit hits (command lines and message lines).
        limit_line_length,
        /// Recipient limit hits (`452 4.5.3`).
        limit_recipients,
        /// Command, `DATA` or session timeouts (`421 4.4.2`).
        limit_timeouts,
        /// Messages holding a bare LF or bare CR.
        limit_bare_newline,
        /// Sessions closed for too many commands or too many errors.
        limit_commands,
    }
}

counters! {
    /// What an outbound SMTP relay client has done since it was created.
    pub struct RelayMetrics / RelayCounters {
        /// Messages the relay accepted (2xx to their content).
        messages_sent,
        /// Bytes of the messages the relay accepted.
        bytes_sent,
        /// Sends that failed transiently (4xx, connection lost, session
        /// set-up failed): the queue retries them.
        transient_failures,
        /// Sends that failed permanently (5xx, unsendable): the invitation
        /// bounces.
        permanent_failures,
        /// Connections opened and ready (greeted, secured, authenticated).
        connections_opened,
        /// Connections that could not be opened or set up.
        connection_failures,
        /// Sends tried again on a new connection because a pooled one had
        /// been closed by the relay or was answered `421` at `MAIL`.
        reconnects,
        /// `421` replies received during a transaction (the relay closing).
        replies_421,
    }
}
