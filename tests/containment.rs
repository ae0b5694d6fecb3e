//! The hostile-guest suite: one guest of `guests/` per attack, each test
//! asserting what a user sees (the error, what was stored, what the vendor
//! got), most of them while another tenant's flow on the same host completes.
//! Guests get no files, environment, sockets or ungranted egress; no secret;
//! no name that is not theirs; no more memory, time, calls or storage than
//! their limits. A guest without a test here fails to compile this file (see
//! the end).

mod support;

use base64::Engine as _;
use std::collections::BTreeMap;
use support::*;
use tenon::Tenon;
use tenon::capability::secret::Secret;
use tenon::flow::{Endpoint, Run};
use tenon::limits::LimitOverrides;
use tenon::publishers::InstallOptions;
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
    let evil_ledger = tenon_sandboxes::Ledger::start(LEDGER_TOKEN).await.unwrap();
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
    // The refused request never left the host: it counts for the plugin as
    // refused, not as a request sent to its vendor, and the summary says so.
    let used = run.plugins["demo-shop"];
    assert_eq!(
        (
            used.calls,
            used.http_requests,
            used.http_errors,
            used.http_refused
        ),
        (1, 0, 0, 1),
        "{run:?}"
    );
    assert_eq!((run.http_requests, run.http_refused), (0, 1), "{run:?}");
    assert!(
        tenon::cli::run_summary(&run).contains("0 HTTP request(s) (1 more refused)"),
        "{}",
        tenon::cli::run_summary(&run)
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

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_fails_is_named_once_without_its_query_string() {
    // A listener that takes each request and closes the connection unanswered.
    let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = rude.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        while let Ok((mut socket, _)) = rude.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            drop(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(3).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let mut gone = shop_enablement("acme", &shop);
    gone.config
        .insert("base_url".into(), format!("http://{addr}"));
    gone.grants = vec![addr.to_string().parse().unwrap()];
    let gone = gone.with_secret("api_token", SHOP_TOKEN);
    tenon.enable(gone, "test").unwrap();

    let error = failure(&tenon.run_flow("acme", "orders-to-erp").await.unwrap());
    // demo-shop asks for `/api/orders?limit=...`: the error names the request
    // by method and path, and the host's part names the host and port.
    assert!(error.contains("GET http://"), "{error}");
    assert!(error.contains("/api/orders?…"), "{error}");
    assert!(
        error.contains(&format!("request to {addr} failed")),
        "{error}"
    );
    assert!(!error.contains("limit="), "{error}");
    assert_eq!(error.matches("http://").count(), 1, "{error}");
    hold.abort();
}

/// Runs `attack` while the `good` tenant's demo flow runs, and checks that the
/// good run succeeded, moving its orders; returns what the attack returned.
async fn alongside<T>(
    tenon: &Tenon,
    ledger: &tenon_sandboxes::Ledger,
    attack: impl Future<Output = T>,
) -> T {
    let good = spawn_run(tenon, "good");
    let result = attack.await;
    let good = good.await.unwrap();
    assert_succeeded(&good);
    assert!(good.records_written > 0 || !ledger.sales_orders().is_empty());
    result
}

/// A host with the bundled plugins and the `good` tenant's demo pipeline.
async fn with_good_tenant(
    dir: &std::path::Path,
) -> (Tenon, tenon_sandboxes::Shop, tenon_sandboxes::Ledger) {
    let tenon = host(dir).await;
    let (shop, ledger) = vendors(5).await;
    pipeline(&tenon, "good", &shop, &ledger);
    (tenon, shop, ledger)
}

/// What the prober reported, probe name -> outcome.
async fn probe(tenon: &Tenon, plugin: &str) -> BTreeMap<String, String> {
    let page = tenon
        .preview("evil", plugin, "probes", None, 10)
        .await
        .unwrap();
    serde_json::from_str(&page.records[0].payload).unwrap()
}

const TOKEN: &str = "evil-s3cret-t0ken/with+stuff";

/// The forms a leaked token could take in an answer.
fn leaks(text: &str, secret: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let url = secret.replace('/', "%2F").replace('+', "%2B");
    text.contains(secret) || text.contains(&b64) || text.contains(&url) || text.contains("s3cret")
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_prober_is_stopped_at_the_request_limit_by_refused_requests_too() {
    // Requests the host refuses never leave it, but they still count against
    // the call's request limit: a plugin cannot spin on refused requests.
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let prober = install(&tenon, guests::PROBER).await;
    let sent = echo().await;
    tenon.create_tenant("evil", "test").unwrap();
    let mut probes: Vec<serde_json::Value> = (0..4)
        .map(|i| serde_json::json!({ "name": format!("refused-{i}"), "url": "http://10.0.0.1/" }))
        .collect();
    probes.push(serde_json::json!({ "name": "sent", "url": format!("http://{}/", sent.addr) }));
    let mut enablement = tenon::tenant::Enablement {
        config: BTreeMap::from([("probes".into(), serde_json::Value::from(probes).to_string())]),
        grants: vec![sent.addr.to_string().parse().unwrap()],
        ..enablement("evil", &prober.id)
    };
    enablement.limits.max_requests = Some(3);
    tenon.enable(enablement, "test").unwrap();

    let seen = probe(&tenon, &prober.id).await;
    for i in 0..3 {
        assert!(
            seen[&format!("refused-{i}")].contains("is not granted"),
            "{seen:?}"
        );
    }
    for name in ["refused-3", "sent"] {
        assert!(
            seen[name].contains("this call already sent 3 HTTP requests, the limit"),
            "{name}: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_prober_gets_no_secret_and_reaches_only_allowed_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, _shop, ledger) = with_good_tenant(dir.path()).await;
    let prober = install(&tenon, guests::PROBER).await;
    let (bound, other, listener) = (echo().await, echo().await, echo().await);
    // As `tenon serve` does for its own listeners.
    tenon.refuse_egress_to(listener.addr);
    tenon.create_tenant("evil", "test").unwrap();
    let url = |echo: &Echo| format!("http://{}/", echo.addr);
    let probes = serde_json::json!([
        { "name": "echo", "url": url(&bound), "credential": "api_token" },
        { "name": "own-listener", "url": url(&listener) },
        { "name": "echo-key", "url": url(&bound), "credential": "api_key" },
        { "name": "echo-basic-user", "url": url(&bound), "credential": "shop_key" },
        { "name": "own-auth", "url": url(&bound), "credential": "api_token",
          "headers": [["Authorization", "Bearer mine"]] },
        { "name": "own-key", "url": url(&bound), "credential": "api_key",
          "headers": [["x-api-key", "mine"]] },
        { "name": "host", "url": url(&bound), "headers": [["Host", "admin.internal"]] },
        { "name": "elsewhere", "url": url(&other), "credential": "api_token" },
        { "name": "hmac", "url": url(&bound), "credential": "signing" },
        { "name": "undeclared", "url": url(&bound), "credential": "password" },
        { "name": "plain-http", "url": "http://198.51.100.7/", "credential": "api_token" },
        { "name": "by-name", "url": format!("http://localhost:{}/", bound.addr.port()) },
        { "name": "ungranted", "url": "http://10.0.0.1/" },
    ]);
    let grants: Vec<tenon::capability::http::Grant> = [
        bound.addr.to_string(),
        other.addr.to_string(),
        "198.51.100.7:80".into(),
        format!("localhost:{}", bound.addr.port()),
        "127.0.0.1".into(),
    ]
    .iter()
    .map(|g| g.parse().unwrap())
    .collect();
    let secret = |value: &str, hosts: &[&str]| {
        Secret::for_hosts(value, hosts.iter().map(|h| h.parse().unwrap()).collect())
    };
    let bound_host = bound.addr.to_string();
    let enablement = tenon::tenant::Enablement {
        config: BTreeMap::from([("probes".into(), probes.to_string())]),
        secrets: BTreeMap::from([
            (
                "api_token".into(),
                secret(TOKEN, &[&bound_host, "198.51.100.7:80"]),
            ),
            (
                "api_key".into(),
                secret("evil-api-key-0042", &[&bound_host]),
            ),
            ("signing".into(), secret("evil-signing-key", &[])),
            (
                "shop_key".into(),
                secret("sk_test_evil0042", &[&bound_host]),
            ),
        ]),
        grants,
        ..enablement("evil", &prober.id)
    };
    tenon.enable(enablement, "test").unwrap();

    let seen = alongside(&tenon, &ledger, probe(&tenon, &prober.id)).await;
    let report = serde_json::to_string(&seen).unwrap();
    assert!(
        !leaks(&report, TOKEN),
        "a form of the token reached the guest: {report}"
    );
    assert!(!report.contains("evil-api-key-0042"), "{report}");
    assert!(!leaks(&report, "sk_test_evil0042:"), "{report}");
    assert!(!report.contains("sk_test_evil0042"), "{report}");
    // The echo heard the credential and answered it; the guest got it removed.
    assert!(seen["echo"].starts_with("200 "), "{}", seen["echo"]);
    assert!(
        seen["echo"].contains("[redacted by tenon]"),
        "{}",
        seen["echo"]
    );
    assert!(
        seen["echo-key"].contains("x-api-key: [redacted by tenon]"),
        "{}",
        seen["echo-key"]
    );
    // A key that is the Basic user name reaches the vendor as such
    // (`Basic base64(key:)`, checked where the host builds it) and never the guest.
    assert!(
        seen["echo-basic-user"].contains("authorization: [redacted by tenon]"),
        "{}",
        seen["echo-basic-user"]
    );
    for (probe, expected) in [
        (
            "own-auth",
            "error permanent: header `authorization` carries the credential the host applies",
        ),
        (
            "own-key",
            "error permanent: header `x-api-key` carries the credential the host applies",
        ),
        ("host", "error permanent: header `Host` is set by the host"),
        (
            "elsewhere",
            "error denied: secret `api_token` is not for 127.0.0.1",
        ),
        (
            "hmac",
            "error denied: secret `signing` is declared for verifying signatures only",
        ),
        (
            "undeclared",
            "error denied: plugin `guest-prober` does not declare secret `password`",
        ),
        (
            "plain-http",
            "error denied: secret `api_token` would go over plain http to 198.51.100.7:80",
        ),
        ("by-name", "resolves to 127.0.0.1"),
        (
            "ungranted",
            "error denied: egress to 10.0.0.1:80 is not granted",
        ),
        ("own-listener", "is refused: it is this host's own listener"),
    ] {
        assert!(seen[probe].contains(expected), "{probe}: {}", seen[probe]);
    }

    // The operator allows loopback for the tenant: the name now connects.
    let mut policy = tenon.tenant("evil").unwrap().policy;
    policy.networks = vec!["127.0.0.0/8".parse().unwrap()];
    tenon.set_policy("evil", policy, "test").unwrap();
    let seen = probe(&tenon, &prober.id).await;
    assert!(seen["by-name"].starts_with("200 "), "{}", seen["by-name"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_legacy_prober_a_0_1_0_component_runs_and_still_gets_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, _shop, ledger) = with_good_tenant(dir.path()).await;
    let prober = install(&tenon, guests::LEGACY_PROBER).await;
    assert_eq!(prober.api, tenon::plugin::Api::V0_1);
    let (bound, other) = (echo().await, echo().await);
    tenon.create_tenant("evil", "test").unwrap();
    let url = |echo: &Echo| format!("http://{}/", echo.addr);
    let grant = serde_json::json!({"oauth2": {
        "token_url": format!("http://{}/token", bound.addr), "grant_type": "client_credentials",
        "client_id": "evil-client", "client_secret": "evil-client-s3cret",
    }});
    let probes = serde_json::json!([
        { "name": "any-header", "url": url(&bound), "secret": "api_token", "scheme": "header:X-Leak" },
        { "name": "basic", "url": url(&bound), "secret": "api_token", "scheme": "basic:evil" },
        { "name": "own-auth", "url": url(&bound), "secret": "api_token",
          "headers": [["Authorization", "Bearer mine"]] },
        { "name": "elsewhere", "url": url(&other), "secret": "api_token" },
        { "name": "grant-as-basic", "url": url(&bound), "secret": "oauth", "scheme": "basic:evil" },
        { "name": "grant-as-header", "url": url(&bound), "secret": "oauth", "scheme": "header:X-Grant" },
    ]);
    let bound_host: tenon::capability::http::Grant = bound.addr.to_string().parse().unwrap();
    let enablement = tenon::tenant::Enablement {
        config: BTreeMap::from([("probes".into(), probes.to_string())]),
        secrets: BTreeMap::from([
            (
                "api_token".into(),
                Secret::for_hosts(TOKEN, vec![bound_host.clone()]),
            ),
            (
                "oauth".into(),
                Secret::for_hosts(grant.to_string(), vec![bound_host.clone()]),
            ),
        ]),
        grants: vec![bound_host, other.addr.to_string().parse().unwrap()],
        ..enablement("evil", &prober.id)
    };
    tenon.enable(enablement, "test").unwrap();

    let seen = alongside(&tenon, &ledger, probe(&tenon, &prober.id)).await;
    let report = serde_json::to_string(&seen).unwrap();
    assert!(
        !leaks(&report, TOKEN),
        "a form of the token reached the guest: {report}"
    );
    assert!(!report.contains("evil-client-s3cret"), "{report}");
    assert!(
        seen["any-header"].contains("x-leak: [redacted by tenon]"),
        "{}",
        seen["any-header"]
    );
    assert!(
        seen["basic"].contains("authorization: [redacted by tenon]"),
        "{}",
        seen["basic"]
    );
    for (probe, expected) in [
        (
            "own-auth",
            "error permanent: header `authorization` carries the credential",
        ),
        (
            "elsewhere",
            "error denied: secret `api_token` is not for 127.0.0.1",
        ),
        (
            "grant-as-basic",
            "error denied: secret `oauth` holds an OAuth 2 grant, which the host applies only as a bearer token",
        ),
        (
            "grant-as-header",
            "error denied: secret `oauth` holds an OAuth 2 grant, which the host applies only as a bearer token",
        ),
    ] {
        assert!(seen[probe].contains(expected), "{probe}: {}", seen[probe]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_impostor_cannot_take_a_name_or_change_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, _shop, ledger) = with_good_tenant(dir.path()).await;
    let impostor = tenon_tests::guest(guests::IMPOSTOR);
    let refused = |result: tenon::Result<tenon::plugin::Installed>| {
        let error = result.expect_err("the install must be refused");
        assert_eq!(error.exit_code(), 4, "{error}");
        error.to_string()
    };
    let unsigned = InstallOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    let attack = async {
        // Unsigned, even allowed so, it may not replace the signed demo-shop.
        let error = refused(tenon.install_with(&impostor, unsigned, "test").await);
        assert!(
            error.contains("plugin name `demo-shop` belongs to the publisher of key"),
            "{error}"
        );
        assert!(error.contains("signed by no key (unsigned)"), "{error}");
        // Signed by a key nobody trusts.
        let key = tenon_sign::SecretKey::generate().unwrap();
        let signed = tenon_sign::sign(&impostor, &key).unwrap();
        let error = refused(
            tenon
                .install(&signed, LimitOverrides::default(), "test")
                .await,
        );
        assert!(error.contains("which is not trusted"), "{error}");
        // Signed by a trusted key that is not demo-shop's publisher.
        tenon
            .trust("other-vendor", &key.public().to_text(), "test")
            .unwrap();
        let error = refused(
            tenon
                .install(&signed, LimitOverrides::default(), "test")
                .await,
        );
        assert!(error.contains("belongs to the publisher of key"), "{error}");
    };
    alongside(&tenon, &ledger, attack).await;
    assert_eq!(tenon.plugin("demo-shop").unwrap().version, "0.1.0");

    // The bundle key trusted for files: the same version with other bytes is
    // refused, and an older version than the current one needs the operator.
    tenon
        .trust("tenon-bundled", &tenon_tests::bundle_key(), "test")
        .unwrap();
    let raw = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/wasm/wasm32-wasip2/release/demo_shop.wasm"
    );
    let mut other_bytes = std::fs::read(raw).unwrap();
    other_bytes.extend_from_slice(&[0, 5, 4, b'm', b'o', b'r', b'e']);
    let other_bytes = tenon_tests::signed_by_bundle_key(&other_bytes);
    let error = refused(
        tenon
            .install(&other_bytes, LimitOverrides::default(), "test")
            .await,
    );
    assert!(
        error.contains("`demo-shop` 0.1.0 is installed already with other code"),
        "{error}"
    );
    install_ledger_v2(&tenon).await;
    let older = tenon::bundled::get("demo-ledger").unwrap();
    let error = refused(
        tenon
            .install_bundled_plugin(older, Default::default(), "test")
            .await,
    );
    assert!(
        error.contains("`demo-ledger` 0.1.0 is older than the current 0.2.0"),
        "{error}"
    );
    let downgrade = InstallOptions {
        allow_downgrade: true,
        ..Default::default()
    };
    tenon
        .install_bundled_plugin(older, downgrade, "test")
        .await
        .unwrap();
    assert_eq!(tenon.plugin("demo-ledger").unwrap().version, "0.1.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_component_files_and_cache_entries_are_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (shop, ledger) = vendors(3).await;
    let shop_sha = {
        let tenon = host(&data).await;
        pipeline(&tenon, "good", &shop, &ledger);
        tenon.plugin("demo-shop").unwrap().sha256
    };
    // Every compiled entry damaged: the next host finds none that verifies,
    // compiles again, and runs.
    for entry in std::fs::read_dir(data.join("cache")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    {
        let tenon = Tenon::open(&data).unwrap();
        assert_succeeded(&tenon.run_flow("good", "orders-to-erp").await.unwrap());
        let stats = &tenon.engine().stats;
        assert_eq!(
            stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        assert_eq!(
            stats
                .cache_rejected
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
    }
    // The installed component file changed: refused, never run.
    let file = data.join("components").join(format!("{shop_sha}.wasm"));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.push(0);
    std::fs::write(&file, bytes).unwrap();
    let tenon = Tenon::open(&data).unwrap();
    let error = failure(&tenon.run_flow("good", "orders-to-erp").await.unwrap());
    assert!(
        error.contains("of `demo-shop` 0.1.0 has changed since it was installed"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_hoarder_makes_the_host_store_and_log_nothing_oversized() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, shop, ledger) = with_good_tenant(dir.path()).await;
    let hoarder = install(&tenon, guests::HOARDER).await;
    tenon.create_tenant("evil", "test").unwrap();
    tenon
        .enable(enablement("evil", &hoarder.id), "test")
        .unwrap();
    let flow = |name: &str, stream: &str| {
        tenon::host::flow(
            "evil",
            name,
            Endpoint {
                plugin: hoarder.id.clone(),
                stream: stream.into(),
            },
            Vec::new(),
            Endpoint {
                plugin: hoarder.id.clone(),
                stream: "sink".into(),
            },
        )
    };
    for (name, stream) in [
        ("records", "huge-record"),
        ("pages", "huge-page"),
        ("errors", "huge-error"),
        ("limited", "rate-limited"),
    ] {
        tenon.add_flow(flow(name, stream), "test").unwrap();
    }
    let size = |dir: &std::path::Path| -> u64 {
        fn walk(p: &std::path::Path) -> u64 {
            std::fs::read_dir(p).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            e.metadata().map_or(0, |m| m.len())
                        }
                    })
                    .sum()
            })
        }
        walk(dir)
    };
    let before = size(&dir.path().join("state"));

    let runs = alongside(&tenon, &ledger, async {
        let mut runs = Vec::new();
        for name in ["records", "pages", "errors", "limited"] {
            runs.push(tenon.run_flow("evil", name).await.unwrap());
        }
        runs
    })
    .await;
    // A 10 MB record: dead-lettered without its payload; its batch goes on.
    assert_succeeded(&runs[0]);
    let letters = tenon.dead_letters(Some("evil"), Some("records")).unwrap();
    let big = letters.iter().find(|l| l.envelope.key == "big").unwrap();
    assert!(big.payload_dropped && big.envelope.payload.is_empty());
    assert!(
        big.attempts[0]
            .error
            .contains("is over the 1048576-byte limit"),
        "{:?}",
        big.attempts
    );
    let small = letters.iter().find(|l| l.envelope.key == "small").unwrap();
    assert!(
        small.attempts[0]
            .error
            .contains("the destination answered an id of 1000000 bytes"),
        "{:?}",
        small.attempts
    );
    let replay = tenon.replay(big.id, None, false, "test").await.unwrap_err();
    assert!(
        replay.to_string().contains("cannot be replayed as stored"),
        "{replay}"
    );
    // A 20 MB page: the call breaks the contract; the run fails and says why.
    let error = failure(&runs[1]);
    assert!(
        error.contains("more than the 16777216-byte limit"),
        "{error}"
    );
    // A 4 MB error text: cut, in the run record and the log alike.
    let error = failure(&runs[2]);
    assert!(
        error.len() < 5_000 && error.contains("bytes cut]"),
        "{} bytes",
        error.len()
    );
    // A rate limit of u64::MAX ms: held to the longest wait, no overflow.
    failure(&runs[3]);
    assert_eq!(
        runs[3].retry_after_ms,
        Some(tenon::delivery::MAX_RATE_LIMIT_WAIT_MS)
    );
    // The database grew by kilobytes, not by the megabytes the guest handed over.
    tenon.flush().unwrap();
    let grown = size(&dir.path().join("state")).saturating_sub(before);
    assert!(grown < 4 << 20, "the state grew by {grown} bytes");
    drop(shop);
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_hoarder_cannot_write_the_hosts_or_another_plugins_id_map() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, _shop, _ledger) = with_good_tenant(dir.path()).await;
    let hoarder = install(&tenon, guests::HOARDER).await;
    tenon.create_tenant("evil", "test").unwrap();
    tenon
        .enable(enablement("evil", &hoarder.id), "test")
        .unwrap();
    // `customers` is demo-shop's (the operator gave it to it).
    tenon
        .share_namespace("evil", "customers", "demo-shop", "test")
        .unwrap();
    let forge = || async {
        let page = tenon
            .preview("evil", &hoarder.id, "forge", None, 1)
            .await
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&page.records[0].payload).unwrap()
    };
    let seen = forge().await;
    assert!(
        seen["flow"]
            .as_str()
            .unwrap()
            .contains("error denied: id-map namespace `flow:orders-to-erp` belongs to the host"),
        "{seen}"
    );
    assert!(
        seen["customers"]
            .as_str()
            .unwrap()
            .contains("belongs to plugin `demo-shop`"),
        "{seen}"
    );
    assert!(
        tenon
            .links("evil", Some("flow:orders-to-erp"))
            .unwrap()
            .is_empty()
    );
    // Shared by the operator, it may write there.
    tenon
        .share_namespace("evil", "customers", &hoarder.id, "test")
        .unwrap();
    assert_eq!(forge().await["customers"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_bloated_a_10_mb_descriptor_is_refused_at_install() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let wasm = tenon_tests::guest(guests::BLOATED);
    let options = InstallOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    let error = tenon
        .install_with(&wasm, options, "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("describe returned a descriptor of 10485")
            && error.contains("more than the 262144-byte limit"),
        "{error}"
    );
    assert!(tenon.plugin("guest-bloated").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_multiplier_a_transform_cannot_multiply_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, shop, ledger) = with_good_tenant(dir.path()).await;
    let multiplier = install(&tenon, guests::MULTIPLIER).await;
    let evil_ledger = tenon_sandboxes::Ledger::start(LEDGER_TOKEN).await.unwrap();
    tenon.create_tenant("evil", "test").unwrap();
    tenon
        .enable(shop_enablement("evil", &shop), "test")
        .unwrap();
    tenon
        .enable(enablement("evil", &multiplier.id), "test")
        .unwrap();
    tenon
        .enable(ledger_enablement("evil", &evil_ledger), "test")
        .unwrap();
    tenon
        .add_flow(
            tenon::host::flow(
                "evil",
                "orders-to-erp",
                Endpoint {
                    plugin: "demo-shop".into(),
                    stream: "orders".into(),
                },
                vec![multiplier.id.clone()],
                Endpoint {
                    plugin: "demo-ledger".into(),
                    stream: "sale-orders".into(),
                },
            ),
            "test",
        )
        .unwrap();
    let run = alongside(&tenon, &ledger, tenon.run_flow("evil", "orders-to-erp"))
        .await
        .unwrap();
    let error = failure(&run);
    assert!(
        error.contains("transform made 5000 records")
            && error.contains("of 5, more than the limit of 10 records per record"),
        "{error}"
    );
    assert!(evil_ledger.sales_orders().is_empty());
}

/// A component of `instances` core instances of a module with one memory of
/// `pages` pages, and an export that is no Tenon world.
fn component_with_memories(instances: usize, pages: u32) -> Vec<u8> {
    let mut wat = format!("(component (core module $m (memory {pages})) ");
    for i in 0..instances {
        wat.push_str(&format!("(core instance $i{i} (instantiate $m)) "));
    }
    wat.push(')');
    wat::parse_str(&wat).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_with_many_memories_is_refused_at_install() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let options = InstallOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    for (instances, what) in [
        (
            128,
            "transitively contains 128 core module instances, which exceeds the configured maximum of 8",
        ),
        (
            3,
            "transitively contains 3 Wasm linear memories, which exceeds the configured maximum of 2",
        ),
    ] {
        let error = tenon
            .install_with(&component_with_memories(instances, 1), options, "test")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(what), "{error}");
        assert!(error.contains("that Tenon allows per component"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_tenants_flood_of_calls_waits_on_its_share_while_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let (tenon, _shop, ledger) = with_good_tenant(dir.path()).await;
    let sleeper = install(&tenon, guests::SLEEPER).await;
    let looper = install(&tenon, guests::LOOP).await;
    tenon.create_tenant("evil", "test").unwrap();
    let limits = |ms| LimitOverrides {
        fuel: Some(u64::MAX / 2),
        timeout_ms: Some(ms),
        ..Default::default()
    };
    for (plugin, ms) in [(&sleeper.id, 4_000), (&looper.id, 500)] {
        tenon
            .enable(
                tenon::tenant::Enablement {
                    limits: limits(ms),
                    ..enablement("evil", plugin)
                },
                "test",
            )
            .unwrap();
    }
    // Every call slot of the tenant's share held by a call that runs 4 s.
    let share = tenon::limits::TENANT_CALL_SHARE as usize;
    let call = |plugin: &str| {
        let (tenon, plugin) = (tenon.clone(), plugin.to_owned());
        tokio::spawn(async move { tenon.preview("evil", &plugin, "records", None, 1).await })
    };
    let holders: Vec<_> = (0..share).map(|_| call(&sleeper.id)).collect();
    while tenon.sandbox().gate().running() < share {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let errors = alongside(&tenon, &ledger, async {
        // More of its calls wait for its own slots, not for the others'.
        let waiters: Vec<_> = (0..8).map(|_| call(&looper.id)).collect();
        let mut errors = Vec::new();
        for waiter in waiters {
            errors.push(waiter.await.unwrap().unwrap_err().to_string());
        }
        errors
    })
    .await;
    for error in &errors {
        assert!(
            error.contains("no call slot became free within 500 ms")
                && error.contains(&format!("its share is {share}")),
            "{error}"
        );
    }
    for holder in holders {
        let error = holder.await.unwrap().unwrap_err().to_string();
        assert!(
            error.contains("ran past its wall-clock limit of 4000 ms"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stops_at_its_time_budget_and_the_next_continues() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(30).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    // Every write takes 700 ms, one record a batch; a run may take 2 s.
    ledger.script(std::iter::repeat_n(
        tenon_sandboxes::Fault::Slow { ms: 700 },
        100,
    ));
    let mut flow = tenon.flow("acme", "orders-to-erp").unwrap();
    flow.max_run_ms = 2_000;
    flow.batch_size = 1;
    tenon.add_flow(flow, "test").unwrap();
    let started = std::time::Instant::now();
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.status, tenon::flow::RunStatus::Interrupted, "{run:?}");
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("reached its time budget of 2000 ms"),
        "{run:?}"
    );
    assert!((1..30).contains(&run.records_written), "{run:?}");
    let again = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!(
        again.cursor_before, run.cursor_after,
        "the next run continues"
    );
    assert!(again.records_written >= 1, "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_at_rest_are_sealed_and_gone_after_disable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (shop, _ledger) = vendors(1).await;
    const VALUE: &str = "at-rest-s3cret-9c1e";
    let b64 = base64::engine::general_purpose::STANDARD.encode(VALUE);
    let grep = |needle: &[u8]| -> Vec<std::path::PathBuf> {
        fn files(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(p).unwrap().filter_map(Result::ok) {
                if e.path().is_dir() {
                    files(&e.path(), out)
                } else {
                    out.push(e.path())
                }
            }
        }
        let mut all = Vec::new();
        files(&data, &mut all);
        all.into_iter()
            .filter(|f| {
                std::fs::read(f)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle)
            })
            .collect()
    };
    // Every sealed blob the database files still hold, opened with the keys left.
    let opened = || -> usize {
        let keys = tenon::keys::Keyring::open(&data.join("keys")).unwrap();
        let mut opened = 0;
        for file in grep(b"\"ciphertext\"") {
            let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
            for at in text.match_indices("{\"key\":\"").map(|(i, _)| i) {
                let Some(end) = text[at..].find('}') else {
                    continue;
                };
                if let Ok(sealed) =
                    serde_json::from_str::<tenon::keys::Sealed>(&text[at..at + end + 1])
                    && keys.unseal("acme", "demo-shop", &sealed).is_ok()
                {
                    opened += 1;
                }
            }
        }
        opened
    };
    let tenon = host(&data).await;
    tenon.create_tenant("acme", "test").unwrap();
    tenon
        .enable(
            shop_enablement("acme", &shop).with_secret("api_token", VALUE),
            "test",
        )
        .unwrap();
    tenon.flush().unwrap();
    assert!(
        grep(VALUE.as_bytes()).is_empty(),
        "in clear: {:?}",
        grep(VALUE.as_bytes())
    );
    assert!(grep(b64.as_bytes()).is_empty());
    assert!(
        opened() >= 1,
        "the sealed secrets can be opened while enabled"
    );
    // Replaced, then disabled: no key left opens anything the files still hold.
    tenon
        .enable(shop_enablement("acme", &shop), "test")
        .unwrap();
    tenon.disable("acme", "demo-shop", "test").unwrap();
    tenon.flush().unwrap();
    drop(tenon);
    assert!(grep(VALUE.as_bytes()).is_empty() && grep(b64.as_bytes()).is_empty());
    assert_eq!(opened(), 0, "a key left opens the disabled secrets");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("keys")), 0o700);
    assert_eq!(mode(&data.join("state/db")), 0o600);
}

// The 0.1.0 guests that behave: they still install and run.

#[tokio::test(flavor = "multi_thread")]
async fn guest_echo_a_0_1_0_transform_still_runs_in_a_flow() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(4).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let echo = install(&tenon, guests::ECHO).await;
    assert_eq!(echo.api, tenon::plugin::Api::V0_1);
    tenon.enable(enablement("acme", &echo.id), "test").unwrap();
    let mut flow = tenon.flow("acme", "orders-to-erp").unwrap();
    flow.transforms.insert(0, echo.id.clone());
    tenon.add_flow(flow, "test").unwrap();
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_written, ledger.sales_orders().len()), (4, 4));
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_ledger_v2_a_signed_0_1_0_upgrade_writes() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(3).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let v2 = install_ledger_v2(&tenon).await;
    assert_eq!(
        (v2.api, v2.publisher.is_some()),
        (tenon::plugin::Api::V0_1, true)
    );
    // 0.2.0 declares a new egress host: the tenant grants it.
    let mut enabled = ledger_enablement("acme", &ledger);
    enabled.grants.push("api.ledger.example".parse().unwrap());
    tenon.enable(enabled, "test").unwrap();
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(run.records_written, 3);
    assert!(
        tenon
            .links("acme", Some("flow:orders-to-erp"))
            .unwrap()
            .iter()
            .all(|(_, _, t)| t.starts_with("v2-"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_wrong_world_is_refused_with_what_it_exports() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = Tenon::open(dir.path()).unwrap();
    let options = InstallOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    let wasm = tenon_tests::guest(guests::WRONG_WORLD);
    let error = tenon
        .install_with(&wasm, options, "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("not a Tenon plugin") && error.contains("wasi:cli/run"),
        "{error}"
    );
}

// Every guest has its test here.
use a_busy_guest_hits_the_wall_clock_limit as guest_sleeper;
use a_guest_cannot_read_host_files_env_or_open_sockets as guest_snoop;
use a_memory_bomb_hits_the_memory_cap as guest_memory_bomb;
use a_panic_is_reported_with_its_message as guest_panic;
use an_infinite_loop_runs_out_of_fuel as guest_loop;
use deep_recursion_overflows_the_stack as guest_recursion;
use guest_bloated_a_10_mb_descriptor_is_refused_at_install as guest_bloated;
use guest_echo_a_0_1_0_transform_still_runs_in_a_flow as guest_echo;
use guest_hoarder_makes_the_host_store_and_log_nothing_oversized as guest_hoarder;
use guest_impostor_cannot_take_a_name_or_change_a_version as guest_impostor;
use guest_ledger_v2_a_signed_0_1_0_upgrade_writes as guest_ledger_v2;
use guest_legacy_prober_a_0_1_0_component_runs_and_still_gets_no_secret as guest_legacy_prober;
use guest_multiplier_a_transform_cannot_multiply_a_batch as guest_multiplier;
use guest_prober_gets_no_secret_and_reaches_only_allowed_addresses as guest_prober;
use guest_wrong_world_is_refused_with_what_it_exports as guest_wrong_world;
use tenon_tests::assert_guest_tested;
tenon_tests::foreach_guest!(assert_guest_tested);
