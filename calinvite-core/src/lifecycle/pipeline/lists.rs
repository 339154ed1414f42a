//! Room: lists — one event sent to a list of recipients as one durable job.
//!
//! A job is started (or found again, by its name) for an event; the list's
//! rows are fed to it in any number of calls, a page at a time. Each page
//! is decided over what the store holds and committed in one transaction:
//! every row's verdict ([`RowVerdict`]) together with the invitations and
//! queued messages of the rows that invite someone. A row number recorded
//! once is never decided again, so feeding a list again after a crash or a
//! restart — from its start, or from anywhere before where it stopped —
//! takes up exactly the rows not yet recorded: nobody is skipped, nobody
//! invited twice. Pausing holds the job's queued messages and stops rows
//! being taken; resuming releases them; cancelling sets the messages still
//! queued aside for good.
//!
//! Depends on the sending room's rules (refusals, new invitations) and the
//! store. [`list_page_decision`] is the pure decision.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::sending::{invitation_refusal, new_invitation};
use super::*;
use crate::keyword::Keyword as _;
use crate::list::{ListEntry, ListError, ListReader};

/// What one call of [`Pipeline::feed_list`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFeed {
    /// Rows recorded by this call, with their verdicts.
    pub recorded: u64,
    /// Rows skipped because they were recorded before (a resumed feed).
    pub already_recorded: u64,
    /// The job's state when the feed stopped early (paused or cancelled),
    /// `None` when every row given was taken.
    pub stopped: Option<ListJobState>,
}

/// Where a list job stands: its rows by verdict and its invitations by
/// what became of their messages and answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListProgress {
    /// The job's state.
    pub state: Option<ListJobState>,
    /// Rows recorded.
    pub rows: u64,
    /// New invitations.
    pub invited: u64,
    /// Rows whose address already had an invitation to the event.
    pub already_invited: u64,
    /// Rows repeating an earlier row's address.
    pub duplicates: u64,
    /// Rows with no usable recipient.
    pub invalid: u64,
    /// Rows refused, by reason.
    pub refused: BTreeMap<RefusalReason, u64>,
    /// New invitations whose message a mail server accepted.
    pub submitted: u64,
    /// New invitations whose message hard-bounced.
    pub hard_bounced: u64,
    /// New invitations answered (any answer).
    pub answered: u64,
}

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Starts sending event `code` to the list `name`, or finds the job
    /// already started under that name for the event (so a restarted
    /// process resumes it by name). The event must be the organizer's.
    #[tracing::instrument(name = "start_list", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0, code = %code))]
    pub async fn start_list(
        &self,
        scope: Scope,
        code: &EventCode,
        name: &str,
    ) -> Result<ListJob, PipelineError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(PipelineError::Misuse("a list needs a name".into()));
        }
        self.scoped_event(scope, code).await?;
        let now = self.now();
        loop {
            if let Some(job) = self.store.list_job_named(code, name).await? {
                if job.scope != scope {
                    return Err(PipelineError::NotFound(format!("event {code}")));
                }
                return Ok(job);
            }
            let job = ListJob {
                id: ListJobId::new(self.unique_name()?),
                scope,
                code: code.clone(),
                name: name.to_owned(),
                state: ListJobState::Running,
                created_at: now,
                updated_at: now,
                version: 0,
            };
            let mut changes = vec![Change::PutListJob {
                expected: None,
                job: job.clone(),
            }];
            self.announce(&mut changes, || Some(list_progress(&job, 0, 0, now)));
            match self.store.commit(changes).await {
                Ok(()) => {
                    tracing::info!(command = "start_list", "list job started");
                    return Ok(job);
                }
                // Another process started it under the same name: use theirs.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes `entries` (rows of the list, in row order) into job `id`, a
    /// page at a time: each page's verdicts, invitations and messages in one
    /// commit. Rows recorded before are skipped. Stops early, with the
    /// state, when the job is paused or cancelled.
    #[tracing::instrument(name = "feed_list", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0, recorded))]
    pub async fn feed_list(
        &self,
        scope: Scope,
        id: &ListJobId,
        entries: impl IntoIterator<Item = ListEntry>,
    ) -> Result<ListFeed, PipelineError> {
        let mut feed = ListFeed::default();
        let mut page = Vec::with_capacity(self.options.batch);
        let mut entries = entries.into_iter();
        loop {
            page.clear();
            page.extend(entries.by_ref().take(self.options.batch.max(1)));
            if page.is_empty() {
                break;
            }
            check_rows(&page)?;
            let now = self.now();
            match self.feed_page(scope, id, &page, now).await? {
                Ok((recorded, skipped)) => {
                    feed.recorded += recorded;
                    feed.already_recorded += skipped;
                }
                Err(state) => {
                    feed.stopped = Some(state);
                    break;
                }
            }
        }
        tracing::Span::current().record("recorded", feed.recorded);
        Ok(feed)
    }

    /// Reads a CSV list (see [`crate::list`]) into job `id`. A list that
    /// cannot be read at all (no address column, an input error) is
    /// refused as [`RefusalReason::Unreadable`] with why; rows taken
    /// before an input error stay recorded, and feeding the list again
    /// resumes after them.
    pub async fn feed_csv(
        &self,
        scope: Scope,
        id: &ListJobId,
        input: impl std::io::BufRead,
    ) -> Result<ListFeed, PipelineError> {
        let unreadable = |e: ListError| {
            PipelineError::Refused(Refusal::new(RefusalReason::Unreadable, e.to_string()))
        };
        let reader = ListReader::new(input).map_err(unreadable)?;
        let mut failed = None;
        let entries = reader.map_while(|e| match e {
            Ok(e) => Some(e),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
        let feed = self.feed_list(scope, id, entries).await?;
        match failed {
            Some(e) => Err(unreadable(e)),
            None => Ok(feed),
        }
    }

    /// One page: `Ok((recorded, skipped))`, or `Err(state)` when the job is
    /// not running.
    async fn feed_page(
        &self,
        scope: Scope,
        id: &ListJobId,
        page: &[ListEntry],
        now: DateTime<Utc>,
    ) -> Result<Result<(u64, u64), ListJobState>, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        let owner = &owner;
        self.retrying("list page", || async move {
            let job = self.scoped_job(scope, id).await?;
            if job.state != ListJobState::Running {
                return Ok(Err(job.state));
            }
            let (first, last) = match (page.first(), page.last()) {
                (Some(f), Some(l)) => (f.row.min(l.row), f.row.max(l.row)),
                _ => return Ok(Ok((0, 0))),
            };
            let span = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
            let recorded: HashSet<u64> = self
                .store
                .list_rows(&job.id, first.saturating_sub(1), span)
                .await?
                .into_iter()
                .map(|r| r.row)
                .collect();
            let todo: Vec<&ListEntry> =
                page.iter().filter(|e| !recorded.contains(&e.row)).collect();
            let skipped = (page.len() - todo.len()) as u64;
            if todo.is_empty() {
                return Ok(Ok((0, skipped)));
            }
            let event = self.scoped_event(scope, &job.code).await?;
            let pending = self.store.open_pending(&job.code).await?;
            let addresses: Vec<EmailAddress> = todo
                .iter()
                .filter_map(|e| e.outcome.as_ref().ok().map(|r| r.address().clone()))
                .collect();
            let suppressions: HashMap<EmailAddress, Suppression> = self
                .store
                .suppressions_among(scope.owner, &addresses)
                .await?
                .into_iter()
                .map(|s| (s.address.clone(), s))
                .collect();
            let existing: HashMap<EmailAddress, Invitation> = self
                .store
                .invitations_to(&job.code, &addresses)
                .await?
                .into_iter()
                .map(|i| (i.recipient.address().clone(), i))
                .collect();
            let read = ListPageRead {
                owner,
                job: &job,
                event: &event,
                pending: &pending,
                suppressions: &suppressions,
                existing: &existing,
            };
            let (mut changes, recorded) =
                list_page_decision(&read, &todo, || self.token(now), now)?;
            if self.options.announce {
                let invited = changes
                    .iter()
                    .filter(|c| matches!(c, Change::InsertInvitation(_)))
                    .count() as u64;
                changes.push(Change::Announce(list_progress(
                    &job, recorded, invited, now,
                )));
            }
            self.store.commit(changes).await?;
            Ok(Ok((recorded, skipped)))
        })
        .await
    }

    /// A dry run: the verdict each of `entries` would get if fed now to a
    /// new list named `name` of event `code` — invalid, duplicate, already
    /// invited, refused (suppressed, own address, the event over …) or
    /// invited — decided by the same rules as [`Pipeline::feed_list`] over
    /// what the store holds, without recording, inviting or queuing
    /// anything. The rows' `job` is empty and an invited row's token is a
    /// placeholder. Rows are decided as one list (a repeated address is a
    /// duplicate wherever it repeats).
    pub async fn preview_list(
        &self,
        scope: Scope,
        code: &EventCode,
        name: &str,
        entries: &[ListEntry],
    ) -> Result<Vec<ListRow>, PipelineError> {
        check_rows(entries)?;
        let event = self.scoped_event(scope, code).await?;
        let owner = self.owner(scope.owner).await?;
        let pending = self.store.open_pending(code).await?;
        let now = self.now();
        let mut suppressions = HashMap::new();
        let mut existing = HashMap::new();
        for page in entries.chunks(self.options.batch.max(1)) {
            let addresses: Vec<EmailAddress> = page
                .iter()
                .filter_map(|e| e.outcome.as_ref().ok().map(|r| r.address().clone()))
                .collect();
            for s in self
                .store
                .suppressions_among(scope.owner, &addresses)
                .await?
            {
                suppressions.insert(s.address.clone(), s);
            }
            for i in self.store.invitations_to(code, &addresses).await? {
                existing.insert(i.recipient.address().clone(), i);
            }
        }
        let job = ListJob {
            id: ListJobId::new(""),
            scope,
            code: code.clone(),
            name: name.trim().to_owned(),
            state: ListJobState::Running,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let read = ListPageRead {
            owner: &owner,
            job: &job,
            event: &event,
            pending: &pending,
            suppressions: &suppressions,
            existing: &existing,
        };
        let todo: Vec<&ListEntry> = entries.iter().collect();
        let placeholders = crate::SequentialIds::new(0);
        let (changes, _) = list_page_decision(
            &read,
            &todo,
            || InvitationToken::try_generate(&placeholders),
            now,
        )
        .map_err(PipelineError::from)?;
        Ok(changes
            .into_iter()
            .find_map(|c| match c {
                Change::InsertListRows(rows) => Some(rows),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// Pauses job `id`: its queued messages are held and no more rows are
    /// taken until it is resumed.
    pub async fn pause_list(&self, scope: Scope, id: &ListJobId) -> Result<ListJob, PipelineError> {
        self.move_list(scope, id, ListJobState::Paused).await
    }

    /// Resumes a paused job: its held messages are released.
    pub async fn resume_list(
        &self,
        scope: Scope,
        id: &ListJobId,
    ) -> Result<ListJob, PipelineError> {
        self.move_list(scope, id, ListJobState::Running).await
    }

    /// Cancels job `id` for good: no more rows are taken and its messages
    /// still queued are set aside, never sent (messages already sent stay
    /// sent; their recipients' answers are still recorded).
    pub async fn cancel_list(
        &self,
        scope: Scope,
        id: &ListJobId,
    ) -> Result<ListJob, PipelineError> {
        self.move_list(scope, id, ListJobState::Cancelled).await
    }

    async fn move_list(
        &self,
        scope: Scope,
        id: &ListJobId,
        to: ListJobState,
    ) -> Result<ListJob, PipelineError> {
        let now = self.now();
        self.retrying("list state", || async move {
            let job = self.scoped_job(scope, id).await?;
            let mut changes = list_state_changes(&job, to, now)?;
            if changes.is_empty() {
                return Ok(job);
            }
            self.announce(&mut changes, || {
                let moved = ListJob {
                    state: to,
                    ..job.clone()
                };
                Some(list_progress(&moved, 0, 0, now))
            });
            self.store.commit(changes).await?;
            tracing::info!(
                command = "list_state",
                state = to.keyword(),
                "list job moved"
            );
            Ok(ListJob {
                state: to,
                updated_at: now,
                version: job.version + 1,
                ..job
            })
        })
        .await
    }

    /// The organizer's job `id`; another organizer's is not found.
    async fn scoped_job(&self, scope: Scope, id: &ListJobId) -> Result<ListJob, PipelineError> {
        self.store
            .list_job(scope, id)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("list job {id}")))
    }

    /// Where job `id` stands: its rows by verdict and what became of the
    /// invitations it created. Reads every row and invitation of the job, a
    /// page at a time.
    pub async fn list_progress(
        &self,
        scope: Scope,
        id: &ListJobId,
    ) -> Result<ListProgress, PipelineError> {
        let job = self.scoped_job(scope, id).await?;
        let mut p = ListProgress {
            state: Some(job.state),
            ..ListProgress::default()
        };
        let mut after = 0;
        loop {
            let rows = self.store.list_rows(&job.id, after, 1000).await?;
            let Some(last) = rows.last() else { break };
            after = last.row;
            // The page's new invitations, read together.
            let tokens: Vec<InvitationToken> = rows
                .iter()
                .filter_map(|r| match &r.verdict {
                    RowVerdict::Invited(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            for inv in self.store.invitations_among(&tokens).await? {
                p.submitted += u64::from(inv.sent_at.is_some());
                p.hard_bounced += u64::from(inv.delivery == DeliveryState::HardBounced);
                p.answered += u64::from(inv.status.is_some());
            }
            for row in &rows {
                p.rows += 1;
                match &row.verdict {
                    RowVerdict::Invited(_) => p.invited += 1,
                    RowVerdict::AlreadyInvited(_) => p.already_invited += 1,
                    RowVerdict::Duplicate(_) => p.duplicates += 1,
                    RowVerdict::Invalid(_) => p.invalid += 1,
                    RowVerdict::Refused { reason, .. } => {
                        *p.refused.entry(*reason).or_default() += 1;
                    }
                }
            }
        }
        Ok(p)
    }

    /// The job's rows as CSV (RFC 4180; header
    /// `row,address,verdict,detail,delivery,answer`), handed to `sink` a page
    /// at a time so a list of any length is exported in bounded memory. For
    /// a row answered by an invitation (invited, already invited, duplicate)
    /// `delivery` is where that invitation's message stands (`queued`,
    /// `sent`, `delivered`, `soft-bounced`, `hard-bounced`) and `answer` the
    /// recipient's last answer (`accepted`, `declined`, `tentative`, … or
    /// empty): the RSVP status of the batch, row by row.
    pub async fn list_csv(
        &self,
        scope: Scope,
        id: &ListJobId,
        mut sink: impl FnMut(&str),
    ) -> Result<(), PipelineError> {
        let job = self.scoped_job(scope, id).await?;
        let mut out = String::new();
        crate::csv::write_record(
            &mut out,
            ["row", "address", "verdict", "detail", "delivery", "answer"],
        );
        sink(&out);
        let mut after = 0;
        loop {
            let rows = self.store.list_rows(&job.id, after, 1000).await?;
            let Some(last) = rows.last() else { break };
            after = last.row;
            out.clear();
            // The page's invitations, read together.
            let tokens: Vec<InvitationToken> = rows
                .iter()
                .filter_map(|r| r.verdict.token().cloned())
                .collect();
            let invitations: HashMap<InvitationToken, Invitation> = self
                .store
                .invitations_among(&tokens)
                .await?
                .into_iter()
                .map(|i| (i.token.clone(), i))
                .collect();
            for row in &rows {
                let detail = match &row.verdict {
                    RowVerdict::Invalid(d) | RowVerdict::Refused { detail: d, .. } => d.as_str(),
                    _ => "",
                };
                let (delivery, answer) = match row.verdict.token().and_then(|t| invitations.get(t))
                {
                    Some(inv) => (
                        inv.delivery.keyword(),
                        inv.status
                            .map(|s| s.as_str().to_ascii_lowercase())
                            .unwrap_or_default(),
                    ),
                    None => ("", String::new()),
                };
                let number = row.row.to_string();
                crate::csv::write_record(
                    &mut out,
                    [
                        number.as_str(),
                        row.address.as_str(),
                        row.verdict.name(),
                        detail,
                        delivery,
                        answer.as_str(),
                    ],
                );
            }
            sink(&out);
        }
        Ok(())
    }
}

/// What a step of `job` announces: its state, and the rows it recorded.
fn list_progress(job: &ListJob, recorded: u64, invited: u64, now: DateTime<Utc>) -> Announcement {
    Announcement::new(
        job.scope,
        now,
        AnnouncementKind::ListProgress {
            job: job.id.clone(),
            code: job.code.clone(),
            name: job.name.clone(),
            state: job.state,
            recorded,
            invited,
        },
    )
}

/// A page's row numbers must each name one row: 1 or more (the header is
/// row 1 of a file, so files give 2 on), none twice.
fn check_rows(page: &[ListEntry]) -> Result<(), PipelineError> {
    let mut seen = HashSet::with_capacity(page.len());
    for e in page {
        if e.row == 0 {
            return Err(PipelineError::Misuse(
                "list rows are numbered from 1".into(),
            ));
        }
        if !seen.insert(e.row) {
            return Err(PipelineError::Misuse(format!(
                "row {} is given twice in one feed",
                e.row
            )));
        }
    }
    Ok(())
}

/// What a list page is decided over.
pub(super) struct ListPageRead<'a> {
    pub(super) owner: &'a DomainOwner,
    pub(super) job: &'a ListJob,
    pub(super) event: &'a StoredEvent,
    pub(super) pending: &'a [PendingChange],
    /// The owner's suppressions among the page's addresses.
    pub(super) suppressions: &'a HashMap<EmailAddress, Suppression>,
    /// The event's invitations of the page's addresses.
    pub(super) existing: &'a HashMap<EmailAddress, Invitation>,
}

/// Decides the rows `todo` of a page (none recorded before): each row's
/// verdict, and for each new invitation its record, queued message (held by
/// the job's group) and history. Returns the changes to commit — the rows,
/// then the invitations — and how many rows they record. The job's version
/// is checked by rewriting it unchanged, so a page decided while the job was
/// paused or cancelled conflicts and is decided again.
pub(super) fn list_page_decision<E>(
    read: &ListPageRead<'_>,
    todo: &[&ListEntry],
    mut token: impl FnMut() -> Result<InvitationToken, E>,
    now: DateTime<Utc>,
) -> Result<(Vec<Change>, u64), E> {
    let job = read.job;
    let source = InvitationSource::Batch(job.name.clone());
    let mut seen: HashMap<EmailAddress, InvitationToken> = HashMap::new();
    let mut rows = Vec::with_capacity(todo.len());
    let mut changes = vec![Change::PutListJob {
        expected: Some(job.version),
        job: job.clone(),
    }];
    for entry in todo {
        let verdict = match &entry.outcome {
            Err(problem) => RowVerdict::Invalid(problem.to_string()),
            Ok(recipient) => {
                let address = recipient.address();
                if let Some(t) = seen.get(address) {
                    RowVerdict::Duplicate(t.clone())
                } else if let Some(inv) = read.existing.get(address) {
                    seen.insert(address.clone(), inv.token.clone());
                    if inv.source == source {
                        RowVerdict::Duplicate(inv.token.clone())
                    } else {
                        RowVerdict::AlreadyInvited(inv.token.clone())
                    }
                } else if let Some(r) = invitation_refusal(
                    read.owner,
                    read.event,
                    read.pending,
                    read.suppressions.get(address),
                    address,
                    now,
                ) {
                    RowVerdict::Refused {
                        reason: r.reason,
                        detail: r.detail,
                    }
                } else {
                    let invitation = new_invitation(read.event, token()?, recipient, &source, now);
                    let t = invitation.token.clone();
                    seen.insert(address.clone(), t.clone());
                    changes.push(Change::InsertInvitation(invitation.clone()));
                    changes.extend(
                        queue_invitation(
                            &invitation,
                            MessageKind::Invitation,
                            read.event.sent_sequence,
                            0,
                            now,
                        )
                        .into_iter()
                        .map(|c| match c {
                            Change::Enqueue(mut d) => {
                                d.group = Some(job.id.group());
                                Change::Enqueue(d)
                            }
                            other => other,
                        }),
                    );
                    RowVerdict::Invited(t)
                }
            }
        };
        rows.push(ListRow {
            job: job.id.clone(),
            row: entry.row,
            address: entry.address.clone(),
            verdict,
        });
    }
    let recorded = rows.len() as u64;
    changes.insert(1, Change::InsertListRows(rows));
    Ok((changes, recorded))
}

/// The changes that move `job` to `to`: its new state, and its queued
/// messages held (paused), released (running) or set aside (cancelled).
/// Nothing when it is already there; a cancelled job moves no more.
pub(super) fn list_state_changes(
    job: &ListJob,
    to: ListJobState,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, PipelineError> {
    if job.state == to {
        return Ok(Vec::new());
    }
    if job.state == ListJobState::Cancelled {
        return Err(PipelineError::Refused(Refusal::new(
            RefusalReason::NotActionable,
            format!("list job {} is cancelled", job.id),
        )));
    }
    let group = job.id.group();
    let mut changes = vec![Change::PutListJob {
        expected: Some(job.version),
        job: ListJob {
            state: to,
            updated_at: now,
            ..job.clone()
        },
    }];
    match to {
        ListJobState::Paused => changes.push(Change::HoldGroup { group, held: true }),
        ListJobState::Running => changes.push(Change::HoldGroup { group, held: false }),
        ListJobState::Cancelled => {
            changes.push(Change::FailQueuedGroup {
                group: group.clone(),
                reason: "not sent: the list job was cancelled".into(),
            });
            changes.push(Change::HoldGroup { group, held: false });
        }
    }
    Ok(changes)
}
