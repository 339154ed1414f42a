//! The invite server's public pages — landing pages, call-to-action links,
//! web RSVP, unsubscribe and their assets — given arbitrary requests: never a
//! panic (the server answers 500 for one) and never a hang, whatever the
//! method, path, query, headers and body.
//!
//! Input: a first byte choosing the method, then the request target up to a
//! newline, header lines up to an empty line, then the body. `@CODE@` and
//! `@TOKEN@` are replaced with a live event's code and a live invitation's
//! token, so the inputs reach real pages.
#![no_main]
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use calinvite_core::lifecycle::{InvitationSource, Outcome, SingleTenant};
use calinvite_core::{EmailAddress, EventDraft, Recipient, Schedule, TimeZone, ZonedDateTime};
use invite_server::{AppState, CaptureFolder, Limits, Outbound, ServerDb};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    code: String,
    token: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("calinvite-fuzz-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (app, code, token) = rt.block_on(async {
            let url = format!("sqlite://{}", dir.join("db.sqlite").display());
            let store = calinvite_store::SqlStore::open(&url).await.expect("store");
            let out = Outbound::capture(CaptureFolder::new(dir.join("outbox")).expect("outbox"));
            let pipeline = Arc::new(calinvite::pipeline(store, out).build());
            let tenant = SingleTenant::new("invites.example", "Fuzz Org", "org@example.com")
                .expect("tenant");
            let scope = pipeline.register(&tenant).await.expect("register");
            let day = (pipeline.now() + chrono::TimeDelta::days(7)).date_naive();
            let at = |h| ZonedDateTime::new(day.and_hms_opt(h, 0, 0).expect("time"), TimeZone::UTC).expect("zoned");
            let draft = EventDraft::new("Fuzzed", Schedule::timed(at(17), at(18)).expect("schedule"));
            let code = pipeline.create_event(scope, draft).await.expect("event");
            let who = Recipient::new(EmailAddress::parse("sam@example.org").expect("address"));
            let token = match pipeline
                .invite(scope, &code, who, InvitationSource::Api)
                .await
                .expect("invite")
            {
                Outcome::Invited(t) => t.to_string(),
                other => panic!("invite: {other:?}"),
            };
            let db = ServerDb::open(&url, None, 0).await.expect("server tables");
            let state = AppState::new(pipeline, db, Limits::default());
            (invite_server::router(state), code.to_string(), token)
        });
        World { rt, app, code, token }
    })
}

fuzz_target!(|raw: &[u8]| {
    let Some((&m, rest)) = raw.split_first() else { return };
    let w = world();
    let text = String::from_utf8_lossy(rest)
        .replace("@CODE@", &w.code)
        .replace("@TOKEN@", &w.token);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let target = lines.next().unwrap_or("/");
    let method = [Method::GET, Method::POST, Method::HEAD, Method::PUT][usize::from(m % 4)].clone();
    let mut builder = Request::builder().method(method).uri(format!("/{}", target.trim_start_matches('/')));
    for line in lines.take(20) {
        if let Some((k, v)) = line.split_once(':') {
            builder = builder.header(k.trim(), v.trim());
        }
    }
    // A target or header the HTTP layer would never pass on is not a request.
    let Ok(request) = builder.body(Body::from(body.to_owned())) else { return };
    let status = w.rt.block_on(async {
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            w.app.clone().oneshot(request),
        )
        .await
        .expect("a public page took over 10 s")
        .expect("infallible");
        let status = response.status();
        // The whole answer is read: a body that fails or never ends is a bug.
        axum::body::to_bytes(response.into_body(), 8 << 20)
            .await
            .expect("the answer's body");
        status
    });
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "the server failed on {target:?}");
});
