#![allow(clippy::unwrap_used)]
// These tests measure wall-clock rates: they read the real clock on purpose.
#![allow(clippy::disallowed_methods)]
//! The SES transport against moto_server (started by scripts/moto.sh; the URL
//! is CALINVITE_MOTO_URL, default http://127.0.0.1:5045). These tests fail —
//! never skip — when moto does not answer.
//!
//! Each test uses its own sender domain, so they run concurrently on one
//! moto without resetting it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use calinvite_core::lifecycle::{InvitationSource, MemoryStore, Outcome, Recorded, Settings};
use calinvite_core::{EmailAddress, Envelope, Recipient, Transport};
use calinvite_ses::{SesConfig, SesErrorKind, SesTransport, TAG_EVENT, TAG_INVITATION};
use calinvite_tests::scenario::{CalendarEvent, Scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn moto_url() -> String {
    std::env::var("CALINVITE_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5045".into())
}

fn moto_addr() -> String {
    moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A plain HTTP/1.0 exchange with moto (no client library needed for two calls).
async fn http(addr: &str, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap_or_else(|e| {
        panic!("moto_server does not answer at {addr} ({e}): run scripts/moto.sh")
    });
    let req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    body.to_owned()
}

/// Every raw message moto keeps, as (source, destinations, raw data).
async fn moto_sent() -> Vec<(String, Vec<String>, String)> {
    let body = http(&moto_addr(), "GET", "/moto-api/data.json").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    // data.json: {"ses": {"<account>": {"<region>": {"sent_messages": [...]}}}}
    // (the nesting varies across moto versions: walk it).
    fn walk(v: &serde_json::Value, out: &mut Vec<(String, Vec<String>, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(raw) = m.get("raw_data").and_then(|r| r.as_str()) {
                    let source = m
                        .get("source")
                        .and_then(|s| s.as_str())
                        .unwrap_or("")
                        .to_owned();
                    let dest = m
                        .get("destinations")
                        .and_then(|d| d.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push((source, dest, raw.to_owned()));
                    return;
                }
                for x in m.values() {
                    walk(x, out);
                }
            }
            serde_json::Value::Array(a) => {
                for x in a {
                    walk(x, out);
                }
            }
            _ => {}
        }
    }
    walk(&json["ses"], &mut out);
    out
}

fn config(rate: f64) -> SesConfig {
    SesConfig::new("us-east-1")
        .credentials("testing", "testing", None)
        .endpoint_url(moto_url())
        .max_send_rate(rate)
}

async fn verify_domain(t: &SesTransport, domain: &str) {
    t.client()
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto_server at {}: {e:?}", moto_url()));
}

/// Real invitations, assembled by the core for `n` recipients of a tenant at `domain`.
async fn invitations(domain: &str, n: usize) -> Vec<Recorded> {
    let s = Scenario::with_tenant(MemoryStore::new(), Settings::default(), 7, domain)
        .await
        .unwrap();
    let Outcome::EventCreated(code) = s
        .organizer_sends(&CalendarEvent::launch(&format!("moto@{domain}")))
        .await
        .unwrap()
    else {
        panic!("no event")
    };
    for i in 0..n {
        let r = Recipient::new(EmailAddress::parse(&format!("guest{i}@example.org")).unwrap());
        s.pipeline
            .invite(s.scope(), &code, r, InvitationSource::Api)
            .await
            .unwrap();
    }
    s.pipeline.run_until_idle().await.unwrap();
    let sent: Vec<Recorded> = s
        .pipeline
        .transport()
        .take()
        .into_iter()
        .filter(|m| m.envelope.to().as_str().starts_with("guest"))
        .collect();
    assert_eq!(sent.len(), n);
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_arrive_byte_for_byte() {
    let domain = format!("bytes-{}.example.com", std::process::id());
    let t = SesTransport::new(config(1000.0)).unwrap();
    verify_domain(&t, &domain).await;
    let messages = invitations(&domain, 5).await;
    for m in &messages {
        let sent = t.send(&m.envelope, &m.bytes).await.unwrap();
        assert!(sent.ses_message_id.is_some());
        assert_eq!(sent.throttled, 0);
    }
    let counted = t.metrics();
    assert_eq!(
        (
            counted.sent,
            counted.throttled,
            counted.transient_failures,
            counted.permanent_failures
        ),
        (5, 0, 0, 0),
        "{counted:?}"
    );
    let stored = moto_sent().await;
    for m in &messages {
        let raw = String::from_utf8(m.bytes.clone()).unwrap();
        let found = stored
            .iter()
            .find(|(_, dest, data)| dest.contains(&m.envelope.to().to_string()) && *data == raw);
        let Some((source, _, _)) = found else {
            panic!(
                "moto holds no byte-identical copy for {} (it holds {} messages)",
                m.envelope.to(),
                stored.len()
            )
        };
        assert_eq!(source, m.envelope.from().as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_sender_is_a_permanent_error() {
    let domain = format!("unverified-{}.example.com", std::process::id());
    let t = SesTransport::new(config(1000.0)).unwrap();
    let m = &invitations(&domain, 1).await[0];
    let err = t.send(&m.envelope, &m.bytes).await.unwrap_err();
    assert_eq!(err.kind(), SesErrorKind::SenderNotVerified, "{err}");
    assert!(err.is_permanent());
    assert_eq!(err.code(), Some("MessageRejected"));
    assert!(!err.message().is_empty(), "SES's words are kept: {err}");
    let t_err = t.send_raw(&m.envelope, &m.bytes).await.unwrap_err();
    assert!(t_err.is_permanent());
    assert!(t_err.message().contains(err.message()), "{t_err}");
    let counted = t.metrics();
    assert_eq!(
        (counted.sent, counted.permanent_failures),
        (0, 2),
        "{counted:?}"
    );
}

/// A local endpoint that answers the first calls with throttling errors and
/// then forwards every request to moto.
async fn throttling_proxy(
    throttle: Vec<(u16, &'static str)>,
) -> (String, Arc<AtomicUsize>, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let script = Arc::new(throttle);
    let requests = Requests::default();
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            let script = script.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut client).await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().push(request.clone());
                if let Some((status, code)) = script.get(n) {
                    let body = format!("{{\"message\":\"Rate exceeded ({code})\"}}");
                    let reply = format!(
                        "HTTP/1.1 {status} Throttled\r\nContent-Type: application/json\r\n\
                         x-amzn-ErrorType: {code}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(reply.as_bytes()).await;
                    return;
                }
                let Ok(mut upstream) = TcpStream::connect(moto_addr()).await else {
                    return;
                };
                let _ = upstream.write_all(&request).await;
                let mut response = Vec::new();
                let _ = upstream.read_to_end(&mut response).await;
                let _ = client.write_all(&response).await;
            });
        }
    });
    (format!("http://{addr}"), calls, requests)
}

type Requests = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// Reads one HTTP/1.1 request (headers and a Content-Length body) and
/// rewrites it to close the connection after the answer.
async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut out = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&buf[header_end..header_end + length]);
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_then_delivered() {
    let domain = format!("throttled-{}.example.com", std::process::id());
    let (url, calls, requests) = throttling_proxy(vec![
        (429, "TooManyRequestsException"),
        (400, "Throttling"),
        (429, "TooManyRequestsException"),
    ])
    .await;
    let direct = SesTransport::new(config(1000.0)).unwrap();
    verify_domain(&direct, &domain).await;
    let t = SesTransport::new(config(1000.0).endpoint_url(url)).unwrap();
    let m = &invitations(&domain, 1).await[0];
    let started = Instant::now();
    let sent = t.send(&m.envelope, &m.bytes).await.unwrap();
    assert_eq!(sent.throttled, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let counted = t.metrics();
    assert_eq!((counted.sent, counted.throttled), (1, 3), "{counted:?}");
    // The shared back-off paused between attempts (50, 100, 200 ms at least).
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    let raw = String::from_utf8(m.bytes.clone()).unwrap();
    assert!(
        moto_sent().await.iter().any(|(_, _, data)| *data == raw),
        "the message reached moto after the throttling"
    );

    // The request names the envelope and carries the tags.
    let last = requests.lock().unwrap().last().cloned().unwrap();
    let text = String::from_utf8_lossy(&last);
    let json: serde_json::Value =
        serde_json::from_str(&text[text.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(json["FromEmailAddress"], m.envelope.from().as_str());
    assert_eq!(
        json["Destination"]["ToAddresses"][0],
        m.envelope.to().as_str()
    );
    let tags: Vec<(String, String)> = json["EmailTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Name"].as_str().unwrap().to_owned(),
                t["Value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let token = calinvite_core::IdempotencyKey::token_in_message_id(
        raw.lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap(),
    )
    .unwrap();
    assert!(
        tags.contains(&(TAG_INVITATION.to_owned(), token.as_str().to_owned())),
        "{tags:?}"
    );
    assert!(
        tags.iter().any(|(k, v)| k == TAG_EVENT && v.len() >= 8),
        "{tags:?}"
    );

    // With fewer retries than throttling answers, the send fails transiently.
    let (url, _, _) = throttling_proxy(vec![(429, "TooManyRequestsException"); 5]).await;
    let t = SesTransport::new(config(1000.0).endpoint_url(url).throttle_retries(2)).unwrap();
    let err = t.send_raw(&m.envelope, &m.bytes).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.message().contains("TooManyRequestsException"), "{err}");
    // Two retries, then the third throttling answer ends the send.
    let counted = t.metrics();
    assert_eq!(
        (counted.throttled, counted.transient_failures, counted.sent),
        (3, 1, 0),
        "{counted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_rate_through_moto() {
    let domain = format!("rate-{}.example.com", std::process::id());
    let probe = SesTransport::new(config(1000.0)).unwrap();
    verify_domain(&probe, &domain).await;
    let m = invitations(&domain, 1).await.remove(0);
    let envelope: Envelope = m.envelope.clone();
    let bytes = Arc::new(m.bytes);

    // Unlimited (10,000/s): what moto and the transport manage, 8 workers.
    let t = SesTransport::new(config(10_000.0)).unwrap();
    let (n, secs) = run_workers(&t, &envelope, &bytes, Duration::from_secs(3)).await;
    let free_rate = n as f64 / secs;
    println!("moto, unlimited: {n} messages in {secs:.2} s = {free_rate:.1} messages/s");

    // At SES's starting rate, 14/s: the limiter holds it.
    let t = SesTransport::new(config(14.0)).unwrap();
    let (n, secs) = run_workers(&t, &envelope, &bytes, Duration::from_secs(5)).await;
    let rate = n as f64 / secs;
    println!("moto, limited to 14/s: {n} messages in {secs:.2} s = {rate:.2} messages/s");
    assert!(
        (12.5..=15.5).contains(&rate),
        "the limiter held {rate:.2}/s against 14/s"
    );
}

async fn run_workers(
    t: &SesTransport,
    envelope: &Envelope,
    bytes: &Arc<Vec<u8>>,
    length: Duration,
) -> (usize, f64) {
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + length;
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (t, e, b, sent) = (t.clone(), envelope.clone(), bytes.clone(), sent.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                t.send(&e, &b).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    (sent.load(Ordering::SeqCst), start.elapsed().as_secs_f64())
}
