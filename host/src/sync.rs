//! The sync engine: runs a flow once. Reads pages from the source after the stored
//! cursor, passes each through the transforms, delivers it to the destination, and
//! only when the destination accepted every record commits the cursor and the
//! run's counters in one flushed transaction. A failed batch leaves the cursor
//! where it was, so the next run reads those records again (at-least-once; the
//! idempotency key makes the repeat harmless).

use crate::error::{Error, Result};
use crate::flow::{Flow, MAX_PAGES_PER_RUN, Run, RunStatus};
use crate::host::{Tenon, now_ms};
use crate::record::Envelope;
use crate::sandbox::{CallContext, CallReport};

/// The plugins of a flow, resolved for its tenant.
struct Stage {
    prepared: crate::engine::Prepared,
    ctx: CallContext,
}

impl Tenon {
    /// Runs a flow once and returns its run record. Unknown tenant or flow is an
    /// error; anything that goes wrong once the run started (a plugin not enabled,
    /// a call that fails, a rejected record) ends the run as failed, recorded with
    /// the reason, and everything committed before it stays committed.
    #[tracing::instrument(skip(self), fields(run))]
    pub async fn run_flow(&self, tenant: &str, flow: &str) -> Result<Run> {
        let flow = self.flow(tenant, flow)?;
        let cursor = self.state.cursor(tenant, &flow.name, &flow.source.stream)?;
        let mut run = Run {
            id: self.state.next_run_id()?,
            tenant: tenant.to_owned(),
            flow: flow.name.clone(),
            status: RunStatus::Running,
            started_at: now_ms(),
            finished_at: None,
            batches: 0,
            records_read: 0,
            records_written: 0,
            fuel_used: 0,
            http_requests: 0,
            cursor_before: cursor.clone(),
            cursor_after: cursor,
            error: None,
        };
        tracing::Span::current().record("run", run.id);
        self.state.put_run(&run)?;

        let result = self.deliver(&flow, &mut run).await;
        run.finished_at = Some(now_ms());
        match result {
            Ok(()) => {
                run.status = RunStatus::Succeeded;
                tracing::info!(
                    read = run.records_read,
                    written = run.records_written,
                    batches = run.batches,
                    "Flow run succeeded"
                );
            }
            Err(error) => {
                run.status = RunStatus::Failed;
                run.error = Some(error.to_string());
                tracing::warn!(error = %error, "Flow run failed");
            }
        }
        self.state.put_run(&run)?;
        Ok(run)
    }

    fn stage(&self, tenant: &str, plugin: &str) -> Result<Stage> {
        let plugin = self.plugin(plugin)?;
        Ok(Stage {
            ctx: self.call_context(tenant, &plugin)?,
            prepared: self.prepared(&plugin)?,
        })
    }

    async fn deliver(&self, flow: &Flow, run: &mut Run) -> Result<()> {
        let source = self.stage(&flow.tenant, &flow.source.plugin)?;
        let transforms = flow
            .transforms
            .iter()
            .map(|t| self.stage(&flow.tenant, t))
            .collect::<Result<Vec<_>>>()?;
        let destination = self.stage(&flow.tenant, &flow.destination.plugin)?;

        for _ in 0..MAX_PAGES_PER_RUN {
            let cursor = run.cursor_after.clone();
            let (page, report) = self
                .sandbox
                .read(
                    &source.prepared,
                    &source.ctx,
                    &flow.source.stream,
                    cursor.as_deref(),
                    flow.batch_size,
                )
                .await?;
            account(run, report);
            run.records_read += page.records.len() as u64;
            if page.records.is_empty() && page.more && page.next_cursor == cursor {
                return Err(Error::Invalid(format!(
                    "`{}` said more records follow but returned none and kept its cursor",
                    flow.source.plugin
                )));
            }

            let read = page.records.len();
            let mut batch = page.records;
            for stage in &transforms {
                if batch.is_empty() {
                    break;
                }
                let (out, report) = self
                    .sandbox
                    .transform(&stage.prepared, &stage.ctx, batch)
                    .await?;
                account(run, report);
                batch = out;
            }
            if !batch.is_empty() {
                self.write(flow, &destination, run, batch).await?;
            }

            if page.next_cursor.is_some() {
                run.cursor_after = page.next_cursor.clone();
            }
            if read > 0 {
                run.batches += 1;
            }
            self.state
                .commit_batch(run, &flow.source.stream, page.next_cursor.as_deref())?;
            if !page.more {
                return Ok(());
            }
        }
        tracing::info!(
            pages = MAX_PAGES_PER_RUN,
            "Run reached its page limit; the next run continues"
        );
        Ok(())
    }

    /// Delivers a batch; every record must be accepted for the batch to count.
    async fn write(
        &self,
        flow: &Flow,
        destination: &Stage,
        run: &mut Run,
        batch: Vec<Envelope>,
    ) -> Result<()> {
        let deliveries: Vec<(Envelope, String)> = batch
            .into_iter()
            .map(|e| {
                let key = e.idempotency_key(&flow.tenant, &flow.name);
                (e, key)
            })
            .collect();
        let keys: Vec<String> = deliveries.iter().map(|(e, _)| e.key.clone()).collect();
        let (outcomes, report) = self
            .sandbox
            .write(
                &destination.prepared,
                &destination.ctx,
                &flow.destination.stream,
                deliveries,
            )
            .await?;
        account(run, report);
        let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
        run.records_written += accepted as u64;
        let rejected: Vec<String> = outcomes
            .iter()
            .zip(&keys)
            .filter_map(|(o, key)| o.as_ref().err().map(|e| format!("`{key}`: {e}")))
            .collect();
        if !rejected.is_empty() {
            return Err(Error::Invalid(format!(
                "`{}` rejected {} of {} records, so the cursor stays; first: {}",
                flow.destination.plugin,
                rejected.len(),
                keys.len(),
                rejected[0]
            )));
        }
        Ok(())
    }
}

fn account(run: &mut Run, report: CallReport) {
    run.fuel_used += report.fuel_used;
    run.http_requests += u64::from(report.http_requests);
}
