//! What the queue and crash tests share: one domain owner with one organizer,
//! an API-created event, a large audience written in bulk exactly as
//! `Pipeline::invite` writes it, relays that keep only Message-IDs (not
//! 100,000 message bodies), and counts read straight from the tables.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use calinvite_core::lifecycle::{
    AllowEntry, DeliveryKey, DeliveryState, DomainOwner, HistoryEntry, HistoryKind,
    InvitationSource, OrganizerAccount, OrganizerId, OwnerId, Scope, Settings, Store, Transport,
    TransportError,
};
use calinvite_core::spi::{Change, Delivery, InvitationParts, Payload, QueueState};
use calinvite_core::targeting::UpdateAudience;
use calinvite_core::{
    EmailAddress, Envelope, Event, EventCode, IdempotencyKey, InvitationToken, MessageKind, Method,
    Recipient, Schedule, Sequence, TimeZone, WebUrl, ZonedDateTime,
};
use calinvite_store::system::OsRandom;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row as _;

/// The mail domain of the owner: Message-IDs end in it.
pub const DOMAIN: &str = "events.example.com";
/// The organizer.
pub const ORGANIZER: &str = "ana@example.com";

/// A monotonic clock for the timings the tests print (clippy.toml keeps the
/// library off the clock; a test's stopwatch is not the library).
#[allow(clippy::disallowed_methods)]
pub fn stopwatch() -> Instant {
    Instant::now()
}

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// The domain owner every load test uses.
pub fn owner() -> DomainOwner {
    {
        let mut owner = DomainOwner::new(
            OwnerId(1),
            "Example Events",
            DOMAIN,
            address(&format!("create@{DOMAIN}")),
            address(&format!("rsvp@{DOMAIN}")),
            address(&format!("bounces@{DOMAIN}")),
        );
        owner.links_base = WebUrl::parse(&format!("https://{DOMAIN}/")).ok();
        owner
    }
}

/// Its organizer: updates go to everyone who received the event.
pub fn organizer() -> OrganizerAccount {
    OrganizerAccount::new(scope(), "Ana", address(ORGANIZER))
        .with_allow_list(vec![AllowEntry::Address(address(ORGANIZER))])
        .with_settings(Settings::default().with_audience(UpdateAudience::Everyone))
}

/// The organizer's scope.
pub fn scope() -> Scope {
    Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    }
}

/// Registers the owner and the organizer.
pub async fn tenant<S: Store>(store: &S) {
    store.put_owner(owner()).await.unwrap();
    store.put_organizer(organizer()).await.unwrap();
}

/// A two-hour evening in Madrid starting at `start`, held at `location`.
pub fn event(code: EventCode, start: DateTime<Utc>, location: &str) -> Result<Event, String> {
    let madrid = TimeZone::parse("Europe/Madrid").map_err(|e| e.to_string())?;
    let schedule = Schedule::timed(
        ZonedDateTime::from_instant(start, madrid),
        ZonedDateTime::from_instant(start + TimeDelta::hours(2), madrid),
    )
    .map_err(|e| e.to_string())?;
    Event::builder(code)
        .summary("Customer evening")
        .description("Talks, demos and drinks.")
        .location(location)
        .schedule(schedule)
        .organizer(address(ORGANIZER), Some("Ana Organizer"))
        .build()
        .map_err(|e| e.to_string())
}

/// The `i`th guest.
pub fn guest(i: usize) -> Recipient {
    Recipient::new(address(&format!("guest{i:06}@example.org"))).with_name(format!("Guest {i}"))
}

/// The Message-ID the invitation's first message (or update) of `sequence` carries.
pub fn request_id(token: &InvitationToken, sequence: Sequence) -> String {
    IdempotencyKey::new(token.clone(), sequence, Method::Request, 0).message_id(DOMAIN)
}

/// The queue key of that message.
pub fn request_key(token: &InvitationToken, sequence: Sequence) -> DeliveryKey {
    DeliveryKey::Invitation(IdempotencyKey::new(
        token.clone(),
        sequence,
        Method::Request,
        0,
    ))
}

/// How the bulk-written invitations stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// As `Pipeline::invite` leaves them: the invitation, its queued
    /// REQUEST and the `Queued` history entry, in one commit.
    Queued,
    /// Imported as already sent (a previous system sent SEQUENCE 0): no queue
    /// row, `delivery = sent`, `Queued` and `Sent` history entries.
    AlreadySent,
}

/// The changes `Pipeline::invite` commits for one new invitation (or, for
/// [`Written::AlreadySent`], an invitation whose first message went out).
pub fn invitation_changes(
    code: &EventCode,
    token: InvitationToken,
    recipient: Recipient,
    sequence: Sequence,
    at: DateTime<Utc>,
    written: Written,
) -> Vec<Change> {
    let mut invitation = InvitationParts {
        scope: scope(),
        code: code.clone(),
        token: token.clone(),
        recipient,
        source: InvitationSource::Api,
        created_at: at,
        sent_at: None,
        sequence_held: Some(sequence),
        cancelled: false,
        status: None,
        answered_at: None,
        instance_answers: Vec::new(),
        marks: Vec::new(),
        delivery: DeliveryState::Queued,
        copies: 0,
        version: 0,
    };
    let queued = Change::AppendHistory(HistoryEntry::new(
        token.clone(),
        at,
        HistoryKind::Queued {
            kind: MessageKind::Invitation,
            sequence,
        },
    ));
    match written {
        Written::Queued => vec![
            Change::InsertInvitation(invitation.into()),
            Change::Enqueue(Delivery {
                key: request_key(&token, sequence),
                owner: OwnerId(1),
                payload: Payload::Invitation {
                    code: code.clone(),
                    token,
                    kind: MessageKind::Invitation,
                    sequence,
                    copy: 0,
                },
                attempts: 0,
                due: at,
                state: QueueState::Queued,
                last_error: None,
                group: None,
            }),
            queued,
        ],
        Written::AlreadySent => {
            invitation.sent_at = Some(at);
            invitation.delivery = DeliveryState::Sent;
            vec![
                Change::InsertInvitation(invitation.into()),
                queued,
                Change::AppendHistory(HistoryEntry::new(token, at, HistoryKind::Sent { sequence })),
            ]
        }
    }
}

/// Writes invitations for guests `range` in commits of `chunk` invitations,
/// `parallel` commits at a time; returns their tokens (drawn from the OS).
pub async fn invite_in_bulk<S: Store + Clone + 'static>(
    store: &S,
    code: &EventCode,
    range: std::ops::Range<usize>,
    at: DateTime<Utc>,
    written: Written,
    chunk: usize,
    parallel: usize,
) -> Vec<InvitationToken> {
    let starts: Vec<usize> = range.clone().step_by(chunk).collect();
    let mut tokens = Vec::with_capacity(range.len());
    for wave in starts.chunks(parallel.max(1)) {
        let mut tasks = tokio::task::JoinSet::new();
        for &start in wave {
            let end = (start + chunk).min(range.end);
            let store = store.clone();
            let code = code.clone();
            tasks.spawn(async move {
                let ids = OsRandom;
                let mut changes = Vec::with_capacity((end - start) * 3);
                let mut made = Vec::with_capacity(end - start);
                for i in start..end {
                    let token = InvitationToken::generate(&ids);
                    made.push((i, token.clone()));
                    changes.extend(invitation_changes(
                        &code,
                        token,
                        guest(i),
                        Sequence::INITIAL,
                        at,
                        written,
                    ));
                }
                store.commit(changes).await.unwrap();
                made
            });
        }
        let mut done: Vec<(usize, InvitationToken)> = tasks.join_all().await.concat();
        done.sort_by_key(|(i, _)| *i);
        tokens.extend(done.into_iter().map(|(_, t)| t));
    }
    tokens
}

/// The Message-ID of an RFC 5322 message, without angle brackets.
pub fn message_id(message: &[u8]) -> Option<String> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let head = std::str::from_utf8(&message[..end]).ok()?;
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line.trim()),
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("message-id")
                {
                    value = Some(rest.trim().to_owned());
                }
            }
        }
    }
    let v = value?;
    let v = v.trim().trim_start_matches('<').trim_end_matches('>');
    (!v.is_empty()).then(|| v.to_owned())
}

/// A relay that accepts everything and counts what it accepted per
/// Message-ID (a message's bytes are dropped once its Message-ID is read).
/// Clones share the counts: every worker hands mail to the same relay.
#[derive(Clone, Debug, Default)]
pub struct CountingRelay {
    seen: Arc<Mutex<HashMap<String, u32>>>,
}

impl CountingRelay {
    /// Accepted messages per Message-ID.
    pub fn counts(&self) -> HashMap<String, u32> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Transport for CountingRelay {
    async fn send_raw(&self, _envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        let id = message_id(message).ok_or_else(|| TransportError::permanent("no Message-ID"))?;
        *self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default() += 1;
        Ok(())
    }
}

/// A well-behaved relay that survives its clients: each accepted message's
/// Message-ID is appended to a log file before `Ok` is returned, so a
/// client killed after the relay accepted (and before it recorded that)
/// leaves the acceptance on record. The log is written with `write(2)` on
/// an `O_APPEND` file — the kernel keeps it whatever happens to the process
/// that wrote it; `fsync` (which only matters if the machine itself goes
/// down) is optional.
#[derive(Clone, Debug)]
pub struct LogRelay {
    file: Arc<Mutex<std::fs::File>>,
    fsync: bool,
}

impl LogRelay {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path, fsync: bool) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        LogRelay {
            file: Arc::new(Mutex::new(file)),
            fsync,
        }
    }

    /// Appends a line of its own (a note beside the relay's).
    pub fn note(&self, line: &str) {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(format!("{}\n", line.replace('\n', " ")).as_bytes())
            .unwrap();
    }

    /// Every line of the log at `path`: Message-IDs in acceptance order.
    pub fn read(path: &Path) -> Vec<String> {
        match std::fs::read_to_string(path) {
            Ok(s) => s.lines().map(str::to_owned).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("relay log {}: {e}", path.display()),
        }
    }
}

impl Transport for LogRelay {
    async fn send_raw(&self, _envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        let id = message_id(message).ok_or_else(|| TransportError::permanent("no Message-ID"))?;
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        // One write(2) per line: a kill cannot tear it.
        file.write_all(format!("{id}\n").as_bytes())
            .map_err(|e| TransportError::transient(e.to_string()))?;
        if self.fsync {
            file.sync_data()
                .map_err(|e| TransportError::transient(e.to_string()))?;
        }
        Ok(())
    }
}

/// Read-only access to a store's tables, for counts the `Store` trait has no
/// call for (how many rows are in each queue state, how often each was
/// claimed). A second pool on the same database.
pub struct Tables {
    pool: sqlx::AnyPool,
    prefix: String,
}

impl Tables {
    /// Connects to `url` (the store's own); `schema` qualifies PostgreSQL tables.
    pub async fn open(url: &str, schema: Option<&str>) -> Self {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        Tables {
            pool,
            prefix: schema.map(|s| format!("{s}.")).unwrap_or_default(),
        }
    }

    /// One number: `sql` with `{p}` before each table name.
    pub async fn number(&self, sql: &str) -> i64 {
        let text = sql.replace("{p}", &self.prefix);
        let row = sqlx::query(sqlx::AssertSqlSafe(text.clone()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        row.try_get::<Option<i64>, _>(0)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .unwrap_or(0)
    }

    /// Queue rows per state.
    pub async fn queue_states(&self) -> BTreeMap<String, i64> {
        let text = format!(
            "SELECT state, COUNT(*) AS n FROM {}deliveries GROUP BY state",
            self.prefix
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(text))
            .fetch_all(&self.pool)
            .await
            .unwrap();
        rows.iter()
            .map(|r| (r.get::<String, _>("state"), r.get::<i64, _>("n")))
            .collect()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `n` per second over `secs`, rounded.
pub fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs).round()
    } else {
        f64::INFINITY
    }
}
