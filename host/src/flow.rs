//! Flows (source stream -> transforms -> destination stream, per tenant) and the
//! record of each run. Owns their shapes and validation; running them is
//! [`crate::sync`]'s, storing them [`crate::state`]'s.

use serde::{Deserialize, Serialize};

/// Records per batch when a flow does not say.
pub const DEFAULT_BATCH_SIZE: u32 = 100;

/// Largest batch a flow may ask for.
pub const MAX_BATCH_SIZE: u32 = 1_000;

/// Pages one run reads at most before it stops and leaves the rest to the next run,
/// so that one flow with a huge backlog cannot hold a run open for hours.
pub const MAX_PAGES_PER_RUN: u32 = 1_000;

/// One end of a flow: a stream of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub plugin: String,
    pub stream: String,
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((plugin, stream)) if !plugin.is_empty() && !stream.is_empty() => Ok(Endpoint {
                plugin: plugin.into(),
                stream: stream.into(),
            }),
            _ => Err(format!("`{s}` is not `plugin:stream`")),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.plugin, self.stream)
    }
}

/// Records moving from a source stream through transforms into a destination stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub tenant: String,
    pub name: String,
    pub source: Endpoint,
    /// Transform plugins, applied in order.
    pub transforms: Vec<String>,
    pub destination: Endpoint,
    pub batch_size: u32,
    /// Delivery attempts per record before it is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles with each attempt (with jitter).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

const fn default_max_attempts() -> u32 {
    crate::delivery::DEFAULT_MAX_ATTEMPTS
}

const fn default_retry_base_ms() -> u64 {
    crate::delivery::DEFAULT_RETRY_BASE_MS
}

impl Flow {
    /// The flow's retry policy.
    pub fn backoff(&self) -> crate::delivery::Backoff {
        crate::delivery::Backoff {
            max_attempts: self.max_attempts,
            base_ms: self.retry_base_ms,
        }
    }

    /// The id-map namespace where the host links source keys to the destination's
    /// ids from successful writes.
    pub fn idmap_namespace(&self) -> String {
        format!("flow:{}", self.name)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// The host stopped (crashed, was killed) during the run; what it committed
    /// stays committed.
    Interrupted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        })
    }
}

/// One run of a flow, as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: u64,
    pub tenant: String,
    pub flow: String,
    pub status: RunStatus,
    /// Unix time in milliseconds.
    pub started_at: u64,
    pub finished_at: Option<u64>,
    /// Batches delivered and committed.
    pub batches: u32,
    pub records_read: u64,
    pub records_written: u64,
    /// Delivery attempts of records from the retry queue.
    #[serde(default)]
    pub records_retried: u64,
    /// Records that failed and wait in the retry queue.
    #[serde(default)]
    pub records_queued: u64,
    /// Records moved to the dead-letter store.
    #[serde(default)]
    pub dead_lettered: u64,
    /// Fuel used by all the run's plugin calls.
    pub fuel_used: u64,
    pub http_requests: u64,
    /// The cursor the run started from and the one it left.
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
    /// What stopped the run, when it failed.
    pub error: Option<String>,
    /// Wall-clock time of the run, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
}
