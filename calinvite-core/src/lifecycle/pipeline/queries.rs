//! Room: queries. Read-only lookups for the organizer's screens (an event,
//! its invitations, an invitation's history, pending changes, refusals) and
//! the mailed report. Counting lives in [`crate::lifecycle::report`], which
//! reads through the store alone; these are the pipeline's delegates.
//!
//! Depends on the shared pipeline helpers, the report module and the store.

use super::*;

impl<S: Store, T: Transport> Pipeline<S, T> {
    pub(super) async fn scoped_event(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<StoredEvent, PipelineError> {
        self.store
            .event(scope.owner, code)
            .await?
            .filter(|e| e.scope == scope)
            .ok_or_else(|| PipelineError::NotFound(format!("event {code}")))
    }

    /// The delivery queue at a glance, for operators (all tenants: the queue
    /// is the installation's): messages queued, held, leased, sent and
    /// failed, and how many claims took over a lease that had run out —
    /// each one a message that may have gone out twice, because its worker
    /// stopped between the relay taking it and the outcome being recorded.
    pub async fn queue_counts(&self) -> Result<crate::lifecycle::QueueCounts, PipelineError> {
        Ok(self.store.queue_counts().await?)
    }

    /// Every refusal recorded for the organizer (or the whole owner).
    pub async fn refusals(
        &self,
        owner: OwnerId,
        organizer: Option<Scope>,
    ) -> Result<Vec<RefusalRecord>, PipelineError> {
        Ok(self.store.refusals(owner, organizer).await?)
    }

    /// A pending change, as the person approving sees it.
    pub async fn pending(
        &self,
        scope: Scope,
        id: &PendingChangeId,
    ) -> Result<PendingChange, PipelineError> {
        self.store
            .pending(scope, id)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("pending change {id}")))
    }

    /// An event's open pending changes.
    pub async fn open_pending(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<Vec<PendingChange>, PipelineError> {
        self.scoped_event(scope, code).await?;
        Ok(self.store.open_pending(code).await?)
    }

    /// An event of the organizer's.
    pub async fn event(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<StoredEvent, PipelineError> {
        self.scoped_event(scope, code).await
    }

    /// Every invitation of an event of the organizer's, in token order.
    pub async fn invitations(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<Vec<Invitation>, PipelineError> {
        self.scoped_event(scope, code).await?;
        let mut out = Vec::new();
        let mut after: Option<InvitationToken> = None;
        loop {
            let page = self
                .store
                .invitations(code, after.as_ref(), self.options.batch)
                .await?;
            let n = page.len();
            after = page.last().map(|i| i.token.clone());
            out.extend(page);
            if n < self.options.batch {
                return Ok(out);
            }
        }
    }

    /// An invitation's history, if it is the organizer's.
    pub async fn history(
        &self,
        scope: Scope,
        token: &InvitationToken,
    ) -> Result<Vec<HistoryEntry>, PipelineError> {
        let inv = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope == scope)
            .ok_or_else(|| PipelineError::NotFound("invitation".into()))?;
        Ok(self.store.history(&inv.token).await?)
    }

    /// Queues a report for the organizer as a message with the CSV attached.
    pub async fn mail_report(
        &self,
        scope: Scope,
        code: &EventCode,
        to: Option<EmailAddress>,
    ) -> Result<DeliveryKey, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        let event = self.scoped_event(scope, code).await?;
        let now = self.now();
        let report = crate::lifecycle::report::event_report(self, scope, code).await?;
        let csv = crate::lifecycle::report::event_csv(self, scope, code).await?;
        let to = to.unwrap_or_else(|| event.latest.organizer().address().clone());
        let delivery = self.notice_delivery(
            &owner,
            &to,
            &self.options.notices.report(&ReportNotice {
                event: &event.latest,
                report: &report,
            }),
            Some(&Attachment {
                filename: format!("calinvite-{code}.csv"),
                content_type: "text/csv; charset=UTF-8",
                bytes: csv.into_bytes(),
            }),
            now,
        )?;
        let key = delivery.key.clone();
        self.store.commit(vec![Change::Enqueue(delivery)]).await?;
        Ok(key)
    }

    /// Writes a plain notice from domain owner `owner` (its name and reply
    /// address, as every notice) to `to`, with its envelope (from the
    /// owner's bounce address), without queueing it: for an application's
    /// own notice that carries a secret — a sign-in link — and so must not
    /// be kept in the store, which the application hands to its transport
    /// itself. calinvite mails only registered organizers
    /// ([D7](crate::manual::design#d7)); an application writing to anyone
    /// else should know who it writes to (a DMARC pass of that address's
    /// own mail, say). A suppressed address is refused (`suppressed`).
    pub async fn compose_notice(
        &self,
        owner: OwnerId,
        to: &EmailAddress,
        text: &NoticeText,
    ) -> Result<(crate::Envelope, Vec<u8>), PipelineError> {
        let owner = self.owner(owner).await?;
        if let Some(s) = self.store.suppression(owner.id, to).await? {
            return Err(Refusal::new(
                RefusalReason::Suppressed,
                format!("{} is suppressed ({})", to.to_unicode(), s.reason.as_str()),
            )
            .into());
        }
        let name = self.unique_name()?;
        let bytes = write_notice(
            &owner.name,
            &owner.reply,
            to,
            &text.subject,
            &text.body,
            None,
            &format!("notice.{name}@{}", owner.mail_domain),
            self.now(),
        );
        Ok((
            crate::Envelope::new(owner.bounce.clone(), to.clone()),
            bytes,
        ))
    }
}

impl<S: Store, T: Transport> crate::lifecycle::report::ReadsStore for Pipeline<S, T> {
    type Store = S;
    fn read_store(&self) -> &S {
        &self.store
    }
    /// The pipeline's transport says ([`Transport::confirms_delivery`]).
    fn confirms_delivery(&self) -> bool {
        self.transport.confirms_delivery()
    }
}
