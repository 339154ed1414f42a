//! The relay client's TLS: STARTTLS and implicit TLS against calinvite's own
//! listener (a certificate made at test time, rustls with aws-lc-rs on both
//! sides), and the failures that must never send a message in the clear or
//! to the wrong server.

#![allow(clippy::unwrap_used)]

use crate::listener_support;

use std::sync::Arc;
use std::time::Duration;

use calinvite_core::lifecycle::{AuthPolicy, MemoryStore, Store, Transport};
use calinvite_core::{EmailAddress, Envelope};
use calinvite_smtp::listener::{InboundServer, Listener, ListenerConfig, NoVerification};
use calinvite_smtp::relay::{Credentials, RelayConfig, SmtpRelay, tls_client_config};
use listener_support::{ORGANIZER, organizer_request, pipeline, scope};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const HOST: &str = "mx.calinvite.test";

struct Authority {
    cert: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

fn authority() -> Authority {
    let made = rcgen::generate_simple_self_signed(vec![HOST.into()]).unwrap();
    let cert = CertificateDer::from(made.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    Authority {
        cert,
        server: Arc::new(server),
    }
}

fn client_tls(trust: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    tls_client_config(roots).unwrap()
}

fn quick(config: RelayConfig) -> RelayConfig {
    config.helo_name("calinvite.test").timeouts(
        Duration::from_secs(5),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
}

fn organizer_envelope() -> Envelope {
    // An organizer's invitation to the ingest address: the listener takes it.
    Envelope::new(
        EmailAddress::parse(ORGANIZER).unwrap(),
        EmailAddress::parse(listener_support::INGEST).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_to_the_listener_delivers() {
    let ca = authority();
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let mut cfg = ListenerConfig::new(HOST);
    cfg.tls = Some(ca.server.clone());
    let handle = Listener::bind("127.0.0.1:0", cfg, pipeline.clone(), NoVerification)
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let port = handle.local_addr().port();

    let relay = SmtpRelay::new(
        quick(RelayConfig::starttls(
            "127.0.0.1",
            port,
            client_tls(&ca.cert),
        ))
        .server_name_for_tls(HOST),
    )
    .unwrap();
    relay
        .send_raw(
            &organizer_envelope(),
            &organizer_request("tls-1@example.com", ORGANIZER),
        )
        .await
        .unwrap();
    assert!(
        pipeline
            .store()
            .event_by_uid(scope(), "tls-1@example.com")
            .await
            .unwrap()
            .is_some(),
        "the invitation sent over STARTTLS landed"
    );

    // A certificate from another authority: the handshake fails, nothing is
    // sent, and it is a transient (configuration) error, never a bounce.
    let stranger = authority();
    let wrong = SmtpRelay::new(
        quick(RelayConfig::starttls(
            "127.0.0.1",
            port,
            client_tls(&stranger.cert),
        ))
        .server_name_for_tls(HOST),
    )
    .unwrap();
    let err = wrong
        .send_raw(
            &organizer_envelope(),
            &organizer_request("tls-2@example.com", ORGANIZER),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_transient() && err.message().contains("TLS handshake"),
        "{err:?}"
    );
    assert!(
        pipeline
            .store()
            .event_by_uid(scope(), "tls-2@example.com")
            .await
            .unwrap()
            .is_none()
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_starttls_is_never_skipped() {
    // A listener without a certificate offers no STARTTLS: a relay that
    // requires it refuses to send, and says why.
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let handle = Listener::bind(
        "127.0.0.1:0",
        ListenerConfig::new(HOST),
        pipeline.clone(),
        NoVerification,
    )
    .await
    .unwrap()
    .spawn()
    .unwrap();
    let ca = authority();
    let relay = SmtpRelay::new(quick(RelayConfig::starttls(
        "127.0.0.1",
        handle.local_addr().port(),
        client_tls(&ca.cert),
    )))
    .unwrap();
    let err = relay
        .send_raw(
            &organizer_envelope(),
            &organizer_request("clear@example.com", ORGANIZER),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_transient() && err.message().contains("does not offer STARTTLS"),
        "{err:?}"
    );
    assert!(
        pipeline
            .store()
            .event_by_uid(scope(), "clear@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // Credentials would go in the clear: refused when the relay is built.
    assert!(
        SmtpRelay::new(
            RelayConfig::plaintext("127.0.0.1", 25).credentials(Credentials::new("u", "p"))
        )
        .is_err()
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_delivers() {
    // Port-465 style: TLS from the first byte, then SMTP (the listener's
    // session over the TLS stream).
    let ca = authority();
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let server = Arc::new(InboundServer::new(
        ListenerConfig::new(HOST),
        pipeline.clone(),
        NoVerification,
    ));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = tcp.accept().await else {
                return;
            };
            let (acceptor, server) = (acceptor.clone(), server.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    server.handle_connection(tls, peer).await;
                }
            });
        }
    });
    let relay = SmtpRelay::new(
        quick(RelayConfig::tls("127.0.0.1", port, client_tls(&ca.cert))).server_name_for_tls(HOST),
    )
    .unwrap();
    for i in 0..3 {
        let uid = format!("implicit-{i}@example.com");
        relay
            .send_raw(&organizer_envelope(), &organizer_request(&uid, ORGANIZER))
            .await
            .unwrap();
        assert!(
            pipeline
                .store()
                .event_by_uid(scope(), &uid)
                .await
                .unwrap()
                .is_some()
        );
    }
    relay.close().await;
    // An address the listener does not serve: refused at RCPT, a permanent error.
    let err = relay
        .send_raw(
            &Envelope::new(
                EmailAddress::parse(ORGANIZER).unwrap(),
                EmailAddress::parse("someone@elsewhere.example").unwrap(),
            ),
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await
        .unwrap_err();
    assert!(
        err.is_permanent() && err.message().contains("550 5.7.1"),
        "{err:?}"
    );
}
