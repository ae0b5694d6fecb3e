//! Per-call resource limits for plugins: what they are, their defaults, and how a
//! plugin-level and a tenant-level override combine; and the fixed caps of the
//! trust boundary (component size and shape, concurrency, compilation, the size
//! of what a guest hands back), each documented where it is defined.
//!
//! Every limit is on by default. An operator can tighten or loosen each one for a
//! plugin (all tenants) and again for one tenant's enablement; the most specific
//! setting wins. The run record names the limit when a call hits it.

use serde::{Deserialize, Serialize};

/// Fuel per call (roughly one unit per WebAssembly instruction). One billion units
/// is about a second of compute on the reference machine: plenty for a page of
/// records, and a runaway loop is stopped well before it hurts other tenants.
pub const DEFAULT_FUEL: u64 = 1_000_000_000;

/// Wall-clock time per call, in milliseconds, including time spent waiting on HTTP.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Linear memory per call, in MiB. A connector holding a page of a few hundred
/// records needs a few MiB; 64 leaves room without letting one guest hog the host.
pub const DEFAULT_MEMORY_MIB: u64 = 64;

/// Hard ceiling for [`Limits::memory_mib`]: the size of one slot of the engine's
/// instance pool.
pub const MAX_MEMORY_MIB: u64 = 4096;

/// Plugin calls that can run at once: the size of the instance pool. Each call
/// takes one slot for its duration; the pool is reserved (as virtual memory) once.
pub const MAX_CONCURRENT_CALLS: u32 = 128;

/// Of [`MAX_CONCURRENT_CALLS`], how many one tenant's calls may hold at once; its
/// further calls wait for one of its own to end, so no tenant can take the pool.
pub const TENANT_CALL_SHARE: u32 = 32;

/// Linear memories one component may define, over all its core instances. A Rust
/// `wasm32-wasip2` component has one; a component with more is refused at install.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 2;

/// Tables one component may define (a Rust component has two: its own and its
/// adapter shim's); more are refused at install.
pub const MAX_TABLES_PER_COMPONENT: u32 = 4;

/// Core module instances one component may create (a Rust component creates
/// three); more are refused at install.
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 8;

/// The largest component accepted, in bytes (the bundled ones are under 1 MiB).
pub const MAX_COMPONENT_BYTES: usize = 16 * 1024 * 1024;

/// How long compiling one component may take, in milliseconds, when the host
/// compiles in a separate process (the `tenon` binary always does); the process
/// is killed and the component refused past it. `TENON_COMPILE_TIMEOUT_MS`
/// overrides it.
pub const DEFAULT_COMPILE_TIMEOUT_MS: u64 = 10_000;

/// How much memory (resident) compiling one component may use, in MiB, when the
/// host compiles in a separate process; `TENON_COMPILE_MEMORY_MIB` overrides it.
pub const DEFAULT_COMPILE_MEMORY_MIB: u64 = 256;

/// The largest payload one record may carry, in bytes. A bigger record is
/// dead-lettered without its payload (nothing else of its batch is harmed).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// The most one page of a `read` or `reconcile`, or one transform's output, may
/// hold, in bytes (keys and payloads); more fails the call as a broken contract.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// How many records a transform may make of each record it is given (it may
/// split an order into lines); more fails the call as a broken contract.
pub const MAX_TRANSFORM_FANOUT: usize = 10;

/// The most records one webhook may bring in.
pub const MAX_WEBHOOK_RECORDS: usize = 1_000;

/// The largest descriptor (`describe`, as JSON) a plugin may return, in bytes;
/// larger is refused at install.
pub const MAX_DESCRIPTOR_BYTES: usize = 256 * 1024;

/// Timeout of one outgoing HTTP request, in milliseconds.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 10_000;

/// Largest HTTP response body handed to a guest, in bytes. Larger answers fail the
/// request with a `permanent` error instead of filling the guest's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// Outgoing HTTP requests allowed within one call.
pub const DEFAULT_MAX_REQUESTS: u32 = 1_000;

/// The limits in force for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub fuel: u64,
    pub timeout_ms: u64,
    pub memory_mib: u64,
    pub http_timeout_ms: u64,
    pub max_response_bytes: u64,
    pub max_requests: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            memory_mib: DEFAULT_MEMORY_MIB,
            http_timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// A partial set of limits, as an operator writes it for a plugin or an enablement.
/// Unset fields fall through to the next, less specific level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Fuel per call (about one unit per WebAssembly instruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Wall-clock time per call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Linear memory per call, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Timeout of one outgoing HTTP request, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_timeout_ms: Option<u64>,
    /// Largest HTTP response body handed to the plugin, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Outgoing HTTP requests allowed within one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
}

impl LimitOverrides {
    /// Checks that every set value is usable; the message names the offending limit.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("fuel", self.fuel),
            ("timeout-ms", self.timeout_ms),
            ("memory-mib", self.memory_mib),
            ("http-timeout-ms", self.http_timeout_ms),
            ("max-response-bytes", self.max_response_bytes),
            ("max-requests", self.max_requests.map(u64::from)),
        ];
        for (name, value) in positive {
            if value == Some(0) {
                return Err(format!("limit `{name}` must be greater than 0"));
            }
        }
        if let Some(mib) = self.memory_mib
            && mib > MAX_MEMORY_MIB
        {
            return Err(format!(
                "limit `memory-mib` is {mib}, above the host's ceiling of {MAX_MEMORY_MIB}"
            ));
        }
        Ok(())
    }

    /// The limits this sets above those of `ceiling`, as `name (value > ceiling)`:
    /// what a tenant may not do, since it may only lower the operator's limits.
    pub fn above(&self, ceiling: &Limits) -> Vec<String> {
        let pairs = [
            ("fuel", self.fuel, ceiling.fuel),
            ("timeout-ms", self.timeout_ms, ceiling.timeout_ms),
            ("memory-mib", self.memory_mib, ceiling.memory_mib),
            (
                "http-timeout-ms",
                self.http_timeout_ms,
                ceiling.http_timeout_ms,
            ),
            (
                "max-response-bytes",
                self.max_response_bytes,
                ceiling.max_response_bytes,
            ),
            (
                "max-requests",
                self.max_requests.map(u64::from),
                u64::from(ceiling.max_requests),
            ),
        ];
        pairs
            .into_iter()
            .filter_map(|(name, asked, limit)| {
                asked
                    .filter(|asked| *asked > limit)
                    .map(|asked| format!("{name} ({asked} > {limit})"))
            })
            .collect()
    }

    /// These overrides, with every field `base` sets and these do not taken from
    /// `base`.
    pub fn or(&self, base: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            fuel: self.fuel.or(base.fuel),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
            memory_mib: self.memory_mib.or(base.memory_mib),
            http_timeout_ms: self.http_timeout_ms.or(base.http_timeout_ms),
            max_response_bytes: self.max_response_bytes.or(base.max_response_bytes),
            max_requests: self.max_requests.or(base.max_requests),
        }
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == LimitOverrides::default()
    }

    /// Applies these overrides on top of `base`.
    pub fn over(&self, base: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            memory_mib: self.memory_mib.unwrap_or(base.memory_mib),
            http_timeout_ms: self.http_timeout_ms.unwrap_or(base.http_timeout_ms),
            max_response_bytes: self.max_response_bytes.unwrap_or(base.max_response_bytes),
            max_requests: self.max_requests.unwrap_or(base.max_requests),
        }
    }
}

/// The limits for a call of `plugin` on behalf of a tenant: host defaults, then the
/// plugin's overrides, then the tenant's.
pub fn resolve(plugin: &LimitOverrides, tenant: &LimitOverrides) -> Limits {
    tenant.over(plugin.over(Limits::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_beats_plugin_beats_default() {
        let plugin = LimitOverrides {
            fuel: Some(10),
            timeout_ms: Some(20),
            ..Default::default()
        };
        let tenant = LimitOverrides {
            fuel: Some(5),
            ..Default::default()
        };
        let limits = resolve(&plugin, &tenant);
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.timeout_ms, 20);
        assert_eq!(limits.memory_mib, DEFAULT_MEMORY_MIB);
    }

    #[test]
    fn zero_and_oversized_limits_are_refused() {
        let zero = LimitOverrides {
            fuel: Some(0),
            ..Default::default()
        };
        assert!(zero.validate().unwrap_err().contains("fuel"));
        let huge = LimitOverrides {
            memory_mib: Some(MAX_MEMORY_MIB + 1),
            ..Default::default()
        };
        assert!(huge.validate().unwrap_err().contains("memory-mib"));
    }

    #[test]
    fn overrides_above_a_ceiling_are_named() {
        let asked = LimitOverrides {
            fuel: Some(DEFAULT_FUEL * 2),
            timeout_ms: Some(10),
            ..Default::default()
        };
        assert_eq!(
            asked.above(&Limits::default()),
            vec![format!("fuel ({} > {DEFAULT_FUEL})", DEFAULT_FUEL * 2)]
        );
    }
}
