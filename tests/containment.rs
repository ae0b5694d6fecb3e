//! Hostile guests are stopped, each with its own clear error, while another
//! tenant's flow on the same host completes; guests get no files, environment,
//! sockets or ungranted egress.

mod support;

use support::*;
use tenon::Tenon;
use tenon::flow::Run;
use tenon::limits::LimitOverrides;
use tenon_tests::guests;

/// Runs the hostile guest's flow for tenant `evil` and the demo flow for tenant
/// `good` at the same time; returns the evil run after checking the good one.
/// `limits` are the evil tenant's.
async fn contained(guest: &str, limits: LimitOverrides) -> Run {
    contained_with(guest, LimitOverrides::default(), limits).await
}

/// As [`contained`], with plugin-level limits too.
async fn contained_with(guest: &str, plugin_limits: LimitOverrides, limits: LimitOverrides) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(20).await;
    pipeline(&tenon, "good", &shop, &ledger);

    let hostile = install_with(&tenon, guest, plugin_limits).await;
    let evil_ledger = tenon::vendors::Ledger::start(LEDGER_TOKEN).await.unwrap();
    tenon.create_tenant("evil", "test").unwrap();
    tenon
        .enable(
            tenon::tenant::Enablement {
                limits,
                ..enablement("evil", &hostile.id)
            },
            "test",
        )
        .unwrap();
    tenon
        .enable(enablement("evil", "order-to-sale"), "test")
        .unwrap();
    tenon
        .enable(ledger_enablement("evil", &evil_ledger), "test")
        .unwrap();
    tenon
        .add_flow(orders_flow("evil", &hostile.id, "records"), "test")
        .unwrap();

    let evil = spawn_run(&tenon, "evil");
    let good = spawn_run(&tenon, "good");
    let (evil, good) = (evil.await.unwrap(), good.await.unwrap());

    assert_succeeded(&good);
    assert_eq!(good.records_written, 20);
    assert_eq!(ledger.sales_orders().len(), 20);
    assert!(evil_ledger.sales_orders().is_empty());
    assert_eq!(tenon.cursor("evil", "orders-to-erp").unwrap(), None);

    // The host is unharmed: the good tenant keeps syncing afterwards.
    let mut order = shop.orders()[0].clone();
    order.id = "7001".into();
    shop.upsert_order(order);
    let again = tenon.run_flow("good", "orders-to-erp").await.unwrap();
    assert_succeeded(&again);
    assert_eq!(again.records_written, 1);
    evil
}

fn spawn_run(tenon: &Tenon, tenant: &'static str) -> tokio::task::JoinHandle<Run> {
    let tenon = tenon.clone();
    tokio::spawn(async move { tenon.run_flow(tenant, "orders-to-erp").await.unwrap() })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_runs_out_of_fuel() {
    // The plugin-level fuel limit applies, as the tenant sets none.
    let plugin = LimitOverrides {
        fuel: Some(200_000_000),
        ..Default::default()
    };
    let run = contained_with(guests::LOOP, plugin, LimitOverrides::default()).await;
    let error = failure(&run);
    assert!(
        error.contains("used up its fuel budget of 200000000 units"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_guest_hits_the_wall_clock_limit() {
    let limits = LimitOverrides {
        fuel: Some(u64::MAX / 2),
        timeout_ms: Some(300),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let run = contained(guests::SLEEPER, limits).await;
    let error = failure(&run);
    assert!(
        error.contains("ran past its wall-clock limit of 300 ms"),
        "{error}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the 60 s guest was cut short"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_hits_the_memory_cap() {
    let run = contained(
        guests::MEMORY_BOMB,
        LimitOverrides {
            memory_mib: Some(32),
            ..Default::default()
        },
    )
    .await;
    let error = failure(&run);
    assert!(
        error.contains("tried to grow its memory past the 32 MiB limit"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_overflows_the_stack() {
    let run = contained(guests::RECURSION, LimitOverrides::default()).await;
    let error = failure(&run);
    assert!(error.contains("overflowed its call stack"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_reported_with_its_message() {
    let run = contained(guests::PANIC, LimitOverrides::default()).await;
    let error = failure(&run);
    assert!(
        error.contains("panicked: guest-panic: deliberate"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn egress_to_a_host_that_was_not_granted_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(5).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    // Re-enable the shop connector with a grant for the ledger only.
    let mut wrong = shop_enablement("acme", &shop);
    wrong.grants = vec![ledger.addr().to_string().parse().unwrap()];
    let wrong = wrong.with_secret("api_token", SHOP_TOKEN);
    tenon.enable(wrong, "test").unwrap();

    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    let error = failure(&run);
    let expected = format!(
        "egress to {} is not granted to plugin `demo-shop` for tenant `acme`",
        shop.addr()
    );
    assert!(error.contains(&expected), "{error}");
    assert!(error.contains("denied"), "{error}");
    assert!(ledger.sales_orders().is_empty());
    // The refused request counts for the plugin, as an error, in the failed run.
    let used = run.plugins["demo-shop"];
    assert_eq!(
        (used.calls, used.http_requests, used.http_errors),
        (1, 1, 1),
        "{run:?}"
    );
    assert!(
        used.fuel_used > 0 && used.fuel_used == run.fuel_used,
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_cannot_read_host_files_env_or_open_sockets() {
    // The host process has an environment and files on disk; the guest sees neither.
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let snoop = install(&tenon, guests::SNOOP).await;
    tenon.create_tenant("acme", "test").unwrap();
    tenon.enable(enablement("acme", &snoop.id), "test").unwrap();

    let page = tenon
        .preview("acme", &snoop.id, "probe", None, 10)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    let probe: serde_json::Value = serde_json::from_str(&page.records[0].payload).unwrap();
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    for field in ["file", "dir", "tcp"] {
        let value = probe[field].as_str().unwrap_or_default();
        assert!(
            value.starts_with("denied"),
            "{field} should be denied, got {value:?}"
        );
    }
    if !hostname.trim().is_empty() {
        assert!(
            !probe.to_string().contains(hostname.trim()),
            "the host's /etc/hostname leaked: {probe}"
        );
    }
    assert_eq!(
        probe["env"],
        serde_json::json!([]),
        "the guest saw environment variables: {probe}"
    );
    assert!(
        std::env::vars().next().is_some(),
        "the host itself has an environment"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_larger_than_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(30).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let mut small = shop_enablement("acme", &shop);
    small.limits.max_response_bytes = Some(2_000);
    tenon.enable(small, "test").unwrap();

    let error = failure(&tenon.run_flow("acme", "orders-to-erp").await.unwrap());
    assert!(
        error.contains("is larger than the 2000-byte limit"),
        "{error}"
    );
    assert!(ledger.sales_orders().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_that_never_answers_times_out_as_retryable() {
    // A listener that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(1).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let mut stuck = shop_enablement("acme", &shop);
    stuck
        .config
        .insert("base_url".into(), format!("http://{addr}"));
    stuck.grants = vec![addr.to_string().parse().unwrap()];
    stuck.limits.http_timeout_ms = Some(300);
    let stuck = stuck.with_secret("api_token", SHOP_TOKEN);
    tenon.enable(stuck, "test").unwrap();

    let started = std::time::Instant::now();
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    let error = failure(&run);
    assert!(
        error.contains("returned an error: retryable: GET"),
        "{error}"
    );
    assert!(
        error.contains(&format!("request to {addr} timed out after 300 ms")),
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The request that timed out is an error, and its wait is the latency.
    let used = run.plugins["demo-shop"];
    assert_eq!((used.http_requests, used.http_errors), (1, 1), "{run:?}");
    assert!(used.http_micros >= 300_000, "{run:?}");
    hold.abort();
}
