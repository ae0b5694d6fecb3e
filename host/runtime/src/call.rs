//! What one call runs with and what it leaves: the [`CallContext`] the host builds
//! (who the call is for, its limits, and each capability's inputs), the store
//! data of the call ([`CallState`]: WASI without authority, the memory cap, the
//! captured stdio and each capability's per-call state) and the [`CallReport`]
//! of what it cost. The sandbox runs calls; the capabilities fill their part.

use crate::limits::Limits;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Everything a call runs with: who it runs for, its limits, and the inputs of
/// the capabilities (config values, secrets, grants, the id map), each under its
/// own type. A capability whose input is missing grants nothing.
#[derive(Clone)]
pub struct CallContext {
    /// Shared, so that each capability's state holds it without a copy.
    pub tenant: Arc<str>,
    pub plugin: Arc<str>,
    pub limits: Limits,
    /// When the call must have ended at the latest whatever its own limit: the
    /// end of the time budget of the run it is part of.
    pub deadline: Option<Instant>,
    /// When the call began (waiting at the gate counts): its own limit runs
    /// from here. Set by the sandbox.
    pub(crate) began: Option<Instant>,
    inputs: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Inputs hold secrets: only their count is shown.
        f.debug_struct("CallContext")
            .field("tenant", &self.tenant)
            .field("plugin", &self.plugin)
            .field("limits", &self.limits)
            .field("inputs", &self.inputs.len())
            .finish_non_exhaustive()
    }
}

impl CallContext {
    /// A context with default limits and no inputs: the call may reach nothing.
    pub fn new(tenant: &str, plugin: &str) -> CallContext {
        CallContext {
            tenant: Arc::from(tenant),
            plugin: Arc::from(plugin),
            limits: Limits::default(),
            deadline: None,
            began: None,
            inputs: HashMap::new(),
        }
    }

    /// The context for `describe` at install time: no tenant, no inputs.
    pub fn bare(plugin: &str) -> CallContext {
        CallContext::new("-", plugin)
    }

    /// Gives the call `input`, replacing one of the same type.
    pub fn with<T: Any + Send + Sync>(mut self, input: T) -> CallContext {
        self.inputs.insert(TypeId::of::<T>(), Arc::new(input));
        self
    }

    /// Drops the call's input of type `T`: what it granted is gone.
    pub fn without<T: Any>(mut self) -> CallContext {
        self.inputs.remove(&TypeId::of::<T>());
        self
    }

    /// The call's input of type `T`, if the host gave one.
    pub fn input<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inputs
            .get(&TypeId::of::<T>())
            .and_then(|input| Arc::clone(input).downcast::<T>().ok())
    }

    /// How long the call may take from now: its own limit, or less if the
    /// deadline comes first.
    pub fn time_left(&self) -> Duration {
        let now = Instant::now();
        let limit = Duration::from_millis(self.limits.timeout_ms);
        let own = match self.began {
            Some(began) => (began + limit).saturating_duration_since(now),
            None => limit,
        };
        match self.deadline {
            Some(deadline) => own.min(deadline.saturating_duration_since(now)),
            None => own,
        }
    }

    /// Whether the deadline, not the call's own limit, bounds the call.
    pub fn deadline_binds(&self) -> bool {
        let own_end =
            self.began.unwrap_or_else(Instant::now) + Duration::from_millis(self.limits.timeout_ms);
        self.deadline.is_some_and(|deadline| deadline < own_end)
    }
}

/// The per-call states of the capabilities, one per type (a handful: a list
/// is quicker to make and search than a map).
#[derive(Default)]
pub struct States(Vec<(TypeId, Box<dyn Any + Send>)>);

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "States({})", self.0.len())
    }
}

impl States {
    pub fn with_capacity(capabilities: usize) -> States {
        States(Vec::with_capacity(capabilities))
    }

    pub fn insert<T: Any + Send>(&mut self, state: T) {
        let id = TypeId::of::<T>();
        self.0.retain(|(other, _)| *other != id);
        self.0.push((id, Box::new(state)));
    }

    /// The state of type `T`, if a capability put one.
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.0
            .iter_mut()
            .find(|(other, _)| *other == id)?
            .1
            .downcast_mut()
    }
}

/// The store data of one call.
pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) started: Instant,
    pub(crate) timeout: Duration,
    pub(crate) states: States,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl CallState {
    /// The state of capability state type `T`. Every capability puts its state
    /// in every store before the guest runs, so a host function finding none is
    /// a bug of the host, not of the guest.
    pub fn get<T: Any + Send>(&mut self) -> &mut T {
        self.states.get_mut::<T>().unwrap_or_else(|| {
            panic!(
                "no capability state `{}` in this store",
                std::any::type_name::<T>()
            )
        })
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

/// Table elements are counted against the memory cap at this many bytes each
/// (a function reference is a pointer).
const TABLE_ELEMENT_BYTES: usize = 8;

/// The call's memory: every linear memory and table of the component counted
/// together against one cap, so a component cannot multiply its limit by
/// having more memories.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    pub(crate) bytes: usize,
    /// What the component holds now, over all its memories and tables.
    pub(crate) used: usize,
}

/// The error that ends a call whose memory would pass its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
pub(crate) struct MemoryLimitExceeded;

impl MemoryCap {
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.bytes {
            return Err(MemoryLimitExceeded.into());
        }
        self.used = used;
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    // One store holds one component instance, so the component maxima bound
    // the store too (the pool refuses bigger components before this is asked).
    fn instances(&self) -> usize {
        crate::limits::MAX_CORE_INSTANCES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        crate::limits::MAX_TABLES_PER_COMPONENT as usize
    }

    fn memories(&self) -> usize {
        crate::limits::MAX_MEMORIES_PER_COMPONENT as usize
    }
}

/// What a call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallReport {
    pub fuel_used: u64,
    /// HTTP requests that went out to a vendor.
    pub http_requests: u32,
    /// Of those, the ones that ended in an error instead of a response.
    #[serde(default)]
    pub http_errors: u32,
    /// Requests the plugin asked for that the host refused before sending
    /// (not granted, invalid, over a limit, out of time): not in `http_requests`.
    #[serde(default)]
    pub http_refused: u32,
    /// Time spent waiting for those requests, in microseconds.
    #[serde(default)]
    pub http_micros: u64,
    pub duration_ms: u64,
    /// Whether the host refused a request because the call was near its time
    /// limit (see `capability::http::reserve`): the plugin answered for
    /// records it could not send, and a smaller batch would have fitted.
    #[serde(default)]
    pub out_of_time: bool,
}

impl std::ops::AddAssign for CallReport {
    fn add_assign(&mut self, other: CallReport) {
        self.fuel_used = self.fuel_used.saturating_add(other.fuel_used);
        self.http_requests = self.http_requests.saturating_add(other.http_requests);
        self.http_errors = self.http_errors.saturating_add(other.http_errors);
        self.http_refused = self.http_refused.saturating_add(other.http_refused);
        self.http_micros = self.http_micros.saturating_add(other.http_micros);
        self.duration_ms = self.duration_ms.saturating_add(other.duration_ms);
        self.out_of_time = self.out_of_time || other.out_of_time;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_cap() {
        let mut cap = MemoryCap {
            bytes: 64 << 20,
            used: 0,
        };
        // Two memories of 40 MiB each: the second passes the cap together.
        assert!(cap.grow(0, 40 << 20).unwrap());
        assert!(cap.grow(0, 40 << 20).is_err());
        // Growing the first within the cap is fine; a table counts too.
        assert!(cap.grow(40 << 20, 50 << 20).unwrap());
        use wasmtime::ResourceLimiter as _;
        assert!(cap.table_growing(0, 4 << 20, None).is_err());
        assert!(cap.table_growing(0, 1000, None).unwrap());
    }

    #[test]
    fn inputs_are_found_by_type_and_the_deadline_shortens_the_call() {
        #[derive(Debug, PartialEq)]
        struct Token(&'static str);
        let mut ctx = CallContext::new("acme", "p").with(Token("a"));
        assert_eq!(*ctx.input::<Token>().unwrap(), Token("a"));
        assert!(ctx.clone().without::<Token>().input::<Token>().is_none());
        assert!(!ctx.deadline_binds());
        ctx.deadline = Some(Instant::now() + Duration::from_millis(50));
        assert!(ctx.deadline_binds());
        assert!(ctx.time_left() <= Duration::from_millis(50));
    }
}
