//! The inbound listener takes mail in every script: it offers SMTPUTF8,
//! accepts `MAIL FROM:<…> SMTPUTF8` and UTF-8 addresses, and a reply from an
//! internationalised address lands on the invitation whichever form (U- or
//! A-labels, raw or percent-encoded) the guest's client wrote.
#![allow(clippy::unwrap_used)]

use crate::listener_support::*;
use calinvite_core::ParticipationStatus;
use calinvite_core::lifecycle::{AuthPolicy, MemoryStore};
use calinvite_smtp::listener::{Listener, NoVerification};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_replies_and_organizer_mail_are_taken() {
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let mut config = calinvite_smtp::listener::ListenerConfig::new("mx.calinvite.test");
    config.command_timeout = std::time::Duration::from_secs(10);
    let handle = Listener::bind("127.0.0.1:0", config, pipeline.clone(), NoVerification)
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let addr = handle.local_addr();

    // Organizer mail, sent with SMTPUTF8 (a UTF-8 summary in 8bit).
    let mut c = Client::greeted(addr).await;
    let ehlo = c.command("EHLO client.example", 250).await;
    assert!(ehlo.contains("SMTPUTF8"), "{ehlo}");
    c.command(&format!("MAIL FROM:<{ORGANIZER}> SMTPUTF8"), 250)
        .await;
    c.command(&format!("RCPT TO:<{INGEST}>"), 250).await;
    c.command("DATA", 354).await;
    let request = String::from_utf8(organizer_request("fiesta-1@example.com", ORGANIZER))
        .unwrap()
        .replace("Product launch party", "Fête de lancement — 発表会");
    c.send(&dot_stuffed(request.as_bytes())).await;
    c.send(b".\r\n").await;
    let (code, text) = c.reply().await.unwrap();
    assert_eq!(code, 250, "{text}");
    let event = event_code(&pipeline, "fiesta-1@example.com")
        .await
        .expect("the organizer's invitation became an event");

    // Each guest answers in another form of their address.
    let cases = [
        // (invited as, envelope sender, ATTENDEE and From as written)
        (
            "zoë@bücher-müller.de",
            "zoë@bücher-müller.de",
            "zoë@bücher-müller.de",
        ),
        (
            "Jörg@Bücher-Müller.de",
            "jörg@xn--bcher-mller-thbg.de",
            "J%C3%B6rg@XN--BCHER-MLLER-THBG.DE",
        ),
        (
            "ana@bücher-müller.de",
            "ana@xn--bcher-mller-thbg.de",
            "ana@bücher-müller.de",
        ),
    ];
    for (invited, sender, written) in cases {
        let (token, uid) = invite(&pipeline, &event, invited).await;
        let message = String::from_utf8(reply(&uid, written, "ACCEPTED")).unwrap();
        // The From header carries the addr-spec raw (RFC 6532), not percent-encoded.
        let message = message.replacen(
            &format!("From: {written}"),
            &format!("From: \"Guest ü\" <{}>", written.replace("%C3%B6", "ö")),
            1,
        );
        let utf8 = if sender.is_ascii() { "" } else { " SMTPUTF8" };
        c.command(&format!("MAIL FROM:<{sender}>{utf8}"), 250).await;
        c.command(&format!("RCPT TO:<{REPLY}>"), 250).await;
        c.command("DATA", 354).await;
        c.send(&dot_stuffed(message.as_bytes())).await;
        c.send(b".\r\n").await;
        let (code, text) = c.reply().await.unwrap();
        assert_eq!(code, 250, "{invited}: {text}");
        let invitations = pipeline.invitations(scope(), &event).await.unwrap();
        let inv = invitations.iter().find(|i| *i.token() == token).unwrap();
        assert_eq!(
            inv.status(),
            Some(ParticipationStatus::Accepted),
            "{invited} answering as {written}"
        );
        let history = pipeline.history(scope(), &token).await.unwrap();
        assert!(
            history
                .iter()
                .all(|h| !format!("{:?}", h.kind).contains("forwarded_from: Some")),
            "{invited}: {history:?}"
        );
    }

    // A UTF-8 recipient that is not calinvite's is refused as relaying, not
    // as bad syntax; the session goes on.
    c.command("MAIL FROM:<zoë@example.org> SMTPUTF8", 250).await;
    c.line("RCPT TO:<zoë@calinvite.test>").await;
    let (code, text) = c.reply().await.unwrap();
    assert_eq!(code, 550, "{text}");
    c.command("RSET", 250).await;
    c.command("QUIT", 221).await;
    handle.shutdown().await.unwrap();
}
