#![allow(clippy::unwrap_used)]
//! Addresses in every script through SES (moto_server, started by
//! scripts/moto.sh; the URL is CALINVITE_MOTO_URL, default
//! http://127.0.0.1:5045): an internationalised domain goes out in
//! A-labels; a non-ASCII local part, which SES cannot carry, is refused for
//! that one recipient, permanently, before anything is sent, and the rest of
//! the batch goes out. Fails, never skips, when moto does not answer.

use calinvite_core::lifecycle::{InvitationSource, MemoryStore, Outcome, Recorded, Settings};
use calinvite_core::{EmailAddress, Recipient, Transport};
use calinvite_ses::{SesConfig, SesErrorKind, SesTransport};
use calinvite_tests::scenario::{CalendarEvent, Scenario};

fn moto_url() -> String {
    std::env::var("CALINVITE_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5045".into())
}

/// The invitations the core assembled for `guests`, in their order.
async fn invitations(domain: &str, guests: &[&str]) -> Vec<Recorded> {
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
    for g in guests {
        let r = Recipient::new(EmailAddress::parse(g).unwrap());
        s.pipeline
            .invite(s.scope(), &code, r, InvitationSource::Api)
            .await
            .unwrap();
    }
    s.pipeline.run_until_idle().await.unwrap();
    let sent = s.pipeline.transport().take();
    guests
        .iter()
        .map(|g| {
            let a = EmailAddress::parse(g).unwrap();
            sent.iter().find(|m| *m.envelope.to() == a).unwrap().clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_local_part_is_refused_per_recipient_and_idns_go_in_a_labels() {
    let domain = format!("scripts-{}.example.com", std::process::id());
    let t = SesTransport::new(
        SesConfig::new("us-east-1")
            .credentials("testing", "testing", None)
            .endpoint_url(moto_url())
            .max_send_rate(1000.0),
    )
    .unwrap();
    t.client()
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto_server at {}: {e:?} (run scripts/moto.sh)", moto_url()));
    let guests = [
        "guest@example.org",
        "zoë@example.org",
        "Jorg@Bücher-Müller.de",
        "用户@例子.广告",
    ];
    let messages = invitations(&domain, &guests).await;
    let mut accepted = Vec::new();
    for (g, m) in guests.iter().zip(&messages) {
        let result = t.send(&m.envelope, &m.bytes).await;
        if m.envelope.to().needs_smtputf8() {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), SesErrorKind::AddressNotSupported, "{g}: {err}");
            assert!(err.is_permanent());
            assert!(
                err.message().contains(m.envelope.to().as_str())
                    && err.message().contains("non-ASCII local part"),
                "{err}"
            );
            // The same through the core's Transport: permanent, for this one.
            let t_err = t.send_raw(&m.envelope, &m.bytes).await.unwrap_err();
            assert!(t_err.is_permanent(), "{t_err}");
            assert!(t_err.message().contains("SMTPUTF8"), "{t_err}");
        } else {
            let sent = result.unwrap_or_else(|e| panic!("{g}: {e}"));
            assert!(sent.ses_message_id.is_some());
            accepted.push(m.envelope.to().as_str().to_owned());
        }
    }
    assert_eq!(
        accepted,
        ["guest@example.org", "jorg@xn--bcher-mller-thbg.de"]
    );
    let counted = t.metrics();
    assert_eq!(
        (counted.sent, counted.permanent_failures),
        (2, 4),
        "{counted:?}"
    );
    // moto holds the IDN recipient's copy under its A-label address.
    let addr = moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let body = http_get(&addr, "/moto-api/data.json").await;
    assert!(
        body.contains("jorg@xn--bcher-mller-thbg.de"),
        "moto holds no copy for the IDN recipient"
    );
    assert!(
        !body.contains("zo\\u00eb") && !body.contains("zoë"),
        "a refused message reached SES"
    );
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
