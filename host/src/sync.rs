//! The sync engine: runs a flow once.
//!
//! First it retries the records of the flow's retry queue that are due, then
//! delivers the records webhooks left in the flow's inbox ([`crate::inbox`]).
//! Then it reads pages from the source after the stored cursor, passes each
//! through the transforms and delivers it to the destination. Every record gets its own
//! outcome: accepted records are done (and their destination id linked in the id
//! map); records that failed transiently wait in the retry queue with exponential
//! backoff (or the delay a rate-limited answer asked for); records that failed
//! permanently, or on their last attempt, go to the dead-letter store. One bad
//! record never holds back the rest of its batch or the cursor.
//!
//! Each batch's cursor, queue and dead-letter changes and the run's counters
//! commit in one flushed transaction. A failure of a whole call (a plugin that
//! traps or hits a limit) ends the run and leaves the cursor where it was, so the
//! next run reads that page again; the idempotency keys make the repeat harmless.
//!
//! After [`Tenon::shutdown`] a run starts no further batch: it ends after the
//! batch in progress has committed, as [`RunStatus::Interrupted`] with the cursor
//! it reached, and the next run continues from there.

use crate::GuestError;
use crate::capability::attempts::{self, Earlier};
use crate::delivery::{Attempt, DeadLetter, Next, Retry, Stage};
use crate::engine::Prepared;
use crate::error::{Error, Result};
use crate::flow::{Flow, MAX_PAGES_PER_RUN, Run, RunStatus};
use crate::host::{Tenon, now_ms};
use crate::limits::{MAX_PAYLOAD_BYTES, MAX_RUN_STORED_BYTES};
use crate::record::{Envelope, Version};
use crate::sandbox::{CallContext, CallError, CallReport, ReadPage};
use crate::schema::StreamSchemas;
use crate::state::Commit;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A plugin of a flow, resolved for its tenant.
pub(crate) struct Step {
    pub(crate) plugin: String,
    pub(crate) version: String,
    pub(crate) prepared: Prepared,
    pub(crate) ctx: CallContext,
    /// Its streams' schemas, which records are checked against.
    pub(crate) schemas: Arc<StreamSchemas>,
}

impl Step {
    /// Why `record` does not match the schema of this plugin's `stream`, if
    /// it does not (see [`StreamSchemas::check`]).
    pub(crate) fn check(&self, stream: &str, record: &Envelope) -> std::result::Result<(), String> {
        self.schemas.check(&self.plugin, stream, record)
    }
}

/// How a run's delivery ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Nothing more to read (or the page limit was reached).
    Finished,
    /// The host is shutting down; every batch so far has committed.
    Stopped,
    /// The run's time budget ran out; every batch so far has committed.
    OutOfTime,
}

/// The error text of a run stopped by [`Tenon::shutdown`].
const STOPPED: &str = "the host shut down; the run stopped after its last committed batch and the next run continues from its cursor";

/// What the flow delivered of a record, as a new version meets it.
enum Seen {
    /// This version or a newer one: not delivered again.
    Already,
    /// Not this version: it goes on, after the version delivered last.
    New { after: Option<Version> },
}

/// A record on its way to the destination, with what it went through before.
struct Pending {
    envelope: Envelope,
    /// The envelope's [`Version`], computed once.
    version: Version,
    idempotency_key: String,
    attempts: Vec<Attempt>,
    /// Whether it came from the retry queue.
    queued: bool,
}

impl Tenon {
    /// Runs a flow once and returns its run record. Unknown tenant or flow is an
    /// error; anything that goes wrong once the run started (a plugin not enabled,
    /// a call that fails) ends the run as failed, recorded with the reason, and
    /// everything committed before it stays committed.
    // At ERROR level so that its fields are on every line of the run whatever
    // the log filter (see [`crate::sandbox`]).
    #[tracing::instrument(level = "error", skip(self), fields(run))]
    pub async fn run_flow(&self, tenant: &str, flow: &str) -> Result<Run> {
        let flow = self.flow(tenant, flow)?;
        let cursor = self
            .state()?
            .cursor(tenant, &flow.name, &flow.source.stream)?;
        let started = Instant::now();
        let mut run = Run {
            id: self.state()?.next_run_id()?,
            tenant: tenant.to_owned(),
            flow: flow.name.clone(),
            status: RunStatus::Running,
            started_at: now_ms(),
            finished_at: None,
            batches: 0,
            records_read: 0,
            records_written: 0,
            records_retried: 0,
            records_queued: 0,
            records_superseded: 0,
            records_repeated: 0,
            write_timeouts: 0,
            dead_lettered: 0,
            fuel_used: 0,
            http_requests: 0,
            http_refused: 0,
            cursor_before: cursor.clone(),
            cursor_after: cursor,
            error: None,
            retry_after_ms: None,
            duration_ms: 0,
            stored_bytes: 0,
            plugins: Default::default(),
        };
        tracing::Span::current().record("run", run.id);
        self.state()?.put_run(&run)?;

        let deadline = started + std::time::Duration::from_millis(flow.max_run_ms);
        let result = match self.deliver(&flow, &mut run, deadline).await {
            // A call cut short by the budget: its batch did not commit, and the
            // next run delivers it again under the same idempotency keys.
            Err(Error::Call(CallError::RunBudget { .. })) => Ok(Ending::OutOfTime),
            // A call whose last request the host did not send because the
            // run's budget was ending: the budget, not the plugin, stopped it.
            Err(Error::Call(CallError::Guest { report, .. }))
                if report.out_of_time
                    && deadline.saturating_duration_since(Instant::now())
                        <= std::time::Duration::from_secs(3) =>
            {
                Ok(Ending::OutOfTime)
            }
            other => other,
        };
        run.finished_at = Some(now_ms());
        run.duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(Ending::OutOfTime) => {
                run.status = RunStatus::Interrupted;
                run.error = Some(format!(
                    "the run reached its time budget of {} ms; it stopped after its last committed batch and the next run continues from its cursor",
                    flow.max_run_ms
                ));
                tracing::warn!(
                    read = run.records_read,
                    written = run.records_written,
                    budget_ms = flow.max_run_ms,
                    "Flow run stopped at its time budget"
                );
            }
            Ok(Ending::Stopped) => {
                run.status = RunStatus::Interrupted;
                run.error = Some(STOPPED.into());
                tracing::info!(
                    read = run.records_read,
                    written = run.records_written,
                    batches = run.batches,
                    "Flow run stopped for shutdown after its last committed batch"
                );
            }
            Ok(Ending::Finished) => {
                run.status = RunStatus::Succeeded;
                tracing::info!(
                    read = run.records_read,
                    written = run.records_written,
                    queued = run.records_queued,
                    dead_lettered = run.dead_lettered,
                    "Flow run succeeded"
                );
            }
            Err(error) => {
                run.status = RunStatus::Failed;
                run.error = Some(error.to_string());
                if let Error::Call(CallError::Guest {
                    error: GuestError::RateLimited { after_ms, .. },
                    ..
                }) = &error
                {
                    run.retry_after_ms =
                        Some((*after_ms).min(crate::delivery::MAX_RATE_LIMIT_WAIT_MS));
                }
                tracing::warn!(error = %error, "Flow run failed");
            }
        }
        self.state()?.put_run(&run)?;
        Ok(run)
    }

    pub(crate) fn step(&self, tenant: &str, plugin: &str) -> Result<Step> {
        let plugin = self.plugin(plugin)?;
        self.step_of(tenant, &plugin)
    }

    pub(crate) fn step_of(&self, tenant: &str, plugin: &crate::plugin::Installed) -> Result<Step> {
        Ok(Step {
            plugin: plugin.id.clone(),
            version: plugin.version.clone(),
            ctx: self.call_context(tenant, plugin)?,
            prepared: self.prepared(plugin)?,
            schemas: self.schemas.of(plugin)?,
        })
    }

    /// One page of the flow's source stream after `cursor`, of the flow's
    /// batch size: what a run, a reconciliation and a re-reading replay read.
    pub(crate) async fn read_source(
        &self,
        flow: &Flow,
        source: &Step,
        cursor: Option<&str>,
    ) -> std::result::Result<(ReadPage, CallReport), CallError> {
        self.sandbox
            .read(
                &source.prepared,
                &source.ctx,
                &flow.source.stream,
                cursor,
                flow.batch_size,
            )
            .await
    }

    /// Why the run must not start another batch, if it must not: the host is
    /// shutting down, or the run's time is up.
    fn halt(&self, deadline: Instant) -> Option<Ending> {
        if self.is_shutting_down() {
            Some(Ending::Stopped)
        } else if Instant::now() >= deadline {
            Some(Ending::OutOfTime)
        } else {
            None
        }
    }

    async fn deliver(&self, flow: &Flow, run: &mut Run, deadline: Instant) -> Result<Ending> {
        // Every call of the run ends by the run's deadline at the latest.
        let step = |plugin: &str| -> Result<Step> {
            let mut step = self.flow_step(flow, plugin)?;
            step.ctx.deadline = Some(deadline);
            Ok(step)
        };
        let source = step(&flow.source.plugin)?;
        let transforms = flow
            .transforms
            .iter()
            .map(|t| step(t))
            .collect::<Result<Vec<_>>>()?;
        let destination = step(&flow.destination.plugin)?;

        let ending = self.retry_due(flow, &destination, run, deadline).await?;
        if ending != Ending::Finished {
            return Ok(ending);
        }
        let ending = self
            .drain_inbox(flow, &source, &transforms, &destination, run, deadline)
            .await?;
        if ending != Ending::Finished {
            return Ok(ending);
        }

        for _ in 0..MAX_PAGES_PER_RUN {
            // Between batches: everything before has committed.
            if let Some(ending) = self.halt(deadline) {
                return Ok(ending);
            }
            let cursor = run.cursor_after.clone();
            let read = self.read_source(flow, &source, cursor.as_deref()).await;
            let (page, report) = match read {
                Ok(read) => read,
                Err(error) => {
                    account_error(run, &source.plugin, &error);
                    return Err(error.into());
                }
            };
            account(run, &source.plugin, report);
            run.records_read += page.records.len() as u64;
            if page.records.is_empty() && page.more && page.next_cursor == cursor {
                return Err(Error::Invalid(format!(
                    "`{}` said more records follow but returned none and kept its cursor",
                    flow.source.plugin
                )));
            }
            let read = page.records.len();

            let mut commit = Commit::default();
            self.deliver_batch(
                flow,
                &source,
                &transforms,
                &destination,
                run,
                page.records,
                &mut commit,
            )
            .await?;

            // What this page's records became, each dead letter can be read
            // again from here (`dlq replay --reread`).
            for letter in &mut commit.dead_letters {
                letter.read_cursor = cursor.clone();
            }
            if let Some(next) = &page.next_cursor {
                run.cursor_after = Some(next.clone());
                commit.cursor = Some((flow.source.stream.clone(), next.clone()));
            }
            if read > 0 {
                run.batches += 1;
            }
            self.commit(run, commit)?;
            if !page.more {
                return Ok(Ending::Finished);
            }
        }
        tracing::info!(
            pages = MAX_PAGES_PER_RUN,
            "Run reached its page limit; the next run continues"
        );
        Ok(Ending::Finished)
    }

    /// Checks records against the source stream's schema, runs them through
    /// the transforms, checks what they made against the destination stream's
    /// schema and delivers it, sorting each outcome into `commit`.
    #[allow(clippy::too_many_arguments)]
    async fn deliver_batch(
        &self,
        flow: &Flow,
        source: &Step,
        transforms: &[Step],
        destination: &Step,
        run: &mut Run,
        records: Vec<Envelope>,
        commit: &mut Commit,
    ) -> Result<()> {
        // A record over the payload cap is dead-lettered without its payload;
        // the rest of its batch carries on.
        let (records, oversized): (Vec<Envelope>, Vec<Envelope>) = records
            .into_iter()
            .partition(|r| r.payload.len() <= MAX_PAYLOAD_BYTES);
        for record in oversized {
            self.dead_letter_oversized(flow, Stage::Read, "(source)", record, run, commit);
        }
        let records = self.matching(
            flow,
            Stage::Read,
            source,
            &flow.source.stream,
            records,
            run,
            commit,
        );
        let batch = self
            .transform_all(flow, transforms, records, run, commit)
            .await?;
        let (batch, oversized): (Vec<Envelope>, Vec<Envelope>) = batch
            .into_iter()
            .partition(|r| r.payload.len() <= MAX_PAYLOAD_BYTES);
        for record in oversized {
            let last = transforms.last().map_or("(source)", |t| t.plugin.as_str());
            self.dead_letter_oversized(flow, Stage::Transform, last, record, run, commit);
        }
        let batch = self.matching(
            flow,
            Stage::Write,
            destination,
            &flow.destination.stream,
            batch,
            run,
            commit,
        );
        // Versions never go back: of a key's versions in the batch only the
        // newest goes on, and it goes on only if it is newer than the version
        // delivered last and than the one waiting in the retry queue (where it
        // takes the older one's place, so it does not overtake it).
        let mut pending: Vec<Pending> = Vec::new();
        for envelope in newest_per_key(batch, run) {
            let version = Version::of(&envelope);
            let Seen::New { after } = self.seen(flow, &envelope, &version, run)? else {
                continue;
            };
            let idempotency_key = crate::record::idempotency_key_after(
                &envelope,
                &version,
                after.as_ref(),
                &flow.tenant,
                &flow.name,
            );
            match self
                .state()?
                .retry(&flow.tenant, &flow.name, &envelope.key)?
            {
                Some(mut queued) => {
                    let waiting = Version::of(&queued.envelope);
                    if version.is_older_than(&waiting) {
                        superseded(run, &envelope, "the version waiting in the retry queue");
                    } else if version.is_same_as(&waiting) {
                        run.records_repeated += 1;
                    } else {
                        if asks_attempts(destination) {
                            let replaced = std::mem::take(&mut queued.idempotency_key);
                            commit
                                .attempts_done
                                .push((destination.plugin.clone(), replaced));
                        }
                        queued.envelope = envelope;
                        queued.idempotency_key = idempotency_key;
                        commit.retries.push(queued);
                    }
                }
                None => pending.push(Pending {
                    envelope,
                    version,
                    idempotency_key,
                    attempts: Vec::new(),
                    queued: false,
                }),
            }
        }
        // What the transforms made is written a batch at a time, whatever
        // their fan-out, and in smaller batches while the destination is slow.
        while !pending.is_empty() {
            let size = self.write_size(flow);
            let rest = pending.split_off(pending.len().min(size));
            self.write(flow, destination, run, pending, commit).await?;
            pending = rest;
        }
        Ok(())
    }

    /// Whether the flow delivered `version` of the record or a newer one:
    /// then it is counted (superseded, or repeated) and not delivered again.
    fn seen(
        &self,
        flow: &Flow,
        envelope: &Envelope,
        version: &Version,
        run: &mut Run,
    ) -> Result<Seen> {
        let Some(delivered) = self
            .state()?
            .delivered(&flow.tenant, &flow.name, &envelope.key)?
        else {
            return Ok(Seen::New { after: None });
        };
        if version.is_older_than(&delivered) {
            superseded(run, envelope, "the version delivered last");
            Ok(Seen::Already)
        } else if version.is_same_as(&delivered) {
            run.records_repeated += 1;
            Ok(Seen::Already)
        } else {
            Ok(Seen::New {
                after: Some(delivered),
            })
        }
    }

    /// How many records a write call of the flow takes now: the batch size,
    /// less after a call ran past its time limit (see [`Tenon::write`]).
    fn write_size(&self, flow: &Flow) -> usize {
        let full = flow.batch_size.max(1) as usize;
        self.write_sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(flow.tenant.clone(), flow.name.clone()))
            .map_or(full, |&size| size.clamp(1, full))
    }

    /// Adapts the flow's write size: halved when a call of `sent` records ran
    /// out of time, grown by half again when one of a full size succeeded.
    fn adapt_write_size(&self, flow: &Flow, sent: usize, timed_out: bool) {
        let full = flow.batch_size.max(1) as usize;
        let mut sizes = self.write_sizes.lock().unwrap_or_else(|e| e.into_inner());
        let id = (flow.tenant.clone(), flow.name.clone());
        let current = sizes.get(&id).copied().unwrap_or(full);
        let next = if timed_out {
            (sent / 2).max(1).min(current)
        } else if sent >= current {
            (current + current / 2 + 1).min(full)
        } else {
            return;
        };
        if next == full {
            sizes.remove(&id);
        } else {
            sizes.insert(id, next);
        }
        if next != current {
            tracing::info!(
                from = current,
                to = next,
                "Write batch size adapted to the destination's speed"
            );
        }
    }

    /// Dead-letters a record whose payload is over [`MAX_PAYLOAD_BYTES`],
    /// keeping its key, stream and time but not its payload.
    fn dead_letter_oversized(
        &self,
        flow: &Flow,
        stage: Stage,
        plugin: &str,
        mut record: Envelope,
        run: &mut Run,
        commit: &mut Commit,
    ) {
        let size = record.payload.len();
        tracing::warn!(record = %record.key, size, "Record over the payload cap; dead-lettered without its payload");
        record.payload = String::new();
        let error = format!(
            "the payload of {size} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit; it was dropped: fix it at the source, whose next change is read again, then discard this letter or replay it with --reread"
        );
        dead_letter(flow, stage, (plugin, ""), record, error, run, commit).payload_dropped = true;
    }

    /// The records that match `stream`'s schema of `plugin`; each one that
    /// does not is dead-lettered at `stage` with the reasons.
    #[allow(clippy::too_many_arguments)]
    fn matching(
        &self,
        flow: &Flow,
        stage: Stage,
        plugin: &Step,
        stream: &str,
        records: Vec<Envelope>,
        run: &mut Run,
        commit: &mut Commit,
    ) -> Vec<Envelope> {
        let mut matching = Vec::with_capacity(records.len());
        for record in records {
            match plugin.check(stream, &record) {
                Ok(()) => matching.push(record),
                Err(error) => {
                    tracing::warn!(record = %record.key, %error, "Record dead-lettered");
                    dead_letter(
                        flow,
                        stage,
                        (&plugin.plugin, &plugin.version),
                        record,
                        error,
                        run,
                        commit,
                    );
                }
            }
        }
        matching
    }

    /// Commits a batch, unless it would make the run store more than
    /// [`MAX_RUN_STORED_BYTES`].
    fn commit(&self, run: &mut Run, commit: Commit) -> Result<()> {
        let size = commit.size();
        if run.stored_bytes.saturating_add(size) > MAX_RUN_STORED_BYTES {
            return Err(Error::Invalid(format!(
                "this batch would make the run store {} bytes, more than the {MAX_RUN_STORED_BYTES}-byte limit of one run; it was not committed and the next run reads it again",
                run.stored_bytes.saturating_add(size)
            )));
        }
        run.stored_bytes += size;
        self.state()?.commit(run, commit)?;
        Ok(())
    }

    /// Delivers the records webhooks brought into the flow's inbox, oldest first,
    /// a batch at a time; each batch leaves the inbox in the transaction that
    /// commits its outcomes.
    async fn drain_inbox(
        &self,
        flow: &Flow,
        source: &Step,
        transforms: &[Step],
        destination: &Step,
        run: &mut Run,
        deadline: Instant,
    ) -> Result<Ending> {
        for _ in 0..MAX_PAGES_PER_RUN {
            if let Some(ending) = self.halt(deadline) {
                return Ok(ending);
            }
            let entries =
                self.state()?
                    .inbox(&flow.tenant, &flow.name, flow.batch_size as usize)?;
            if entries.is_empty() {
                break;
            }
            run.records_read += entries.len() as u64;
            let mut commit = Commit {
                inbox_done: entries.iter().map(|e| e.id).collect(),
                ..Commit::default()
            };
            let records = entries.into_iter().map(|e| e.envelope).collect();
            self.deliver_batch(
                flow,
                source,
                transforms,
                destination,
                run,
                records,
                &mut commit,
            )
            .await?;
            run.batches += 1;
            self.commit(run, commit)?;
        }
        Ok(Ending::Finished)
    }

    /// Delivers the flow's queued records whose time has come, oldest first.
    async fn retry_due(
        &self,
        flow: &Flow,
        destination: &Step,
        run: &mut Run,
        deadline: Instant,
    ) -> Result<Ending> {
        let now = now_ms();
        let mut due: Vec<Retry> = self
            .state()?
            .retries(&flow.tenant, &flow.name)?
            .into_iter()
            .filter(|r| r.next_at <= now)
            .collect();
        due.sort_by_key(|r| r.next_at);
        let mut due = due.into_iter().peekable();
        while due.peek().is_some() {
            if let Some(ending) = self.halt(deadline) {
                return Ok(ending);
            }
            let mut commit = Commit::default();
            let mut pending = Vec::new();
            for retry in due.by_ref().take(self.write_size(flow)) {
                // A newer version delivered meanwhile (a replay) wins.
                let version = Version::of(&retry.envelope);
                if let Seen::Already = self.seen(flow, &retry.envelope, &version, run)? {
                    commit.retries_done.push(retry.envelope.key);
                    continue;
                }
                pending.push(Pending {
                    envelope: retry.envelope,
                    version,
                    idempotency_key: retry.idempotency_key,
                    attempts: retry.attempts,
                    queued: true,
                });
            }
            run.records_retried += pending.len() as u64;
            self.write(flow, destination, run, pending, &mut commit)
                .await?;
            self.commit(run, commit)?;
        }
        Ok(Ending::Finished)
    }

    /// Runs a batch through the transforms. When a transform refuses the batch,
    /// each record goes through alone, so that only the records it refuses are
    /// dead-lettered (as the source produced them) and the rest carry on.
    async fn transform_all(
        &self,
        flow: &Flow,
        transforms: &[Step],
        records: Vec<Envelope>,
        run: &mut Run,
        commit: &mut Commit,
    ) -> Result<Vec<Envelope>> {
        match self.chain(transforms, records.clone()).await {
            Ok((out, costs)) => {
                account_chain(run, transforms, costs);
                return Ok(out);
            }
            Err((stage, CallError::Guest { report, .. })) if records.len() > 1 => {
                account(run, &transforms[stage].plugin, report);
            }
            Err((stage, CallError::Guest { error, report, .. })) => {
                account(run, &transforms[stage].plugin, report);
                let record = records.into_iter().next().expect("one record");
                self.dead_letter_transform(flow, &transforms[stage], record, &error, run, commit);
                return Ok(Vec::new());
            }
            Err((_, other)) => return Err(other.into()),
        }
        let mut out = Vec::new();
        for record in records {
            match self.chain(transforms, vec![record.clone()]).await {
                Ok((mapped, costs)) => {
                    account_chain(run, transforms, costs);
                    out.extend(mapped);
                }
                Err((stage, CallError::Guest { error, report, .. })) => {
                    account(run, &transforms[stage].plugin, report);
                    self.dead_letter_transform(
                        flow,
                        &transforms[stage],
                        record,
                        &error,
                        run,
                        commit,
                    );
                }
                Err((_, other)) => return Err(other.into()),
            }
        }
        Ok(out)
    }

    /// The transforms in order, with what each stage that ran cost (a stage
    /// with nothing left to transform is not called); an error says which stage
    /// failed.
    pub(crate) async fn chain(
        &self,
        transforms: &[Step],
        mut batch: Vec<Envelope>,
    ) -> std::result::Result<(Vec<Envelope>, Vec<CallReport>), (usize, CallError)> {
        let mut costs = Vec::new();
        for (i, stage) in transforms.iter().enumerate() {
            if batch.is_empty() {
                break;
            }
            let (out, report) = self
                .sandbox
                .transform(&stage.prepared, &stage.ctx, batch)
                .await
                .map_err(|e| (i, e))?;
            costs.push(report);
            batch = out;
        }
        Ok((batch, costs))
    }

    fn dead_letter_transform(
        &self,
        flow: &Flow,
        stage: &Step,
        record: Envelope,
        error: &GuestError,
        run: &mut Run,
        commit: &mut Commit,
    ) {
        tracing::warn!(record = %record.key, plugin = %stage.plugin, %error, "Transform refused a record; dead-lettered");
        dead_letter(
            flow,
            Stage::Transform,
            (&stage.plugin, &stage.version),
            record,
            error.to_string(),
            run,
            commit,
        );
    }

    /// Delivers records and sorts each outcome into `commit`: done, queued for a
    /// retry, or dead-lettered. A whole-call error variant counts as that error
    /// for every record. A slow destination slows a flow, never stalls it:
    /// when the host had to refuse requests because the call neared its time
    /// limit, the records that failed retryably are sent again at once in
    /// halves; a call that ran past its limit all the same is split in halves
    /// likewise (its records go again under the same idempotency keys), down
    /// to one record, whose timeout is then its own retryable failure. Either
    /// way the flow's next write calls take fewer records. Any other trap or
    /// limit fails the run.
    async fn write(
        &self,
        flow: &Flow,
        destination: &Step,
        run: &mut Run,
        mut pending: Vec<Pending>,
        commit: &mut Commit,
    ) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let deliveries = pending
            .iter()
            .map(|p| (p.envelope.clone(), p.idempotency_key.clone()))
            .collect();
        let sent = pending.len();
        let keys: Vec<&str> = pending.iter().map(|p| p.idempotency_key.as_str()).collect();
        let ctx = self.write_context(&flow.tenant, destination, &keys)?;
        let outcomes = match self
            .sandbox
            .write(
                &destination.prepared,
                &ctx,
                &flow.destination.stream,
                deliveries,
            )
            .await
        {
            Ok((outcomes, report)) => {
                account(run, &destination.plugin, report);
                self.adapt_write_size(flow, sent, report.out_of_time);
                if report.out_of_time && sent > 1 {
                    run.write_timeouts += 1;
                    let mut again = Vec::new();
                    let mut settled = Vec::new();
                    for (record, outcome) in pending.into_iter().zip(outcomes) {
                        match outcome {
                            Err(GuestError::Retryable { .. }) => again.push(record),
                            outcome => settled.push((record, outcome)),
                        }
                    }
                    tracing::warn!(
                        records = sent,
                        again = again.len(),
                        "A write call ran short of time; sending its unsent records again in halves"
                    );
                    self.settle(flow, destination, run, settled, commit);
                    let second = again.split_off(again.len() / 2);
                    Box::pin(self.write(flow, destination, run, again, commit)).await?;
                    return Box::pin(self.write(flow, destination, run, second, commit)).await;
                }
                outcomes
            }
            Err(CallError::Guest { error, report, .. }) => {
                account(run, &destination.plugin, report);
                vec![Err(error); sent]
            }
            Err(CallError::Deadline { ms, .. }) => {
                self.adapt_write_size(flow, sent, true);
                run.write_timeouts += 1;
                if sent > 1 {
                    tracing::warn!(
                        records = sent,
                        limit_ms = ms,
                        "A write call ran past its time limit; sending its records again in halves"
                    );
                    let second = pending.split_off(sent / 2);
                    Box::pin(self.write(flow, destination, run, pending, commit)).await?;
                    return Box::pin(self.write(flow, destination, run, second, commit)).await;
                }
                vec![Err(GuestError::Retryable {
                    message: format!(
                        "the write of this record alone ran past the {ms} ms call limit: the destination is too slow (it may have applied it; the retry carries the same idempotency key)"
                    ),
                })]
            }
            Err(other) => return Err(other.into()),
        };
        self.settle(
            flow,
            destination,
            run,
            pending.into_iter().zip(outcomes).collect(),
            commit,
        );
        Ok(())
    }

    /// The context of a `write` call of `destination` that carries the
    /// deliveries with these idempotency keys. A destination that asks about
    /// earlier attempts (it imports `tenon:delivery/attempts`) gets them, and
    /// this attempt is recorded, durably, before the call.
    pub(crate) fn write_context(
        &self,
        tenant: &str,
        destination: &Step,
        keys: &[&str],
    ) -> Result<CallContext> {
        if !asks_attempts(destination) {
            return Ok(destination.ctx.clone());
        }
        let earlier = self
            .state()?
            .begin_attempts(tenant, &destination.plugin, keys, now_ms())?;
        Ok(destination.ctx.clone().with(Earlier(earlier)))
    }

    /// Sorts the outcome of each record into `commit`: done, queued for a
    /// retry, or dead-lettered.
    fn settle(
        &self,
        flow: &Flow,
        destination: &Step,
        run: &mut Run,
        outcomes: Vec<(Pending, std::result::Result<Option<String>, GuestError>)>,
        commit: &mut Commit,
    ) {
        let now = now_ms();
        let backoff = flow.backoff();
        let asks = asks_attempts(destination);
        for (record, outcome) in outcomes {
            let key = record.envelope.key.clone();
            if asks {
                let plugin = destination.plugin.clone();
                let idempotency_key = record.idempotency_key.clone();
                match &outcome {
                    Ok(_) => commit.attempts_done.push((plugin, idempotency_key)),
                    Err(error) => {
                        commit
                            .attempts_answered
                            .push((plugin, idempotency_key, error.clone()))
                    }
                }
            }
            match outcome {
                Ok(id) => {
                    run.records_written += 1;
                    if record.queued {
                        commit.retries_done.push(key.clone());
                    }
                    commit.delivered.push((key.clone(), record.version.clone()));
                    if let Some(id) = id {
                        commit.links.push((flow.idmap_namespace(), key, id));
                    }
                }
                Err(error) => {
                    let mut attempts = record.attempts;
                    attempts.push(Attempt {
                        at: now,
                        error: error.to_string(),
                    });
                    match backoff.next(attempts.len() as u32, &error, now) {
                        Next::RetryAt(next_at) => {
                            if !record.queued {
                                run.records_queued += 1;
                            }
                            tracing::info!(record = %key, %error, retry_in_ms = next_at - now, "Record queued for retry");
                            commit.retries.push(Retry {
                                tenant: flow.tenant.clone(),
                                flow: flow.name.clone(),
                                envelope: record.envelope,
                                idempotency_key: record.idempotency_key,
                                attempts,
                                next_at,
                            });
                        }
                        Next::DeadLetter => {
                            run.dead_lettered += 1;
                            if record.queued {
                                commit.retries_done.push(key.clone());
                            }
                            tracing::warn!(record = %key, %error, attempts = attempts.len(), "Record dead-lettered");
                            commit.dead_letters.push(DeadLetter {
                                id: 0,
                                tenant: flow.tenant.clone(),
                                flow: flow.name.clone(),
                                stage: Stage::Write,
                                envelope: record.envelope,
                                idempotency_key: record.idempotency_key,
                                plugin: destination.plugin.clone(),
                                plugin_version: destination.version.clone(),
                                attempts,
                                dead_at: now,
                                payload_dropped: false,
                                read_cursor: None,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Whether the destination asks about earlier write attempts: then the host
/// records them.
/// A record's dead letter, counted in the run: refused at `stage` by
/// `plugin` (name, version) for `error`; returned to be amended.
fn dead_letter<'c>(
    flow: &Flow,
    stage: Stage,
    (plugin, version): (&str, &str),
    record: Envelope,
    error: String,
    run: &mut Run,
    commit: &'c mut Commit,
) -> &'c mut DeadLetter {
    run.dead_lettered += 1;
    commit.dead_letters.push(DeadLetter {
        id: 0,
        tenant: flow.tenant.clone(),
        flow: flow.name.clone(),
        stage,
        idempotency_key: crate::record::idempotency_key(&record, &flow.tenant, &flow.name),
        envelope: record,
        plugin: plugin.to_owned(),
        plugin_version: version.to_owned(),
        attempts: vec![Attempt {
            at: now_ms(),
            error,
        }],
        dead_at: now_ms(),
        payload_dropped: false,
        read_cursor: None,
    });
    commit.dead_letters.last_mut().expect("just pushed")
}

/// Whether paging goes on after `page`, read from `cursor`: it says more
/// follow and gave a cursor that moves.
pub(crate) fn pages_on(page: &ReadPage, cursor: &Option<String>) -> bool {
    page.more && page.next_cursor.is_some() && page.next_cursor != *cursor
}

pub(crate) fn asks_attempts(destination: &Step) -> bool {
    destination.prepared.imports(attempts::INTERFACE)
}

/// Of the versions of one key in `batch`, the newest (the last to arrive among
/// equals); the others are counted as superseded.
fn newest_per_key(batch: Vec<Envelope>, run: &mut Run) -> Vec<Envelope> {
    let mut out: Vec<Envelope> = Vec::with_capacity(batch.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for envelope in batch {
        match at.get(&envelope.key) {
            Some(&i) => {
                if Version::of(&envelope).is_older_than(&Version::of(&out[i])) {
                    superseded(run, &envelope, "a newer version in the same batch");
                } else {
                    let older = std::mem::replace(&mut out[i], envelope);
                    superseded(run, &older, "a newer version in the same batch");
                }
            }
            None => {
                at.insert(envelope.key.clone(), out.len());
                out.push(envelope);
            }
        }
    }
    out
}

/// Counts a version skipped because `by` is newer.
fn superseded(run: &mut Run, envelope: &Envelope, by: &str) {
    run.records_superseded += 1;
    tracing::info!(
        record = %envelope.key,
        version = %Version::of(envelope),
        "Older version superseded by {by}; not delivered"
    );
}

/// Adds what a call of `plugin` cost to the run, in total and for the plugin.
fn account(run: &mut Run, plugin: &str, report: CallReport) {
    run.fuel_used += report.fuel_used;
    run.http_requests += u64::from(report.http_requests);
    run.http_refused += u64::from(report.http_refused);
    run.plugins
        .entry(plugin.to_owned())
        .or_default()
        .add(&report);
}

/// Adds what a call that returned an error cost; a call the host stopped (a
/// trap, a limit) reports nothing.
fn account_error(run: &mut Run, plugin: &str, error: &CallError) {
    if let CallError::Guest { report, .. } = error {
        account(run, plugin, *report);
    }
}

/// Accounts the stages of [`Tenon::chain`] that ran, each to its transform.
fn account_chain(run: &mut Run, transforms: &[Step], costs: Vec<CallReport>) {
    for (stage, report) in transforms.iter().zip(costs) {
        account(run, &stage.plugin, report);
    }
}
