#![allow(clippy::unwrap_used)]
//! Properties of the SES notification parser and the SNS verifier: arbitrary
//! and mutated input never panics; valid notifications round-trip their key
//! fields.

use calinvite_ses::notification::BounceType;
use calinvite_ses::{SesNotification, SnsVerifier, StaticCertificates};
use proptest::prelude::*;

fn valid_bounce(kind: &str, sub: &str, who: &str, source: &str, id: &str) -> String {
    serde_json::json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": sub,
            "bouncedRecipients": [{"emailAddress": who, "status": "5.1.1", "diagnosticCode": "smtp; 550"}],
            "feedbackId": "f"
        },
        "mail": {
            "source": source,
            "messageId": "ses-1",
            "destination": [who],
            "commonHeaders": {"messageId": format!("<{id}>")}
        }
    })
    .to_string()
}

fn mutate(s: &str, at: usize, byte: u8, cut: bool) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = at % b.len().max(1);
    if cut {
        b.truncate(i);
    } else if let Some(x) = b.get_mut(i) {
        *x = byte;
    }
    String::from_utf8_lossy(&b).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        let _ = SesNotification::parse(&s).map(|n| n.delivery_notice());
    }

    #[test]
    fn json_shaped_text_never_panics(s in "[{}\\[\\]\":,a-zA-Z0-9 ]{0,300}") {
        let _ = SesNotification::parse(&s).map(|n| n.delivery_notice());
    }

    #[test]
    fn mutated_notifications_never_panic(at in 0usize..2000, byte in any::<u8>(), cut in any::<bool>()) {
        let valid = valid_bounce("Permanent", "General", "a@example.org", "bounces@events.example.com", "x@y");
        let m = mutate(&valid, at, byte, cut);
        let _ = SesNotification::parse(&m).map(|n| n.delivery_notice());
    }

    #[test]
    fn valid_bounces_round_trip(
        permanent in any::<bool>(),
        sub in "[A-Za-z]{1,20}",
        local in "[a-z][a-z0-9]{0,15}",
        domain in "[a-z]{1,10}\\.(org|com|net)",
        id in "[a-z0-9]{1,20}@[a-z]{1,10}\\.example",
    ) {
        let who = format!("{local}@{domain}");
        let kind = if permanent { "Permanent" } else { "Transient" };
        let json = valid_bounce(kind, &sub, &who, "bounces@events.example.com", &id);
        let SesNotification::Bounce(b) = SesNotification::parse(&json).unwrap() else {
            panic!("not a bounce")
        };
        prop_assert_eq!(b.bounce_type, if permanent { BounceType::Permanent } else { BounceType::Transient });
        prop_assert_eq!(&b.sub_type, &sub);
        prop_assert_eq!(&b.recipients[0].address, &who);
        prop_assert_eq!(b.mail.message_id.clone(), Some(format!("<{id}>")));
        let n = SesNotification::Bounce(b).delivery_notice().unwrap().unwrap();
        prop_assert_eq!(n.recipients()[0].as_str(), who.as_str());
        prop_assert_eq!(n.sender().as_str(), "bounces@events.example.com");
        let quoted = format!("<{id}>");
        prop_assert_eq!(n.message_id(), Some(quoted.as_str()));
    }

    #[test]
    fn the_sns_verifier_never_panics(body in proptest::collection::vec(any::<u8>(), 0..600), mutated in 0usize..900, byte in any::<u8>()) {
        let verifier = SnsVerifier::new(StaticCertificates::new());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _ = rt.block_on(verifier.verify(&body));
        let envelope = serde_json::json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "{}",
            "Timestamp": "2026", "SignatureVersion": "1", "Signature": "AAAA",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/c.pem"
        }).to_string();
        let m = mutate(&envelope, mutated, byte, false);
        prop_assert!(rt.block_on(verifier.verify(m.as_bytes())).is_err());
    }
}
