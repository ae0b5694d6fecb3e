//! The wasmtime engine, one per host: how guests are loaded (size cap, bounded
//! compilation, a compile cache whose entries are verified before use), what a
//! component may contain (the instance pool's per-component maxima), how it is
//! pre-linked (one `InstancePre` per component, for the contract version it was
//! built against) and how calls are interrupted (an epoch ticker drives
//! wall-clock deadlines).
//!
//! It names no capability: the host gives it the list, and each adds its imports
//! to the linkers here.

use crate::bindings::{v0_1, v0_2};
use crate::call::CallState;
use crate::capability::Capability;
use crate::compile::{self, Compiler};
use crate::descriptor::{Api, World};
use crate::limits::{
    MAX_COMPONENT_BYTES, MAX_CONCURRENT_CALLS, MAX_CORE_INSTANCES_PER_COMPONENT,
    MAX_MEMORIES_PER_COMPONENT, MAX_MEMORY_MIB, MAX_TABLES_PER_COMPONENT,
};
use crate::record::hex;
use anyhow::Context as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, Linker};

/// How often the epoch advances; wall-clock deadlines are counted in these ticks,
/// so a deadline fires at most one tick late.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The bytes of the MAC that ends every compile cache entry.
const TAG_BYTES: usize = 32;

/// The exports of a compiled component, pre-linked, by contract version.
#[derive(Clone)]
// One per loaded component, cloned per call as a few `Arc`s: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Exports {
    /// A 0.2.0 connector; `reconcile` and `webhook` when it also exports them.
    Connector02 {
        pre: v0_2::connector::ConnectorPre<CallState>,
        reconcile: Option<v0_2::reconciling::ReconcilingConnectorPre<CallState>>,
        webhook: Option<v0_2::webhook::WebhookConnectorPre<CallState>>,
    },
    Connector01 {
        pre: v0_1::connector::ConnectorPre<CallState>,
        reconcile: Option<v0_1::reconciling::ReconcilingConnectorPre<CallState>>,
        webhook: Option<v0_1::webhook::WebhookConnectorPre<CallState>>,
    },
    Transform02(v0_2::transform::TransformPre<CallState>),
    Transform01(v0_1::transform::TransformPre<CallState>),
}

/// A compiled component, pre-linked for the world and contract version it
/// targets.
#[derive(Clone)]
pub struct Prepared {
    pub(crate) exports: Exports,
    /// The interfaces it imports, by their full names.
    imports: Arc<[String]>,
}

impl Prepared {
    pub fn world(&self) -> World {
        match self.exports {
            Exports::Connector02 { .. } | Exports::Connector01 { .. } => World::Connector,
            Exports::Transform02(_) | Exports::Transform01(_) => World::Transform,
        }
    }

    /// The version of `tenon:connector` it was built against.
    pub fn api(&self) -> Api {
        match self.exports {
            Exports::Connector02 { .. } | Exports::Transform02(_) => Api::V0_2,
            Exports::Connector01 { .. } | Exports::Transform01(_) => Api::V0_1,
        }
    }

    /// Whether it imports `interface` (a full name, like
    /// `tenon:delivery/attempts@0.1.0`): the host does some work only for the
    /// plugins that use what it gives.
    pub fn imports(&self, interface: &str) -> bool {
        self.imports.iter().any(|name| name == interface)
    }

    /// Whether it is a connector that exports `webhook-api`.
    pub fn takes_webhooks(&self) -> bool {
        matches!(
            self.exports,
            Exports::Connector02 {
                webhook: Some(_),
                ..
            } | Exports::Connector01 {
                webhook: Some(_),
                ..
            }
        )
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prepared({} @{})", self.world(), self.api())
    }
}

/// Why a component could not be loaded. Each case is the operator's to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly file (it does not start with the `\\0asm` magic number)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build plugins with `cargo build --target wasm32-wasip2`"
    )]
    CoreModule,
    #[error("the component is {0} bytes, larger than the {MAX_COMPONENT_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("invalid WebAssembly component: {0}")]
    Invalid(String),
    #[error("the component is refused: {0}")]
    Refused(String),
    #[error("not a Tenon plugin: {0}")]
    WrongWorld(String),
}

/// Counters a test or an operator can read to see the cache at work.
#[derive(Debug, Default)]
pub struct Stats {
    /// Components compiled by Cranelift.
    pub compiled: AtomicU64,
    /// Components loaded from the on-disk cache instead.
    pub cache_hits: AtomicU64,
    /// Cache entries found changed (their MAC did not verify): discarded and
    /// compiled again, never loaded.
    pub cache_rejected: AtomicU64,
}

/// How an engine is set up.
pub struct EngineOptions {
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// The key of the MAC every cache entry carries; kept out of `cache_dir`, so
    /// that whoever can write the cache cannot forge an entry.
    pub cache_key: [u8; 32],
    pub compiler: Compiler,
    /// Fuel metering: always on, except to measure what it costs (benchmarks).
    pub fuel: bool,
    /// The host's capabilities: what guests may import.
    pub capabilities: Vec<Arc<dyn Capability>>,
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("cache_dir", &self.cache_dir)
            .field("compiler", &self.compiler)
            .field("fuel", &self.fuel)
            .finish_non_exhaustive()
    }
}

/// The engine, its linkers and its caches.
pub struct Engine {
    engine: wasmtime::Engine,
    connector: Linker<CallState>,
    transform: Linker<CallState>,
    capabilities: Vec<Arc<dyn Capability>>,
    cache_dir: PathBuf,
    cache_key: [u8; 32],
    compiler: Compiler,
    compat: String,
    prepared: Mutex<HashMap<String, Prepared>>,
    ticker_stop: Arc<AtomicBool>,
    fuel: bool,
    pub stats: Stats,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cache_dir", &self.cache_dir)
            .field("compiler", &self.compiler)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(options: EngineOptions) -> anyhow::Result<Engine> {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_CALLS)
            .total_memories(MAX_CONCURRENT_CALLS * MAX_MEMORIES_PER_COMPONENT)
            .total_tables(MAX_CONCURRENT_CALLS * MAX_TABLES_PER_COMPONENT)
            .total_stacks(MAX_CONCURRENT_CALLS)
            .total_core_instances(MAX_CONCURRENT_CALLS * MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memory_size((MAX_MEMORY_MIB as usize) << 20);
        let mut config = compile::config(options.fuel);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;

        std::fs::create_dir_all(&options.cache_dir).with_context(|| {
            format!(
                "could not create cache folder {}",
                options.cache_dir.display()
            )
        })?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());

        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("tenon-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .context("could not start the epoch thread")?;
        }

        let linker = |world: World| -> anyhow::Result<Linker<CallState>> {
            let mut linker: Linker<CallState> = Linker::new(&engine);
            // WASI without authority: the store's context (see `sandbox`) grants
            // no files, environment, arguments or sockets.
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            for capability in &options.capabilities {
                capability.add_to_linker(&mut linker, world)?;
            }
            Ok(linker)
        };
        Ok(Engine {
            connector: linker(World::Connector)?,
            transform: linker(World::Transform)?,
            capabilities: options.capabilities,
            engine,
            cache_dir: options.cache_dir,
            cache_key: options.cache_key,
            compiler: options.compiler,
            compat,
            prepared: Mutex::new(HashMap::new()),
            ticker_stop,
            fuel: options.fuel,
            stats: Stats::default(),
        })
    }

    /// Whether calls are fuel-metered (always, except in benchmarks).
    pub fn meters_fuel(&self) -> bool {
        self.fuel
    }

    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub(crate) fn capabilities(&self) -> &[Arc<dyn Capability>] {
        &self.capabilities
    }

    /// The pre-linked component with this sha256, if this engine loaded it before.
    pub fn loaded(&self, sha256: &str) -> Option<Prepared> {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
            .cloned()
    }

    /// The checks made before anything else: the size cap, and that the bytes
    /// are a component (not another file, not a core module).
    pub fn check(wasm: &[u8]) -> Result<(), LoadError> {
        if wasm.len() > MAX_COMPONENT_BYTES {
            return Err(LoadError::TooLarge(wasm.len()));
        }
        check_header(wasm)
    }

    /// Compiles (or loads from the cache) and pre-links a component, finding
    /// which world and contract version it targets. Returns its sha256 too.
    pub fn load(&self, wasm: &[u8]) -> Result<(String, Prepared), LoadError> {
        Engine::check(wasm)?;
        let sha256 = hex(&Sha256::digest(wasm));
        if let Some(prepared) = self.loaded(&sha256) {
            return Ok((sha256, prepared));
        }
        let component = self.compile(&sha256, wasm)?;
        let prepared = self.prelink(&component)?;
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sha256.clone(), prepared.clone());
        Ok((sha256, prepared))
    }

    /// The MAC of a cache entry: over the engine's compatibility hash, the
    /// component's sha256 and the compiled bytes, so that an entry verifies only
    /// for the component it was compiled from.
    fn tag(&self, sha256: &str, compiled: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.cache_key).expect("HMAC takes keys of any length");
        mac.update(self.compat.as_bytes());
        mac.update(sha256.as_bytes());
        mac.update(compiled);
        mac
    }

    /// The cache entry of `sha256`, if there is one that verifies. One that
    /// does not is removed and counted.
    fn cached(&self, path: &std::path::Path, sha256: &str) -> Option<Vec<u8>> {
        let mut entry = std::fs::read(path).ok()?;
        let verified = entry.len() > TAG_BYTES && {
            let tag = entry.split_off(entry.len() - TAG_BYTES);
            self.tag(sha256, &entry).verify_slice(&tag).is_ok()
        };
        if verified {
            return Some(entry);
        }
        self.stats.cache_rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(path = %path.display(), "Compiled cache entry changed since it was written (its MAC does not verify); discarded, compiling again");
        let _ = std::fs::remove_file(path);
        None
    }

    fn compile(&self, sha256: &str, wasm: &[u8]) -> Result<Component, LoadError> {
        let path = self
            .cache_dir
            .join(format!("{sha256}-{}.cwasm", self.compat));
        if let Some(compiled) = self.cached(&path, sha256) {
            match self.deserialize(&compiled) {
                Ok(component) => {
                    self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Compiled cache entry unusable; compiling again")
                }
            }
        }
        let compiled = compile::compile(&self.compiler, self.fuel, wasm).map_err(|e| match e {
            compile::CompileError::Invalid(message) => LoadError::Invalid(message),
            other => LoadError::Refused(other.to_string()),
        })?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        // The entry ends with its MAC. Written then renamed, so a crash never
        // leaves a half-written entry behind.
        let mut entry = compiled.clone();
        entry.extend_from_slice(&self.tag(sha256, &compiled).finalize().into_bytes());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let saved = std::fs::write(&tmp, &entry).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %e, "Could not cache compiled component");
        }
        self.deserialize(&compiled)
    }

    /// Turns compiled bytes into a component. The instance pool checks here
    /// that the component keeps within the per-component maxima.
    fn deserialize(&self, compiled: &[u8]) -> Result<Component, LoadError> {
        // SAFETY: `compiled` is what this engine's settings produced, either just
        // now (in this process or the compile worker) or read back from the
        // cache after its MAC, made with a key the cache does not hold, verified.
        // It is copied into memory the engine owns; the file is not mapped.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.engine, compiled) };
        component.map_err(|e| {
            let message = format!("{e:#}");
            if message.contains("exceeds the configured maximum") {
                LoadError::Refused(message.replace(
                    "in the pooling allocator",
                    "that Tenon allows per component",
                ))
            } else {
                LoadError::Invalid(message)
            }
        })
    }

    fn prelink(&self, component: &Component) -> Result<Prepared, LoadError> {
        let exports = self.prelink_exports(component)?;
        let imports = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        Ok(Prepared { exports, imports })
    }

    fn prelink_exports(&self, component: &Component) -> Result<Exports, LoadError> {
        let exports = || -> Vec<String> {
            component
                .component_type()
                .exports(&self.engine)
                .map(|(name, _)| name.to_owned())
                .collect()
        };
        let mut reasons = Vec::new();
        match self.connector.instantiate_pre(component) {
            Ok(pre) => {
                if let Ok(connector) = v0_2::connector::ConnectorPre::new(pre.clone()) {
                    return Ok(Exports::Connector02 {
                        pre: connector,
                        reconcile: v0_2::reconciling::ReconcilingConnectorPre::new(pre.clone())
                            .ok(),
                        webhook: v0_2::webhook::WebhookConnectorPre::new(pre.clone()).ok(),
                    });
                }
                match v0_1::connector::ConnectorPre::new(pre.clone()) {
                    Ok(connector) => {
                        return Ok(Exports::Connector01 {
                            pre: connector,
                            reconcile: v0_1::reconciling::ReconcilingConnectorPre::new(pre.clone())
                                .ok(),
                            webhook: v0_1::webhook::WebhookConnectorPre::new(pre).ok(),
                        });
                    }
                    Err(e) => reasons.push(format!("as a connector: {}", e.root_cause())),
                }
            }
            Err(e) => reasons.push(format!("as a connector: {}", e.root_cause())),
        }
        match self.transform.instantiate_pre(component) {
            Ok(pre) => {
                if let Ok(transform) = v0_2::transform::TransformPre::new(pre.clone()) {
                    return Ok(Exports::Transform02(transform));
                }
                match v0_1::transform::TransformPre::new(pre) {
                    Ok(transform) => {
                        return Ok(Exports::Transform01(transform));
                    }
                    Err(e) => reasons.push(format!("as a transform: {}", e.root_cause())),
                }
            }
            Err(e) => reasons.push(format!("as a transform: {}", e.root_cause())),
        }
        Err(LoadError::WrongWorld(format!(
            "the component exports [{}], which is no world of tenon:connector@0.2.0 or @0.1.0 ({})",
            exports().join(", "),
            reasons.join("; "),
        )))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Tells a non-wasm file and a core module from a component before Cranelift
/// gives a less helpful answer.
fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    // Bytes 4..8: version (2 bytes) and layer (2 bytes); layer 0 is a core module.
    if wasm[6..8] == [0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(matches!(
            check_header(b"hello world"),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
