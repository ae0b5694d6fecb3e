//! Reconciliation: proving that a flow's destination holds what its source says.
//!
//! The host reads the whole source stream, runs it through the flow's
//! transforms, and pages through what the destination holds now (its
//! `reconcile` export), keyed by the destination's ids. The id map the host filled
//! from successful writes (`flow:<name>`) ties the two together; payloads are
//! compared as JSON values. The report lists what is missing at the destination,
//! what is there but has no source record, and what differs.
//!
//! A destination may be fed by more than one flow (or hold records of its
//! own): by default only the records this flow wrote (those in its id map) are
//! compared, and the others are counted apart; [`Scope::Whole`] compares the
//! whole destination, so that anything the source lacks is `extra`.

use crate::error::{Error, Result};
use crate::flow::MAX_PAGES_PER_RUN;
use crate::host::Tenon;
use crate::limits::MAX_RECONCILE_BYTES;
use crate::record::Op;
use serde::Serialize;
use std::collections::BTreeMap;

/// A record whose two sides disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Difference {
    pub key: String,
    pub destination_id: String,
    /// The payload fields that differ: name -> `[source, destination]`
    /// (`null` where a side lacks the field; the whole payloads under `""` when
    /// they are not both objects).
    #[serde(default)]
    pub fields: BTreeMap<String, [serde_json::Value; 2]>,
}

/// Which destination records a reconciliation compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Those the flow wrote (found in its id map): another flow's records on
    /// a shared destination are not this flow's to explain.
    #[default]
    Owned,
    /// Every record the destination holds.
    Whole,
}

impl Scope {
    /// [`Scope::Whole`] if `whole`, else [`Scope::Owned`] (`--whole`, `?whole=true`).
    pub fn whole_if(whole: bool) -> Scope {
        if whole { Scope::Whole } else { Scope::Owned }
    }
}

/// The outcome of `tenon reconcile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Reconciliation {
    pub tenant: String,
    pub flow: String,
    #[serde(default)]
    pub scope: Scope,
    pub source_records: usize,
    pub destination_records: usize,
    pub matching: usize,
    /// Source keys with no record at the destination.
    pub missing: Vec<String>,
    /// Destination ids with no source record.
    pub extra: Vec<String>,
    pub different: Vec<Difference>,
    /// Destination records the flow did not write, left out of an
    /// [`Scope::Owned`] comparison.
    #[serde(default)]
    pub not_owned: usize,
}

impl Reconciliation {
    /// Whether the two systems agree.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.different.is_empty()
    }
}

impl Tenon {
    /// Compares a flow's source (after its transforms) with the records it
    /// wrote to its destination.
    pub async fn reconcile(&self, tenant: &str, flow: &str) -> Result<Reconciliation> {
        self.reconcile_in(tenant, flow, Scope::Owned).await
    }

    /// Compares a flow's source (after its transforms) with its destination,
    /// the records it wrote or all of them.
    /// (The span gives the plugin calls' log lines the flow; see `run_flow`.)
    #[tracing::instrument(level = "error", skip(self))]
    pub async fn reconcile_in(
        &self,
        tenant: &str,
        flow: &str,
        scope: Scope,
    ) -> Result<Reconciliation> {
        let flow = self.flow(tenant, flow)?;
        let _turn = Turn::take(self, tenant)?;
        let mut held_bytes = 0usize;
        let mut hold = |key: &str, payload: &str| -> Result<()> {
            held_bytes += key.len() + payload.len();
            if held_bytes > MAX_RECONCILE_BYTES {
                return Err(Error::Invalid(format!(
                    "reconciling `{}` would hold more than {MAX_RECONCILE_BYTES} bytes of records; the two systems hold too much to compare at once",
                    flow.name
                )));
            }
            Ok(())
        };
        let source = self.flow_step(&flow, &flow.source.plugin)?;
        let transforms = flow
            .transforms
            .iter()
            .map(|t| self.flow_step(&flow, t))
            .collect::<Result<Vec<_>>>()?;
        let destination = self.flow_step(&flow, &flow.destination.plugin)?;

        let mut expected: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        for page_no in 0.. {
            if page_no == MAX_PAGES_PER_RUN {
                return Err(Error::Invalid(format!(
                    "the source has more than {MAX_PAGES_PER_RUN} pages"
                )));
            }
            let (page, _) = self.read_source(&flow, &source, cursor.as_deref()).await?;
            let on = crate::sync::pages_on(&page, &cursor);
            let (records, _) = self
                .chain(&transforms, page.records)
                .await
                .map_err(|(_, e)| Error::from(e))?;
            for record in records {
                hold(&record.key, &record.payload)?;
                match record.op {
                    Op::Upsert => expected.insert(record.key, json(&record.payload)),
                    Op::Delete => expected.remove(&record.key),
                };
            }
            if !on {
                break;
            }
            cursor = page.next_cursor;
        }

        let mut held: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        for page_no in 0.. {
            if page_no == MAX_PAGES_PER_RUN {
                return Err(Error::Invalid(format!(
                    "the destination has more than {MAX_PAGES_PER_RUN} pages"
                )));
            }
            let (page, _) = self
                .sandbox
                .reconcile(
                    &destination.prepared,
                    &destination.ctx,
                    &flow.destination.stream,
                    cursor.as_deref(),
                    flow.batch_size,
                )
                .await?;
            let on = crate::sync::pages_on(&page, &cursor);
            for record in page.records {
                hold(&record.key, &record.payload)?;
                held.insert(record.key, json(&record.payload));
            }
            if !on {
                break;
            }
            cursor = page.next_cursor;
        }

        let namespace = flow.idmap_namespace();
        let mut report = Reconciliation {
            tenant: tenant.to_owned(),
            flow: flow.name.clone(),
            scope,
            source_records: expected.len(),
            destination_records: held.len(),
            matching: 0,
            missing: Vec::new(),
            extra: Vec::new(),
            different: Vec::new(),
            not_owned: 0,
        };
        for (id, value) in held {
            let key = self.state()?.reverse(tenant, &namespace, &id)?;
            if key.is_none() && scope == Scope::Owned {
                report.not_owned += 1;
                continue;
            }
            match key.and_then(|k| expected.remove(&k).map(|v| (k, v))) {
                None => report.extra.push(id),
                Some((_, source)) if source == value => report.matching += 1,
                Some((key, source)) => report.different.push(Difference {
                    fields: differing_fields(source, value),
                    key,
                    destination_id: id,
                }),
            }
        }
        report.missing = expected.into_keys().collect();
        Ok(report)
    }
}

/// A tenant's turn to reconcile: one reconciliation at a time per tenant, so a
/// tenant (or its token) cannot hold many sources in memory at once.
struct Turn<'a> {
    tenon: &'a Tenon,
    tenant: String,
}

impl<'a> Turn<'a> {
    fn take(tenon: &'a Tenon, tenant: &str) -> Result<Turn<'a>> {
        let mut running = tenon.reconciling.lock().unwrap_or_else(|e| e.into_inner());
        if !running.insert(tenant.to_owned()) {
            return Err(Error::Busy(format!(
                "a reconciliation of tenant `{tenant}` is under way; try again when it has ended"
            )));
        }
        Ok(Turn {
            tenon,
            tenant: tenant.to_owned(),
        })
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.tenon
            .reconciling
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.tenant);
    }
}

/// The top-level fields in which `source` and `held` differ.
fn differing_fields(
    source: serde_json::Value,
    held: serde_json::Value,
) -> BTreeMap<String, [serde_json::Value; 2]> {
    use serde_json::Value;
    match (source, held) {
        (Value::Object(mut source), Value::Object(mut held)) => {
            let names: std::collections::BTreeSet<String> =
                source.keys().chain(held.keys()).cloned().collect();
            names
                .into_iter()
                .filter_map(|name| {
                    let a = source.remove(&name).unwrap_or(Value::Null);
                    let b = held.remove(&name).unwrap_or(Value::Null);
                    (a != b).then_some((name, [a, b]))
                })
                .collect()
        }
        (source, held) => BTreeMap::from([(String::new(), [source, held])]),
    }
}

fn json(payload: &str) -> serde_json::Value {
    serde_json::from_str(payload).unwrap_or_else(|_| serde_json::Value::String(payload.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::differing_fields;
    use serde_json::json;

    #[test]
    fn a_difference_names_its_fields_with_both_sides() {
        let fields = differing_fields(
            json!({"sku": "MUG", "quantity": 25, "location": "Main"}),
            json!({"sku": "MUG", "quantity": 24, "bin": "A1", "location": "Main"}),
        );
        assert_eq!(
            serde_json::to_value(&fields).unwrap(),
            json!({"quantity": [25, 24], "bin": [null, "A1"]})
        );
        let whole = differing_fields(json!("text"), json!({"a": 1}));
        assert_eq!(whole[""], [json!("text"), json!({"a": 1})]);
    }
}
