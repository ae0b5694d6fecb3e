//! `tenon serve` as an operator runs it: a real process on loopback, set up with
//! the CLI beforehand, syncing against in-process vendor sandboxes on its own
//! schedule, answering health, readiness, metrics and run-now over HTTP, and
//! stopping cleanly on SIGTERM.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::{
    LEDGER_TOKEN, SHOP_TOKEN, Served, code, configure, eventually, metric, operator_token, runs,
    stderr, tenon, tenon_ok,
};
use tenon_sandboxes::{Fault, Ledger, OrderStatus, SalesOrderStatus, Shop, demo_orders};

const RUN_ACME: &str = "/api/v1/tenants/acme/flows/orders-to-erp/run";
const WAIT: Duration = Duration::from_secs(30);

/// A config file with a quick tick, listening on a port the system picks.
fn config(dir: &Path) -> String {
    let path = dir.join("tenon.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\n\n[scheduler]\ntick = \"100ms\"\n\n{}",
            operator_token()
        ),
    )
    .unwrap();
    path.display().to_string()
}

async fn vendors(orders: usize) -> (Shop, Ledger) {
    (
        Shop::start(SHOP_TOKEN, demo_orders(orders)).await.unwrap(),
        Ledger::start(LEDGER_TOKEN).await.unwrap(),
    )
}

/// Every sales order in `ledger` was applied exactly once.
fn assert_applied_once(ledger: &Ledger) {
    for sale in ledger.sales_orders() {
        assert_eq!(
            sale.applied, 1,
            "{} applied {} times",
            sale.external_ref, sale.applied
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_flows_of_two_tenants_run_on_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (acme_shop, acme_ledger) = vendors(6).await;
    let (globex_shop, globex_ledger) = vendors(4).await;
    tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    configure(
        &data,
        "acme",
        &acme_shop,
        &acme_ledger,
        &["--every", "1s", "--batch-size", "5"],
    )
    .await;
    // Every second, by a cron expression with seconds.
    configure(
        &data,
        "globex",
        &globex_shop,
        &globex_ledger,
        &["--cron", "* * * * * *"],
    )
    .await;
    let listed = tenon_ok(&data, &["flow", "list"]).await;
    assert!(
        listed.contains("every 1s") && listed.contains("cron * * * * * *"),
        "{listed}"
    );

    let config = config(dir.path());
    let served = Served::start(
        &data,
        &[
            "--log",
            "info",
            "serve",
            "--config",
            &config,
            "--log-format",
            "json",
        ],
    )
    .await;
    assert_eq!(served.get("/healthz").await.0, 200);
    let (status, body) = served.get("/readyz").await;
    assert_eq!(status, 200, "{body}");

    // Nobody runs the flows: the scheduler does.
    eventually("both ledgers hold their shop's orders", WAIT, || {
        acme_ledger.sales_orders().len() == 6 && globex_ledger.sales_orders().len() == 4
    })
    .await;

    // A change in the shop arrives with a later tick.
    let mut cancelled = acme_shop.orders()[0].clone();
    cancelled.status = OrderStatus::Cancelled;
    acme_shop.upsert_order(cancelled.clone());
    let external_ref = format!("shop:{}", cancelled.id);
    eventually("the cancellation reaches the ledger", WAIT, || {
        acme_ledger
            .sales_orders()
            .iter()
            .any(|s| s.external_ref == external_ref && s.status == SalesOrderStatus::Cancelled)
    })
    .await;

    // Run-now, waiting for the run; it may meet a scheduled run (409) first.
    let mut run = None;
    for _ in 0..100 {
        let (status, body) = served.post(&format!("{RUN_ACME}?wait=true")).await;
        match status {
            200 => {
                run = Some(serde_json::from_str::<Value>(&body).unwrap());
                break;
            }
            409 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("run-now answered {other}: {body}"),
        }
    }
    let run = run.expect("a run-now between two scheduled runs");
    assert_eq!(
        (&run["tenant"], &run["flow"], &run["status"]),
        (
            &Value::from("acme"),
            &Value::from("orders-to-erp"),
            &Value::from("succeeded")
        ),
        "{run}"
    );
    let (status, body) = served.post("/api/v1/tenants/acme/flows/nope/run").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("flow `acme/nope` not found"), "{body}");

    // The metrics count what the runs did, by tenant and flow.
    let (status, text) = served.get("/metrics").await;
    assert_eq!(status, 200);
    let value = |key: &str| metric(&text, key).unwrap_or_else(|| panic!("no {key} in:\n{text}"));
    let acme = r#"{tenant="acme",flow="orders-to-erp"}"#;
    // Records by the plugin that read or took them.
    let acme_shop = r#"{tenant="acme",flow="orders-to-erp",plugin="demo-shop"}"#;
    let acme_erp = r#"{tenant="acme",flow="orders-to-erp",plugin="demo-ledger"}"#;
    let globex_erp = r#"{tenant="globex",flow="orders-to-erp",plugin="demo-ledger"}"#;
    assert_eq!(
        value(&format!("tenon_records_written_total{acme_erp}")),
        7.0
    );
    assert_eq!(
        value(&format!("tenon_records_written_total{globex_erp}")),
        4.0
    );
    assert!(value(&format!("tenon_records_read_total{acme_shop}")) >= 7.0);
    assert_eq!(
        value(&format!("tenon_records_dead_lettered_total{acme_erp}")),
        0.0
    );
    assert!(value(&format!("tenon_fuel_used_total{acme}")) > 0.0);
    assert!(value(&format!("tenon_plugin_http_requests_total{globex_erp}")) > 0.0);
    let succeeded =
        value(r#"tenon_runs_total{tenant="acme",flow="orders-to-erp",status="succeeded"}"#);
    assert!(succeeded >= 3.0, "{text}");
    assert_eq!(
        value(&format!("tenon_run_duration_seconds_count{acme}")),
        succeeded
    );
    assert!(
        value(r#"tenon_runs_total{tenant="globex",flow="orders-to-erp",status="succeeded"}"#)
            >= 1.0
    );
    assert!(
        value(
            r#"tenon_api_requests_total{method="POST",route="/api/v1/tenants/{tenant}/flows/{flow}/run",status="200"}"#
        ) >= 1.0
    );

    let (status, logs) = served.terminate(WAIT).await;
    assert_eq!(status.code(), Some(0), "{}", logs.join("\n"));

    // JSON logs, with tenant and flow on the run lines.
    let logs: Vec<Value> = logs
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for tenant in ["acme", "globex"] {
        assert!(
            logs.iter()
                .any(|l| l["fields"]["message"] == "Flow run succeeded"
                    && l["span"]["tenant"] == tenant
                    && l["span"]["flow"] == "orders-to-erp"),
            "no run line of {tenant} in {logs:?}"
        );
    }

    // Every run is recorded and ended (one in progress at SIGTERM stopped after
    // its batch); none failed.
    for tenant in ["acme", "globex"] {
        let runs = runs(&data, tenant).await;
        assert!(!runs.is_empty());
        for run in &runs {
            assert!(
                run["status"] == "succeeded" || run["status"] == "interrupted",
                "{run}"
            );
        }
    }
    assert_applied_once(&globex_ledger);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_flow_never_runs_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (shop, ledger) = vendors(3).await;
    // Every POST takes 600 ms, so a run with work outlasts the 1 s interval.
    ledger.script(std::iter::repeat_n(Fault::Slow { ms: 600 }, 1_000));
    tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    configure(
        &data,
        "acme",
        &shop,
        &ledger,
        &["--every", "1s", "--batch-size", "1"],
    )
    .await;
    let config = config(dir.path());
    let served = Served::start(&data, &["serve", "--config", &config]).await;

    // Keep the flow busy with changes, and ask for runs in between.
    let (mut started, mut refused) = (0, 0);
    for i in 0..14 {
        let order = shop.orders()[i % 3].clone();
        shop.upsert_order(order);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (status, body) = served.post(RUN_ACME).await;
        match status {
            202 => started += 1,
            409 => {
                assert!(body.contains("already running"), "{body}");
                refused += 1;
            }
            other => panic!("run-now answered {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, logs) = served.terminate(WAIT).await;
    assert_eq!(status.code(), Some(0), "{}", logs.join("\n"));
    assert!(refused >= 1, "no run-now met a run ({started} started)");

    let runs = runs(&data, "acme").await;
    assert!(runs.len() >= 5, "{} runs", runs.len());
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert!(
            after["started_at"].as_u64() >= before["finished_at"].as_u64(),
            "run {} started before run {} finished: {before} {after}",
            after["id"],
            before["id"]
        );
    }
    assert!(runs.iter().all(|r| r["status"] != "running"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_sync_commits_whole_batches_and_exits_0() {
    const ORDERS: usize = 20;
    const BATCH: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (shop, ledger) = vendors(ORDERS).await;
    // 300 ms per POST: a batch of five takes 1.5 s.
    ledger.script(std::iter::repeat_n(Fault::Slow { ms: 300 }, 1_000));
    tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    configure(
        &data,
        "acme",
        &shop,
        &ledger,
        &["--every", "1s", "--batch-size", "5"],
    )
    .await;
    let config = config(dir.path());
    let mut served = Served::start(&data, &["serve", "--config", &config]).await;

    // Into the second batch: SIGTERM.
    eventually("the sync is under way", WAIT, || {
        ledger.sales_orders().len() > BATCH
    })
    .await;
    served.signal_terminate().await;
    // While the batch in progress finishes, the server is alive but not ready.
    let mut readiness = Vec::new();
    for _ in 0..20 {
        let status = served.get("/readyz").await.0;
        readiness.push(status);
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(readiness.last(), Some(&503), "{readiness:?}");
    let (status, logs) = served.wait(WAIT).await;
    assert_eq!(status.code(), Some(0), "{}", logs.join("\n"));

    // The ledger holds whole batches only, each record applied once, and the
    // runs committed exactly what it holds.
    let held = ledger.sales_orders().len();
    assert!(
        held % BATCH == 0 && held > BATCH && held < ORDERS,
        "the ledger holds {held} sales orders"
    );
    assert_applied_once(&ledger);
    let history = runs(&data, "acme").await;
    let written: u64 = history
        .iter()
        .map(|r| r["records_written"].as_u64().unwrap())
        .sum();
    assert_eq!(written, held as u64);
    assert!(history.iter().all(|r| r["status"] != "running"));
    let last = history.last().unwrap();
    assert_eq!(last["status"], "interrupted", "{last}");
    assert!(
        last["error"].as_str().unwrap().contains("shut down"),
        "{last}"
    );
    let flows: Value =
        serde_json::from_str(&tenon_ok(&data, &["--json", "flow", "list"]).await).unwrap();
    assert_eq!(flows[0]["cursor"], last["cursor_after"]);
    assert!(flows[0]["cursor"].is_string(), "{flows}");

    // The next run continues from the committed cursor: the rest, each once.
    let run: Value = serde_json::from_str(
        &tenon_ok(&data, &["--json", "flow", "run", "acme", "orders-to-erp"]).await,
    )
    .unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["records_written"].as_u64(),
        Some((ORDERS - held) as u64)
    );
    assert_eq!(ledger.sales_orders().len(), ORDERS);
    assert_applied_once(&ledger);
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "listen = \"127.0.0.1:0\"\n[scheduler]\nmax_runs = 2\n",
    )
    .unwrap();
    let out = tenon(&data, &["serve", "--config", bad.to_str().unwrap()]).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("bad.toml") && message.contains("unknown field `max_runs`"),
        "{message}"
    );

    let out = tenon(
        &data,
        &["serve", "--listen", "127.0.0.1:0", "--jitter", "1.5"],
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(
        stderr(&out).contains("`jitter` must be"),
        "{}",
        stderr(&out)
    );

    let add = ["flow", "add", "acme", "f", "--from", "a:b", "--to", "c:d"];
    for (extra, expected) in [
        (
            &["--every", "1s", "--cron", "* * * * *"][..],
            "cannot be used with",
        ),
        (&["--every", "soon"][..], "`soon` is not a duration"),
        (&["--every", "10ms"][..], "shorter than the minimum"),
        (&["--cron", "61 * * * *"][..], "is not a cron expression"),
    ] {
        let args: Vec<&str> = add.iter().chain(extra).copied().collect();
        let out = tenon(&data, &args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(!data.exists(), "nothing was created");
}
