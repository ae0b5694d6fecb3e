//! One plugin call in its sandbox. A call first passes the [`Gate`] (its
//! tenant's share of the instance pool), then gets a fresh `Store` with a fuel
//! budget, an epoch deadline (its own wall-clock limit, or less when its run's
//! time budget ends first), one memory cap over all its memories and tables, WASI
//! without files, environment, arguments or sockets, and the state each
//! capability prepared from the call's context. A trap or an exhausted budget
//! fails that call with a [`CallError`] that says which limit was hit; what the
//! guest returns is checked against the caps of [`crate::limits`] before the host
//! uses it. The host carries on either way.
//!
//! Each call runs in a span named after the export (`read`, `write`, ...) with
//! `tenant` and `plugin`, so every line logged during it (the guest's, egress's)
//! carries them; inside a run it nests in the run's span, which adds `flow`.
//! The spans are at ERROR level so that they are on whatever the log filter: they
//! print nothing themselves, they only give lines their context.

use crate::call::{CallState, MemoryCap, MemoryLimitExceeded, States};
use crate::capability::idmap::MAX_ID_BYTES;
use crate::capability::log::GuestLog;
use crate::descriptor::Descriptor;
use crate::engine::{Engine, Exports, Prepared};
use crate::error::{GuestError, MAX_ERROR_BYTES, cut};
use crate::gate::{Busy, Gate};
use crate::limits::{
    MAX_CONCURRENT_CALLS, MAX_DESCRIPTOR_BYTES, MAX_PAGE_BYTES, MAX_TRANSFORM_FANOUT,
    MAX_WEBHOOK_RECORDS, TENANT_CALL_SHARE,
};
use crate::record::Envelope;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

pub use crate::call::{CallContext, CallReport};
pub use crate::record::{ReadPage, WebhookRequest};

/// What a guest may write to stdout and to stderr in one call; beyond it the
/// stream is closed for the guest.
pub const MAX_STDIO_BYTES: usize = 64 * 1024;

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
    #[error("plugin `{plugin}` was stopped: the run's time budget ran out")]
    RunBudget { plugin: String },
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
    #[error("plugin `{plugin}` could not be called: {busy}")]
    Busy { plugin: String, busy: Busy },
    #[error("plugin `{plugin}` returned an error: {error}")]
    Guest {
        plugin: String,
        error: GuestError,
        /// What the call cost until it returned the error (its HTTP requests
        /// may be why).
        report: CallReport,
    },
}

/// Runs one export of a pre-linked world in `$store`.
macro_rules! export {
    ($store:ident, $pre:expr, $interface:ident . $call:ident ( $($arg:expr),* )) => {
        async {
            let instance = $pre.instantiate_async(&mut $store).await?;
            instance.$interface().$call(&mut $store $(, $arg)*).await
        }
    };
}

/// Runs `$call` under the context's time for the pre-linked `$world` export
/// of whichever contract version the component targets: `$pre` is bound to it
/// and `$v` to that version's bindings, so one body serves every version.
/// Exports of another world make the call a broken contract, saying `$refusal`.
macro_rules! on_world {
    ($prepared:expr, $ctx:expr, $world:ident, $refusal:expr, |$pre:ident, $v:ident| $call:expr) => {
        on_world!(@arms $prepared, $ctx, $refusal, |$pre, $v| $call,
            $world)
    };
    (@arms $prepared:expr, $ctx:expr, $refusal:expr, |$pre:ident, $v:ident| $call:expr, connector) => {
        match &$prepared.exports {
            Exports::Connector02 { pre: $pre, .. } => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_2 as $v;
                timed($ctx, async { $call }).await
            }
            Exports::Connector01 { pre: $pre, .. } => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_1 as $v;
                timed($ctx, async { $call }).await
            }
            _ => return Err(contract($ctx, $refusal.into())),
        }
    };
    (@arms $prepared:expr, $ctx:expr, $refusal:expr, |$pre:ident, $v:ident| $call:expr, reconciling) => {
        match &$prepared.exports {
            Exports::Connector02 { reconcile: Some($pre), .. } => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_2 as $v;
                timed($ctx, async { $call }).await
            }
            Exports::Connector01 { reconcile: Some($pre), .. } => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_1 as $v;
                timed($ctx, async { $call }).await
            }
            _ => return Err(contract($ctx, $refusal.into())),
        }
    };
    (@arms $prepared:expr, $ctx:expr, $refusal:expr, |$pre:ident, $v:ident| $call:expr, webhook) => {
        match &$prepared.exports {
            Exports::Connector02 { webhook: Some($pre), .. } => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_2 as $v;
                timed($ctx, async { $call }).await
            }
            Exports::Connector01 { webhook: Some($pre), .. } => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_1 as $v;
                timed($ctx, async { $call }).await
            }
            _ => return Err(contract($ctx, $refusal.into())),
        }
    };
    (@arms $prepared:expr, $ctx:expr, $refusal:expr, |$pre:ident, $v:ident| $call:expr, transform) => {
        match &$prepared.exports {
            Exports::Transform02($pre) => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_2 as $v;
                timed($ctx, async { $call }).await
            }
            Exports::Transform01($pre) => {
                #[allow(unused_imports)]
                use $crate::bindings::v0_1 as $v;
                timed($ctx, async { $call }).await
            }
            _ => return Err(contract($ctx, $refusal.into())),
        }
    };
}

/// Why a call of a connector's export on a transform fails.
const NOT_A_CONNECTOR: &str = "is a transform, not a connector";

/// Runs plugin calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    engine: Arc<Engine>,
    gate: Arc<Gate>,
}

impl Sandbox {
    pub fn new(engine: Arc<Engine>) -> Self {
        Sandbox {
            engine,
            gate: Arc::new(Gate::new(
                MAX_CONCURRENT_CALLS as usize,
                TENANT_CALL_SHARE as usize,
            )),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The concurrency gate every call passes.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// `describe`, with no configuration, secrets, grants or network. A
    /// descriptor over [`MAX_DESCRIPTOR_BYTES`] breaks the contract.
    pub async fn describe(
        &self,
        prepared: &Prepared,
        plugin_hint: &str,
    ) -> Result<Descriptor, CallError> {
        let bare = CallContext::bare(plugin_hint);
        let (pass, mut store, ctx) = self.start(&bare).await?;
        let ctx = &*ctx;
        let outcome = match prepared.world() {
            crate::descriptor::World::Connector => {
                on_world!(prepared, ctx, connector, NOT_A_CONNECTOR, |pre, _v| Ok(
                    Descriptor::from(
                        export!(store, pre, tenon_connector_connector_api.call_describe()).await?
                    )
                ))
            }
            crate::descriptor::World::Transform => {
                on_world!(prepared, ctx, transform, "is a connector", |pre, _v| Ok(
                    Descriptor::from(
                        export!(store, pre, tenon_connector_transform_api.call_describe()).await?
                    )
                ))
            }
        };
        let (descriptor, _) = self.finish(ctx, store, pass, outcome)?;
        let size = serde_json::to_vec(&descriptor).map_or(usize::MAX, |json| json.len());
        if size > MAX_DESCRIPTOR_BYTES {
            return Err(contract(
                ctx,
                format!(
                    "describe returned a descriptor of {size} bytes, more than the {MAX_DESCRIPTOR_BYTES}-byte limit"
                ),
            ));
        }
        Ok(descriptor)
    }

    /// Instantiates the component in a fresh store under the context's limits and
    /// drops it: the fixed cost every call pays before the guest runs. Measured by
    /// the benchmarks.
    pub async fn instantiate(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
    ) -> Result<(), CallError> {
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let outcome = match prepared.world() {
            crate::descriptor::World::Connector => {
                on_world!(prepared, ctx, connector, NOT_A_CONNECTOR, |pre, _v| pre
                    .instantiate_async(&mut store)
                    .await
                    .map(drop))
            }
            crate::descriptor::World::Transform => {
                on_world!(prepared, ctx, transform, "is a connector", |pre, _v| pre
                    .instantiate_async(&mut store)
                    .await
                    .map(drop))
            }
        };
        self.finish(ctx, store, pass, outcome).map(drop)
    }

    /// `check`: can the plugin reach its vendor with this configuration.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn check(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
    ) -> Result<CallReport, CallError> {
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let outcome = on_world!(prepared, ctx, connector, NOT_A_CONNECTOR, |pre, _v| {
            let r = export!(store, pre, tenon_connector_connector_api.call_check()).await?;
            Ok(r.map_err(GuestError::from))
        });
        let (result, report) = self.finish(ctx, store, pass, outcome)?;
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
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let outcome = on_world!(prepared, ctx, connector, NOT_A_CONNECTOR, |pre, _v| {
            let r = export!(
                store,
                pre,
                tenon_connector_connector_api.call_read(stream, cursor, limit)
            )
            .await?;
            Ok(r.map(ReadPage::from).map_err(GuestError::from))
        });
        let (result, report) = self.finish(ctx, store, pass, outcome)?;
        let page = result.map_err(|e| guest(ctx, report, e))?;
        check_page(ctx, &page, limit, "read")?;
        Ok((page, report))
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
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let refusal = "exports no `reconcile-api`, so it cannot be reconciled";
        let outcome = on_world!(prepared, ctx, reconciling, refusal, |pre, _v| {
            let r = export!(
                store,
                pre,
                tenon_connector_reconcile_api.call_reconcile(stream, cursor, limit)
            )
            .await?;
            Ok(r.map(ReadPage::from).map_err(GuestError::from))
        });
        let (result, report) = self.finish(ctx, store, pass, outcome)?;
        let page = result.map_err(|e| guest(ctx, report, e))?;
        check_page(ctx, &page, limit, "reconcile")?;
        Ok((page, report))
    }

    /// `handle`: a webhook request turned into records, for a connector that
    /// exports `webhook-api`. (The host gives such a call no network.)
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn webhook(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        request: WebhookRequest,
    ) -> Result<(Vec<Envelope>, CallReport), CallError> {
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let refusal = "exports no `webhook-api`, so it takes no webhooks";
        let outcome = on_world!(prepared, ctx, webhook, refusal, |pre, v| {
            let request = v::WebhookRequest::from(request);
            let r = export!(
                store,
                pre,
                tenon_connector_webhook_api.call_handle(&request)
            )
            .await?;
            Ok(
                r.map(|records| records.into_iter().map(Envelope::from).collect())
                    .map_err(GuestError::from),
            )
        });
        let (result, report) = self.finish(ctx, store, pass, outcome)?;
        let records: Vec<Envelope> = result.map_err(|e| guest(ctx, report, e))?;
        let size: usize = records.iter().map(Envelope::size).sum();
        if records.len() > MAX_WEBHOOK_RECORDS || size > MAX_PAGE_BYTES {
            return Err(contract(
                ctx,
                format!(
                    "handle made {} records of {size} bytes of one webhook, more than the limit of {MAX_WEBHOOK_RECORDS} records and {MAX_PAGE_BYTES} bytes",
                    records.len()
                ),
            ));
        }
        Ok((records, report))
    }

    /// `write`: one outcome per delivery, in order. A destination id longer
    /// than [`MAX_ID_BYTES`] makes that record's outcome a `permanent` error.
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn write(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        stream: &str,
        deliveries: Vec<(Envelope, String)>,
    ) -> Result<(WriteOutcomes, CallReport), CallError> {
        let count = deliveries.len();
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let outcome = on_world!(prepared, ctx, connector, NOT_A_CONNECTOR, |pre, v| {
            let batch: Vec<v::types::Delivery> = deliveries
                .into_iter()
                .map(|(envelope, idempotency_key)| v::types::Delivery {
                    envelope: envelope.into(),
                    idempotency_key,
                })
                .collect();
            let r = export!(
                store,
                pre,
                tenon_connector_connector_api.call_write(stream, &batch)
            )
            .await?;
            Ok(r.map(|outcomes| {
                outcomes
                    .into_iter()
                    .map(|o| o.map_err(GuestError::from))
                    .collect::<WriteOutcomes>()
            })
            .map_err(GuestError::from))
        });
        let (result, report) = self.finish(ctx, store, pass, outcome)?;
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
        let outcomes = outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(Some(id)) if id.len() > MAX_ID_BYTES || id.is_empty() => {
                    Err(GuestError::Permanent {
                        message: format!(
                            "the destination answered an id of {} bytes; an id must be 1-{MAX_ID_BYTES} bytes",
                            id.len()
                        ),
                    })
                }
                other => other,
            })
            .collect();
        Ok((outcomes, report))
    }

    /// `transform`: a batch in, a batch out, of at most
    /// [`MAX_TRANSFORM_FANOUT`] records per record in and [`MAX_PAGE_BYTES`].
    #[tracing::instrument(level = "error", skip_all, fields(tenant = %ctx.tenant, plugin = %ctx.plugin))]
    pub async fn transform(
        &self,
        prepared: &Prepared,
        ctx: &CallContext,
        batch: Vec<Envelope>,
    ) -> Result<(Vec<Envelope>, CallReport), CallError> {
        let count = batch.len();
        let (pass, mut store, ctx) = self.start(ctx).await?;
        let ctx = &*ctx;
        let refusal = "is a connector, not a transform";
        let outcome = on_world!(prepared, ctx, transform, refusal, |pre, v| {
            let batch: Vec<v::types::Envelope> = batch.into_iter().map(Into::into).collect();
            let r = export!(
                store,
                pre,
                tenon_connector_transform_api.call_transform(&batch)
            )
            .await?;
            Ok(
                r.map(|out| out.into_iter().map(Envelope::from).collect::<Vec<_>>())
                    .map_err(GuestError::from),
            )
        });
        let (result, report) = self.finish(ctx, store, pass, outcome)?;
        let out = result.map_err(|e| guest(ctx, report, e))?;
        let most = count.max(1).saturating_mul(MAX_TRANSFORM_FANOUT);
        let size: usize = out.iter().map(Envelope::size).sum();
        if out.len() > most || size > MAX_PAGE_BYTES {
            return Err(contract(
                ctx,
                format!(
                    "transform made {} records of {size} bytes of {count}, more than the limit of {MAX_TRANSFORM_FANOUT} records per record and {MAX_PAGE_BYTES} bytes",
                    out.len()
                ),
            ));
        }
        Ok((out, report))
    }

    /// Passes the gate, then makes a fresh store for one call under the
    /// context's limits, each capability's state prepared. Waiting at the gate
    /// counts against the call's wall-clock limit: the context returned ends
    /// when the call must, counted from now.
    async fn start<'c>(
        &self,
        ctx: &'c CallContext,
    ) -> Result<(crate::gate::Pass, Store<CallState>, Cow<'c, CallContext>), CallError> {
        if ctx.deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(CallError::RunBudget {
                plugin: ctx.plugin.to_string(),
            });
        }
        let waited_from = Instant::now();
        let pass = self
            .gate
            .enter(&ctx.tenant, ctx.time_left())
            .await
            .map_err(|busy| CallError::Busy {
                plugin: ctx.plugin.to_string(),
                busy,
            })?;
        // A call that passed at once keeps its context as it is.
        let ctx = if waited_from.elapsed() < Duration::from_millis(1) {
            Cow::Borrowed(ctx)
        } else {
            let mut waited = ctx.clone();
            waited.began = Some(waited_from);
            Cow::Owned(waited)
        };
        let store = self.store(&ctx);
        Ok((pass, store, ctx))
    }

    fn store(&self, ctx: &CallContext) -> Store<CallState> {
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
        let mut states = States::with_capacity(self.engine.capabilities().len());
        for capability in self.engine.capabilities() {
            capability.prepare(ctx, &mut states);
        }
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                bytes: usize::try_from(ctx.limits.memory_mib)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
                used: 0,
            },
            stdout,
            stderr,
            started: Instant::now(),
            timeout: ctx.time_left(),
            states,
        };
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|s| &mut s.memory);
        if self.engine.meters_fuel() {
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

    /// Ends a call: lets each capability account for it, hands the guest's
    /// output to `tracing`, measures what it cost and turns a trap into a
    /// [`CallError`] naming the limit it hit.
    fn finish<R>(
        &self,
        ctx: &CallContext,
        mut store: Store<CallState>,
        pass: crate::gate::Pass,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<(R, CallReport), CallError> {
        let mut report = CallReport {
            fuel_used: store
                .get_fuel()
                .map_or(0, |left| ctx.limits.fuel.saturating_sub(left)),
            duration_ms: u64::try_from(store.data().started.elapsed().as_millis())
                .unwrap_or(u64::MAX),
            ..CallReport::default()
        };
        let state = store.data_mut();
        for capability in self.engine.capabilities() {
            capability.finish(&mut state.states, &mut report);
        }
        let (stdout, stderr) = (state.stdout.contents(), state.stderr.contents());
        if !stdout.is_empty() || !stderr.is_empty() {
            let mut stdio = GuestLog::new(&ctx.tenant, &ctx.plugin);
            stdio.emit_output("stdout", &stdout);
            stdio.emit_output("stderr", &stderr);
            stdio.finish();
        }
        drop(store);
        drop(pass);
        match outcome {
            Ok(Ok(value)) => Ok((value, report)),
            Ok(Err(error)) => Err(classify(ctx, error, &stderr)),
            Err(_elapsed) => Err(stopped(ctx)),
        }
    }
}

/// The error of a call stopped by its clock: its own limit, or its run's budget.
fn stopped(ctx: &CallContext) -> CallError {
    if ctx.deadline_binds() {
        CallError::RunBudget {
            plugin: ctx.plugin.to_string(),
        }
    } else {
        CallError::Deadline {
            plugin: ctx.plugin.to_string(),
            ms: ctx.limits.timeout_ms,
        }
    }
}

/// Runs a call under the context's wall-clock limit. The epoch deadline stops a
/// guest that computes; this timeout stops one that waits in a host call (HTTP).
/// Whichever comes first ends the call.
async fn timed<R>(
    ctx: &CallContext,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> Result<wasmtime::Result<R>, tokio::time::error::Elapsed> {
    tokio::time::timeout(ctx.time_left().max(Duration::from_millis(1)), call).await
}

/// A page a guest returned from `call`, checked against the limit it was given
/// and the page cap.
fn check_page(ctx: &CallContext, page: &ReadPage, limit: u32, call: &str) -> Result<(), CallError> {
    if page.records.len() > limit as usize {
        return Err(contract(
            ctx,
            format!(
                "{call} returned {} records, more than the limit of {limit}",
                page.records.len()
            ),
        ));
    }
    let size = page.size();
    if size > MAX_PAGE_BYTES {
        return Err(contract(
            ctx,
            format!(
                "{call} returned a page of {size} bytes, more than the {MAX_PAGE_BYTES}-byte limit: ask for fewer records per page"
            ),
        ));
    }
    Ok(())
}

fn guest(ctx: &CallContext, report: CallReport, error: GuestError) -> CallError {
    CallError::Guest {
        plugin: ctx.plugin.to_string(),
        error: error.bounded(),
        report,
    }
}

fn contract(ctx: &CallContext, message: String) -> CallError {
    CallError::Contract {
        plugin: ctx.plugin.to_string(),
        message,
    }
}

/// Names the limit a trap hit, or quotes the guest's panic message.
fn classify(ctx: &CallContext, error: wasmtime::Error, stderr: &[u8]) -> CallError {
    let plugin = ctx.plugin.to_string();
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
        Some(Trap::Interrupt) => return stopped(ctx),
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
            message: cut(message.trim().to_owned(), MAX_ERROR_BYTES),
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
        message: cut(format!("{}", error.root_cause()), MAX_ERROR_BYTES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    fn sandbox(dir: &std::path::Path) -> Sandbox {
        let engine = Engine::new(EngineOptions {
            cache_dir: dir.to_owned(),
            cache_key: [1; 32],
            compiler: crate::compile::Compiler::InProcess,
            fuel: true,
            capabilities: Vec::new(),
        })
        .unwrap();
        Sandbox::new(Arc::new(engine))
    }

    /// Two memories of 40 MiB each fit no 64 MiB call: the cap is over all of
    /// a component's memories, not each.
    #[tokio::test]
    async fn memories_are_counted_together_against_the_call_cap() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = sandbox(dir.path());
        let wat = "(component (core module $m (memory 640)) \
                   (core instance $a (instantiate $m)) (core instance $b (instantiate $m)))";
        let component = wasmtime::component::Component::new(
            sandbox.engine().wasmtime(),
            wat::parse_str(wat).unwrap(),
        )
        .unwrap();
        let linker = wasmtime::component::Linker::<CallState>::new(sandbox.engine().wasmtime());
        let mut ctx = CallContext::new("acme", "two-memories");
        ctx.limits.memory_mib = 64;
        let mut store = sandbox.store(&ctx);
        let error = linker
            .instantiate_async(&mut store, &component)
            .await
            .unwrap_err();
        assert!(matches!(
            classify(&ctx, error, b""),
            CallError::Memory { mib: 64, .. }
        ));
        // One of them fits.
        ctx.limits.memory_mib = 100;
        let mut store = sandbox.store(&ctx);
        assert!(
            linker
                .instantiate_async(&mut store, &component)
                .await
                .is_ok()
        );
    }
}
