//! Host capabilities: one module per WIT import of `tenon:connector` (`config`,
//! `http`, `idmap`, `log`, `verify`) and of the packages beside it
//! (`tenon:delivery`'s `attempts`), each with its own per-call state, its own
//! input type in the [`CallContext`] and its own `add_to_linker`, in the manner of
//! `wasmtime-wasi-config` and Spin's factors. The engine and the sandbox know only
//! the [`Capability`] trait: a new capability is a new module and one more entry
//! in the list the host gives the engine, with no change to the core.
//!
//! Each capability serves every released contract version; older versions are
//! thin adapters over the newest.

pub mod attempts;
pub mod config;
pub mod grant;
pub mod http;
pub mod idmap;
pub mod log;
pub mod secret;
pub mod verify;

use crate::call::{CallContext, CallReport, CallState, States};
use crate::descriptor::World;
use std::sync::Arc;
use wasmtime::component::Linker;

/// A host capability: imports a guest may call, and what each call of them
/// may reach.
pub trait Capability: Send + Sync + 'static {
    /// Adds this capability's imports for `world` (of every contract version
    /// it serves) to `linker`; nothing if the world does not import it.
    fn add_to_linker(&self, linker: &mut Linker<CallState>, world: World) -> anyhow::Result<()>;

    /// Puts this capability's state for one call into the call's store, from the
    /// call's context (its input there, if any).
    fn prepare(&self, call: &CallContext, states: &mut States);

    /// Once the call has ended: adds what it cost to `report` and lets go of
    /// what it held.
    fn finish(&self, _states: &mut States, _report: &mut CallReport) {}
}

/// The capabilities of a Tenon host, each serving every contract version:
/// `log`, `config`, `idmap`, `verify` and `attempts`, and `http` with `http`'s
/// shared parts (its clients and the OAuth tokens it holds).
pub fn standard(http: Arc<http::Http>) -> Vec<Arc<dyn Capability>> {
    vec![
        Arc::new(log::Log),
        Arc::new(config::Config),
        Arc::new(idmap::IdMap),
        Arc::new(verify::Verify),
        Arc::new(attempts::Attempts),
        http,
    ]
}
