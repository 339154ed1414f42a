//! `render`: preview what a recipient gets.
//!
//! Reads an event from a TOML or JSON file (see `calinvite_examples::spec`) and
//! writes the invitation — or an update, or a cancellation — as an `.eml` file
//! that any mail client opens.
//!
//! ```text
//! render EVENT.toml [--to ADDRESS [--name NAME]] [--out FILE.eml]
//!        [--update NEW.toml | --cancel | --cancel-instance OCCURRENCE]
//!        [--sequence N] [--now 2026-11-22T09:00:00Z] [--seed N]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use calinvite::SystemClock;
use calinvite_core::{
    Clock, Composer, EmailAddress, EventRevision, InvitationToken, InvitationUid, MessageKind,
    Recipient, Sequence, SequentialIds,
};
use calinvite_examples::spec::{self, Spec, SpecError};
use chrono::{DateTime, Utc};

const USAGE: &str = "usage: render EVENT.toml [--to ADDRESS [--name NAME]] [--out FILE.eml]
              [--update NEW.toml | --cancel | --cancel-instance OCCURRENCE]
              [--sequence N] [--now 2026-11-22T09:00:00Z] [--seed N]

Writes the message a recipient gets as an .eml file.
  --to, --name         the recipient (default: the file's [recipient])
  --update NEW.toml    an update: the event as NEW.toml describes it, SEQUENCE raised
  --cancel             a cancellation of the whole event, SEQUENCE raised
  --cancel-instance T  a cancellation of the occurrence starting at T (local time
                       in the event's zone, e.g. 2026-12-14T09:30, or a date)
  --sequence N         SEQUENCE of the event as the file describes it (default 0)
  --now T              the message's Date and DTSTAMP (default: the system clock)
  --seed N             seed for the event code and the invitation token (default 1)
  --out FILE.eml       where to write (default: invitation.eml, update.eml, cancel.eml)";

#[derive(Default)]
struct Args {
    event: Option<PathBuf>,
    to: Option<String>,
    name: Option<String>,
    out: Option<PathBuf>,
    update: Option<PathBuf>,
    cancel: bool,
    cancel_instance: Option<String>,
    sequence: u64,
    now: Option<DateTime<Utc>>,
    seed: u64,
}

fn parse_args() -> Result<Args, SpecError> {
    let mut a = Args {
        seed: 1,
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "--to" => a.to = Some(value()?),
            "--name" => a.name = Some(value()?),
            "--out" => a.out = Some(value()?.into()),
            "--update" => a.update = Some(value()?.into()),
            "--cancel" => a.cancel = true,
            "--cancel-instance" => a.cancel_instance = Some(value()?),
            "--sequence" => {
                a.sequence = value()?
                    .parse()
                    .map_err(|_| "--sequence takes a whole number")?
            }
            "--seed" => {
                a.seed = value()?
                    .parse()
                    .map_err(|_| "--seed takes a whole number")?
            }
            "--now" => {
                let v = value()?;
                a.now = Some(
                    DateTime::parse_from_rfc3339(&v)
                        .map_err(|e| format!("--now {v:?}: {e} (use 2026-11-22T09:00:00Z)"))?
                        .with_timezone(&Utc),
                );
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n\n{USAGE}").into()),
            _ if a.event.is_none() => a.event = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg:?}\n\n{USAGE}").into()),
        }
    }
    let modes = usize::from(a.update.is_some())
        + usize::from(a.cancel)
        + usize::from(a.cancel_instance.is_some());
    if modes > 1 {
        return Err("choose one of --update, --cancel, --cancel-instance".into());
    }
    if a.event.is_none() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn run() -> Result<(), SpecError> {
    let args = parse_args()?;
    let event_path = args.event.as_deref().ok_or(USAGE)?;
    let spec = Spec::read(event_path)?;
    let mut ids = SequentialIds::new(args.seed);
    let event = spec.event(&mut ids)?;
    let sender = spec.sender()?;
    let composer = Composer::new(sender.clone(), spec.options()?);

    let recipient = match &args.to {
        Some(addr) => {
            let r = Recipient::new(
                EmailAddress::parse(addr).map_err(|e| format!("--to {addr:?}: {e}"))?,
            );
            match &args.name {
                Some(n) => r.with_name(n),
                None => r,
            }
        }
        None => spec
            .recipient()?
            .ok_or("no recipient: give --to ADDRESS or a [recipient] in the file")?,
    };
    let uid = InvitationUid::new(
        event.code().clone(),
        InvitationToken::generate(&ids),
        sender.address().domain(),
    )?;
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let sequence = Sequence::new(args.sequence);

    let (kind, revision, default_out) = if let Some(path) = &args.update {
        let updated = Spec::read(path)?.event_with_code(event.code().clone())?;
        (
            MessageKind::Update,
            EventRevision::new(updated, sequence.next()),
            "update.eml",
        )
    } else if args.cancel {
        (
            MessageKind::Cancellation,
            EventRevision::new(event, sequence.next()),
            "cancel.eml",
        )
    } else if let Some(occ) = &args.cancel_instance {
        let id = spec::occurrence(occ, event.schedule().start_zone())
            .map_err(|e| format!("--cancel-instance {occ:?}: {e}"))?;
        (
            MessageKind::InstanceCancellation(id),
            EventRevision::new(event, sequence.next()),
            "cancel.eml",
        )
    } else {
        (
            MessageKind::Invitation,
            EventRevision::new(event, sequence),
            "invitation.eml",
        )
    };

    let message = composer.compose(kind, &revision, &recipient, &uid, now)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(default_out));
    std::fs::write(&out, message.bytes())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!(
        "wrote {} ({} bytes): {:?} to {}, SEQUENCE {}, event code {}, key {}",
        out.display(),
        message.bytes().len(),
        kind,
        message.envelope().to(),
        revision.sequence(),
        revision.event().code(),
        message.key()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("render: {e}");
            ExitCode::FAILURE
        }
    }
}
