//! Durable state in sled: installed plugins, tenants, enablements, flows, cursors
//! and runs, one tree each, values as JSON. Owns keys, encoding and transactions;
//! knows nothing of wasmtime.
//!
//! A batch's cursor advance and its run counters commit in one transaction and are
//! flushed before the batch counts as done.

use crate::flow::{Flow, Run};
use crate::plugin::Installed;
use crate::tenant::{Enablement, Tenant};
use anyhow::Context as _;
use serde::{Serialize, de::DeserializeOwned};
use sled::Transactional;
use std::path::Path;

/// The state database.
#[derive(Debug, Clone)]
pub struct State {
    db: sled::Db,
    plugins: sled::Tree,
    tenants: sled::Tree,
    enablements: sled::Tree,
    flows: sled::Tree,
    cursors: sled::Tree,
    runs: sled::Tree,
}

/// Joins key parts with a NUL byte, which no identifier contains.
fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("state values serialise to JSON")
}

fn decode<T: DeserializeOwned>(tree: &str, bytes: &[u8]) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).with_context(|| format!("corrupt entry in tree `{tree}`"))
}

impl State {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<State> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .with_context(|| format!("could not open the state database in {}", dir.display()))?;
        let tree = |name: &str| {
            db.open_tree(name)
                .with_context(|| format!("could not open tree `{name}`"))
        };
        Ok(State {
            plugins: tree("plugins")?,
            tenants: tree("tenants")?,
            enablements: tree("enablements")?,
            flows: tree("flows")?,
            cursors: tree("cursors")?,
            runs: tree("runs")?,
            db,
        })
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db
            .flush()
            .context("could not flush the state database")?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        name: &str,
        k: &[u8],
    ) -> anyhow::Result<Option<T>> {
        let value = tree
            .get(k)
            .with_context(|| format!("could not read tree `{name}`"))?;
        value.map(|v| decode(name, &v)).transpose()
    }

    fn put<T: Serialize>(
        &self,
        tree: &sled::Tree,
        name: &str,
        k: &[u8],
        value: &T,
    ) -> anyhow::Result<()> {
        tree.insert(k, encode(value))
            .with_context(|| format!("could not write tree `{name}`"))?;
        self.flush()
    }

    fn remove(&self, tree: &sled::Tree, name: &str, k: &[u8]) -> anyhow::Result<bool> {
        let old = tree
            .remove(k)
            .with_context(|| format!("could not write tree `{name}`"))?;
        self.flush()?;
        Ok(old.is_some())
    }

    fn scan<T: DeserializeOwned>(
        tree: &sled::Tree,
        name: &str,
        prefix: &[u8],
    ) -> anyhow::Result<Vec<T>> {
        tree.scan_prefix(prefix)
            .map(|entry| {
                let (_, v) = entry.with_context(|| format!("could not read tree `{name}`"))?;
                decode(name, &v)
            })
            .collect()
    }

    // Plugins.

    pub fn plugin(&self, id: &str) -> anyhow::Result<Option<Installed>> {
        Self::get(&self.plugins, "plugins", id.as_bytes())
    }
    pub fn plugins(&self) -> anyhow::Result<Vec<Installed>> {
        Self::scan(&self.plugins, "plugins", b"")
    }
    pub fn put_plugin(&self, plugin: &Installed) -> anyhow::Result<()> {
        self.put(&self.plugins, "plugins", plugin.id.as_bytes(), plugin)
    }
    pub fn remove_plugin(&self, id: &str) -> anyhow::Result<bool> {
        self.remove(&self.plugins, "plugins", id.as_bytes())
    }

    // Tenants.

    pub fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
        Self::get(&self.tenants, "tenants", id.as_bytes())
    }
    pub fn tenants(&self) -> anyhow::Result<Vec<Tenant>> {
        Self::scan(&self.tenants, "tenants", b"")
    }
    pub fn put_tenant(&self, tenant: &Tenant) -> anyhow::Result<()> {
        self.put(&self.tenants, "tenants", tenant.id.as_bytes(), tenant)
    }

    // Enablements.

    pub fn enablement(&self, tenant: &str, plugin: &str) -> anyhow::Result<Option<Enablement>> {
        Self::get(&self.enablements, "enablements", &key(&[tenant, plugin]))
    }
    /// All enablements, or a tenant's.
    pub fn enablements(&self, tenant: Option<&str>) -> anyhow::Result<Vec<Enablement>> {
        let prefix = tenant.map(|t| key(&[t, ""])).unwrap_or_default();
        Self::scan(&self.enablements, "enablements", &prefix)
    }
    pub fn put_enablement(&self, e: &Enablement) -> anyhow::Result<()> {
        self.put(
            &self.enablements,
            "enablements",
            &key(&[&e.tenant, &e.plugin]),
            e,
        )
    }
    pub fn remove_enablement(&self, tenant: &str, plugin: &str) -> anyhow::Result<bool> {
        self.remove(&self.enablements, "enablements", &key(&[tenant, plugin]))
    }

    // Flows.

    pub fn flow(&self, tenant: &str, name: &str) -> anyhow::Result<Option<Flow>> {
        Self::get(&self.flows, "flows", &key(&[tenant, name]))
    }
    pub fn flows(&self, tenant: Option<&str>) -> anyhow::Result<Vec<Flow>> {
        let prefix = tenant.map(|t| key(&[t, ""])).unwrap_or_default();
        Self::scan(&self.flows, "flows", &prefix)
    }
    pub fn put_flow(&self, flow: &Flow) -> anyhow::Result<()> {
        self.put(
            &self.flows,
            "flows",
            &key(&[&flow.tenant, &flow.name]),
            flow,
        )
    }

    // Cursors.

    /// Where the flow's next read of `stream` starts.
    pub fn cursor(&self, tenant: &str, flow: &str, stream: &str) -> anyhow::Result<Option<String>> {
        Self::get(&self.cursors, "cursors", &key(&[tenant, flow, stream]))
    }

    // Runs.

    /// A new run id, from 1, increasing across restarts.
    pub fn next_run_id(&self) -> anyhow::Result<u64> {
        Ok(self
            .db
            .generate_id()
            .context("could not allocate a run id")?
            + 1)
    }
    pub fn run(&self, id: u64) -> anyhow::Result<Option<Run>> {
        Self::get(&self.runs, "runs", &id.to_be_bytes())
    }
    /// Runs, newest first, optionally of one tenant and flow.
    pub fn runs(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<Run>> {
        let mut runs = Vec::new();
        for entry in self.runs.iter().rev() {
            let (_, v) = entry.context("could not read tree `runs`")?;
            let run: Run = decode("runs", &v)?;
            if tenant.is_some_and(|t| t != run.tenant) || flow.is_some_and(|f| f != run.flow) {
                continue;
            }
            runs.push(run);
            if runs.len() == limit {
                break;
            }
        }
        Ok(runs)
    }
    pub fn put_run(&self, run: &Run) -> anyhow::Result<()> {
        self.put(&self.runs, "runs", &run.id.to_be_bytes(), run)
    }

    /// Commits a delivered batch: the new cursor (if any) and the run's counters in
    /// one transaction, then flushes. Until this returns, the batch is not done and
    /// the next run reads it again.
    pub fn commit_batch(
        &self,
        run: &Run,
        stream: &str,
        cursor: Option<&str>,
    ) -> anyhow::Result<()> {
        let cursor_key = key(&[&run.tenant, &run.flow, stream]);
        let cursor_value = cursor.map(|c| encode(&c));
        let run_value = encode(run);
        (&self.cursors, &self.runs)
            .transaction(|(cursors, runs)| {
                if let Some(value) = &cursor_value {
                    cursors.insert(cursor_key.as_slice(), value.as_slice())?;
                }
                runs.insert(&run.id.to_be_bytes(), run_value.as_slice())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("could not commit the batch of run {}: {e:?}", run.id))?;
        self.flush()
    }
}
