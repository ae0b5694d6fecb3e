//! What an operator sees of a running `tenon serve`: per-plugin vendor traffic in
//! `/metrics` and in the run records, JSON logs whose lines say which tenant,
//! plugin and flow they are about, and no secret anywhere in the output.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{Served, eventually, metric, operator_token, runs, tenon_ok};
use tenon_sandboxes::{Fault, Ledger, Shop, demo_orders};

const WAIT: Duration = Duration::from_secs(30);
const SHOP_SECRET: &str = "shop-secret-3b9f1c7e5a";
const LEDGER_SECRET: &str = "ledger-secret-8d2e6a4c0f";
const WEBHOOK_SECRET: &str = "webhook-secret-5c1a9e7b3d";
const SECRETS: [&str; 3] = [SHOP_SECRET, LEDGER_SECRET, WEBHOOK_SECRET];
const FLOW: &str = "orders-to-erp";

/// `name` of a JSON log line: an event field, or else a field of the innermost
/// span that has it.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    line["fields"][name].as_str().or_else(|| {
        line["spans"]
            .as_array()?
            .iter()
            .rev()
            .find_map(|span| span[name].as_str())
    })
}

/// Whether the line was logged during a flow run.
fn in_run(line: &Value) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["name"] == "run_flow"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_logs_name_tenant_plugin_and_flow_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shop = Shop::start(SHOP_SECRET, demo_orders(4)).await.unwrap();
    let ledger = Ledger::start(LEDGER_SECRET).await.unwrap();
    // The first POST outlasts the plugin's HTTP timeout: a transport error.
    ledger.script([Fault::Slow { ms: 1_500 }]);

    let mut cli_output = tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    let webhook_secret = dir.path().join("webhook-secret");
    std::fs::write(&webhook_secret, WEBHOOK_SECRET).unwrap();
    let shop_base = format!("base_url={}", shop.base_url());
    let shop_secret = format!("api_token={SHOP_SECRET}");
    let webhook_secret = format!("webhook_secret={}", webhook_secret.display());
    let ledger_base = format!("base_url={}", ledger.base_url());
    let ledger_secret = format!("api_token={LEDGER_SECRET}");
    let (shop_addr, ledger_addr) = (shop.addr().to_string(), ledger.addr().to_string());
    let (shop_host, ledger_host) = (
        format!("api_token={shop_addr}"),
        format!("api_token={ledger_addr}"),
    );
    for args in [
        &["tenant", "create", "acme"][..],
        &[
            "enable",
            "acme",
            "demo-shop",
            "--config",
            &shop_base,
            "--secret",
            &shop_secret,
            "--secret-file",
            &webhook_secret,
            "--secret-host",
            &shop_host,
            "--grant",
            &shop_addr,
        ],
        &["enable", "acme", "order-to-sale"],
        &[
            "enable",
            "acme",
            "demo-ledger",
            "--config",
            &ledger_base,
            "--secret",
            &ledger_secret,
            "--secret-host",
            &ledger_host,
            "--grant",
            &ledger_addr,
            "--http-timeout-ms",
            "300",
        ],
        &[
            "flow",
            "add",
            "acme",
            FLOW,
            "--from",
            "demo-shop:orders",
            "--via",
            "order-to-sale",
            "--to",
            "demo-ledger:sale-orders",
            "--every",
            "1s",
            "--retry-base-ms",
            "100",
        ],
        &["plugin", "list"],
        &["tenant", "list"],
    ] {
        cli_output += &tenon_ok(&data, args).await;
    }

    let config = dir.path().join("tenon.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\n[scheduler]\ntick = \"100ms\"\n\n{}",
            operator_token()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let served = Served::start(
        &data,
        &[
            "--log",
            "debug",
            "serve",
            "--config",
            &config,
            "--log-format",
            "json",
        ],
    )
    .await;

    // The scheduler delivers every order, the one that timed out on a retry.
    eventually("the ledger holds every order", WAIT, || {
        ledger.sales_orders().len() == 4
    })
    .await;
    // A vendor's webhook, verified with the tenant's secret.
    let hook = format!("{}/hooks/acme/demo-shop", served.url);
    let order = shop.orders()[0].id.clone();
    assert_eq!(
        shop.notify(&hook, &order, WEBHOOK_SECRET).await.unwrap(),
        202
    );

    // Vendor traffic by tenant, flow and plugin.
    let labels = |plugin: &str| format!(r#"{{tenant="acme",flow="{FLOW}",plugin="{plugin}"}}"#);
    let errors = format!("tenon_plugin_http_errors_total{}", labels("demo-ledger"));
    let started = Instant::now();
    let text = loop {
        let (status, text) = served.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        if metric(&text, &errors).is_some_and(|n| n >= 1.0) {
            break text;
        }
        assert!(started.elapsed() < WAIT, "no timed-out request in:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let value = |key: String| metric(&text, &key).unwrap_or_else(|| panic!("no {key} in:\n{text}"));
    for plugin in ["demo-shop", "demo-ledger"] {
        let at = labels(plugin);
        assert!(value(format!("tenon_plugin_http_requests_total{at}")) >= 1.0);
        assert!(value(format!("tenon_plugin_http_seconds_total{at}")) > 0.0);
    }
    // The timed-out request waited the plugin's HTTP timeout.
    assert!(
        value(format!(
            "tenon_plugin_http_seconds_total{}",
            labels("demo-ledger")
        )) >= 0.3
    );
    assert_eq!(
        value(format!(
            "tenon_plugin_http_errors_total{}",
            labels("demo-shop")
        )),
        0.0
    );
    for plugin in ["demo-shop", "order-to-sale", "demo-ledger"] {
        let at = labels(plugin);
        assert!(value(format!("tenon_plugin_calls_total{at}")) >= 1.0);
        assert!(value(format!("tenon_plugin_fuel_total{at}")) > 0.0);
    }
    // The transform sends nothing.
    assert_eq!(
        value(format!(
            "tenon_plugin_http_requests_total{}",
            labels("order-to-sale")
        )),
        0.0
    );
    let stdout = served.stdout();
    let (status, logs) = served.terminate(WAIT).await;
    assert_eq!(status.code(), Some(0), "{}", logs.join("\n"));

    // The run records say the same, per plugin.
    let runs = runs(&data, "acme").await;
    let total = |plugin: &str, what: &str| -> u64 {
        runs.iter()
            .map(|r| r["plugins"][plugin][what].as_u64().unwrap_or(0))
            .sum()
    };
    assert!(total("demo-shop", "http_requests") >= 1, "{runs:?}");
    assert!(total("demo-ledger", "http_errors") >= 1, "{runs:?}");
    assert!(total("demo-ledger", "http_micros") >= 300_000, "{runs:?}");
    assert!(total("order-to-sale", "calls") >= 1, "{runs:?}");
    for run in &runs {
        let sum: u64 = ["demo-shop", "order-to-sale", "demo-ledger"]
            .iter()
            .map(|p| run["plugins"][p]["http_requests"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(Some(sum), run["http_requests"].as_u64(), "{run}");
    }

    // No secret in anything the host wrote.
    let everything = [logs.join("\n"), stdout.join("\n"), cli_output].join("\n");
    for secret in SECRETS {
        assert!(
            !everything.contains(secret),
            "secret {secret:?} in the output:\n{everything}"
        );
    }

    // JSON logs (debug, so egress lines too), each naming what it is about.
    let logs: Vec<Value> = logs
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let guest: Vec<&Value> = logs
        .iter()
        .filter(|l| l["target"] == "tenon::guest")
        .collect();
    for plugin in ["demo-shop", "demo-ledger"] {
        assert!(
            guest
                .iter()
                .any(|l| in_run(l) && field(l, "plugin") == Some(plugin)),
            "no guest line of {plugin} in a run: {guest:?}"
        );
    }
    assert!(
        guest.iter().any(|l| !in_run(l)
            && field(l, "plugin") == Some("demo-shop")
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("webhook verified"))),
        "no guest line of the webhook: {guest:?}"
    );
    let egress: Vec<&Value> = logs
        .iter()
        .filter(|l| l["target"] == "tenon_runtime::capability::http")
        .collect();
    assert!(!egress.is_empty(), "no egress line at debug level");
    for line in guest.iter().chain(&egress) {
        assert_eq!(field(line, "tenant"), Some("acme"), "{line}");
        assert!(field(line, "plugin").is_some(), "{line}");
        if in_run(line) {
            assert_eq!(field(line, "flow"), Some(FLOW), "{line}");
        }
    }
    // Every line of a run, the host's own included, names tenant and flow; and
    // every line logged during a plugin call names the plugin.
    for line in logs.iter().filter(|l| in_run(l)) {
        assert_eq!(field(line, "tenant"), Some("acme"), "{line}");
        assert_eq!(field(line, "flow"), Some(FLOW), "{line}");
        if line["span"]["name"] != "run_flow" {
            assert!(field(line, "plugin").is_some(), "{line}");
        }
    }
}
