//! The operator's side of failed records: the retry queue and the dead-letter
//! store, listed, shown, replayed (optionally through a pinned plugin version) or
//! discarded. A dead letter leaves the store only by a replay that succeeded or an
//! explicit discard, and both are written to the audit log.

use crate::delivery::{Attempt, AuditEntry, DeadLetter, Retry, Stage};
use crate::error::{Error, Result};
use crate::host::{Tenon, now_ms};
use crate::sandbox::CallError;
use crate::state::Commit;

/// How far `dlq replay --reread` reads the source for the record: pages of
/// the flow's batch size from the cursor the letter's page was read from.
const MAX_REREAD_PAGES: usize = 20;

/// How to replay a dead letter (the body of `POST /dead-letters/{id}/replay`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayOptions {
    /// Run it through this installed version of the plugin that refused it.
    #[serde(default)]
    pub plugin_version: Option<String>,
    /// Replay even though a newer version of the record was delivered since.
    #[serde(default)]
    pub force: bool,
    /// Read the record again from the source instead of replaying the stored
    /// payload (after a connector or the vendor's data was fixed).
    #[serde(default)]
    pub reread: bool,
}

/// What a successful replay did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Replayed {
    pub dead_letter: u64,
    /// The destination's ids for the delivered records.
    pub destination_ids: Vec<Option<String>>,
    /// The plugin (and version) that processed the replay.
    pub plugin: String,
    pub plugin_version: String,
    pub audit_id: u64,
}

impl Tenon {
    /// Every dead letter (of a tenant, of a flow), oldest first.
    pub fn dead_letters(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
    ) -> Result<Vec<DeadLetter>> {
        Ok(self.state()?.dead_letters(tenant, flow, 0, usize::MAX)?)
    }

    /// A page of dead letters (of a tenant, of a flow), oldest first: those
    /// with ids after `after`, at most `limit` (capped at
    /// [`MAX_DLQ_PAGE`](crate::limits::MAX_DLQ_PAGE)). A tenant's listing reads
    /// that tenant's letters only.
    pub fn dead_letters_page(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        let limit = limit.clamp(1, crate::limits::MAX_DLQ_PAGE);
        Ok(self.state()?.dead_letters(tenant, flow, after, limit)?)
    }

    pub fn dead_letter(&self, id: u64) -> Result<DeadLetter> {
        self.state()?
            .dead_letter(id)?
            .ok_or_else(|| Error::not_found("dead letter", id.to_string()))
    }

    /// A flow's retry queue.
    pub fn retries(&self, tenant: &str, flow: &str) -> Result<Vec<Retry>> {
        let flow = self.flow(tenant, flow)?;
        Ok(self.state()?.retries(tenant, &flow.name)?)
    }

    /// What the host recorded of earlier write attempts of one delivery, for a
    /// destination that asks about them (see [`crate::capability::attempts`]);
    /// `None` once it was delivered, or if the destination does not ask.
    pub fn write_attempt(
        &self,
        tenant: &str,
        plugin: &str,
        idempotency_key: &str,
    ) -> Result<Option<crate::capability::attempts::Attempt>> {
        Ok(self.state()?.attempt(tenant, plugin, idempotency_key)?)
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        Ok(self.state()?.audit_log()?)
    }

    /// Discards a dead letter for good, recording who and why.
    pub fn discard(&self, id: u64, actor: &str, reason: Option<&str>) -> Result<AuditEntry> {
        let letter = self.dead_letter(id)?;
        let audit = audit(
            &letter,
            actor,
            "dlq.discard",
            serde_json::json!({ "reason": reason, "record": letter.envelope }),
        );
        Ok(self
            .state()?
            .remove_dead_letter(&letter, audit, Commit::default())?)
    }

    /// Delivers a dead letter again: through the flow's transforms first if a
    /// transform refused it, then to the destination, with its original
    /// idempotency key. `pin` runs it through that version of the plugin that
    /// refused it instead of the current one. A record whose newer version was
    /// delivered since is not replayed unless `force`: it would overwrite newer
    /// data. On failure the attempt is added to the dead letter, which stays.
    pub async fn replay(
        &self,
        id: u64,
        pin: Option<&str>,
        force: bool,
        actor: &str,
    ) -> Result<Replayed> {
        let options = ReplayOptions {
            plugin_version: pin.map(str::to_owned),
            force,
            reread: false,
        };
        self.replay_with(id, &options, actor).await
    }

    /// [`Tenon::replay`], and with `reread` the record read again from the
    /// source instead of its stored payload: the source stream is read from
    /// the cursor its page was read from, the record with the letter's key
    /// taken as the source has it now (a fixed connector reads it anew), and
    /// it goes through the whole flow: schemas, transforms, destination.
    /// (The span gives the plugin calls' log lines tenant and flow; see
    /// `run_flow`.)
    #[tracing::instrument(level = "error", skip(self, options, actor), fields(tenant, flow))]
    pub async fn replay_with(
        &self,
        id: u64,
        options: &ReplayOptions,
        actor: &str,
    ) -> Result<Replayed> {
        let (pin, force) = (options.plugin_version.as_deref(), options.force);
        let mut letter = self.dead_letter(id)?;
        let span = tracing::Span::current();
        span.record("tenant", letter.tenant.as_str());
        span.record("flow", letter.flow.as_str());
        let flow = self.flow(&letter.tenant, &letter.flow)?;
        if letter.payload_dropped && !options.reread {
            return Err(Error::Invalid(format!(
                "dead letter {id} lost its payload (it was over the size cap): it cannot be replayed as stored; replay it with --reread once the source holds it within the cap, or discard it"
            )));
        }
        let pinned = |plugin: &str| -> Result<crate::sync::Step> {
            match pin {
                Some(version) if plugin == letter.plugin => {
                    let installed =
                        self.state()?
                            .plugin_version(plugin, version)?
                            .ok_or_else(|| {
                                Error::not_found("plugin version", format!("{plugin}@{version}"))
                            })?;
                    self.step_of(&flow.tenant, &installed)
                }
                _ => self.flow_step(&flow, plugin),
            }
        };

        // What goes through the flow: the stored record, at the stage that
        // refused it, or the source's record now, from the start of the flow.
        let (stage, record, idempotency_key) = if options.reread {
            let source = pinned(&flow.source.plugin)?;
            let record = match self.reread(&flow, &source, &letter).await {
                Ok(record) if record.payload.len() > crate::limits::MAX_PAYLOAD_BYTES => {
                    let error = format!(
                        "the source still holds record `{}` over the {}-byte payload limit",
                        record.key,
                        crate::limits::MAX_PAYLOAD_BYTES
                    );
                    return Err(self.replay_refused(&mut letter, error));
                }
                Ok(record) => record,
                Err(error) => return Err(self.replay_refused(&mut letter, error.to_string())),
            };
            let key = crate::record::idempotency_key(&record, &flow.tenant, &flow.name);
            (Stage::Read, record, key)
        } else {
            (
                letter.stage,
                letter.envelope.clone(),
                letter.idempotency_key.clone(),
            )
        };
        let mine = crate::record::Version::of(&record);
        if let Some(newer) = self
            .state()?
            .delivered(&flow.tenant, &flow.name, &record.key)?
            && mine.is_older_than(&newer)
            && !force
        {
            return Err(Error::Invalid(format!(
                "record `{}` has been delivered in a newer version ({newer}) since this one ({mine}); \
                 replaying would overwrite it: discard it, or replay with --force",
                record.key
            )));
        }

        let mut used = (letter.plugin.clone(), letter.plugin_version.clone());
        if stage == Stage::Read {
            // Refused as read (or read again): it must match the source's
            // schema now (a fixed connector may declare another one).
            let source = pinned(&flow.source.plugin)?;
            used = (source.plugin.clone(), source.version.clone());
            if let Err(error) = source.check(&flow.source.stream, &record) {
                return Err(self.replay_refused(&mut letter, error));
            }
        }
        let deliveries: Vec<(crate::record::Envelope, String)> = match stage {
            Stage::Write => vec![(record, idempotency_key)],
            Stage::Transform | Stage::Read => {
                let steps = flow
                    .transforms
                    .iter()
                    .map(|t| pinned(t))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(step) = steps.iter().find(|s| s.plugin == letter.plugin)
                    && stage == Stage::Transform
                {
                    used = (step.plugin.clone(), step.version.clone());
                }
                match self.chain(&steps, vec![record]).await {
                    Ok((out, _)) => out
                        .into_iter()
                        .map(|e| {
                            let key = crate::record::idempotency_key(&e, &flow.tenant, &flow.name);
                            (e, key)
                        })
                        .collect(),
                    Err((_, error)) => return Err(self.replay_failed(&mut letter, error)),
                }
            }
        };

        let destination = pinned(&flow.destination.plugin)?;
        if stage == Stage::Write {
            used = (destination.plugin.clone(), destination.version.clone());
        }
        for (envelope, _) in &deliveries {
            if let Err(error) = destination.check(&flow.destination.stream, envelope) {
                return Err(self.replay_refused(&mut letter, error));
            }
        }
        let keys: Vec<(String, crate::record::Version)> = deliveries
            .iter()
            .map(|(e, _)| (e.key.clone(), crate::record::Version::of(e)))
            .collect();
        let idempotency_keys: Vec<String> = deliveries.iter().map(|(_, k)| k.clone()).collect();
        let outcomes = if deliveries.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<&str> = idempotency_keys.iter().map(String::as_str).collect();
            let ctx = self.write_context(&flow.tenant, &destination, &keys)?;
            match self
                .sandbox
                .write(
                    &destination.prepared,
                    &ctx,
                    &flow.destination.stream,
                    deliveries,
                )
                .await
            {
                Ok((outcomes, _)) => outcomes,
                Err(error) => return Err(self.replay_failed(&mut letter, error)),
            }
        };
        if let Some(error) = outcomes.iter().find_map(|o| o.as_ref().err()) {
            let error = CallError::Guest {
                plugin: destination.plugin.clone(),
                error: error.clone(),
                report: Default::default(),
            };
            return Err(self.replay_failed(&mut letter, error));
        }

        let mut done = Commit::default();
        if crate::sync::asks_attempts(&destination) {
            done.attempts_done = idempotency_keys
                .iter()
                .map(|k| (destination.plugin.clone(), k.clone()))
                .collect();
        }
        let ids: Vec<Option<String>> = outcomes.into_iter().map(|o| o.ok().flatten()).collect();
        for ((key, version), id) in keys.iter().zip(&ids) {
            done.delivered.push((key.clone(), version.clone()));
            if let Some(id) = id {
                done.links
                    .push((flow.idmap_namespace(), key.clone(), id.clone()));
            }
        }
        let detail = serde_json::json!({
            "plugin": used.0, "plugin_version": used.1, "forced": force,
            "reread": options.reread, "destination_ids": ids,
        });
        let entry = self.state()?.remove_dead_letter(
            &letter,
            audit(&letter, actor, "dlq.replay", detail),
            done,
        )?;
        tracing::info!(dead_letter = id, tenant = %letter.tenant, flow = %letter.flow, "Dead letter replayed");
        Ok(Replayed {
            dead_letter: id,
            destination_ids: ids,
            plugin: used.0,
            plugin_version: used.1,
            audit_id: entry.id,
        })
    }

    /// The record with the letter's key as the source has it now: read from
    /// the cursor the letter's page was read from, a few pages on at most (a
    /// record that changed since sorts later).
    async fn reread(
        &self,
        flow: &crate::flow::Flow,
        source: &crate::sync::Step,
        letter: &DeadLetter,
    ) -> Result<crate::record::Envelope> {
        let key = &letter.envelope.key;
        let mut cursor = letter.read_cursor.clone();
        for _ in 0..MAX_REREAD_PAGES {
            let (page, _) = self.read_source(flow, source, cursor.as_deref()).await?;
            let on = crate::sync::pages_on(&page, &cursor);
            if let Some(found) = page.records.into_iter().rfind(|r| &r.key == key) {
                return Ok(found);
            }
            if !on {
                break;
            }
            cursor = page.next_cursor;
        }
        Err(Error::Invalid(format!(
            "`{}:{}` does not hold record `{key}` within {MAX_REREAD_PAGES} pages of the cursor its batch was read from ({}): it may be gone, or a transform gave it another key; replay it as stored, or discard it",
            flow.source.plugin,
            flow.source.stream,
            letter.read_cursor.as_deref().unwrap_or("the start")
        )))
    }

    /// Records a failed replay on the dead letter and returns the error to report.
    fn replay_failed(&self, letter: &mut DeadLetter, error: CallError) -> Error {
        if let Err(e) = self.add_attempt(letter, error.to_string()) {
            return e;
        }
        error.into()
    }

    /// Records a replay the host refused on the dead letter, and returns it.
    fn replay_refused(&self, letter: &mut DeadLetter, error: String) -> Error {
        if let Err(e) = self.add_attempt(letter, error.clone()) {
            return e;
        }
        Error::Invalid(error)
    }

    fn add_attempt(&self, letter: &mut DeadLetter, error: String) -> Result<()> {
        letter.attempts.push(Attempt {
            at: now_ms(),
            error,
        });
        Ok(self.state()?.put_dead_letter(letter)?)
    }
}

fn audit(letter: &DeadLetter, actor: &str, action: &str, detail: serde_json::Value) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: now_ms(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: format!(
            "{}/{}/dead-letter/{}",
            letter.tenant, letter.flow, letter.id
        ),
        detail,
    }
}
