//! Where outgoing mail goes: [`Outbound`], one [`Transport`] chosen at run
//! time — the [`CaptureFolder`] (the default: one `.eml` file per message),
//! an [`SmtpRelay`], or any transport an embedding application brings.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use calinvite_core::lifecycle::{Transport, TransportError};
use calinvite_core::{EmailAddress, Envelope};
use calinvite_smtp::metrics::RelayMetrics;
use calinvite_smtp::relay::SmtpRelay;

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), TransportError>> + Send + 'a>>;

/// A [`Transport`] behind a pointer: what [`Outbound`] holds.
trait DynTransport: Send + Sync {
    fn send<'a>(&'a self, envelope: &'a Envelope, message: &'a [u8]) -> SendFuture<'a>;
    fn confirms(&self) -> bool;
}

impl<T: Transport> DynTransport for T {
    fn send<'a>(&'a self, envelope: &'a Envelope, message: &'a [u8]) -> SendFuture<'a> {
        Box::pin(self.send_raw(envelope, message))
    }
    fn confirms(&self) -> bool {
        self.confirms_delivery()
    }
}

/// The server's transport: a capture folder, an SMTP relay, or any
/// [`Transport`] ([`Outbound::new`]). Cloning shares it.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<dyn DynTransport>,
    relay: Option<Arc<SmtpRelay>>,
    kind: &'static str,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Any transport (SES, an application's own).
    pub fn new<T: Transport + 'static>(transport: T) -> Self {
        Outbound {
            inner: Arc::new(transport),
            relay: None,
            kind: "custom",
        }
    }

    /// Into a capture folder.
    pub fn capture(folder: CaptureFolder) -> Self {
        Outbound {
            inner: Arc::new(folder),
            relay: None,
            kind: "capture",
        }
    }

    /// Through an SMTP relay.
    pub fn relay(relay: SmtpRelay) -> Self {
        let relay = Arc::new(relay);
        Outbound {
            inner: relay.clone(),
            relay: Some(relay),
            kind: "smtp",
        }
    }

    /// `capture`, `smtp` or `custom`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The relay's counters, when mail goes through one.
    pub fn relay_metrics(&self) -> Option<RelayMetrics> {
        self.relay.as_ref().map(|r| r.metrics())
    }

    /// Closes the relay's pooled connections (at shutdown).
    pub async fn close(&self) {
        if let Some(r) = &self.relay {
            r.close().await;
        }
    }
}

impl Transport for Outbound {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        self.inner.send(envelope, message).await
    }

    fn confirms_delivery(&self) -> bool {
        self.inner.confirms()
    }
}

/// A transport that delivers nothing: it writes each message into a folder
/// of its recipient, `DIR/<address>/<time>-<n>.eml`, as a local delivery
/// agent would (with `Return-Path:` and `Delivered-To:` added on top), so
/// that any mail client opens it. A file appears whole or not at all (it is
/// written under another name, then renamed).
#[derive(Debug)]
pub struct CaptureFolder {
    dir: PathBuf,
    next: AtomicU64,
}

impl CaptureFolder {
    /// Captures into `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(CaptureFolder {
            dir,
            next: AtomicU64::new(0),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of `address`'s messages.
    pub fn mailbox(&self, address: &EmailAddress) -> PathBuf {
        self.dir.join(folder_name(address.as_str()))
    }

    async fn write(&self, envelope: &Envelope, message: &[u8]) -> std::io::Result<()> {
        let folder = self.mailbox(envelope.to());
        tokio::fs::create_dir_all(&folder).await?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        #[allow(
            clippy::disallowed_methods,
            reason = "the capture folder is an adapter: file names carry the real time"
        )]
        let now = chrono::Utc::now();
        let name = format!("{}-{n:06}", now.format("%Y%m%dT%H%M%S%.6fZ"));
        let mut bytes = Vec::with_capacity(message.len() + 128);
        bytes.extend_from_slice(
            format!(
                "Return-Path: <{}>\r\nDelivered-To: {}\r\n",
                envelope.from(),
                envelope.to()
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(message);
        let partial = folder.join(format!(".{name}.part"));
        tokio::fs::write(&partial, &bytes).await?;
        tokio::fs::rename(&partial, folder.join(format!("{name}.eml"))).await
    }
}

impl Transport for CaptureFolder {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        self.write(envelope, message).await.map_err(|e| {
            TransportError::transient(format!("the capture folder cannot be written: {e}"))
        })
    }
}

/// A file-system-safe folder name for an address: letters, digits and
/// `@._+-` kept, anything else (a slash, a quote, a control) as `_`.
fn folder_name(address: &str) -> String {
    let name: String = address
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.as_str() {
        "" | "." | ".." => "_".into(),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_stay_inside() {
        assert_eq!(folder_name("ana@example.com"), "ana@example.com");
        assert_eq!(folder_name("a/../b@x"), "a_.._b@x");
        assert_eq!(folder_name(".."), "_");
        assert_eq!(folder_name("jörg@bücher.test"), "jörg@bücher.test");
    }

    #[tokio::test]
    async fn each_message_is_one_file_in_its_recipients_folder() {
        let dir =
            std::env::temp_dir().join(format!("invite-server-capture-{}", std::process::id()));
        let folder = CaptureFolder::new(&dir).unwrap();
        let to = EmailAddress::parse("guest@example.net").unwrap();
        let envelope = Envelope::new(EmailAddress::parse("bounces@x.test").unwrap(), to.clone());
        let out = Outbound::capture(folder);
        out.send_raw(&envelope, b"Subject: hi\r\n\r\nbody\r\n")
            .await
            .unwrap();
        out.send_raw(&envelope, b"Subject: again\r\n\r\nbody\r\n")
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.join("guest@example.net"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        for f in &files {
            assert_eq!(f.extension().unwrap(), "eml");
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.starts_with(
                "Return-Path: <bounces@x.test>\r\nDelivered-To: guest@example.net\r\nSubject: "
            ));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
