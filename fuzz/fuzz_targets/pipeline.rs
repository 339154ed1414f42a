//! The engine behind the inbound entry point: arbitrary bytes delivered to the
//! ingest, reply or bounce mailbox of an owner with a live event and a sent
//! invitation never panic, never corrupt the store, and leave the queue
//! drainable. `@UID@` and `@MID@` in the input are replaced with the real
//! invitation UID and Message-ID, so replies and bounces reach real state.
#![no_main]
use std::sync::Once;

use calinvite_core::inbound::{AuthResult, AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::{
    InvitationSource, MemoryStore, PipelineError, Settings, StoreError,
};
use calinvite_core::{EmailAddress, Event, Recipient, Schedule};
use calinvite_tests::block_on;
use calinvite_tests::scenario::Scenario;
use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();

fuzz_target!(|raw: &[u8]| {
    // As in the inbound target: mail-parser's debug assertion is contained
    // (reported as malformed MIME); every other panic is a crash.
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| l.file().contains("mail-parser")) {
                return;
            }
            previous(info);
            std::process::abort();
        }));
    });
    let Some((&selector, body)) = raw.split_first() else { return };
    let s = block_on(Scenario::new(MemoryStore::new(), Settings::default())).expect("scenario");
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
    let code = block_on(s.pipeline.create_event_with(s.scope(), |code| {
        Event::builder(code)
            .summary("Fuzzed")
            .schedule(Schedule::all_day(day, day).map_err(|e| e.to_string())?)
            .organizer(EmailAddress::parse("ana@example.com").map_err(|e| e.to_string())?, None)
            .build()
            .map_err(|e| e.to_string())
    }))
    .expect("event");
    let who = Recipient::new(EmailAddress::parse("sam@example.org").expect("address"));
    block_on(s.pipeline.invite(s.scope(), &code, who, InvitationSource::Api)).expect("invite");
    block_on(s.deliver()).expect("deliver");
    let got = s.inbox("sam@example.org");
    let first = got.first().expect("an invitation");
    let uid = first.uid.clone().unwrap_or_default();
    let mid = first.message_id.clone().unwrap_or_default();
    let text = String::from_utf8_lossy(body)
        .replace("@UID@", &uid)
        .replace("@MID@", &mid);
    let bytes = if text.as_bytes() == body { body.to_vec() } else { text.into_bytes() };
    let mailbox = match selector % 3 {
        0 => &s.owner.ingest,
        1 => &s.owner.reply,
        _ => &s.owner.bounce,
    };
    let pass = if selector & 4 == 0 { AuthResult::Pass } else { AuthResult::Fail };
    let auth = AuthVerdict {
        spf: pass,
        dkim: vec![("example.com".into(), pass)],
        dmarc: pass,
    };
    let envelope = InboundEnvelope {
        mail_from: Some("ana@example.com".into()),
        rcpt_to: vec![mailbox.to_string()],
        peer: None,
    };
    match block_on(s.pipeline.receive(&bytes, envelope, auth)) {
        Ok(_) => {}
        Err(PipelineError::Store(StoreError::Corrupt { row, detail })) => {
            panic!("store corrupted by input: {row}: {detail}")
        }
        Err(e) => panic!("input made the pipeline fail: {e}"),
    }
    block_on(s.pipeline.run_until_idle()).expect("the queue drains");
});
