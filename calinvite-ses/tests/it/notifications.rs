#![allow(clippy::unwrap_used)]
//! SES notifications through SNS, end to end: fixtures written from the
//! formats AWS documents, wrapped in SNS envelopes signed at test time with a
//! key and self-signed certificate made here (no network), handed to
//! `handle_sns` with a real pipeline.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine as _;
use calinvite_core::lifecycle::report::{Reports, event_report};
use calinvite_core::lifecycle::{
    DeliveryState, InvitationSource, MemoryStore, Outcome, RecordingTransport, Settings, Store,
    SuppressionReason, Transport as _,
};
use calinvite_core::{EmailAddress, EventCode, Recipient};
use calinvite_ses::notification::{BounceType, ReceivedContent};
use calinvite_ses::{
    SesConfig, SesNotification, SesTransport, SnsError, SnsHandleError, SnsHandled, SnsMessage,
    SnsVerifier, StaticCertificates, handle_sns,
};
use calinvite_tests::scenario::{CalendarEvent, Scenario};

const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:calinvite-ses";

struct Signer {
    key: KeyPair,
    key_pem: String,
    cert_pem: String,
}

fn signer() -> Signer {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key).unwrap();
    let rc_key = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sns.amazonaws.com".into()])
        .unwrap()
        .self_signed(&rc_key)
        .unwrap();
    Signer {
        key,
        key_pem: rc_key.serialize_pem(),
        cert_pem: cert.pem(),
    }
}

/// The string SNS signs, as AWS documents it.
fn canonical(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect()
}

impl Signer {
    fn sign(&self, version: u8, text: &str) -> String {
        let sig = if version == 2 {
            let mut sig = vec![0; self.key.public_modulus_len()];
            self.key
                .sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    text.as_bytes(),
                    &mut sig,
                )
                .unwrap();
            sig
        } else {
            // SHA1withRSA: aws-lc-rs verifies it but does not sign it; the
            // openssl command line does.
            let dir = std::env::temp_dir().join(format!("calinvite-ses-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let key = dir.join(format!("key-{n}.pem"));
            let data = dir.join(format!("data-{n}"));
            std::fs::write(&key, &self.key_pem).unwrap();
            std::fs::write(&data, text).unwrap();
            let out = std::process::Command::new("openssl")
                .args(["dgst", "-sha1", "-sign"])
                .arg(&key)
                .arg(&data)
                .output()
                .expect("openssl (Debian's openssl package) signs the SignatureVersion 1 fixtures");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_file(&key);
            let _ = std::fs::remove_file(&data);
            out.stdout
        };
        base64::engine::general_purpose::STANDARD.encode(sig)
    }

    /// An SNS notification carrying `message`, signed with `version`.
    fn notification(&self, version: u8, message: &str) -> String {
        let (id, ts, subject) = (
            "b1a7e0f2-0000-4000-8000-000000000001",
            "2026-11-20T10:00:05.000Z",
            "Amazon SES Email Event Notification",
        );
        let text = canonical(&[
            ("Message", message),
            ("MessageId", id),
            ("Subject", subject),
            ("Timestamp", ts),
            ("TopicArn", TOPIC),
            ("Type", "Notification"),
        ]);
        serde_json::json!({
            "Type": "Notification",
            "MessageId": id,
            "TopicArn": TOPIC,
            "Subject": subject,
            "Message": message,
            "Timestamp": ts,
            "SignatureVersion": version.to_string(),
            "Signature": self.sign(version, &text),
            "SigningCertURL": CERT_URL,
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        })
        .to_string()
    }

    fn confirmation(&self, subscribe_url: &str) -> String {
        let (id, ts, token) = (
            "c0ffee00-0000-4000-8000-000000000002",
            "2026-11-20T09:00:00.000Z",
            "2336412f37fb687f5d51e6e2425c464de12884",
        );
        let message =
            "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.";
        let text = canonical(&[
            ("Message", message),
            ("MessageId", id),
            ("SubscribeURL", subscribe_url),
            ("Timestamp", ts),
            ("Token", token),
            ("TopicArn", TOPIC),
            ("Type", "SubscriptionConfirmation"),
        ]);
        serde_json::json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": id,
            "Token": token,
            "TopicArn": TOPIC,
            "Message": message,
            "SubscribeURL": subscribe_url,
            "Timestamp": ts,
            "SignatureVersion": "2",
            "Signature": self.sign(2, &text),
            "SigningCertURL": CERT_URL,
        })
        .to_string()
    }

    fn verifier(&self) -> SnsVerifier<StaticCertificates> {
        SnsVerifier::new(StaticCertificates::new().with(CERT_URL, self.cert_pem.clone()))
            .accept_topics([TOPIC])
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Story {
    s: Scenario<MemoryStore>,
    code: EventCode,
}

impl Story {
    async fn new(who: &[&str]) -> Story {
        let s = Scenario::new(MemoryStore::new(), Settings::default())
            .await
            .unwrap();
        let Outcome::EventCreated(code) = s
            .organizer_sends(&CalendarEvent::launch("ses-1@example.com"))
            .await
            .unwrap()
        else {
            panic!("no event")
        };
        for w in who {
            let r = Recipient::new(EmailAddress::parse(w).unwrap());
            s.pipeline
                .invite(s.scope(), &code, r, InvitationSource::Api)
                .await
                .unwrap();
        }
        s.deliver().await.unwrap();
        Story { s, code }
    }

    /// A fixture filled in for the last message `who` received.
    fn fill(&self, name: &str, who: &str) -> String {
        let delivered = self.s.calendar_inbox(who).last().cloned().unwrap();
        let message_id = delivered.message_id.unwrap();
        let token = calinvite_core::IdempotencyKey::token_in_message_id(&message_id).unwrap();
        fixture(name)
            .replace("{{RECIPIENT}}", who)
            .replace("{{SOURCE}}", self.s.owner.bounce.as_str())
            .replace("{{MESSAGE_ID}}", message_id.trim_matches(['<', '>']))
            .replace("{{TOKEN}}", token.as_str())
    }

    async fn state(&self, who: &str) -> DeliveryState {
        self.s
            .pipeline
            .invitations(self.s.scope(), &self.code)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.recipient().address().as_str() == who)
            .unwrap()
            .delivery()
    }

    async fn suppression(&self, who: &str) -> Option<SuppressionReason> {
        self.s
            .pipeline
            .store()
            .suppression(self.s.owner.id, &EmailAddress::parse(who).unwrap())
            .await
            .unwrap()
            .map(|s| s.reason)
    }

    fn pipeline(&self) -> &calinvite_core::Pipeline<MemoryStore, RecordingTransport> {
        &self.s.pipeline
    }
}

#[tokio::test]
async fn bounces_complaints_and_deliveries_reach_the_engine() {
    let signer = signer();
    let verifier = signer.verifier();
    let who = [
        "ok@example.org",
        "gone@example.org",
        "full@example.org",
        "angry@example.org",
        "listed@example.org",
    ];
    let story = Story::new(&who).await;
    let cases = [
        ("delivery.json", "ok@example.org", 1u8),
        ("bounce-permanent.json", "gone@example.org", 2),
        ("bounce-transient.json", "full@example.org", 1),
        ("complaint.json", "angry@example.org", 2),
        ("event-bounce.json", "listed@example.org", 1),
    ];
    for (name, w, version) in cases {
        let body = signer.notification(version, &story.fill(name, w));
        let handled = handle_sns(&verifier, story.pipeline(), body.as_bytes()).await;
        match handled {
            Ok(SnsHandled::Notice(Outcome::DeliveryRecorded(_) | Outcome::Unsubscribed(_))) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(
        story.state("ok@example.org").await,
        DeliveryState::Delivered
    );
    assert_eq!(
        story.state("gone@example.org").await,
        DeliveryState::HardBounced
    );
    assert_eq!(
        story.suppression("gone@example.org").await,
        Some(SuppressionReason::HardBounce)
    );
    assert_eq!(
        story.state("full@example.org").await,
        DeliveryState::SoftBounced
    );
    assert_eq!(story.suppression("full@example.org").await, None);
    assert_eq!(
        story.suppression("angry@example.org").await,
        Some(SuppressionReason::Complaint)
    );
    assert_eq!(
        story.state("listed@example.org").await,
        DeliveryState::HardBounced
    );

    // SES's words are kept in the history.
    let inv = story
        .pipeline()
        .invitations(story.s.scope(), &story.code)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.recipient().address().as_str() == "gone@example.org")
        .unwrap();
    let history = story
        .pipeline()
        .history(story.s.scope(), inv.token())
        .await
        .unwrap();
    let text = format!("{:?}", history.last().unwrap().kind);
    assert!(
        text.contains("550 5.1.1 user unknown") && text.contains("Permanent/General"),
        "{text}"
    );

    // The report of a platform that sends through SES, read by a process
    // that holds the store alone: SES confirms delivery, so the confirmed
    // count is shown beside what the mail server accepted.
    let ses =
        SesTransport::new(SesConfig::new("us-east-1").credentials("AKID", "secret", None)).unwrap();
    let reports =
        Reports::new(story.pipeline().store()).confirming_delivery(ses.confirms_delivery());
    let report = event_report(&reports, story.s.scope(), &story.code)
        .await
        .unwrap();
    assert!(report.confirms_delivery);
    assert_eq!(
        (
            report.submitted,
            report.delivery_confirmed,
            report.hard_bounced,
            report.soft_bounced,
            report.complaints
        ),
        (5, 1, 2, 1, 1),
        "{report:?}"
    );
    let text = report.to_text();
    assert!(text.contains("\nAccepted by mail server  5\n"), "{text}");
    assert!(text.contains("\nDelivery confirmed       1\n"), "{text}");
    assert!(text.contains("\nHard bounces             2\n"), "{text}");
    assert!(!text.contains("not reported"), "{text}");
}

#[tokio::test]
async fn parsed_fixtures_keep_their_fields() {
    let story = Story::new(&["a@example.org"]).await;
    let SesNotification::Bounce(b) =
        SesNotification::parse(&story.fill("bounce-permanent.json", "a@example.org")).unwrap()
    else {
        panic!()
    };
    assert_eq!(b.bounce_type, BounceType::Permanent);
    assert_eq!(b.sub_type, "General");
    assert_eq!(b.recipients[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(b.mail.source, "bounces@events.example.com");
    assert_eq!(b.mail.ses_message_id, "0100018c-ses-id-0001");
    assert!(
        b.mail
            .message_id
            .unwrap()
            .contains(".request@events.example.com")
    );
    let SesNotification::Bounce(b) =
        SesNotification::parse(&story.fill("event-bounce.json", "a@example.org")).unwrap()
    else {
        panic!()
    };
    assert_eq!(b.sub_type, "OnAccountSuppressionList");
    assert!(b.mail.message_id.is_none());
    assert!(
        b.mail.invitation_tag.is_some(),
        "the tag names the invitation"
    );
    let SesNotification::Complaint(c) =
        SesNotification::parse(&story.fill("complaint.json", "a@example.org")).unwrap()
    else {
        panic!()
    };
    assert_eq!(c.feedback_type.as_deref(), Some("abuse"));
    assert_eq!(c.recipients, ["a@example.org"]);
}

#[tokio::test]
async fn inbound_mail_takes_the_smtp_entry_point() {
    let signer = signer();
    let story = Story::new(&["guest@example.org"]).await;
    let invite = story
        .s
        .calendar_inbox("guest@example.org")
        .last()
        .cloned()
        .unwrap();
    let uid = invite.uid.unwrap();
    let reply_to = story.s.owner.reply.as_str().to_owned();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Calendar//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261120T110000Z\r\n\
         ORGANIZER:mailto:{reply_to}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:guest@example.org\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let raw = format!(
        "From: guest@example.org\r\nTo: {reply_to}\r\nSubject: Accepted: Launch\r\n\
         Message-ID: <reply-1@example.org>\r\nDate: Fri, 20 Nov 2026 11:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\r\n\r\n{ics}"
    );
    let message = fixture("received-inline.json")
        .replace("{{MAILBOX}}", &reply_to)
        .replace("{{SENDER}}", "guest@example.org")
        .replace(
            "{{CONTENT}}",
            &base64::engine::general_purpose::STANDARD.encode(&raw),
        );
    let SesNotification::Received(receipt) = SesNotification::parse(&message).unwrap() else {
        panic!()
    };
    assert_eq!(
        receipt.content,
        ReceivedContent::Inline(raw.clone().into_bytes())
    );
    assert_eq!(receipt.envelope().rcpt_to, std::slice::from_ref(&reply_to));
    let body = signer.notification(1, &message);
    let handled = handle_sns(&signer.verifier(), story.pipeline(), body.as_bytes()).await;
    assert!(
        matches!(
            handled,
            Ok(SnsHandled::Received(Outcome::AnswerRecorded(_)))
        ),
        "{handled:?}"
    );

    // The S3 action: a pointer, reported as such.
    let s3 = message.replace(
        "\"type\": \"SNS\"",
        "\"type\": \"S3\", \"bucketName\": \"inbound-mail\", \"objectKey\": \"mail/inbound-0001\"",
    );
    let SesNotification::Received(r) = SesNotification::parse(&s3).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.content,
        ReceivedContent::S3 {
            bucket: "inbound-mail".into(),
            key: "mail/inbound-0001".into()
        }
    );
}

#[tokio::test]
async fn forged_or_tampered_messages_are_refused() {
    let signer = signer();
    let verifier = signer.verifier();
    let story = Story::new(&["a@example.org"]).await;
    let message = story.fill("bounce-permanent.json", "a@example.org");
    for version in [1, 2] {
        let body = signer.notification(version, &message);
        assert!(matches!(
            verifier.verify(body.as_bytes()).await,
            Ok(SnsMessage::Notification { .. })
        ));

        // Tampered: the recipient changed after signing.
        let tampered = body.replace("a@example.org", "b@example.org");
        assert_eq!(
            verifier.verify(tampered.as_bytes()).await,
            Err(SnsError::BadSignature)
        );

        // Forged: signed by another key that claims the same certificate URL.
        let forged = signer_other().notification(version, &message);
        assert_eq!(
            verifier.verify(forged.as_bytes()).await,
            Err(SnsError::BadSignature)
        );
    }
    let body = signer.notification(2, &message);
    // A certificate URL off SNS's hosts is never fetched.
    let evil = body.replace(
        CERT_URL,
        "https://evil.example/SimpleNotificationService-test.pem",
    );
    assert!(matches!(
        verifier.verify(evil.as_bytes()).await,
        Err(SnsError::UntrustedCertificateUrl(_))
    ));
    // Another topic.
    let other = SnsVerifier::new(StaticCertificates::new().with(CERT_URL, signer.cert_pem.clone()))
        .accept_topics(["arn:aws:sns:us-east-1:123456789012:other"]);
    assert!(matches!(
        other.verify(body.as_bytes()).await,
        Err(SnsError::TopicNotAccepted(_))
    ));
    // Unknown version, garbage, oversize.
    let v3 = body.replace("\"SignatureVersion\":\"2\"", "\"SignatureVersion\":\"3\"");
    assert!(matches!(
        verifier.verify(v3.as_bytes()).await,
        Err(SnsError::UnsupportedSignatureVersion(_))
    ));
    assert!(matches!(
        verifier.verify(b"{not json").await,
        Err(SnsError::Malformed(_))
    ));
    let big = vec![b' '; calinvite_ses::sns::MAX_SNS_BODY + 1];
    assert!(matches!(
        verifier.verify(&big).await,
        Err(SnsError::TooLarge(_))
    ));
    // A refused message changes nothing.
    let tampered = signer
        .notification(2, &message)
        .replace("Permanent", "Transient");
    let handled = handle_sns(&verifier, story.pipeline(), tampered.as_bytes()).await;
    assert!(
        matches!(handled, Err(SnsHandleError::Sns(SnsError::BadSignature))),
        "{handled:?}"
    );
    assert_eq!(story.state("a@example.org").await, DeliveryState::Sent);
}

fn signer_other() -> Signer {
    signer()
}

#[tokio::test]
async fn subscription_confirmations_are_surfaced_not_followed() {
    let signer = signer();
    let story = Story::new(&[]).await;
    let good =
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=2336";
    let body = signer.confirmation(good);
    let Ok(SnsHandled::Confirmation(c)) =
        handle_sns(&signer.verifier(), story.pipeline(), body.as_bytes()).await
    else {
        panic!()
    };
    assert_eq!(c.confirmation_url(), Some(good));
    assert_eq!(c.topic_arn, TOPIC);
    // A signed confirmation pointing elsewhere is surfaced, but offers no URL to visit.
    let body = signer.confirmation("https://attacker.example/confirm");
    let Ok(SnsHandled::Confirmation(c)) =
        handle_sns(&signer.verifier(), story.pipeline(), body.as_bytes()).await
    else {
        panic!()
    };
    assert_eq!(c.confirmation_url(), None);
}

/// Everything a subscriber wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn sns_handling_is_logged_without_signatures_certificates_or_addresses() {
    // Process-wide, at every level: other tests of this file may add lines,
    // which only makes the absence checks stricter.
    let captured = Captured::default();
    let writer = captured.clone();
    // Plain text: another crate of the workspace turns on
    // tracing-subscriber's colours, and the checks read `key=value`.
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let signer = signer();
    let verifier = signer.verifier();
    let story = Story::new(&["gone.private@example.org"]).await;
    let body = signer.notification(
        2,
        &story.fill("bounce-permanent.json", "gone.private@example.org"),
    );
    let handled = handle_sns(&verifier, story.pipeline(), body.as_bytes()).await;
    assert!(matches!(handled, Ok(SnsHandled::Notice(_))), "{handled:?}");
    let tampered = body.replace("Permanent", "Transient");
    let handled = handle_sns(&verifier, story.pipeline(), tampered.as_bytes()).await;
    assert!(
        matches!(handled, Err(SnsHandleError::Sns(SnsError::BadSignature))),
        "{handled:?}"
    );

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(log.contains("SES notification handled"), "{log}");
    assert!(log.contains("kind=bounce"), "{log}");
    assert!(log.contains("recipients=1"), "{log}");
    assert!(log.contains("SNS message refused"), "{log}");
    assert!(log.contains("SNS signature does not verify"), "{log}");
    let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
    let signature = envelope["Signature"].as_str().unwrap();
    let cert_line = signer.cert_pem.lines().nth(1).unwrap();
    for secret in [signature, cert_line, "gone.private"] {
        assert!(!log.contains(secret), "{secret:?} logged:\n{log}");
    }
}
