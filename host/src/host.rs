//! [`Tenon`], the host: the one object the CLI and the server drive. It
//! ties state, engine and sandbox together and owns the operator's operations:
//! install plugins, create tenants, enable plugins for them, define flows.
//! Running flows is in [`crate::sync`]; [`Tenon::shutdown`] asks running flows
//! to stop after their current batch.

use crate::GuestError;
use crate::capability::http::{Access, Http};
use crate::capability::secret::Secrets;
use crate::capability::{config, idmap::Scope};
use crate::engine::{Engine, EngineOptions, Prepared};
use crate::error::{Error, Result};
use crate::flow::{DEFAULT_BATCH_SIZE, Endpoint, Flow, MAX_BATCH_SIZE, Run};
use crate::keys::Keyring;
use crate::limits::{self, LimitOverrides};
use crate::plugin::{Installed, World, is_identifier};
use crate::publishers::InstallOptions;
use crate::record::Envelope;
use crate::sandbox::{CallContext, CallReport, ReadPage, Sandbox};
use crate::state::{Shared, State};
use crate::tenant::{Enablement, Policy, Tenant};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tenon_runtime::compile::Compiler;
use tokio_util::sync::CancellationToken;

/// The data folder used when none is given: `tenon-data` in the working directory.
pub const DEFAULT_DATA_DIR: &str = "tenon-data";

/// How a host is opened beyond its data folder.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where components are compiled: in a bounded worker process (the `tenon`
    /// binary) or in this process.
    pub compiler: Compiler,
    /// Where the keys live; `<data>/keys` when none.
    pub keys: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compiler: Compiler::InProcess,
            keys: None,
        }
    }
}

/// The host.
#[derive(Debug, Clone)]
pub struct Tenon {
    /// The state database, opened again in place after a storage failure.
    pub(crate) store: Shared,
    pub(crate) sandbox: Sandbox,
    http: Arc<Http>,
    /// Tenants with a reconciliation under way: one at a time each.
    pub(crate) reconciling: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// Records per write call of each (tenant, flow) while its destination is
    /// slow (see [`crate::sync`]); absent means the flow's batch size.
    pub(crate) write_sizes:
        Arc<std::sync::Mutex<std::collections::HashMap<(String, String), usize>>>,
    /// Stream schemas compiled, by component.
    pub(crate) schemas: crate::schema::Schemas,
    data_dir: PathBuf,
    /// Cancelled by [`Tenon::shutdown`]; shared by every clone.
    stopping: CancellationToken,
}

/// What [`Tenon::check_state`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StateCheck {
    /// Entries per state tree.
    pub trees: Vec<(String, usize)>,
    /// Component files checked.
    pub components: usize,
    /// Each problem, naming what it is about and why.
    pub problems: Vec<String>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Tenon {
    /// Opens the host on a data folder (created if missing), compiling in this
    /// process: see [`Tenon::open_with`].
    pub fn open(data_dir: &Path) -> Result<Tenon> {
        Tenon::open_with(data_dir, Options::default())
    }

    /// Opens the host on a data folder (created if missing, 0700, its files
    /// 0600): `state/` holds the sled database, `components/` the installed
    /// `.wasm` files, `cache/` their compiled form, `keys/` (unless `options`
    /// put them elsewhere) the keys of sealed secrets and of the cache's MACs.
    pub fn open_with(data_dir: &Path, options: Options) -> Result<Tenon> {
        crate::keys::private_dir(data_dir)?;
        crate::keys::private_dir(&data_dir.join("components"))?;
        let keys = Keyring::open(&options.keys.unwrap_or_else(|| data_dir.join("keys")))?;
        let cache_key = keys.cache_key()?;
        let (store, interrupted) = Shared::open(&data_dir.join("state"), keys)?;
        crate::keys::tighten(data_dir)?;
        if interrupted > 0 {
            tracing::warn!(
                runs = interrupted,
                "Runs left running by a stopped host marked interrupted"
            );
        }
        let http = Http::new();
        let engine = Engine::new(EngineOptions {
            cache_dir: data_dir.join("cache"),
            cache_key,
            compiler: options.compiler,
            fuel: true,
            capabilities: crate::capability::standard(Arc::clone(&http)),
        })?;
        Ok(Tenon {
            store,
            sandbox: Sandbox::new(Arc::new(engine)),
            http,
            reconciling: Arc::default(),
            write_sizes: Arc::default(),
            schemas: Default::default(),
            data_dir: data_dir.to_owned(),
            stopping: CancellationToken::new(),
        })
    }

    /// The state database; an error while it cannot be written (see
    /// [`Shared`]).
    pub(crate) fn state(&self) -> anyhow::Result<State> {
        self.store.get()
    }

    /// Why the state cannot be written now, if it cannot (a full disk): the
    /// server answers `/readyz` 503 and starts no runs meanwhile.
    pub fn storage_failure(&self) -> Option<String> {
        self.store.failure()
    }

    /// Checks that the state still takes writes and, after a failure, tries
    /// to open it again; returns why it cannot be written, if it cannot. The
    /// server calls this every second.
    pub fn check_storage(&self) -> Option<String> {
        if self.store.recover() {
            self.store.check().err()
        } else {
            self.store.failure()
        }
    }

    /// Asks running flows to stop: each ends after the batch in progress has
    /// committed, as [`RunStatus::Interrupted`](crate::flow::RunStatus), and the
    /// next run continues from its cursor. Affects every clone of this host; it
    /// cannot be undone.
    pub fn shutdown(&self) {
        self.stopping.cancel();
    }

    /// Whether [`Tenon::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Writes everything to disk; for a clean stop.
    pub fn flush(&self) -> Result<()> {
        Ok(self.state()?.flush()?)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The engine, for its cache counters.
    pub fn engine(&self) -> &Engine {
        self.sandbox.engine()
    }

    /// The sandbox plugin calls run in, for its concurrency gate.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Egress refuses `addr` from now on, whatever the grants: the server's own
    /// listeners.
    pub fn refuse_egress_to(&self, addr: std::net::SocketAddr) {
        self.http.refuse(addr);
    }

    // Plugins.

    /// Installs a component signed by a trusted publisher, no older than the
    /// current version of its name: [`Tenon::install_with`] with `limits`.
    pub async fn install(
        &self,
        wasm: &[u8],
        limits: LimitOverrides,
        actor: &str,
    ) -> Result<Installed> {
        let options = InstallOptions {
            limits,
            ..InstallOptions::default()
        };
        self.install_with(wasm, options, actor).await
    }

    /// Installs a component: checks its signature (see [`crate::publishers`]),
    /// that it is a Tenon plugin within the per-component maxima, asks it to
    /// describe itself, validates the description, checks that its name is its
    /// publisher's and its version new or unchanged, then stores it as the
    /// current version of its name (its enablements and flows stay). Nothing is
    /// stored unless every check passed.
    pub async fn install_with(
        &self,
        wasm: &[u8],
        options: InstallOptions,
        actor: &str,
    ) -> Result<Installed> {
        self.install_from(wasm, options, None, actor).await
    }

    /// Installs the plugins bundled in this binary.
    pub async fn install_bundled(
        &self,
        options: InstallOptions,
        actor: &str,
    ) -> Result<Vec<Installed>> {
        let mut installed = Vec::new();
        for (_, wasm) in crate::bundled::PLUGINS {
            installed.push(self.install_bundled_plugin(wasm, options, actor).await?);
        }
        Ok(installed)
    }

    /// Installs one component bundled in this binary: its signature is checked
    /// against the key the binary carries, which is trusted for it alone.
    pub async fn install_bundled_plugin(
        &self,
        wasm: &[u8],
        options: InstallOptions,
        actor: &str,
    ) -> Result<Installed> {
        let key = tenon_sign::PublicKey::from_text(crate::bundled::BUNDLE_KEY)
            .map_err(|e| Error::Internal(anyhow::anyhow!("the bundle key: {e}")))?;
        self.install_from(wasm, options, Some(&key), actor).await
    }

    #[tracing::instrument(skip_all, fields(bytes = wasm.len()))]
    async fn install_from(
        &self,
        wasm: &[u8],
        options: InstallOptions,
        bundle: Option<&tenon_sign::PublicKey>,
        actor: &str,
    ) -> Result<Installed> {
        options.limits.validate().map_err(Error::Invalid)?;
        Engine::check(wasm)?;
        let provenance = self.provenance(wasm, &options, bundle)?;
        let (sha256, prepared) = self.sandbox.engine().load(wasm)?;
        let descriptor = self.sandbox.describe(&prepared, "(installing)").await?;
        let world = prepared.world();
        descriptor
            .validate(world)
            .map_err(|e| Error::Invalid(format!("the plugin's description is unusable: {e}")))?;
        let schemas = crate::schema::StreamSchemas::compile(&descriptor)
            .map_err(|e| Error::Invalid(format!("the plugin's description is unusable: {e}")))?;
        let binding =
            self.check_name(&descriptor.name, &descriptor.version, &provenance, &options)?;
        let path = self.component_path(&sha256);
        if !path.exists() {
            crate::keys::write_private(&path, wasm)?;
        }
        let installed = Installed {
            id: descriptor.name.clone(),
            version: descriptor.version.clone(),
            world,
            sha256,
            size: wasm.len() as u64,
            descriptor,
            limits: options.limits,
            installed_at: now_ms(),
            api: prepared.api(),
            publisher: provenance.publisher,
            digest: provenance.digest,
        };
        let before = self.state()?.plugin(&installed.id)?;
        self.state()?.put_plugin(&installed, binding.as_ref())?;
        // Compiled once: the runs use what the install checked.
        self.schemas.keep(&installed.sha256, schemas);
        self.audit(
            actor,
            "plugin.install",
            format!("plugin/{}", installed.id),
            serde_json::json!({
                "before": before.map(|p| plugin_summary(&p)),
                "after": plugin_summary(&installed),
                "bound": binding,
            }),
        )?;
        tracing::info!(plugin = %installed.id, version = %installed.version, %world, publisher = ?installed.publisher, "Plugin installed");
        Ok(installed)
    }

    /// Checks the data folder without changing it: every state entry reads as
    /// its type, every sealed secret opens, every installed version's
    /// component file is there with its recorded sha256.
    pub fn check_state(&self) -> Result<StateCheck> {
        let state = self.state()?;
        let (trees, mut problems) = state.check()?;
        let mut components = 0;
        for plugin in state.plugins()? {
            for version in state.plugin_versions(&plugin.id)? {
                components += 1;
                let path = self.component_path(&version.sha256);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let actual =
                            crate::record::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
                        if actual != version.sha256 {
                            problems.push(format!(
                                "the component of {}@{} ({}) has sha256 {actual}, not {}: it was changed",
                                version.id,
                                version.version,
                                path.display(),
                                version.sha256
                            ));
                        }
                    }
                    Err(e) => problems.push(format!(
                        "the component of {}@{} ({}) cannot be read: {e}",
                        version.id,
                        version.version,
                        path.display()
                    )),
                }
            }
        }
        Ok(StateCheck {
            trees: trees
                .into_iter()
                .map(|(tree, entries)| (tree.to_owned(), entries))
                .collect(),
            components,
            problems,
        })
    }

    fn component_path(&self, sha256: &str) -> PathBuf {
        self.data_dir
            .join("components")
            .join(format!("{sha256}.wasm"))
    }

    pub fn plugins(&self) -> Result<Vec<Installed>> {
        Ok(self.state()?.plugins()?)
    }

    pub fn plugin(&self, id: &str) -> Result<Installed> {
        self.state()?
            .plugin(id)?
            .ok_or_else(|| Error::not_found("plugin", id))
    }

    /// Removes a plugin that no tenant has enabled.
    pub fn remove_plugin(&self, id: &str, actor: &str) -> Result<()> {
        let before = self.plugin(id)?;
        let users: Vec<String> = self
            .state()?
            .enablements(None)?
            .into_iter()
            .filter(|e| e.plugin == id)
            .map(|e| e.tenant)
            .collect();
        if !users.is_empty() {
            return Err(Error::Invalid(format!(
                "plugin `{id}` is enabled for tenant(s) {}: disable it there first",
                users.join(", ")
            )));
        }
        self.state()?.remove_plugin(id)?;
        self.audit(
            actor,
            "plugin.remove",
            format!("plugin/{id}"),
            serde_json::json!({ "before": plugin_summary(&before), "after": null }),
        )?;
        Ok(())
    }

    /// The compiled, pre-linked component of an installed plugin. Its file must
    /// still be what was installed: one changed since is refused, never loaded.
    pub fn prepared(&self, plugin: &Installed) -> Result<Prepared> {
        if let Some(prepared) = self.sandbox.engine().loaded(&plugin.sha256) {
            return Ok(prepared);
        }
        let path = self.component_path(&plugin.sha256);
        let wasm = std::fs::read(&path)
            .with_context(|| format!("could not read component {}", path.display()))?;
        let sha256 = crate::record::hex(&<sha2::Sha256 as sha2::Digest>::digest(&wasm));
        if sha256 != plugin.sha256 {
            return Err(Error::Internal(anyhow::anyhow!(
                "component file {} of `{}` {} has changed since it was installed (its sha256 is {sha256}, not {}): refused; install the plugin again",
                path.display(),
                plugin.id,
                plugin.version,
                plugin.sha256
            )));
        }
        let (_, prepared) = self.sandbox.engine().load(&wasm)?;
        Ok(prepared)
    }

    // Tenants.

    pub fn create_tenant(&self, id: &str, actor: &str) -> Result<Tenant> {
        if !is_identifier(id) {
            return Err(Error::Invalid(format!(
                "tenant id `{id}` must be 1-64 lowercase letters, digits or dashes, starting with a letter"
            )));
        }
        if self.state()?.tenant(id)?.is_some() {
            return Err(Error::Invalid(format!("tenant `{id}` already exists")));
        }
        let tenant = Tenant {
            id: id.to_owned(),
            created_at: now_ms(),
            policy: Policy::default(),
        };
        self.state()?.put_tenant(&tenant)?;
        self.audit(
            actor,
            "tenant.create",
            format!("tenant/{id}"),
            serde_json::json!({ "before": null, "after": tenant }),
        )?;
        Ok(tenant)
    }

    pub fn tenants(&self) -> Result<Vec<Tenant>> {
        Ok(self.state()?.tenants()?)
    }

    pub fn tenant(&self, id: &str) -> Result<Tenant> {
        self.state()?
            .tenant(id)?
            .ok_or_else(|| Error::not_found("tenant", id))
    }

    // Enablements.

    /// Sets what the operator allows a tenant (see [`Policy`]); audited.
    pub fn set_policy(&self, tenant: &str, policy: Policy, actor: &str) -> Result<Tenant> {
        let mut t = self.tenant(tenant)?;
        policy.validate().map_err(Error::Invalid)?;
        let before = std::mem::replace(&mut t.policy, policy);
        self.state()?.put_tenant(&t)?;
        self.audit(
            actor,
            "tenant.policy",
            format!("tenant/{tenant}"),
            serde_json::json!({ "before": before, "after": t.policy }),
        )?;
        Ok(t)
    }

    /// Enables (or re-configures) a plugin for a tenant, as an operator. The
    /// settings replace any earlier ones and are checked against what the plugin
    /// declares first; the limits given become the operator's for this
    /// enablement. The audit entry shows secret names, never their values.
    pub fn enable(&self, mut enablement: Enablement, actor: &str) -> Result<Enablement> {
        enablement.operator_limits = enablement.limits;
        self.store_enablement(enablement, actor)
    }

    /// Enables (or re-configures) a plugin for a tenant on behalf of that
    /// tenant (a tenant token): as [`Tenon::enable`], but each grant must fall
    /// inside the operator's policy for the tenant and each limit may only be
    /// lower than the operator's (the plugin's, the policy's and those the
    /// operator set for this enablement), which stay in force.
    pub fn enable_as_tenant(&self, mut enablement: Enablement, actor: &str) -> Result<Enablement> {
        let tenant = self.tenant(&enablement.tenant)?;
        let plugin = self.plugin(&enablement.plugin)?;
        let operator = self
            .state()?
            .enablement(&enablement.tenant, &enablement.plugin)?
            .map(|e| e.operator_limits)
            .unwrap_or_default();
        let ceiling = limits::resolve(&plugin.limits, &operator.or(&tenant.policy.limits));
        enablement
            .within(&tenant.policy, &ceiling)
            .map_err(Error::Forbidden)?;
        enablement.operator_limits = operator;
        enablement.limits = enablement.limits.or(&operator.or(&tenant.policy.limits));
        self.store_enablement(enablement, actor)
    }

    fn store_enablement(&self, mut enablement: Enablement, actor: &str) -> Result<Enablement> {
        self.tenant(&enablement.tenant)?;
        let plugin = self.plugin(&enablement.plugin)?;
        enablement.validate(&plugin).map_err(Error::Invalid)?;
        enablement.enabled_at = now_ms();
        let before = self
            .state()?
            .enablement(&enablement.tenant, &enablement.plugin)?;
        self.state()?.put_enablement(&enablement)?;
        self.audit(
            actor,
            "plugin.enable",
            format!("{}/plugin/{}", enablement.tenant, enablement.plugin),
            serde_json::json!({
                "before": before.as_ref().map(Enablement::view),
                "after": enablement.view(),
            }),
        )?;
        tracing::info!(tenant = %enablement.tenant, plugin = %enablement.plugin, "Plugin enabled");
        Ok(enablement)
    }

    /// Disables a plugin for a tenant, forgetting its settings and secrets. Its
    /// next call for that tenant is refused; other tenants are unaffected.
    pub fn disable(&self, tenant: &str, plugin: &str, actor: &str) -> Result<()> {
        self.tenant(tenant)?;
        let before = self.state()?.enablement(tenant, plugin)?;
        if !self.state()?.remove_enablement(tenant, plugin)? {
            return Err(Error::not_found("enablement", format!("{tenant}/{plugin}")));
        }
        self.audit(
            actor,
            "plugin.disable",
            format!("{tenant}/plugin/{plugin}"),
            serde_json::json!({ "before": before.as_ref().map(Enablement::view), "after": null }),
        )?;
        tracing::info!(tenant, plugin, "Plugin disabled");
        Ok(())
    }

    pub fn enablements(&self, tenant: Option<&str>) -> Result<Vec<Enablement>> {
        Ok(self.state()?.enablements(tenant)?)
    }

    /// What a call of `plugin` for `tenant` runs with; refused unless enabled.
    pub fn call_context(&self, tenant: &str, plugin: &Installed) -> Result<CallContext> {
        let enablement = self
            .state()?
            .enablement(tenant, &plugin.id)?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "plugin `{}` is not enabled for tenant `{tenant}`",
                    plugin.id
                ))
            })?;
        crate::versions::check_egress(&enablement, plugin)?;
        let policy = self.tenant(tenant)?.policy;
        Ok(call_context(
            &enablement,
            plugin,
            &policy,
            Some(self.state()?.clone()),
        ))
    }

    /// Asks a connector whether it can reach its vendor with the tenant's settings.
    pub async fn check(&self, tenant: &str, plugin: &str) -> Result<CallReport> {
        self.tenant(tenant)?;
        let plugin = self.plugin(plugin)?;
        let ctx = self.call_context(tenant, &plugin)?;
        let prepared = self.prepared(&plugin)?;
        Ok(self.sandbox.check(&prepared, &ctx).await?)
    }

    /// Reads one page of a connector's stream for a tenant without running a flow
    /// or touching any cursor: what an operator uses to see what a plugin returns.
    pub async fn preview(
        &self,
        tenant: &str,
        plugin: &str,
        stream: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ReadPage> {
        self.tenant(tenant)?;
        // Checked before any call: a plugin asked for a stream it does not
        // have would answer with an error of its own making, or with records.
        self.stream_of(plugin, stream, |s| s.readable, "readable")?;
        let plugin = self.plugin(plugin)?;
        let ctx = self.call_context(tenant, &plugin)?;
        let prepared = self.prepared(&plugin)?;
        let (page, _) = self
            .sandbox
            .read(&prepared, &ctx, stream, cursor, limit)
            .await?;
        Ok(page)
    }

    /// Why each record does not match the schema of `plugin`'s `stream`
    /// (`None` where it does): what `preview --validate` shows.
    pub fn schema_errors(
        &self,
        plugin: &str,
        stream: &str,
        records: &[Envelope],
    ) -> Result<Vec<Option<String>>> {
        let schemas = self.schemas.of(&self.plugin(plugin)?)?;
        Ok(records
            .iter()
            .map(|record| schemas.check(plugin, stream, record).err())
            .collect())
    }

    /// Writes `records` to a connector's writable `stream` for `tenant`, once,
    /// without a flow: no cursor, retry queue or dead letter, nothing stored
    /// but an audit entry. For trying a connector (`tenon write`, the
    /// `tenon-test` harness). Each record's idempotency key is the one a flow
    /// named `write:<plugin>` would send for it, so writing the same records
    /// again sends the same keys.
    pub async fn write_direct(
        &self,
        tenant: &str,
        plugin: &str,
        stream: &str,
        records: Vec<Envelope>,
        actor: &str,
    ) -> Result<crate::sandbox::WriteOutcomes> {
        self.tenant(tenant)?;
        self.stream_of(plugin, stream, |s| s.writable, "writable")?;
        if records.len() > MAX_BATCH_SIZE as usize {
            return Err(Error::Invalid(format!(
                "{} records in one write; at most {MAX_BATCH_SIZE}",
                records.len()
            )));
        }
        let step = self.step(tenant, plugin)?;
        let flow = format!("write:{plugin}");
        // Records that do not match the stream's schema are not sent: their
        // outcome is the reason.
        let mut outcomes: crate::sandbox::WriteOutcomes = Vec::with_capacity(records.len());
        let mut batch: Vec<(Envelope, String)> = Vec::new();
        for mut record in records {
            record.stream = stream.to_owned();
            match step.check(stream, &record) {
                Ok(()) => {
                    let key = crate::record::idempotency_key(&record, tenant, &flow);
                    batch.push((record, key));
                    outcomes.push(Ok(None));
                }
                Err(message) => outcomes.push(Err(GuestError::Permanent { message })),
            }
        }
        self.audit(
            actor,
            "plugin.write",
            format!("{tenant}/plugin/{plugin}/{stream}"),
            serde_json::json!({ "records": outcomes.len(), "sent": batch.len() }),
        )?;
        if batch.is_empty() {
            return Ok(outcomes);
        }
        let (sent, _) = self
            .sandbox
            .write(&step.prepared, &step.ctx, stream, batch)
            .await?;
        // The sandbox answers one outcome per record sent, in order.
        for (outcome, sent) in outcomes.iter_mut().filter(|o| o.is_ok()).zip(sent) {
            *outcome = sent;
        }
        Ok(outcomes)
    }

    // Flows.

    /// Defines (or redefines) a flow. The plugins must be installed, the source
    /// stream readable, the destination writable, the transforms transforms.
    /// Whether they are enabled for the tenant is checked when the flow runs.
    pub fn add_flow(&self, flow: Flow, actor: &str) -> Result<Flow> {
        self.tenant(&flow.tenant)?;
        if !is_identifier(&flow.name) {
            return Err(Error::Invalid(format!(
                "flow name `{}` must be 1-64 lowercase letters, digits or dashes, starting with a letter",
                flow.name
            )));
        }
        if flow.max_run_ms < 1_000 {
            return Err(Error::Invalid(
                "a run's time budget (max-run-ms) must be at least 1000 ms".into(),
            ));
        }
        if flow.batch_size == 0 || flow.batch_size > MAX_BATCH_SIZE {
            return Err(Error::Invalid(format!(
                "batch size must be between 1 and {MAX_BATCH_SIZE}"
            )));
        }
        self.endpoint(&flow.source, World::Connector, |s| s.readable, "readable")?;
        for name in &flow.transforms {
            let plugin = self.plugin(name)?;
            if plugin.world != World::Transform {
                return Err(Error::Invalid(format!(
                    "`{name}` is a {}, not a transform",
                    plugin.world
                )));
            }
        }
        self.endpoint(
            &flow.destination,
            World::Connector,
            |s| s.writable,
            "writable",
        )?;
        let mut flow = flow;
        flow.pin_sha256 = self.check_pins(&flow)?;
        let before = self.state()?.flow(&flow.tenant, &flow.name)?;
        self.state()?.put_flow(&flow)?;
        self.audit(
            actor,
            "flow.define",
            format!("{}/flow/{}", flow.tenant, flow.name),
            serde_json::json!({ "before": before, "after": flow }),
        )?;
        Ok(flow)
    }

    /// [`Tenon::endpoint`] for a connector's `stream` named apart.
    fn stream_of(
        &self,
        plugin: &str,
        stream: &str,
        allowed: impl Fn(&crate::plugin::StreamInfo) -> bool,
        what: &str,
    ) -> Result<()> {
        let endpoint = Endpoint {
            plugin: plugin.to_owned(),
            stream: stream.to_owned(),
        };
        self.endpoint(&endpoint, World::Connector, allowed, what)
    }

    fn endpoint(
        &self,
        endpoint: &Endpoint,
        world: World,
        allowed: impl Fn(&crate::plugin::StreamInfo) -> bool,
        what: &str,
    ) -> Result<()> {
        let plugin = self.plugin(&endpoint.plugin)?;
        if plugin.world != world {
            return Err(Error::Invalid(format!(
                "`{}` is a {}, not a {world}",
                plugin.id, plugin.world
            )));
        }
        let stream = plugin.descriptor.stream(&endpoint.stream).ok_or_else(|| {
            let names: Vec<&str> = plugin
                .descriptor
                .streams
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            Error::Invalid(format!(
                "`{}` has no stream `{}`; it has: {}",
                plugin.id,
                endpoint.stream,
                names.join(", ")
            ))
        })?;
        if !allowed(stream) {
            return Err(Error::Invalid(format!("stream `{endpoint}` is not {what}")));
        }
        Ok(())
    }

    pub fn flows(&self, tenant: Option<&str>) -> Result<Vec<Flow>> {
        Ok(self.state()?.flows(tenant)?)
    }

    pub fn flow(&self, tenant: &str, name: &str) -> Result<Flow> {
        self.tenant(tenant)?;
        self.state()?
            .flow(tenant, name)?
            .ok_or_else(|| Error::not_found("flow", format!("{tenant}/{name}")))
    }

    /// The stored cursor of a flow's source stream.
    pub fn cursor(&self, tenant: &str, flow: &str) -> Result<Option<String>> {
        let flow = self.flow(tenant, flow)?;
        Ok(self
            .state()?
            .cursor(tenant, &flow.name, &flow.source.stream)?)
    }

    /// Refuses while a run of the flow is in progress (the state marks runs a
    /// stopped host left `running` as interrupted when it opens, so a run
    /// still `running` is one of this process or of the server holding the
    /// folder).
    fn not_running(&self, tenant: &str, flow: &str, what: &str) -> Result<()> {
        let last = self.state()?.runs(Some(tenant), Some(flow), 1)?;
        if let Some(run) = last.first()
            && run.status == crate::flow::RunStatus::Running
        {
            return Err(Error::Busy(format!(
                "run {} of flow `{tenant}/{flow}` is in progress; {what} once it ended",
                run.id
            )));
        }
        Ok(())
    }

    /// Sets the cursor of a flow's source stream (`None`: back to the start,
    /// so the next run reads everything again and the idempotency keys keep
    /// the destination from taking a version twice); audited. Returns the
    /// cursor before.
    pub fn set_cursor(
        &self,
        tenant: &str,
        flow: &str,
        cursor: Option<&str>,
        actor: &str,
    ) -> Result<Option<String>> {
        let flow = self.flow(tenant, flow)?;
        self.not_running(tenant, &flow.name, "set its cursor")?;
        if cursor.is_some_and(|c| c.is_empty() || c.len() > limits::MAX_CURSOR_BYTES) {
            return Err(Error::Invalid(format!(
                "a cursor is 1 to {} bytes; to read from the start, reset it",
                limits::MAX_CURSOR_BYTES
            )));
        }
        let before = self
            .state()?
            .put_cursor(tenant, &flow.name, &flow.source.stream, cursor)?;
        self.audit(
            actor,
            if cursor.is_some() {
                "flow.cursor.set"
            } else {
                "flow.cursor.reset"
            },
            format!("{tenant}/flow/{}", flow.name),
            serde_json::json!({ "before": before, "after": cursor }),
        )?;
        Ok(before)
    }

    /// Removes a flow with its cursor, retry queue and inbox; its runs and
    /// dead letters stay. Audited; refused while it runs.
    pub fn remove_flow(&self, tenant: &str, flow: &str, actor: &str) -> Result<Flow> {
        let flow = self.flow(tenant, flow)?;
        self.not_running(tenant, &flow.name, "remove it")?;
        let queued = self.state()?.retries(tenant, &flow.name)?.len();
        self.state()?.remove_flow(tenant, &flow.name)?;
        self.audit(
            actor,
            "flow.remove",
            format!("{tenant}/flow/{}", flow.name),
            serde_json::json!({ "before": flow, "retries_dropped": queued }),
        )?;
        Ok(flow)
    }

    /// A tenant's id-map links, as (namespace, source id, target id).
    pub fn links(
        &self,
        tenant: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<(String, String, String)>> {
        Ok(self.state()?.links(tenant, namespace)?)
    }

    /// What `id` is linked to in `namespace`: (its target, its source).
    pub fn resolve_id(
        &self,
        tenant: &str,
        namespace: &str,
        id: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        Ok((
            self.state()?.resolve(tenant, namespace, id)?,
            self.state()?.reverse(tenant, namespace, id)?,
        ))
    }

    /// Links two ids by hand, recorded in the audit log.
    pub fn link(
        &self,
        tenant: &str,
        namespace: &str,
        source: &str,
        target: &str,
        actor: &str,
    ) -> Result<()> {
        self.tenant(tenant)?;
        for (what, value) in [
            ("namespace", namespace),
            ("source id", source),
            ("target id", target),
        ] {
            if value.is_empty() || value.contains('\0') {
                return Err(Error::Invalid(format!(
                    "{what} must be non-empty, without NUL"
                )));
            }
        }
        self.state()?.link(tenant, namespace, source, target)?;
        self.audit(
            actor,
            "idmap.link",
            format!("{tenant}/idmap/{namespace}"),
            serde_json::json!({ "source": source, "target": target }),
        )?;
        Ok(())
    }

    /// Appends an operator's change to the audit log.
    pub(crate) fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: String,
        detail: serde_json::Value,
    ) -> Result<()> {
        self.state()?.audit(crate::delivery::AuditEntry {
            id: 0,
            at: now_ms(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject,
            detail,
        })?;
        Ok(())
    }

    /// Runs, newest first.
    pub fn runs(&self, tenant: Option<&str>, flow: Option<&str>, limit: usize) -> Result<Vec<Run>> {
        Ok(self.state()?.runs(tenant, flow, limit)?)
    }
}

/// The context of a call of `plugin` as `enablement` and the tenant's `policy`
/// allow it: the configuration, the grants and allowed networks, the secrets
/// with their declared schemes, the id map when `state` is given, the limits.
pub fn call_context(
    enablement: &Enablement,
    plugin: &Installed,
    policy: &Policy,
    state: Option<State>,
) -> CallContext {
    let mut ctx = CallContext::new(&enablement.tenant, &plugin.id)
        .with(config::Values(enablement.effective_config(plugin)))
        .with(Secrets::new(enablement.secrets.clone(), &plugin.descriptor));
    if plugin.world == World::Connector {
        ctx = ctx.with(Access {
            grants: enablement.grants.clone(),
            networks: policy.networks.clone(),
        });
    }
    if let Some(state) = state {
        ctx = ctx.with(Scope(Arc::new(crate::idmap::StateLinks(state))));
    }
    ctx.limits = limits::resolve(&plugin.limits, &enablement.limits);
    ctx
}

/// What the audit log keeps of an installed plugin.
fn plugin_summary(plugin: &Installed) -> serde_json::Value {
    serde_json::json!({
        "version": plugin.version,
        "world": plugin.world.to_string(),
        "sha256": plugin.sha256,
        "publisher": plugin.publisher,
        "limits": plugin.limits,
    })
}

/// A flow with the default batch size.
pub fn flow(
    tenant: &str,
    name: &str,
    source: Endpoint,
    transforms: Vec<String>,
    destination: Endpoint,
) -> Flow {
    Flow {
        tenant: tenant.into(),
        name: name.into(),
        source,
        transforms,
        destination,
        batch_size: DEFAULT_BATCH_SIZE,
        max_attempts: crate::delivery::DEFAULT_MAX_ATTEMPTS,
        retry_base_ms: crate::delivery::DEFAULT_RETRY_BASE_MS,
        max_run_ms: limits::DEFAULT_MAX_RUN_MS,
        schedule: None,
        pins: Default::default(),
        pin_sha256: Default::default(),
    }
}
