//! One plugin call in its sandbox: a fresh `Store` with a fuel budget, an epoch
//! deadline, a memory cap and only the capabilities of [`crate::capability`]; no
//! files, environment or sockets. A trap or an exhausted budget fails that call with
//! a [`CallError`] that says which limit was hit; the host carries on.
//!
//! Each call runs in a span named after the export (`read`, `write`, ...) with
//! `tenant` and `plugin`, so every line logged during it (the guest's, egress's)
//! carries them; inside a run it nests in the run's span, which adds `flow`.
//! The spans are at ERROR level so that they are on whatever the log filter: they
//! print nothing themselves, they only give lines their context.

use crate::bindings::types::{Delivery, Page};
use crate::bindings::{GuestError, types};
use crate::capability::{
    config::GuestConfig, http::Egress, http::Grant, idmap::GuestIdMap, log::GuestLog,
    oauth::Tokens, verify::GuestVerify,
};
use crate::engine::{Engine, Prepared};
use crate::limits::Limits;
use crate::plugin::{Descriptor, World};
use crate::record::Envelope;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// What a guest may write to stdout and to stderr in one call; beyond it the
/// stream is closed for the guest.
pub const MAX_STDIO_BYTES: usize = 64 * 1024;

/// Everything a call runs with: who it runs for and what it is allowed.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub tenant: String,
    pub plugin: String,
    pub config: Arc<BTreeMap<String, String>>,
    pub secrets: Arc<BTreeMap<String, String>>,
    pub grants: Arc<Vec<Grant>>,
    pub limits: Limits,
    /// The state behind the tenant's id map; none while installing.
    pub idmap: Option<crate::state::State>,
}

impl CallContext {
    /// A context with no config, secrets or grants: for `describe` at install time.
    pub fn bare(plugin: &str) -> Self {
        CallContext {
            tenant: "-".into(),
            plugin: plugin.into(),
            config: Arc::default(),
            secrets: Arc::default(),
            grants: Arc::default(),
            limits: Limits::default(),
            idmap: None,
        }
    }
}

/// What a call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallReport {
    pub fuel_used: u64,
    /// HTTP requests the plugin asked the host to send, refused ones included.
    pub http_requests: u32,
    /// Of those, the ones that ended in an error instead of a response (see
    /// [`Egress::errors`]).
    #[serde(default)]
    pub http_errors: u32,
    /// Time spent waiting for those requests, in microseconds.
    #[serde(default)]
    pub http_micros: u64,
    pub duration_ms: u64,
}

impl std::ops::AddAssign for CallReport {
    fn add_assign(&mut self, other: CallReport) {
        self.fuel_used += other.fuel_used;
        self.http_requests += other.http_requests;
        self.http_errors += other.http_errors;
        self.http_micros += other.http_micros;
        self.duration_ms += other.duration_ms;
    }
}

/// What `write` answers: per delivery, in order, the destination's id (if it
/// tells one) or why it refused the record.
pub type WriteOutcomes = Vec<Result<Option<String>, GuestError>>;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("plugin `{plugin}` used up its fuel budget of {fuel} units and was stopped")]
    OutOfFuel { plugin: String, fuel: u64 },
    #[error("plugin `{plugin}` ran past its wall-clock limit of {ms} ms and was stopped")]
    Deadline { plugin: String, ms: u64 },
    #[error("plugin `{plugin}` tried to grow its memory past the {mib} MiB limit and was stopped")]
    Memory { plugin: String, mib: u64 },
    #[error("plugin `{plugin}` overflowed its call stack (unbounded recursion?) and was stopped")]
    StackOverflow { plugin: String },
    #[error("plugin `{plugin}` panicked: {message}")]
    Panic { plugin: String, message: String },
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin `{plugin}` broke the contract: {message}")]
    Contract { plugin: String, message: String },
    #[error("plugin `{plugin}` returned an error: {error}")]
    Guest {
        plugin: String,
        error: GuestError,
        /// What the call cost until it returned the error (its HTTP requests
        /// may be why).
        report: CallReport,
    },
}

/// The store data of one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    log: GuestLog,
    config: GuestConfig,
    egress: Egress,
    idmap: GuestIdMap,
    verify: GuestVerify,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    started: Instant,
    timeout: Duration,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker of a world: WASI (without files, env, args or network: the builder
/// in [`new_store`] grants none) plus the `tenon:connector` imports of that world.
pub fn linker(engine: &wasmtime::Engine, world: World) -> anyhow::Result<Linker<CallState>> {
    let mut linker: Linker<CallState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    crate::capability::log::add_to_linker(&mut linker, |s| &mut s.log)?;
    crate::capability::config::add_to_linker(&mut linker, |s| &mut s.config)?;
    crate::capability::idmap::add_to_linker(&mut linker, |s| &mut s.idmap)?;
    if world == World::Connector {
        crate::capability::http::add_to_linker(&mut linker, |s| &mut s.egress)?;
        crate::capability::verify::add_to_linker(&mut linker, |s| &mut s.verify)?;
    }
    Ok(linker)
}

/// Trips when a guest asks for more memory than its limit; the error ends the call.
#[derive(Debug)]
struct MemoryCap {
    bytes: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
struct MemoryLimitExceeded;

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.bytes {
            return Err(MemoryLimitExceeded.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real guest.
        Ok(desired <= 1_000_000)
    }
}

fn new_store(
    engine: &Engine,
    ctx: &CallContext,
    client: &reqwest::Client,
    tokens: &Arc<Tokens>,
) -> Store<CallState> {
    let stdout = MemoryOutputPipe::new(MAX_STDIO_BYTES);
    let stderr = MemoryOutputPipe::new(MAX_STDIO_BYTES);
    // No preopened directories, no environment, no arguments, no sockets: the
    // builder grants nothing that is not asked for here.
    let wasi = WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = CallState {
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap {
            bytes: (ctx.limits.memory_mib as usize) << 20,
        },
        log: GuestLog::new(&ctx.tenant, &ctx.plugin),
        config: GuestConfig::new(ctx.config.clone()),
        egress: Egress::new(
            &ctx.tenant,
            &ctx.plugin,
            ctx.grants.clone(),
            ctx.secrets.clone(),
            client.clone(),
            Arc::clone(tokens),
            ctx.limits,
        ),
        idmap: GuestIdMap::new(&ctx.tenant, ctx.idmap.clone()),
        verify: GuestVerify::new(&ctx.tenant, &ctx.plugin, ctx.secrets.clone()),
        stdout,
        stderr,
        started: Instant::now(),
        timeout: Duration::from_millis(ctx.limits.timeout_ms),
    };
    let mut store = Store::new(engine.wasmtime(), state);
    store.limiter(|s| &mut s.memory);
    if engine.meters_fuel() {
        store
            .set_fuel(ctx.limits.fuel)
            .expect("fuel metering is enabled");
    }
    // Every epoch tick the guest yields to the async runtime, so a guest that
    // computes never holds a worker thread for long; once its wall-clock limit has
    // passed, the next tick interrupts it instead.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|store| {
        if store.data().started.elapsed() >= store.data().timeout {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

/// Runs plugin calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    engine: Arc<Engine>,
    client: reqwest::Client,
    /// OAuth access tokens the host obtained for tenants' credentials.
    tokens: Arc<Tokens>,
}

impl Sandbox {
    pub fn new(engine: Arc<Engine>) -> Self {
        Sandbox {
            engine,
            client: Egress::client(),
            tokens: Arc::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `describe`, with no configuration, secrets or grants.
    pub async fn describe(
        &self,
        prepared: &Prepared,
        plugin_hint: &str,
    ) -> Result<Descriptor, CallError> {
        let ctx = CallContext::bare(plugin_hint);
        let (descriptor, _) = match prepared {
            Prepared::Connector { pre, .. } => {
                let mut store = self.start(&ctx);
                let outcome = timed(&ctx, async {
                    pre.instantiate_async(&mut store)
                        .await?
                        .tenon_connector_connector_api()
                        .call_describe(&mut store)
                        .await
                })
                .await;
                finish(&ctx, store, outcome)?
            }
            Prepared::Transform(pre) => {
                let mut store = self.start(&ctx);
                let outcome = timed(&ctx, async {
                    pre.instantiate_async(&mut store)
                        .await?
                        .tenon_connector_transform_api()
                        .call_describe(&mut store)
                        .await
                })
                .await;
                finish(&ctx, store, outcome)?
            }
        };
        Ok(descriptor.into())
    }

    /// Instantiates the component in a fresh store under the context's limits and
    /// drops it: the fixed cost every call pays before the guest runs. Measured by
    /// the benchmarks.
    pub async fn instantiate(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
    ) -> Result<(), CallError> {
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            match prepared {
                Prepared::Connector { pre, .. } => {
                    pre.instantiate_async(&mut store).await.map(drop)
                }
                Prepared::Transform(pre) => pre.instantiate_async(&mut store).await.map(drop),
            }
        })
        .await;
        finish(ctx, store, outcome).map(drop)
    }

    /// `check`: can the plugin reach its vendor with this configuration.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn check(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
    ) -> Result<CallReport, CallError> {
        let pre = connector(prepared, ctx)?;
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            pre.instantiate_async(&mut store)
                .await?
                .tenon_connector_connector_api()
                .call_check(&mut store)
                .await
        })
        .await;
        let (result, report) = finish(ctx, store, outcome)?;
        result.map_err(|e| guest(ctx, report, e))?;
        Ok(report)
    }

    /// `read`: the next page of `stream` after `cursor`.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn read(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        stream: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(ReadPage, CallReport), CallError> {
        let pre = connector(prepared, ctx)?;
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            pre.instantiate_async(&mut store)
                .await?
                .tenon_connector_connector_api()
                .call_read(&mut store, stream, cursor, limit)
                .await
        })
        .await;
        let (result, report) = finish(ctx, store, outcome)?;
        Ok((page(ctx, result, report, limit, "read")?, report))
    }

    /// `reconcile`: a page of the records the connector's system holds now, keyed
    /// by that system's ids.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn reconcile(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        stream: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(ReadPage, CallReport), CallError> {
        let Prepared::Connector {
            reconcile: Some(pre),
            ..
        } = prepared
        else {
            return Err(contract(
                ctx,
                "exports no `reconcile-api`, so it cannot be reconciled".into(),
            ));
        };
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            pre.instantiate_async(&mut store)
                .await?
                .tenon_connector_reconcile_api()
                .call_reconcile(&mut store, stream, cursor, limit)
                .await
        })
        .await;
        let (result, report) = finish(ctx, store, outcome)?;
        Ok((page(ctx, result, report, limit, "reconcile")?, report))
    }

    /// `handle`: a webhook request turned into records, for a connector that
    /// exports `webhook-api`.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn webhook(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        request: WebhookRequest,
    ) -> Result<(Vec<Envelope>, CallReport), CallError> {
        let Prepared::Connector {
            webhook: Some(pre), ..
        } = prepared
        else {
            return Err(contract(
                ctx,
                "exports no `webhook-api`, so it takes no webhooks".into(),
            ));
        };
        let request =
            crate::bindings::webhook::exports::tenon::connector::webhook_api::WebhookRequest {
                method: request.method,
                path: request.path,
                headers: request.headers,
                body: request.body,
            };
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            pre.instantiate_async(&mut store)
                .await?
                .tenon_connector_webhook_api()
                .call_handle(&mut store, &request)
                .await
        })
        .await;
        let (result, report) = finish(ctx, store, outcome)?;
        let records = result.map_err(|e| guest(ctx, report, e))?;
        Ok((records.into_iter().map(Envelope::from).collect(), report))
    }

    /// `write`: one outcome per delivery, in order.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn write(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        stream: &str,
        deliveries: Vec<(Envelope, String)>,
    ) -> Result<(WriteOutcomes, CallReport), CallError> {
        let pre = connector(prepared, ctx)?;
        let count = deliveries.len();
        let batch: Vec<Delivery> = deliveries
            .into_iter()
            .map(|(envelope, idempotency_key)| Delivery {
                envelope: envelope.into(),
                idempotency_key,
            })
            .collect();
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            pre.instantiate_async(&mut store)
                .await?
                .tenon_connector_connector_api()
                .call_write(&mut store, stream, &batch)
                .await
        })
        .await;
        let (result, report) = finish(ctx, store, outcome)?;
        let outcomes = result.map_err(|e| guest(ctx, report, e))?;
        if outcomes.len() != count {
            return Err(contract(
                ctx,
                format!(
                    "write returned {} outcomes for {count} deliveries",
                    outcomes.len()
                ),
            ));
        }
        Ok((
            outcomes
                .into_iter()
                .map(|o| o.map_err(GuestError::from))
                .collect(),
            report,
        ))
    }

    /// `transform`: a batch in, a batch out.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn transform(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        batch: Vec<Envelope>,
    ) -> Result<(Vec<Envelope>, CallReport), CallError> {
        let Prepared::Transform(pre) = prepared else {
            return Err(contract(ctx, "is a connector, not a transform".into()));
        };
        let batch: Vec<types::Envelope> = batch.into_iter().map(Into::into).collect();
        let mut store = self.start(ctx);
        let outcome = timed(ctx, async {
            pre.instantiate_async(&mut store)
                .await?
                .tenon_connector_transform_api()
                .call_transform(&mut store, &batch)
                .await
        })
        .await;
        let (result, report) = finish(ctx, store, outcome)?;
        let out = result.map_err(|e| guest(ctx, report, e))?;
        Ok((out.into_iter().map(Envelope::from).collect(), report))
    }

    /// A fresh store for one call under the context's limits.
    fn start(&self, ctx: &CallContext) -> Store<CallState> {
        new_store(&self.engine, ctx, &self.client, &self.tokens)
    }
}

/// Runs a call under the context's wall-clock limit. The epoch deadline stops a
/// guest that computes; this timeout stops one that waits in a host call (HTTP).
/// Whichever comes first ends the call.
async fn timed<R>(
    ctx: &CallContext,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> Result<wasmtime::Result<R>, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_millis(ctx.limits.timeout_ms), call).await
}

/// Ends a call: hands the guest's output to `tracing`, measures what it cost and
/// turns a trap into a [`CallError`] naming the limit it hit.
fn finish<R>(
    ctx: &CallContext,
    mut store: Store<CallState>,
    outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
) -> Result<(R, CallReport), CallError> {
    let report = CallReport {
        fuel_used: store
            .get_fuel()
            .map_or(0, |left| ctx.limits.fuel.saturating_sub(left)),
        http_requests: store.data().egress.requests,
        http_errors: store.data().egress.errors,
        http_micros: store.data().egress.elapsed.as_micros() as u64,
        duration_ms: store.data().started.elapsed().as_millis() as u64,
    };
    let state = store.data_mut();
    state.log.emit_output("stdout", &state.stdout.contents());
    state.log.emit_output("stderr", &state.stderr.contents());
    state.log.finish();
    match outcome {
        Ok(Ok(value)) => Ok((value, report)),
        Ok(Err(error)) => Err(classify(ctx, error, &state.stderr.contents())),
        Err(_elapsed) => Err(CallError::Deadline {
            plugin: ctx.plugin.clone(),
            ms: ctx.limits.timeout_ms,
        }),
    }
}

/// A webhook request as the host hands it to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A page as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadPage {
    pub records: Vec<Envelope>,
    pub next_cursor: Option<String>,
    pub more: bool,
}

fn connector<'a>(
    prepared: &'a Prepared,
    ctx: &CallContext,
) -> Result<&'a crate::bindings::connector::ConnectorPre<CallState>, CallError> {
    match prepared {
        Prepared::Connector { pre, .. } => Ok(pre),
        Prepared::Transform(_) => Err(contract(ctx, "is a transform, not a connector".into())),
    }
}

/// A page a guest returned from `call`, checked against the limit it was given.
fn page(
    ctx: &CallContext,
    result: Result<Page, types::Error>,
    report: CallReport,
    limit: u32,
    call: &str,
) -> Result<ReadPage, CallError> {
    let page = result.map_err(|e| guest(ctx, report, e))?;
    if page.records.len() > limit as usize {
        return Err(contract(
            ctx,
            format!(
                "{call} returned {} records, more than the limit of {limit}",
                page.records.len()
            ),
        ));
    }
    Ok(ReadPage {
        records: page.records.into_iter().map(Envelope::from).collect(),
        next_cursor: page.next_cursor,
        more: page.more,
    })
}

fn guest(ctx: &CallContext, report: CallReport, error: types::Error) -> CallError {
    CallError::Guest {
        plugin: ctx.plugin.clone(),
        error: error.into(),
        report,
    }
}

fn contract(ctx: &CallContext, message: String) -> CallError {
    CallError::Contract {
        plugin: ctx.plugin.clone(),
        message,
    }
}

/// Names the limit a trap hit, or quotes the guest's panic message.
fn classify(ctx: &CallContext, error: wasmtime::Error, stderr: &[u8]) -> CallError {
    let plugin = ctx.plugin.clone();
    if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return CallError::Memory {
            plugin,
            mib: ctx.limits.memory_mib,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return CallError::OutOfFuel {
                plugin,
                fuel: ctx.limits.fuel,
            };
        }
        Some(Trap::Interrupt) => {
            return CallError::Deadline {
                plugin,
                ms: ctx.limits.timeout_ms,
            };
        }
        Some(Trap::StackOverflow) => return CallError::StackOverflow { plugin },
        _ => {}
    }
    let stderr = String::from_utf8_lossy(stderr);
    if let Some(at) = stderr.find("panicked at") {
        // Rust's panic output: "thread '..' panicked at src/lib.rs:1:2:\n<message>\n".
        let rest = &stderr[at..];
        let message = rest
            .lines()
            .nth(1)
            .filter(|l| !l.is_empty())
            .unwrap_or(rest.lines().next().unwrap_or(""));
        return CallError::Panic {
            plugin,
            message: message.trim().to_owned(),
        };
    }
    if stderr.contains("memory allocation of") {
        return CallError::Memory {
            plugin,
            mib: ctx.limits.memory_mib,
        };
    }
    CallError::Trap {
        plugin,
        message: format!("{}", error.root_cause()),
    }
}
