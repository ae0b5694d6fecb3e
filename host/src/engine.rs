//! The wasmtime engine, one per host: how guests are compiled (once, cached on disk
//! by content hash, so a restart does not recompile), pre-linked (one `InstancePre`
//! per component) and interrupted (an epoch ticker drives wall-clock deadlines).
//!
//! It knows which worlds exist but no capability by name: [`crate::sandbox`] builds
//! the linkers and runs calls.

use crate::bindings::{
    connector::ConnectorPre, reconciling::ReconcilingConnectorPre, transform::TransformPre,
    webhook::WebhookConnectorPre,
};
use crate::plugin::World;
use crate::record::hex;
use crate::sandbox::{self, CallState};
use anyhow::Context as _;
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

/// Plugin calls that can run at once: the size of the instance pool. Each call
/// takes one slot for its duration; the pool is allocated (as virtual memory) once.
pub const MAX_CONCURRENT_CALLS: u32 = 128;

/// Core instances per component instance: a Rust `wasm32-wasip2` guest has a
/// handful (the program plus its WASI adapter shims).
const CORE_INSTANCES_PER_CALL: u32 = 16;

/// A compiled component, pre-linked for the world it targets.
#[derive(Clone)]
// One per loaded component, cloned per call as a few `Arc`s: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Prepared {
    /// A connector; `reconcile` is there when it also exports `reconcile-api`,
    /// `webhook` when it also exports `webhook-api`.
    Connector {
        pre: ConnectorPre<CallState>,
        reconcile: Option<ReconcilingConnectorPre<CallState>>,
        webhook: Option<WebhookConnectorPre<CallState>>,
    },
    Transform(TransformPre<CallState>),
}

impl Prepared {
    /// Whether it is a connector that exports `webhook-api`.
    pub fn takes_webhooks(&self) -> bool {
        matches!(
            self,
            Prepared::Connector {
                webhook: Some(_),
                ..
            }
        )
    }

    pub fn world(&self) -> World {
        match self {
            Prepared::Connector { .. } => World::Connector,
            Prepared::Transform(_) => World::Transform,
        }
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prepared({})", self.world())
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
    #[error("invalid WebAssembly component: {0}")]
    Invalid(String),
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
}

/// The engine, its linkers and its caches.
pub struct Engine {
    engine: wasmtime::Engine,
    connector: Linker<CallState>,
    transform: Linker<CallState>,
    cache_dir: PathBuf,
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
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine whose compiled components are cached in `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> anyhow::Result<Engine> {
        Self::with_fuel(cache_dir, true)
    }

    /// An engine with fuel metering on or off. Off exists only to measure what
    /// metering costs (`tenon bench`); the host always meters.
    pub fn with_fuel(cache_dir: PathBuf, fuel: bool) -> anyhow::Result<Engine> {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_CALLS)
            .total_memories(MAX_CONCURRENT_CALLS)
            .total_tables(MAX_CONCURRENT_CALLS * 4)
            .total_stacks(MAX_CONCURRENT_CALLS)
            .total_core_instances(MAX_CONCURRENT_CALLS * CORE_INSTANCES_PER_CALL)
            .max_memory_size((crate::limits::MAX_MEMORY_MIB as usize) << 20);
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(fuel)
            .epoch_interruption(true)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;

        std::fs::create_dir_all(&cache_dir)
            .with_context(|| format!("could not create cache folder {}", cache_dir.display()))?;
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

        Ok(Engine {
            connector: sandbox::linker(&engine, World::Connector)?,
            transform: sandbox::linker(&engine, World::Transform)?,
            engine,
            cache_dir,
            compat,
            prepared: Mutex::new(HashMap::new()),
            ticker_stop,
            fuel,
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

    /// The pre-linked component with this sha256, if this engine loaded it before.
    pub fn loaded(&self, sha256: &str) -> Option<Prepared> {
        self.prepared
            .lock()
            .expect("cache lock")
            .get(sha256)
            .cloned()
    }

    /// Compiles (or loads from cache) and pre-links a component, finding which
    /// world it targets. Returns its sha256 too.
    pub fn load(&self, wasm: &[u8]) -> Result<(String, Prepared), LoadError> {
        let sha256 = hex(&Sha256::digest(wasm));
        if let Some(prepared) = self.prepared.lock().expect("cache lock").get(&sha256) {
            return Ok((sha256, prepared.clone()));
        }
        check_header(wasm)?;
        let component = self.compile(&sha256, wasm)?;
        let prepared = self.prelink(&component)?;
        self.prepared
            .lock()
            .expect("cache lock")
            .insert(sha256.clone(), prepared.clone());
        Ok((sha256, prepared))
    }

    fn compile(&self, sha256: &str, wasm: &[u8]) -> Result<Component, LoadError> {
        let path = self
            .cache_dir
            .join(format!("{sha256}-{}.cwasm", self.compat));
        if path.exists() {
            // SAFETY: the file is one this engine wrote (below) into the host's own
            // data folder, named by the component's hash and the engine's
            // compatibility hash; the data folder is as trusted as the binary.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => {
                    self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Compiled cache entry unusable; recompiling")
                }
            }
        }
        let compiled = self
            .engine
            .precompile_component(wasm)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        // Write then rename, so a crash never leaves a half-written entry behind.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let saved = std::fs::write(&tmp, &compiled).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = saved {
            tracing::warn!(path = %path.display(), error = %e, "Could not cache compiled component");
        }
        #[allow(unsafe_code)]
        // SAFETY: `compiled` was produced by `precompile_component` of this engine just above.
        unsafe { Component::deserialize(&self.engine, &compiled) }
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))
    }

    fn prelink(&self, component: &Component) -> Result<Prepared, LoadError> {
        let connector = self.connector.instantiate_pre(component).and_then(|pre| {
            let reconcile = ReconcilingConnectorPre::new(pre.clone()).ok();
            let webhook = WebhookConnectorPre::new(pre.clone()).ok();
            Ok(Prepared::Connector {
                pre: ConnectorPre::new(pre)?,
                reconcile,
                webhook,
            })
        });
        let connector_err = match connector {
            Ok(prepared) => return Ok(prepared),
            Err(e) => e,
        };
        let transform = self
            .transform
            .instantiate_pre(component)
            .and_then(TransformPre::new)
            .map(Prepared::Transform);
        let transform_err = match transform {
            Ok(prepared) => return Ok(prepared),
            Err(e) => e,
        };
        let ty = component.component_type();
        let exports: Vec<&str> = ty.exports(&self.engine).map(|(name, _)| name).collect();
        Err(LoadError::WrongWorld(format!(
            "the component exports [{}], which is neither world of tenon:connector@0.1.0 \
             (as a connector: {}; as a transform: {})",
            exports.join(", "),
            root(&connector_err),
            root(&transform_err),
        )))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn root(e: &wasmtime::Error) -> String {
    e.root_cause().to_string()
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
