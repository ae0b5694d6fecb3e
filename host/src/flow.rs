//! Flows (source stream -> transforms -> destination stream, per tenant) and the
//! record of each run. Owns their shapes and validation; running them is
//! [`crate::sync`]'s, storing them [`crate::state`]'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// How long one run may take, in milliseconds (see
    /// [`crate::limits::DEFAULT_MAX_RUN_MS`]).
    #[serde(default = "default_max_run_ms")]
    pub max_run_ms: u64,
    /// When `tenon serve` runs the flow on its own; none: only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Plugin -> the installed version this flow runs it at; a plugin not named
    /// here runs at its current version (the one installed last, or rolled back to).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pins: BTreeMap<String, String>,
    /// Plugin -> the sha256 of the version pinned, recorded when the flow was
    /// defined: a run refuses a pinned component whose bytes are not these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pin_sha256: BTreeMap<String, String>,
}

/// A plugin pinned to a version: `demo-ledger@0.1.0` (`flow add --pin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub plugin: String,
    pub version: String,
}

impl std::str::FromStr for Pin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('@') {
            Some((plugin, version)) if !plugin.is_empty() && !version.is_empty() => Ok(Pin {
                plugin: plugin.into(),
                version: version.into(),
            }),
            _ => Err(format!("`{s}` is not `plugin@version`")),
        }
    }
}

const fn default_max_attempts() -> u32 {
    crate::delivery::DEFAULT_MAX_ATTEMPTS
}

const fn default_max_run_ms() -> u64 {
    crate::limits::DEFAULT_MAX_RUN_MS
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

/// Shortest interval a flow may be scheduled at.
pub const MIN_INTERVAL_MS: u64 = 1_000;

/// When a flow runs on its own under `tenon serve`. Stored as `{"every": "30s"}`
/// or `{"cron": "*/5 * * * *"}`. The scheduler delays each run by a fixed,
/// per-flow share of the jitter window (see [`crate::server`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// At a fixed interval, in slots counted from the Unix epoch (`"30s"`, `"5m"`).
    Every(Interval),
    /// At the times of a cron expression, in UTC: five fields (minute hour
    /// day-of-month month day-of-week), or six with seconds first.
    Cron(CronExpr),
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every(interval) => write!(f, "every {interval}"),
            Schedule::Cron(cron) => write!(f, "cron {cron}"),
        }
    }
}

/// A schedule interval of at least [`MIN_INTERVAL_MS`], written as a number and a
/// unit: `ms`, `s`, `m`, `h` or `d` (`"250ms"`, `"30s"`, `"5m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Interval {
    ms: u64,
}

impl Interval {
    pub fn as_millis(self) -> u64 {
        self.ms
    }
}

impl std::str::FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ms = parse_duration(s)?.as_millis() as u64;
        if ms < MIN_INTERVAL_MS {
            return Err(format!(
                "interval `{s}` is shorter than the minimum of {MIN_INTERVAL_MS} ms"
            ));
        }
        Ok(Interval { ms })
    }
}

impl TryFrom<String> for Interval {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Interval> for String {
    fn from(interval: Interval) -> String {
        interval.to_string()
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration(std::time::Duration::from_millis(self.ms)))
    }
}

/// A parsed cron expression, kept with the text it was written as.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronExpr {
    text: String,
    /// Boxed: a parsed pattern is large.
    cron: Box<croner::Cron>,
}

impl CronExpr {
    /// The first time the expression names strictly after `after_ms` (Unix time in
    /// milliseconds), in UTC; none if it names no later time.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let after = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(after_ms as i64)?;
        let next = self.cron.find_next_occurrence(&after, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The last time the expression names at or before `at_ms`, in UTC.
    pub fn last_at_or_before(&self, at_ms: u64) -> Option<u64> {
        // Cron times are whole seconds.
        let at_ms = at_ms - at_ms % 1_000;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms as i64)?;
        let last = self.cron.find_previous_occurrence(&at, true).ok()?;
        u64::try_from(last.timestamp_millis()).ok()
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronExpr {}

impl std::str::FromStr for CronExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim().to_owned();
        let cron: croner::Cron = text
            .parse()
            .map_err(|e| format!("`{s}` is not a cron expression: {e}"))?;
        let expr = CronExpr {
            text,
            cron: Box::new(cron),
        };
        // A pattern that never fires (February 30th) is refused now, not at run time.
        if expr.next_after(crate::host::now_ms()).is_none() {
            return Err(format!("cron expression `{s}` names no future time"));
        }
        Ok(expr)
    }
}

impl TryFrom<String> for CronExpr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<CronExpr> for String {
    fn from(cron: CronExpr) -> String {
        cron.text
    }
}

impl std::fmt::Display for CronExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a duration written as a whole number and a unit: `ms`, `s`, `m`, `h`
/// or `d` (`"250ms"`, `"30s"`, `"5m"`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "`{s}` is not a duration: write a whole number and a unit, ms, s, m, h or d (`30s`, `5m`)"
            ));
        }
    };
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_ms))
        .ok_or_else(|| format!("`{s}` is not a duration: the number is missing or too large"))?;
    Ok(std::time::Duration::from_millis(ms))
}

/// Writes a duration as [`parse_duration`] reads it, in the largest unit that
/// divides it exactly.
pub fn format_duration(duration: std::time::Duration) -> String {
    let ms = duration.as_millis() as u64;
    for (unit, unit_ms) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms.is_multiple_of(unit_ms) {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// The host stopped during the run: it was shut down (the run ended after
    /// its last committed batch) or it crashed or was killed (the run is marked
    /// when the host next opens). What it committed stays committed; the next run
    /// continues from the stored cursor.
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
    /// Records not delivered because a newer version of them was delivered,
    /// was waiting in the retry queue, or came in the same batch.
    #[serde(default)]
    pub records_superseded: u64,
    /// Records not delivered because the flow had delivered (or queued) that
    /// very version already: a webhook and the feed bringing the same change.
    #[serde(default)]
    pub records_repeated: u64,
    /// Write calls that ran past their time limit (a slow destination); their
    /// records were sent again in smaller batches.
    #[serde(default)]
    pub write_timeouts: u64,
    /// Records moved to the dead-letter store.
    #[serde(default)]
    pub dead_lettered: u64,
    /// Fuel used by all the run's plugin calls.
    pub fuel_used: u64,
    /// HTTP requests the run's plugins sent to vendors.
    pub http_requests: u64,
    /// Requests the host refused to send for them (see [`PluginUsage`]).
    #[serde(default)]
    pub http_refused: u64,
    /// The cursor the run started from and the one it left.
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
    /// What stopped the run, when it failed.
    pub error: Option<String>,
    /// When a vendor's rate limit failed the run: how long it asked to wait, in
    /// milliseconds. The scheduler starts the flow again no sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Wall-clock time of the run, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// Bytes the run made the host store (see
    /// [`crate::limits::MAX_RUN_STORED_BYTES`]).
    #[serde(default)]
    pub stored_bytes: u64,
    /// What each plugin of the flow used in the run, by plugin id (runs stored
    /// before this was kept have none).
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginUsage>,
}

/// What one plugin used during a run, over its calls, those that returned an
/// error included; a call the host stopped (a trap, a limit) is not counted,
/// nor are the stages before a transform that refused a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginUsage {
    pub calls: u64,
    pub fuel_used: u64,
    /// HTTP requests the plugin sent to its vendor.
    pub http_requests: u64,
    /// Of those, the ones that failed in transport (no response).
    pub http_errors: u64,
    /// Requests the host refused to send (not granted, invalid, over a limit).
    #[serde(default)]
    pub http_refused: u64,
    /// Time spent waiting for those requests, in microseconds.
    pub http_micros: u64,
}

impl PluginUsage {
    /// Adds one call's cost.
    pub fn add(&mut self, report: &crate::sandbox::CallReport) {
        self.calls += 1;
        self.fuel_used += report.fuel_used;
        self.http_requests += u64::from(report.http_requests);
        self.http_errors += u64::from(report.http_errors);
        self.http_refused += u64::from(report.http_refused);
        self.http_micros += report.http_micros;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_and_write_with_a_unit() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
        ] {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)));
            assert_eq!(format_duration(Duration::from_millis(ms)), text);
        }
        assert_eq!(format_duration(Duration::from_millis(90_000)), "90s");
        for bad in ["", "30", "s", "5 m", "1.5s", "-1s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!("500ms".parse::<Interval>().unwrap_err().contains("minimum"));
    }

    #[test]
    fn schedules_are_stored_as_the_operator_wrote_them() {
        let every = Schedule::Every("5m".parse().unwrap());
        assert_eq!(
            serde_json::to_value(&every).unwrap(),
            serde_json::json!({"every": "5m"})
        );
        let cron = Schedule::Cron("*/5 * * * *".parse().unwrap());
        let json = serde_json::to_value(&cron).unwrap();
        assert_eq!(json, serde_json::json!({"cron": "*/5 * * * *"}));
        assert_eq!(serde_json::from_value::<Schedule>(json).unwrap(), cron);
        assert!(serde_json::from_value::<Schedule>(serde_json::json!({"cron": "nope"})).is_err());
        assert!(serde_json::from_value::<Schedule>(serde_json::json!({"every": "0s"})).is_err());
        assert!("0 0 30 2 *".parse::<CronExpr>().is_err(), "February 30th");
    }

    #[test]
    fn flows_stored_before_schedules_still_load() {
        let stored = serde_json::json!({
            "tenant": "acme", "name": "orders",
            "source": {"plugin": "demo-shop", "stream": "orders"},
            "transforms": [], "destination": {"plugin": "demo-ledger", "stream": "sale-orders"},
            "batch_size": 10
        });
        let flow: Flow = serde_json::from_value(stored).unwrap();
        assert_eq!(flow.schedule, None);
        assert!(
            serde_json::to_value(&flow)
                .unwrap()
                .get("schedule")
                .is_none()
        );
    }

    #[test]
    fn runs_stored_before_plugin_usage_still_load() {
        let stored = serde_json::json!({
            "id": 1, "tenant": "acme", "flow": "orders", "status": "succeeded",
            "started_at": 0, "finished_at": 5, "batches": 1, "records_read": 2,
            "records_written": 2, "fuel_used": 10, "http_requests": 3,
            "cursor_before": null, "cursor_after": "c", "error": null
        });
        let run: Run = serde_json::from_value(stored).unwrap();
        assert!(run.plugins.is_empty());
        let mut usage = PluginUsage::default();
        let report = crate::sandbox::CallReport {
            fuel_used: 7,
            http_requests: 2,
            http_errors: 1,
            http_refused: 1,
            http_micros: 1_500,
            duration_ms: 3,
            out_of_time: false,
        };
        usage.add(&report);
        usage.add(&report);
        assert_eq!(
            usage,
            PluginUsage {
                calls: 2,
                fuel_used: 14,
                http_requests: 4,
                http_errors: 2,
                http_refused: 2,
                http_micros: 3_000
            }
        );
    }

    #[test]
    fn cron_times_are_whole_seconds_in_utc() {
        let cron: CronExpr = "*/5 * * * *".parse().unwrap();
        // 2026-01-01T00:01:00.123Z
        let t = 1_767_225_660_123;
        assert_eq!(cron.next_after(t), Some(1_767_225_900_000));
        assert_eq!(cron.last_at_or_before(t), Some(1_767_225_600_000));
        assert_eq!(
            cron.last_at_or_before(1_767_225_600_000),
            Some(1_767_225_600_000)
        );
    }
}
