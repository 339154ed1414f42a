//! A capturing SMTP server on loopback: it stands in for the recipients' mail
//! servers, takes every message it is given and files it as an `.eml` file,
//! one folder per recipient mailbox, so the messages can be opened in any
//! mail client and read back by simulated recipients.
//!
//! It is deliberately small — one command at a time (no PIPELINING, no
//! CHUNKING), no TLS, no authentication — and it accepts every recipient:
//! never point anything but a test or an example at it. Every read has a
//! time limit and every line and message a size limit, so a stuck or
//! oversized client cannot hang it.
//!
//! A message is written as it arrived (dot-unstuffed), with nothing added,
//! to `ROOT/ADDRESS/001.eml`, `002.eml` … before the server answers `250`:
//! when the client hears that the message was accepted, the file is there.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Longest command line accepted, CRLF included.
const MAX_COMMAND: usize = 2048;
/// Longest message line accepted, CRLF included.
const MAX_LINE: usize = 64 * 1024;
/// Largest message accepted.
const MAX_MESSAGE: usize = 25 * 1024 * 1024;
/// Most recipients of one message.
const MAX_RECIPIENTS: usize = 100;
/// Time a client may take to send one line.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One message filed for one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filed {
    /// The recipient mailbox (the `RCPT TO` address).
    pub mailbox: String,
    /// The envelope sender (`MAIL FROM`; empty for a null sender).
    pub mail_from: String,
    /// Where the message was written.
    pub path: PathBuf,
}

#[derive(Debug)]
struct Mailboxes {
    root: PathBuf,
    filed: Mutex<Vec<Filed>>,
    counts: Mutex<HashMap<String, usize>>,
}

impl Mailboxes {
    /// Writes `message` for `mailbox` and records it.
    fn file(&self, mailbox: &str, mail_from: &str, message: &[u8]) -> io::Result<()> {
        let dir = self.root.join(folder_name(mailbox));
        std::fs::create_dir_all(&dir)?;
        let n = {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = counts.entry(mailbox.to_owned()).or_default();
            *n += 1;
            *n
        };
        let path = dir.join(format!("{n:03}.eml"));
        std::fs::write(&path, message)?;
        self.filed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Filed {
                mailbox: mailbox.to_owned(),
                mail_from: mail_from.to_owned(),
                path,
            });
        Ok(())
    }
}

/// The folder of a mailbox: the address, lower case, with anything but
/// letters, digits and `@ . - _ +` replaced by `_` (a safe file name on
/// every system).
pub fn folder_name(mailbox: &str) -> String {
    mailbox
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@.-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A running sink.
#[derive(Debug)]
pub struct MailSink {
    local_addr: SocketAddr,
    mailboxes: Arc<Mailboxes>,
    accept: tokio::task::JoinHandle<()>,
}

impl MailSink {
    /// Listens on `127.0.0.1` (a free port) and files messages under `root`.
    pub async fn start(root: &Path, hostname: &str) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let tcp = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local_addr = tcp.local_addr()?;
        let mailboxes = Arc::new(Mailboxes {
            root: root.to_owned(),
            filed: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        });
        let shared = mailboxes.clone();
        let hostname = hostname.to_owned();
        let accept = tokio::spawn(async move {
            let mut sessions = JoinSet::new();
            loop {
                tokio::select! {
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                    accepted = tcp.accept() => match accepted {
                        Ok((socket, _)) => {
                            let mailboxes = shared.clone();
                            let hostname = hostname.clone();
                            sessions.spawn(async move {
                                // A session that fails has only itself to blame: the
                                // client sees the connection end and retries.
                                let _ = session(socket, &hostname, &mailboxes).await;
                            });
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    },
                }
            }
        });
        Ok(MailSink {
            local_addr,
            mailboxes,
            accept,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every message filed so far, in the order they were accepted.
    pub fn filed(&self) -> Vec<Filed> {
        self.mailboxes
            .filed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The messages filed for `mailbox` (compared without regard to case).
    pub fn mailbox(&self, mailbox: &str) -> Vec<Filed> {
        self.filed()
            .into_iter()
            .filter(|f| f.mailbox.eq_ignore_ascii_case(mailbox))
            .collect()
    }

    /// Stops listening and drops every open session.
    pub fn shutdown(self) {
        self.accept.abort();
    }
}

/// Reads one line of at most `limit` bytes (CRLF included) within the read
/// timeout; `None` at the end of the stream.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    limit: usize,
    line: &mut Vec<u8>,
) -> io::Result<Option<()>> {
    line.clear();
    let n = tokio::time::timeout(
        READ_TIMEOUT,
        (&mut *reader).take(limit as u64).read_until(b'\n', line),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client too slow"))??;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(Some(()))
}

/// The address inside `<…>` after `prefix` (`MAIL FROM:`, `RCPT TO:`),
/// parameters after it ignored.
fn path_argument(command: &str, prefix: &str) -> Option<String> {
    let rest = command.get(prefix.len()..)?.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_owned())
}

async fn session(socket: TcpStream, hostname: &str, mailboxes: &Mailboxes) -> io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(format!("220 {hostname} capturing sink ready\r\n").as_bytes())
        .await?;
    let mut line = Vec::new();
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    while read_line(&mut reader, MAX_COMMAND, &mut line)
        .await?
        .is_some()
    {
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let upper = command.to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => format!(
                "250-{hostname}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {MAX_MESSAGE}\r\n"
            ),
            "HELO" => format!("250 {hostname}\r\n"),
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                match path_argument(&command, "MAIL FROM:") {
                    Some(from) => {
                        mail_from = Some(from);
                        rcpt_to.clear();
                        "250 2.1.0 ok\r\n".into()
                    }
                    None => "501 5.5.4 MAIL FROM:<address> expected\r\n".into(),
                }
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                match (&mail_from, path_argument(&command, "RCPT TO:")) {
                    (None, _) => "503 5.5.1 MAIL first\r\n".into(),
                    (_, None) => "501 5.5.4 RCPT TO:<address> expected\r\n".into(),
                    (_, Some(_)) if rcpt_to.len() >= MAX_RECIPIENTS => {
                        "452 4.5.3 too many recipients\r\n".into()
                    }
                    (_, Some(to)) if to.is_empty() => "501 5.1.3 empty recipient\r\n".into(),
                    (_, Some(to)) => {
                        rcpt_to.push(to);
                        "250 2.1.5 ok\r\n".into()
                    }
                }
            }
            "DATA" if rcpt_to.is_empty() => "503 5.5.1 RCPT first\r\n".into(),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let message = read_message(&mut reader).await?;
                let from = mail_from.take().unwrap_or_default();
                let recipients = std::mem::take(&mut rcpt_to);
                if message.len() > MAX_MESSAGE {
                    "552 5.3.4 message too big\r\n".into()
                } else {
                    match recipients
                        .iter()
                        .try_for_each(|to| mailboxes.file(to, &from, &message))
                    {
                        Ok(()) => "250 2.0.0 filed\r\n".into(),
                        Err(e) => format!("451 4.3.0 cannot file the message: {e}\r\n"),
                    }
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 ok\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return write.shutdown().await;
            }
            _ => "502 5.5.1 not implemented\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// Reads a message after `354` up to `<CRLF>.<CRLF>`, dot-unstuffed. Past
/// [`MAX_MESSAGE`] the rest is read and dropped (the caller answers `552`).
async fn read_message<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    let mut message = Vec::new();
    let mut line = Vec::new();
    loop {
        if read_line(reader, MAX_LINE, &mut line).await?.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(message);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() <= MAX_MESSAGE {
            message.extend_from_slice(unstuffed);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn folder_names_are_safe() {
        assert_eq!(
            folder_name("Ana.Souza@Example.NET"),
            "ana.souza@example.net"
        );
        assert_eq!(folder_name("a/b\\c:d@x"), "a_b_c_d@x");
    }

    #[test]
    fn path_arguments() {
        assert_eq!(
            path_argument("MAIL FROM:<a@b> BODY=8BITMIME", "MAIL FROM:").as_deref(),
            Some("a@b")
        );
        assert_eq!(
            path_argument("MAIL FROM: <>", "MAIL FROM:").as_deref(),
            Some("")
        );
        assert_eq!(path_argument("RCPT TO:c@d", "RCPT TO:"), None);
    }
}
