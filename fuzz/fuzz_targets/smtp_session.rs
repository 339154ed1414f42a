//! The inbound SMTP listener's session: arbitrary bytes from a peer (commands,
//! DATA, garbage, bare LF and CR) never panic or hang it, and everything it
//! writes back is a well-formed reply, the first a 220 greeting. Time is
//! paused, so timeouts pass instantly.
#![no_main]
use std::sync::Arc;
use std::time::Duration;

use calinvite_core::lifecycle::{
    DomainOwner, MemoryStore, OwnerId, Pipeline, RecordingTransport, Store,
};
use calinvite_core::{EmailAddress, FixedClock, SequentialIds};
use calinvite_smtp::listener::{InboundServer, ListenerConfig, NoVerification};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("address")
}

fuzz_target!(|raw: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = MemoryStore::new();
        store
            .put_owner(DomainOwner::new(
                OwnerId(1),
                "fuzz",
                "calinvite.test",
                address("create@calinvite.test"),
                address("rsvp@calinvite.test"),
                address("bounces@calinvite.test"),
            ))
            .await
            .expect("owner");
        let clock = Arc::new(FixedClock::new(calinvite_tests::scenario::scenario_start()));
        let pipeline = Arc::new(Pipeline::new(
            store,
            RecordingTransport::new(),
            clock,
            Box::new(SequentialIds::new(7)),
        ));
        let mut config = ListenerConfig::new("mx.calinvite.test");
        config.max_message_bytes = 8192;
        config.max_line_bytes = 256;
        config.max_command_bytes = 256;
        config.max_recipients = 3;
        let server = InboundServer::new(config, pipeline, NoVerification);
        let (client, io) = tokio::io::duplex(1 << 16);
        let (mut rd, mut wr) = tokio::io::split(client);
        let input = raw.to_vec();
        let feed = async move {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
        };
        let drain = async move {
            let mut out = Vec::new();
            let _ = rd.read_to_end(&mut out).await;
            out
        };
        let session = server.handle_connection(io, "192.0.2.1:40000".parse().expect("peer"));
        let ((), (), out) = tokio::time::timeout(Duration::from_secs(7200), async {
            tokio::join!(session, feed, drain)
        })
        .await
        .expect("the session ends");
        let text = std::str::from_utf8(&out).expect("replies are UTF-8");
        assert!(text.starts_with("220 "), "{text}");
        for line in text.split_terminator("\r\n") {
            let b = line.as_bytes();
            assert!(b.len() >= 4, "{line}");
            assert!(b[..3].iter().all(u8::is_ascii_digit) && (b'2'..=b'5').contains(&b[0]), "{line}");
            assert!(b[3] == b' ' || b[3] == b'-', "{line}");
        }
    });
});
