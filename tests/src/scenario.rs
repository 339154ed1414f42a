//! A [`Scenario`] plays an organizer and any number of recipients through a
//! whole event lifecycle, in simulated time, over any [`Store`]: the
//! organizer's calendar mails real iMIP requests and cancellations to the
//! ingest address, recipients' calendars answer the invitations they actually
//! received with real REPLY messages, mail servers send real delivery reports.
//! Everything goes through [`Pipeline::receive`], as it would from an SMTP
//! listener. Store implementations run the same scenarios (a conformance
//! suite); applications can use it to test their own flows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeZone as _, Utc};

use calinvite_core::EmailAddress;
use calinvite_core::WebUrl;
use calinvite_core::inbound::{
    AuthResult, AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_core::lifecycle::RecordingTransport;
use calinvite_core::lifecycle::Store;
use calinvite_core::lifecycle::{
    AllowEntry, DomainOwner, OrganizerAccount, OrganizerId, OwnerId, Scope, Settings,
};
use calinvite_core::lifecycle::{Outcome, Pipeline, PipelineError, PipelineOptions};
use calinvite_core::{Clock, FixedClock, SequentialIds};

/// When every scenario starts: Sunday 22 November 2026, 09:00 UTC.
pub fn scenario_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("scenario address {s}: {e}"))
}

/// An event as it stands in the organizer's own calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The organizer's UID.
    pub uid: String,
    /// The organizer's SEQUENCE (their client raises it on edits).
    pub sequence: u64,
    /// Title.
    pub summary: String,
    /// Description.
    pub description: String,
    /// Place.
    pub location: Option<String>,
    /// Local start, `YYYYMMDDTHHMMSS`.
    pub start: String,
    /// Local end.
    pub end: String,
    /// IANA zone of start and end.
    pub zone: String,
    /// RRULE value, if it repeats.
    pub rrule: Option<String>,
    /// Moved instances: (RECURRENCE-ID local, new start local, new end local).
    pub moved: Vec<(String, String, String)>,
}

impl CalendarEvent {
    /// A two-hour evening event in Madrid on 3 December 2026.
    pub fn launch(uid: &str) -> Self {
        CalendarEvent {
            uid: uid.to_owned(),
            sequence: 0,
            summary: "Product launch party".into(),
            description: "Drinks and demos.".into(),
            location: Some("Calle Mayor 1, Madrid".into()),
            start: "20261203T180000".into(),
            end: "20261203T200000".into(),
            zone: "Europe/Madrid".into(),
            rrule: None,
            moved: Vec::new(),
        }
    }

    /// The organizer edits the event: their client raises SEQUENCE.
    pub fn edited(mut self, edit: impl FnOnce(&mut CalendarEvent)) -> Self {
        edit(&mut self);
        self.sequence += 1;
        self
    }

    fn vevent(&self, out: &mut String, organizer: &str, stamp: &str, invitee: &str) {
        let _ = write!(
            out,
            "BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\nDTSTAMP:{stamp}\r\n\
             DTSTART;TZID={z}:{s}\r\nDTEND;TZID={z}:{e}\r\nSUMMARY:{summary}\r\n\
             DESCRIPTION:{d}\r\nORGANIZER;CN=Ana Organizer:mailto:{organizer}\r\n\
             ATTENDEE;CN=Ana Organizer;PARTSTAT=ACCEPTED:mailto:{organizer}\r\n\
             ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{invitee}\r\n",
            uid = self.uid,
            seq = self.sequence,
            z = self.zone,
            s = self.start,
            e = self.end,
            summary = self.summary,
            d = self.description,
        );
        if let Some(l) = &self.location {
            let _ = write!(out, "LOCATION:{}\r\n", l.replace(',', "\\,"));
        }
        if let Some(r) = &self.rrule {
            let _ = write!(out, "RRULE:{r}\r\n");
        }
        out.push_str("STATUS:CONFIRMED\r\nEND:VEVENT\r\n");
        for (id, s, e) in &self.moved {
            let _ = write!(
                out,
                "BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\nDTSTAMP:{stamp}\r\n\
                 RECURRENCE-ID;TZID={z}:{id}\r\nDTSTART;TZID={z}:{s}\r\nDTEND;TZID={z}:{e}\r\n\
                 SUMMARY:{summary}\r\nORGANIZER;CN=Ana Organizer:mailto:{organizer}\r\n\
                 END:VEVENT\r\n",
                uid = self.uid,
                seq = self.sequence,
                z = self.zone,
                summary = self.summary,
            );
        }
    }
}

/// A message a recipient (or the organizer) received from calinvite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// METHOD (`REQUEST`, `CANCEL`), or `None` for a plain notice.
    pub method: Option<String>,
    /// The calendar UID (the recipient's own, [D1](calinvite_core::manual::design#d1)).
    pub uid: Option<String>,
    /// SEQUENCE.
    pub sequence: Option<u64>,
    /// The instances a CANCEL names (RECURRENCE-ID), as instants or dates.
    pub instances: Vec<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Message-ID.
    pub message_id: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The organizer, the recipients and calinvite, with a clock that moves only
/// when told.
pub struct Scenario<S: Store> {
    /// The pipeline under test.
    pub pipeline: Pipeline<S, RecordingTransport>,
    /// Simulated time.
    pub clock: Arc<FixedClock>,
    /// The domain owner (`events.example.com`).
    pub owner: DomainOwner,
    /// The organizer (`ana@example.com`, allowed for all of `example.com`).
    pub organizer: OrganizerAccount,
    inboxes: Mutex<BTreeMap<EmailAddress, Vec<Delivered>>>,
}

impl<S: Store> std::fmt::Debug for Scenario<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("owner", &self.owner.id)
            .finish_non_exhaustive()
    }
}

/// The organizer's address in every scenario.
pub const ORGANIZER: &str = "ana@example.com";

impl<S: Store> Scenario<S> {
    /// A scenario over `store`, with the organizer's `settings`.
    pub async fn new(store: S, settings: Settings) -> Result<Self, PipelineError> {
        Self::with_tenant(store, settings, 1, "events.example.com").await
    }

    /// A scenario for another tenant (owner `owner_id` serving `domain`) over
    /// the same kind of store: for tenancy tests.
    pub async fn with_tenant(
        store: S,
        settings: Settings,
        owner_id: u64,
        domain: &str,
    ) -> Result<Self, PipelineError> {
        Self::build(store, settings, owner_id, domain, false).await
    }

    /// A scenario whose pipeline writes
    /// [announcements](calinvite_core::lifecycle::Announcement) with its
    /// changes.
    pub async fn announcing(store: S, settings: Settings) -> Result<Self, PipelineError> {
        Self::build(store, settings, 1, "events.example.com", true).await
    }

    async fn build(
        store: S,
        settings: Settings,
        owner_id: u64,
        domain: &str,
        announce: bool,
    ) -> Result<Self, PipelineError> {
        let clock = Arc::new(FixedClock::new(scenario_start()));
        let owner = {
            let mut owner = DomainOwner::new(
                OwnerId(owner_id),
                "Example Events",
                domain,
                address(&format!("create@{domain}")),
                address(&format!("rsvp@{domain}")),
                address(&format!("bounces@{domain}")),
            );
            owner.links_base = WebUrl::parse(&format!("https://{domain}/")).ok();
            owner
        };
        let organizer = OrganizerAccount::new(
            Scope {
                owner: owner.id,
                organizer: OrganizerId(1),
            },
            "Ana",
            address(ORGANIZER),
        )
        .with_allow_list(vec![
            AllowEntry::Address(address(ORGANIZER)),
            AllowEntry::Domain("example.com".into()),
        ])
        .with_settings(settings);
        store.put_owner(owner.clone()).await?;
        store.put_organizer(organizer.clone()).await?;
        let mut options = PipelineOptions::default();
        options.announce = announce;
        let pipeline = Pipeline::with_options(
            store,
            RecordingTransport::new(),
            clock.clone() as Arc<dyn Clock>,
            Box::new(SequentialIds::new(owner_id.wrapping_mul(0x9E37_79B9))),
            options,
        );
        Ok(Scenario {
            pipeline,
            clock,
            owner,
            organizer,
            inboxes: Mutex::new(BTreeMap::new()),
        })
    }

    /// The organizer's tenancy scope.
    pub fn scope(&self) -> Scope {
        self.organizer.scope
    }

    /// Moves simulated time on.
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }

    fn stamp(&self) -> String {
        self.clock.now().format("%Y%m%dT%H%M%SZ").to_string()
    }

    fn pass() -> AuthVerdict {
        AuthVerdict {
            spf: AuthResult::Pass,
            dkim: vec![("example.com".into(), AuthResult::Pass)],
            dmarc: AuthResult::Pass,
        }
    }

    async fn deliver_to(
        &self,
        to: &EmailAddress,
        from: &str,
        bytes: Vec<u8>,
        auth: AuthVerdict,
    ) -> Result<Outcome, PipelineError> {
        let envelope = InboundEnvelope {
            mail_from: Some(from.to_owned()),
            rcpt_to: vec![to.to_string()],
            peer: None,
        };
        self.pipeline.receive(&bytes, envelope, auth).await
    }

    fn calendar_message(from: &str, to: &str, subject: &str, method: &str, ics: &str) -> Vec<u8> {
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{}@client.example>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{subject}\r\n\
             --b\r\nContent-Type: text/calendar; charset=UTF-8; method={method}\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{ics}--b--\r\n",
            ics.len() ^ subject.len() << 16,
        )
        .into_bytes()
    }

    /// The organizer's calendar mails `event` (new or edited) to the ingest address.
    pub async fn organizer_sends(&self, event: &CalendarEvent) -> Result<Outcome, PipelineError> {
        self.organizer_sends_as(event, ORGANIZER, Self::pass())
            .await
    }

    /// Like [`organizer_sends`](Self::organizer_sends), from `from` with `auth`.
    pub async fn organizer_sends_as(
        &self,
        event: &CalendarEvent,
        from: &str,
        auth: AuthVerdict,
    ) -> Result<Outcome, PipelineError> {
        let mut ics = String::from(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Scenario//Calendar//EN\r\nMETHOD:REQUEST\r\n",
        );
        event.vevent(&mut ics, from, &self.stamp(), self.owner.ingest.as_str());
        ics.push_str("END:VCALENDAR\r\n");
        let bytes = Self::calendar_message(
            from,
            self.owner.ingest.as_str(),
            &format!("Invitation: {}", event.summary),
            "REQUEST",
            &ics,
        );
        self.deliver_to(&self.owner.ingest.clone(), from, bytes, auth)
            .await
    }

    /// The organizer deletes the event (`instance`: one occurrence, local time).
    pub async fn organizer_cancels(
        &self,
        event: &CalendarEvent,
        instance: Option<&str>,
    ) -> Result<Outcome, PipelineError> {
        let mut ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Scenario//Calendar//EN\r\nMETHOD:CANCEL\r\n\
             BEGIN:VEVENT\r\nUID:{}\r\nSEQUENCE:{}\r\nDTSTAMP:{}\r\n\
             DTSTART;TZID={z}:{}\r\nDTEND;TZID={z}:{}\r\nSUMMARY:{}\r\n\
             ORGANIZER;CN=Ana Organizer:mailto:{ORGANIZER}\r\n\
             ATTENDEE:mailto:{}\r\nSTATUS:CANCELLED\r\n",
            event.uid,
            event.sequence,
            self.stamp(),
            event.start,
            event.end,
            event.summary,
            self.owner.ingest,
            z = event.zone,
        );
        if let Some(i) = instance {
            let _ = write!(ics, "RECURRENCE-ID;TZID={}:{i}\r\n", event.zone);
        }
        ics.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
        let bytes = Self::calendar_message(
            ORGANIZER,
            self.owner.ingest.as_str(),
            &format!("Cancelled: {}", event.summary),
            "CANCEL",
            &ics,
        );
        self.deliver_to(&self.owner.ingest.clone(), ORGANIZER, bytes, Self::pass())
            .await
    }

    /// Plans every fan-out, sends every due message, and puts what the
    /// transport accepted into the recipients' inboxes. Returns how many
    /// messages were accepted.
    pub async fn deliver(&self) -> Result<usize, PipelineError> {
        self.pipeline.run_until_idle().await?;
        let sent = self.pipeline.transport().take();
        let n = sent.len();
        let mut inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        for m in sent {
            let parsed = parse_inbound(
                &m.bytes,
                &InboundEnvelope::default(),
                &AuthVerdict::default(),
                &InboundLimits::default(),
            );
            let (uid, sequence, instances) = match &parsed.kind {
                InboundKind::OrganizerRequest(r) => (
                    Some(r.identity.uid.clone()),
                    Some(r.identity.sequence.get()),
                    Vec::new(),
                ),
                InboundKind::OrganizerCancel(c) => (
                    Some(c.identity.uid.clone()),
                    Some(c.identity.sequence.get()),
                    c.instances
                        .iter()
                        .filter_map(|t| t.occurrence_id())
                        .map(|o| format!("{o:?}"))
                        .collect(),
                ),
                _ => (None, None, Vec::new()),
            };
            inboxes
                .entry(m.envelope.to().clone())
                .or_default()
                .push(Delivered {
                    method: parsed.method.clone(),
                    uid,
                    sequence,
                    instances,
                    subject: parsed.subject.clone(),
                    message_id: parsed.message_id.clone(),
                    bytes: m.bytes,
                });
        }
        Ok(n)
    }

    /// Everything `address` received so far, oldest first.
    pub fn inbox(&self, address: &str) -> Vec<Delivered> {
        self.inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self::address(address))
            .cloned()
            .unwrap_or_default()
    }

    /// The calendar messages (`REQUEST`, `CANCEL`) `address` received.
    pub fn calendar_inbox(&self, address: &str) -> Vec<Delivered> {
        self.inbox(address)
            .into_iter()
            .filter(|d| d.method.is_some())
            .collect()
    }

    fn last_request(&self, holder: &str) -> Option<Delivered> {
        self.inbox(holder)
            .into_iter()
            .rev()
            .find(|d| d.method.as_deref() == Some("REQUEST"))
    }

    /// `holder`'s calendar answers the last invitation it received. `answerer`
    /// is who answers (the holder, or someone they forwarded it to);
    /// `instance` a RECURRENCE-ID in UTC (`YYYYMMDDTHHMMSSZ`), if one.
    pub async fn reply_from(
        &self,
        holder: &str,
        answerer: &str,
        partstat: &str,
        instance: Option<&str>,
        method: &str,
    ) -> Result<Outcome, PipelineError> {
        self.reply_mailed(holder, answerer, answerer, partstat, instance, method)
            .await
    }

    /// `holder`'s invitation answered as `holder` (the ATTENDEE), in a
    /// message whose From is `from`: an assistant's or a shared mailbox
    /// answering for them, or a forged header.
    pub async fn reply_mailed_by(
        &self,
        holder: &str,
        from: &str,
        partstat: &str,
    ) -> Result<Outcome, PipelineError> {
        self.reply_mailed(holder, holder, from, partstat, None, "REPLY")
            .await
    }

    async fn reply_mailed(
        &self,
        holder: &str,
        answerer: &str,
        from: &str,
        partstat: &str,
        instance: Option<&str>,
        method: &str,
    ) -> Result<Outcome, PipelineError> {
        let Some(request) = self.last_request(holder) else {
            panic!("{holder} holds no invitation to answer");
        };
        let uid = request.uid.unwrap_or_default();
        let sequence = request.sequence.unwrap_or_default();
        let mut ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Scenario//Calendar//EN\r\nMETHOD:{method}\r\n\
             BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:{}\r\n\
             ORGANIZER:mailto:{}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{answerer}\r\n",
            self.stamp(),
            self.owner.reply,
        );
        if let Some(i) = instance {
            let _ = write!(ics, "RECURRENCE-ID:{i}\r\n");
        }
        if method == "COUNTER" {
            ics.push_str(
                "DTSTART:20261203T190000Z\r\nDTEND:20261203T210000Z\r\nCOMMENT:Later?\r\n",
            );
        }
        ics.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
        let bytes = Self::calendar_message(
            from,
            self.owner.reply.as_str(),
            &format!("{partstat}: reply"),
            method,
            &ics,
        );
        self.deliver_to(
            &self.owner.reply.clone(),
            from,
            bytes,
            AuthVerdict::default(),
        )
        .await
    }

    /// `who` answers the last invitation they received: `ACCEPTED`,
    /// `DECLINED` or `TENTATIVE`.
    pub async fn reply(&self, who: &str, partstat: &str) -> Result<Outcome, PipelineError> {
        self.reply_from(who, who, partstat, None, "REPLY").await
    }

    /// A mail server reports that the last message to `who` failed
    /// (`permanent`: 5.x.x) or was delivered (`None`).
    pub async fn delivery_report(
        &self,
        who: &str,
        permanent: Option<bool>,
    ) -> Result<Outcome, PipelineError> {
        let Some(message_id) = self.inbox(who).last().and_then(|d| d.message_id.clone()) else {
            panic!("{who} received nothing to report on");
        };
        let (action, status) = match permanent {
            Some(true) => ("failed", "5.1.1"),
            Some(false) => ("delayed", "4.2.2"),
            None => ("delivered", "2.0.0"),
        };
        let bytes = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: {bounce}\r\n\
             Subject: Delivery Status Notification\r\nAuto-Submitted: auto-replied\r\n\
             Message-ID: <dsn.{status}@mx.example.net>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
             --r\r\nContent-Type: text/plain\r\n\r\nReport.\r\n\
             --r\r\nContent-Type: message/delivery-status\r\n\r\n\
             Reporting-MTA: dns; mx.example.net\r\n\r\n\
             Final-Recipient: rfc822; {who}\r\nAction: {action}\r\nStatus: {status}\r\n\
             Diagnostic-Code: smtp; {status} mailbox report\r\n\r\n\
             --r\r\nContent-Type: text/rfc822-headers\r\n\r\n\
             Message-ID: <{message_id}>\r\n\r\n--r--\r\n",
            bounce = self.owner.bounce,
        )
        .into_bytes();
        self.deliver_to(
            &self.owner.bounce.clone(),
            "",
            bytes,
            AuthVerdict::default(),
        )
        .await
    }
}
