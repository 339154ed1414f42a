//! SES notifications and SNS messages from the network: arbitrary bytes
//! never panic the notification parser (bounce, complaint, delivery,
//! receipt, in the SNS and event-publishing formats) or the SNS verifier
//! (JSON envelope, certificate URL rules, canonical string, signature).
#![no_main]
use calinvite_ses::SesNotification;
use calinvite_ses::sns::{SnsVerifier, StaticCertificates};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if let Ok(text) = std::str::from_utf8(raw)
        && let Ok(notification) = SesNotification::parse(text)
    {
        let _ = notification.delivery_notice();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let verifier = SnsVerifier::new(StaticCertificates::new());
    // No certificate is known: nothing may verify.
    assert!(rt.block_on(verifier.verify(raw)).is_err());
});
