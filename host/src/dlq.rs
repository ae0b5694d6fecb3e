//! The operator's side of failed records: the retry queue and the dead-letter
//! store, listed, shown, replayed (optionally through a pinned plugin version) or
//! discarded. A dead letter leaves the store only by a replay that succeeded or an
//! explicit discard, and both are written to the audit log.

use crate::delivery::{Attempt, AuditEntry, DeadLetter, Retry, Stage};
use crate::error::{Error, Result};
use crate::host::{Tenon, now_ms};
use crate::sandbox::CallError;
use crate::state::Commit;

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
    /// (The span gives the plugin calls' log lines tenant and flow; see
    /// `run_flow`.)
    #[tracing::instrument(level = "error", skip(self, pin, force, actor), fields(tenant, flow))]
    pub async fn replay(
        &self,
        id: u64,
        pin: Option<&str>,
        force: bool,
        actor: &str,
    ) -> Result<Replayed> {
        let mut letter = self.dead_letter(id)?;
        let span = tracing::Span::current();
        span.record("tenant", letter.tenant.as_str());
        span.record("flow", letter.flow.as_str());
        let flow = self.flow(&letter.tenant, &letter.flow)?;
        if letter.payload_dropped {
            return Err(Error::Invalid(format!(
                "dead letter {id} lost its payload (it was over the size cap): it cannot be replayed, only discarded"
            )));
        }
        let mine = crate::record::Version::of(&letter.envelope);
        if let Some(newer) =
            self.state()?
                .delivered(&flow.tenant, &flow.name, &letter.envelope.key)?
            && mine.is_older_than(&newer)
            && !force
        {
            return Err(Error::Invalid(format!(
                "record `{}` has been delivered in a newer version ({newer}) since this one ({mine}); \
                 replaying would overwrite it: discard it, or replay with --force",
                letter.envelope.key
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

        let mut used = (letter.plugin.clone(), letter.plugin_version.clone());
        if letter.stage == Stage::Read {
            // Refused as read: it must match the source's schema now (a fixed
            // connector may declare another one).
            let source = pinned(&flow.source.plugin)?;
            used = (source.plugin.clone(), source.version.clone());
            if let Err(error) = source.check(&flow.source.stream, &letter.envelope) {
                return Err(self.replay_refused(&mut letter, error));
            }
        }
        let deliveries: Vec<(crate::record::Envelope, String)> = match letter.stage {
            Stage::Write => {
                vec![(letter.envelope.clone(), letter.idempotency_key.clone())]
            }
            Stage::Transform | Stage::Read => {
                let steps = flow
                    .transforms
                    .iter()
                    .map(|t| pinned(t))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(step) = steps.iter().find(|s| s.plugin == letter.plugin)
                    && letter.stage == Stage::Transform
                {
                    used = (step.plugin.clone(), step.version.clone());
                }
                match self.chain(&steps, vec![letter.envelope.clone()]).await {
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
        if letter.stage == Stage::Write {
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
            "plugin": used.0, "plugin_version": used.1, "forced": force, "destination_ids": ids,
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
