//! The server's metrics and their Prometheus text exposition (format 0.0.4) for
//! `GET /metrics`. Owns the counters: the scheduler records each finished run
//! here, the HTTP layer each request. Knows nothing of how runs are made.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tenon_runs_total` | counter | tenant, flow, status |
//! | `tenon_run_duration_seconds` | histogram | tenant, flow |
//! | `tenon_runs_in_progress` | gauge | tenant |
//! | `tenon_schedule_missed_total` | counter | tenant, flow |
//! | `tenon_records_read_total` | counter | tenant, flow, plugin (the source) |
//! | `tenon_records_written_total` | counter | tenant, flow, plugin (the destination) |
//! | `tenon_records_retried_total` | counter | tenant, flow, plugin (the destination) |
//! | `tenon_records_queued_total` | counter | tenant, flow, plugin (the destination) |
//! | `tenon_records_dead_lettered_total` | counter | tenant, flow, plugin (the destination) |
//! | `tenon_records_superseded_total` | counter | tenant, flow, plugin (the destination) |
//! | `tenon_write_timeouts_total` | counter | tenant, flow, plugin (the destination) |
//! | `tenon_fuel_used_total` | counter | tenant, flow |
//! | `tenon_plugin_calls_total` | counter | tenant, flow, plugin |
//! | `tenon_plugin_fuel_total` | counter | tenant, flow, plugin |
//! | `tenon_plugin_http_requests_total` | counter | tenant, flow, plugin |
//! | `tenon_plugin_http_errors_total` | counter | tenant, flow, plugin |
//! | `tenon_plugin_http_seconds_total` | counter | tenant, flow, plugin |
//! | `tenon_api_requests_total` | counter | method, route, status |
//!
//! Run counters grow when a run ends, by what the run did (runs of the server
//! process only). `tenon_fuel_used_total` adds up all the flow's plugins; the
//! `tenon_plugin_*` families split a run's calls by the plugin that made them
//! ([`Run::plugins`]): HTTP requests to its vendor, the ones that got no
//! response (refused or failed in transport), and the time spent waiting for
//! them (divide by the requests for the mean latency). (A record dead-lettered
//! by a transform counts under the destination too.)

use crate::flow::{PluginUsage, Run};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Upper bounds (seconds) of the run duration histogram's buckets.
const DURATION_BUCKETS: [f64; 11] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// A counter family of destination outcomes: name, help, its value.
type PerWrite = (&'static str, &'static str, fn(&Writes) -> u64);

/// A counter family per plugin of a flow: name, help, its value.
type PerPlugin = (&'static str, &'static str, fn(&PluginUsage) -> String);

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<Series>,
}

#[derive(Debug, Default)]
struct Series {
    /// By (tenant, flow, status).
    runs: BTreeMap<(String, String, String), u64>,
    /// Records read, by (tenant, flow, source plugin).
    reads: BTreeMap<(String, String, String), u64>,
    /// By (tenant, flow, destination plugin).
    writes: BTreeMap<(String, String, String), Writes>,
    /// By (tenant, flow).
    flows: BTreeMap<(String, String), FlowSeries>,
    /// By (tenant, flow, plugin).
    plugins: BTreeMap<(String, String, String), PluginUsage>,
    /// Runs in progress by tenant.
    running: BTreeMap<String, usize>,
    /// By (method, route, status).
    requests: BTreeMap<(String, String, u16), u64>,
    /// Missed fire times, by (tenant, flow).
    missed: BTreeMap<(String, String), u64>,
}

#[derive(Debug, Default)]
struct Writes {
    written: u64,
    retried: u64,
    queued: u64,
    dead_lettered: u64,
    superseded: u64,
    write_timeouts: u64,
}

#[derive(Debug, Default)]
struct FlowSeries {
    fuel_used: u64,
    duration: Histogram,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Cumulative: observations at most each bound of [`DURATION_BUCKETS`].
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: f64) {
        for (bound, count) in DURATION_BUCKETS.iter().zip(&mut self.buckets) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }
}

impl Metrics {
    fn series(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a run that ended; `source` and `destination` are the flow's
    /// plugins.
    pub fn record_run(&self, run: &Run, source: &str, destination: &str) {
        let (tenant, flow) = (run.tenant.clone(), run.flow.clone());
        let mut series = self.series();
        *series
            .runs
            .entry((tenant.clone(), flow.clone(), run.status.to_string()))
            .or_default() += 1;
        *series
            .reads
            .entry((tenant.clone(), flow.clone(), source.to_owned()))
            .or_default() += run.records_read;
        let writes = series
            .writes
            .entry((tenant.clone(), flow.clone(), destination.to_owned()))
            .or_default();
        writes.written += run.records_written;
        writes.retried += run.records_retried;
        writes.queued += run.records_queued;
        writes.dead_lettered += run.dead_lettered;
        writes.superseded += run.records_superseded;
        writes.write_timeouts += run.write_timeouts;
        for (plugin, used) in &run.plugins {
            let total = series
                .plugins
                .entry((tenant.clone(), flow.clone(), plugin.clone()))
                .or_default();
            total.calls += used.calls;
            total.fuel_used += used.fuel_used;
            total.http_requests += used.http_requests;
            total.http_errors += used.http_errors;
            total.http_micros += used.http_micros;
        }
        let flow = series.flows.entry((tenant, flow)).or_default();
        flow.fuel_used += run.fuel_used;
        flow.duration.observe(run.duration_ms as f64 / 1e3);
    }

    /// Sets how many runs of `tenant` are in progress.
    pub fn set_running(&self, tenant: &str, runs: usize) {
        self.series().running.insert(tenant.to_owned(), runs);
    }

    /// Counts fire times of a flow's schedule that got no run of their own.
    pub fn record_missed(&self, tenant: &str, flow: &str, fires: u64) {
        *self
            .series()
            .missed
            .entry((tenant.to_owned(), flow.to_owned()))
            .or_default() += fires;
    }

    /// Counts an HTTP request answered by the server; `route` is the matched
    /// route pattern, not the raw path.
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        *self
            .series()
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// The exposition, in Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let series = self.series();
        let mut out = String::new();
        family(
            &mut out,
            "tenon_runs_total",
            "counter",
            "Flow runs that ended, by status.",
            series.runs.iter().map(|((tenant, flow, status), n)| {
                (
                    labels(&[("tenant", tenant), ("flow", flow), ("status", status)]),
                    n.to_string(),
                )
            }),
        );
        family(
            &mut out,
            "tenon_records_read_total",
            "counter",
            "Records read from the flow's source.",
            series.reads.iter().map(|((tenant, flow, plugin), n)| {
                (
                    labels(&[("tenant", tenant), ("flow", flow), ("plugin", plugin)]),
                    n.to_string(),
                )
            }),
        );
        let per_write: [PerWrite; 6] = [
            (
                "tenon_records_written_total",
                "Records the destination accepted.",
                |w| w.written,
            ),
            (
                "tenon_records_retried_total",
                "Delivery attempts of records from the retry queue.",
                |w| w.retried,
            ),
            (
                "tenon_records_queued_total",
                "Records that failed transiently and were queued for a retry.",
                |w| w.queued,
            ),
            (
                "tenon_records_dead_lettered_total",
                "Records moved to the dead-letter store.",
                |w| w.dead_lettered,
            ),
            (
                "tenon_records_superseded_total",
                "Records not delivered because a newer version of them was delivered or queued.",
                |w| w.superseded,
            ),
            (
                "tenon_write_timeouts_total",
                "Write calls that ran past their time limit and were sent again in smaller batches.",
                |w| w.write_timeouts,
            ),
        ];
        for (name, help, value) in per_write {
            family(
                &mut out,
                name,
                "counter",
                help,
                series.writes.iter().map(|((tenant, flow, plugin), w)| {
                    (
                        labels(&[("tenant", tenant), ("flow", flow), ("plugin", plugin)]),
                        value(w).to_string(),
                    )
                }),
            );
        }
        family(
            &mut out,
            "tenon_fuel_used_total",
            "counter",
            "Fuel (about one unit per instruction) used by the flow's plugin calls.",
            series.flows.iter().map(|((tenant, flow), f)| {
                (
                    labels(&[("tenant", tenant), ("flow", flow)]),
                    f.fuel_used.to_string(),
                )
            }),
        );
        let per_plugin: [PerPlugin; 6] = [
            (
                "tenon_plugin_calls_total",
                "Calls of the plugin in the flow's runs.",
                |u| u.calls.to_string(),
            ),
            (
                "tenon_plugin_fuel_total",
                "Fuel used by the plugin's calls in the flow's runs.",
                |u| u.fuel_used.to_string(),
            ),
            (
                "tenon_plugin_http_requests_total",
                "HTTP requests the plugin sent to its vendor.",
                |u| u.http_requests.to_string(),
            ),
            (
                "tenon_plugin_http_errors_total",
                "HTTP requests of the plugin that got no response (failed in transport).",
                |u| u.http_errors.to_string(),
            ),
            (
                "tenon_plugin_http_refused_total",
                "HTTP requests of the plugin the host refused to send (not granted, invalid, over a limit).",
                |u| u.http_refused.to_string(),
            ),
            (
                "tenon_plugin_http_seconds_total",
                "Time the plugin's HTTP requests took, in seconds.",
                |u| (u.http_micros as f64 / 1e6).to_string(),
            ),
        ];
        for (name, help, value) in per_plugin {
            family(
                &mut out,
                name,
                "counter",
                help,
                series.plugins.iter().map(|((tenant, flow, plugin), u)| {
                    (
                        labels(&[("tenant", tenant), ("flow", flow), ("plugin", plugin)]),
                        value(u),
                    )
                }),
            );
        }
        let name = "tenon_run_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Wall-clock time of flow runs.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for ((tenant, flow), f) in &series.flows {
            let h = &f.duration;
            let base = [("tenant", tenant.as_str()), ("flow", flow.as_str())];
            for (bound, count) in DURATION_BUCKETS.iter().zip(h.buckets) {
                let le = bound.to_string();
                let with_le = [base[0], base[1], ("le", &le)];
                let _ = writeln!(out, "{name}_bucket{} {count}", labels(&with_le));
            }
            let with_le = [base[0], base[1], ("le", "+Inf")];
            let _ = writeln!(out, "{name}_bucket{} {}", labels(&with_le), h.count);
            let _ = writeln!(out, "{name}_sum{} {}", labels(&base), h.sum);
            let _ = writeln!(out, "{name}_count{} {}", labels(&base), h.count);
        }
        family(
            &mut out,
            "tenon_runs_in_progress",
            "gauge",
            "Flow runs in progress.",
            series
                .running
                .iter()
                .map(|(tenant, n)| (labels(&[("tenant", tenant)]), n.to_string())),
        );
        family(
            &mut out,
            "tenon_schedule_missed_total",
            "counter",
            "Fire times of a flow's schedule that got no run of their own: the flow was still running, or waited for a run slot.",
            series.missed.iter().map(|((tenant, flow), n)| {
                (labels(&[("tenant", tenant), ("flow", flow)]), n.to_string())
            }),
        );
        family(
            &mut out,
            "tenon_api_requests_total",
            "counter",
            "HTTP requests the server answered.",
            series.requests.iter().map(|((method, route, status), n)| {
                let status = status.to_string();
                (
                    labels(&[("method", method), ("route", route), ("status", &status)]),
                    n.to_string(),
                )
            }),
        );
        out
    }
}

/// Writes one metric family: its help and type lines, then its samples.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl Iterator<Item = (String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// `{a="x",b="y"}`, values escaped as the format asks.
fn labels(pairs: &[(&str, &str)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::RunStatus;

    fn run(tenant: &str, flow: &str, status: RunStatus, written: u64, duration_ms: u64) -> Run {
        Run {
            id: 1,
            tenant: tenant.into(),
            flow: flow.into(),
            status,
            started_at: 0,
            finished_at: Some(duration_ms),
            batches: 1,
            records_read: written + 1,
            records_written: written,
            records_retried: 0,
            records_queued: 1,
            records_superseded: 0,
            records_repeated: 0,
            write_timeouts: 0,
            dead_lettered: 0,
            fuel_used: 1_000,
            http_requests: 3,
            http_refused: 0,
            cursor_before: None,
            cursor_after: None,
            error: None,
            retry_after_ms: None,
            duration_ms,
            stored_bytes: 0,
            plugins: [
                (
                    "demo-shop".to_owned(),
                    PluginUsage {
                        calls: 1,
                        fuel_used: 400,
                        http_requests: 1,
                        http_errors: 0,
                        http_refused: 0,
                        http_micros: 250_000,
                    },
                ),
                (
                    "demo-ledger".to_owned(),
                    PluginUsage {
                        calls: 2,
                        fuel_used: 600,
                        http_requests: 2,
                        http_errors: 1,
                        http_refused: 0,
                        http_micros: 1_500,
                    },
                ),
            ]
            .into(),
        }
    }

    #[test]
    fn runs_are_counted_by_tenant_flow_and_status() {
        let metrics = Metrics::default();
        let (shop, ledger) = ("demo-shop", "demo-ledger");
        metrics.record_run(
            &run("acme", "orders", RunStatus::Succeeded, 5, 300),
            shop,
            ledger,
        );
        metrics.record_run(
            &run("acme", "orders", RunStatus::Failed, 2, 2_000),
            shop,
            ledger,
        );
        metrics.record_run(
            &run("globex", "orders", RunStatus::Succeeded, 1, 50),
            shop,
            ledger,
        );
        metrics.set_running("acme", 1);
        metrics.record_request("GET", "/metrics", 200);
        let text = metrics.render();
        for line in [
            "# TYPE tenon_runs_total counter",
            r#"tenon_runs_total{tenant="acme",flow="orders",status="succeeded"} 1"#,
            r#"tenon_runs_total{tenant="acme",flow="orders",status="failed"} 1"#,
            r#"tenon_records_written_total{tenant="acme",flow="orders",plugin="demo-ledger"} 7"#,
            r#"tenon_records_read_total{tenant="acme",flow="orders",plugin="demo-shop"} 9"#,
            r#"tenon_records_queued_total{tenant="acme",flow="orders",plugin="demo-ledger"} 2"#,
            r#"tenon_records_written_total{tenant="globex",flow="orders",plugin="demo-ledger"} 1"#,
            r#"tenon_fuel_used_total{tenant="acme",flow="orders"} 2000"#,
            r#"tenon_plugin_calls_total{tenant="acme",flow="orders",plugin="demo-ledger"} 4"#,
            r#"tenon_plugin_fuel_total{tenant="acme",flow="orders",plugin="demo-shop"} 800"#,
            r#"tenon_plugin_http_requests_total{tenant="acme",flow="orders",plugin="demo-ledger"} 4"#,
            r#"tenon_plugin_http_requests_total{tenant="acme",flow="orders",plugin="demo-shop"} 2"#,
            r#"tenon_plugin_http_errors_total{tenant="acme",flow="orders",plugin="demo-ledger"} 2"#,
            r#"tenon_plugin_http_errors_total{tenant="acme",flow="orders",plugin="demo-shop"} 0"#,
            r#"tenon_plugin_http_seconds_total{tenant="acme",flow="orders",plugin="demo-shop"} 0.5"#,
            r#"tenon_plugin_http_seconds_total{tenant="globex",flow="orders",plugin="demo-ledger"} 0.0015"#,
            "# TYPE tenon_run_duration_seconds histogram",
            r#"tenon_run_duration_seconds_bucket{tenant="acme",flow="orders",le="0.25"} 0"#,
            r#"tenon_run_duration_seconds_bucket{tenant="acme",flow="orders",le="0.5"} 1"#,
            r#"tenon_run_duration_seconds_bucket{tenant="acme",flow="orders",le="2.5"} 2"#,
            r#"tenon_run_duration_seconds_bucket{tenant="acme",flow="orders",le="+Inf"} 2"#,
            r#"tenon_run_duration_seconds_sum{tenant="acme",flow="orders"} 2.3"#,
            r#"tenon_run_duration_seconds_count{tenant="acme",flow="orders"} 2"#,
            r#"tenon_runs_in_progress{tenant="acme"} 1"#,
            r#"tenon_api_requests_total{method="GET",route="/metrics",status="200"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        // Each family's samples follow its own TYPE line, and names are unique.
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique);
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(current), "{line} outside family {current}");
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x\"y\\z\nw")]), r#"{a="x\"y\\z\nw"}"#);
    }
}
