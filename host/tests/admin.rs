//! The admin API as operators and tenants use it: a real `tenon serve` on
//! loopback with an operator token and tenant tokens for `acme` and `globex`,
//! set up entirely over HTTP (plugins uploaded, tenants created, plugins
//! enabled, flows defined on a schedule), syncing against in-process vendor
//! sandboxes; a plugin disabled while flows run, a dead letter replayed, the
//! audit log read, a flow reconciled; tenant tokens kept to their own tenant;
//! and the CLI acting through `--server`. And a plugin upgraded while in use:
//! `demo-ledger` 0.2.0 uploaded, refused for a tenant until it grants the new
//! egress host, then run, rolled back, and both changes in the audit log.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::{Body, LEDGER_TOKEN, OPERATOR_TOKEN, SHOP_TOKEN, Served, code, tenon};
use tenon_sandboxes::{Fault, Ledger, Shop, demo_orders};

const OPS: Option<&str> = Some(OPERATOR_TOKEN);
const ACME_TOKEN: &str = "acme-portal-token-0123456789";
const GLOBEX_TOKEN: &str = "globex-portal-token-0123456789";
const ACME: Option<&str> = Some(ACME_TOKEN);
const GLOBEX: Option<&str> = Some(GLOBEX_TOKEN);
const WAIT: Duration = Duration::from_secs(60);

/// A configuration with the operator token `ops`, and tenant tokens
/// `acme-portal` (its secret in a file) and `globex-portal`.
fn config(dir: &Path) -> String {
    let secret_file = dir.join("acme-portal.secret");
    std::fs::write(&secret_file, format!("{ACME_TOKEN}\n")).unwrap();
    let path = dir.join("tenon.toml");
    std::fs::write(
        &path,
        format!(
            r#"listen = "127.0.0.1:0"

[scheduler]
tick = "100ms"

{}
[[token]]
name = "acme-portal"
role = "tenant"
tenant = "acme"
secret_file = "{}"

[[token]]
name = "globex-portal"
role = "tenant"
tenant = "globex"
secret = "{GLOBEX_TOKEN}"
"#,
            support::operator_token(),
            secret_file.display()
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

/// Enables the bundled plugins for `tenant` (with `token`) against its vendors,
/// and defines `orders-to-erp` to run every second.
async fn set_up(served: &Served, tenant: &str, token: Option<&str>, shop: &Shop, ledger: &Ledger) {
    enable_plugins(served, tenant, token, shop, ledger, &[]).await;
    let (status, body) = served
        .call(
            "GET",
            &format!("/api/v1/tenants/{tenant}/plugins/"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404, "no route with a trailing slash: {body}");
    let (status, body) = served
        .call(
            "PUT",
            &format!("/api/v1/tenants/{tenant}/flows/orders-to-erp"),
            token,
            Some(Body::Json(json!({
                "source": "demo-shop:orders",
                "transforms": ["order-to-sale"],
                "destination": "demo-ledger:sale-orders",
                "every": "1s",
                "batch_size": 5,
            }))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schedule"], json!({ "every": "1s" }), "{body}");
}

/// Enables the bundled plugins for `tenant` (with `token`) against its vendors;
/// `demo-ledger` may also reach `more_ledger_hosts`.
async fn enable_plugins(
    served: &Served,
    tenant: &str,
    token: Option<&str>,
    shop: &Shop,
    ledger: &Ledger,
    more_ledger_hosts: &[&str],
) {
    let mut ledger_grants = vec![ledger.addr().to_string()];
    ledger_grants.extend(more_ledger_hosts.iter().map(|h| h.to_string()));
    let plugins = [
        (
            "demo-shop",
            json!({
                "config": { "base_url": shop.base_url() },
                "secrets": { "api_token": { "value": SHOP_TOKEN, "hosts": [shop.addr().to_string()] } },
                "grants": [shop.addr().to_string()],
            }),
        ),
        ("order-to-sale", json!({})),
        (
            "demo-ledger",
            json!({
                "config": { "base_url": ledger.base_url() },
                "secrets": { "api_token": { "value": LEDGER_TOKEN, "hosts": [ledger.addr().to_string()] } },
                "grants": ledger_grants,
                "limits": { "timeout_ms": 10000 },
            }),
        ),
    ];
    for (plugin, settings) in plugins {
        let path = format!("/api/v1/tenants/{tenant}/plugins/{plugin}");
        let (status, body) = served
            .call("PUT", &path, token, Some(Body::Json(settings)))
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains(SHOP_TOKEN) && !text.contains(LEDGER_TOKEN),
            "a secret value was answered: {text}"
        );
    }
}

/// Uploads the bundled plugins as files, as an operator would, once the
/// operator trusts the key they are signed with; before that, each is refused.
async fn upload_bundled(served: &Served) {
    let (_, first) = tenon::bundled::PLUGINS[0];
    let (status, body) = served
        .call(
            "POST",
            "/api/v1/plugins",
            OPS,
            Some(Body::Bytes(first.to_vec())),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("which is not trusted"),
        "{body}"
    );
    let trust = json!({ "name": "tenon-bundled", "key": tenon::bundled::BUNDLE_KEY });
    let (status, body) = served
        .call(
            "POST",
            "/api/v1/publishers",
            ACME,
            Some(Body::Json(trust.clone())),
        )
        .await;
    assert_eq!(status, 403, "only an operator trusts keys: {body}");
    let (status, body) = served
        .call("POST", "/api/v1/publishers", OPS, Some(Body::Json(trust)))
        .await;
    assert_eq!(status, 201, "{body}");
    for (name, wasm) in tenon::bundled::PLUGINS {
        let (status, body) = served
            .call(
                "POST",
                "/api/v1/plugins",
                OPS,
                Some(Body::Bytes(wasm.to_vec())),
            )
            .await;
        assert_eq!(status, 201, "{name}: {body}");
    }
}

/// The runs of `tenant`, newest first.
async fn runs(served: &Served, tenant: &str) -> Vec<Value> {
    let (status, body) = served
        .call(
            "GET",
            &format!("/api/v1/runs?tenant={tenant}&limit=1000"),
            OPS,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// Polls (with async calls) until `done` holds for `tenant`'s runs.
async fn wait_for_runs(
    served: &Served,
    tenant: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let runs = runs(served, tenant).await;
        if done(&runs) {
            return runs;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: not within {WAIT:?}: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_and_tenants_drive_a_running_server_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path());
    let served = Served::start(&data, &["serve", "--config", &config]).await;

    // Open: health and the OpenAPI document. Everything else needs a token.
    assert_eq!(served.call("GET", "/healthz", None, None).await.0, 200);
    let (status, openapi) = served.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(openapi["openapi"], "3.1.0");
    for (method, path) in [
        ("GET", "/api/v1/plugins"),
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/audit"),
        ("POST", "/api/v1/tenants/acme/flows/orders-to-erp/run"),
    ] {
        let (status, body) = served.call(method, path, None, None).await;
        assert_eq!(
            (status, body["kind"].as_str()),
            (401, Some("unauthorized")),
            "{method} {path}"
        );
        let wrong = Some("not-a-token-of-this-server");
        assert_eq!(
            served.call(method, path, wrong, None).await.0,
            401,
            "{method} {path}"
        );
    }

    // Only the operator installs plugins and creates tenants.
    let (_, wasm) = tenon::bundled::PLUGINS[0];
    let (status, body) = served
        .call(
            "POST",
            "/api/v1/plugins",
            ACME,
            Some(Body::Bytes(wasm.to_vec())),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    upload_bundled(&served).await;
    let (status, body) = served
        .call(
            "POST",
            "/api/v1/plugins",
            OPS,
            Some(Body::Bytes(b"not wasm".to_vec())),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );
    let (status, plugins) = served.call("GET", "/api/v1/plugins", ACME, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        plugins.as_array().unwrap().len(),
        tenon::bundled::PLUGINS.len()
    );
    let (status, shop) = served
        .call("GET", "/api/v1/plugins/demo-shop", GLOBEX, None)
        .await;
    assert_eq!((status, shop["id"].as_str()), (200, Some("demo-shop")));
    let (status, _) = served
        .call("GET", "/api/v1/plugins/no-such-plugin", OPS, None)
        .await;
    assert_eq!(status, 404);

    let new_tenant = |id: &str| Some(Body::Json(json!({ "id": id })));
    let (status, _) = served
        .call("POST", "/api/v1/tenants", ACME, new_tenant("acme"))
        .await;
    assert_eq!(status, 403);
    for id in ["acme", "globex"] {
        let (status, body) = served
            .call("POST", "/api/v1/tenants", OPS, new_tenant(id))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = served
        .call("POST", "/api/v1/tenants", OPS, new_tenant("Bad Name"))
        .await;
    assert_eq!((status, body["kind"].as_str()), (422, Some("invalid")));

    // acme's ledger refuses its first sales order for good: a dead letter.
    let (acme_shop, acme_ledger) = vendors(6).await;
    let (globex_shop, globex_ledger) = vendors(4).await;
    acme_ledger.script([Fault::Reject]);
    set_up(&served, "acme", OPS, &acme_shop, &acme_ledger).await;
    // A tenant token grants only what the operator allowed its tenant.
    let policy = json!({
        "egress": [globex_shop.addr().to_string(), globex_ledger.addr().to_string()],
    });
    let (status, _) = served
        .call(
            "PUT",
            "/api/v1/tenants/globex/policy",
            GLOBEX,
            Some(Body::Json(policy.clone())),
        )
        .await;
    assert_eq!(status, 403, "a tenant token may not set its own policy");
    let (status, body) = served
        .call(
            "PUT",
            "/api/v1/tenants/globex/policy",
            OPS,
            Some(Body::Json(policy)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    set_up(&served, "globex", GLOBEX, &globex_shop, &globex_ledger).await;
    // A flow pinned to the installed version of its destination; a pin of a
    // plugin the flow does not use is refused.
    let (_, ledger) = served
        .call("GET", "/api/v1/plugins/demo-ledger", OPS, None)
        .await;
    let pinned = |pins: Value| {
        Some(Body::Json(json!({
            "source": "demo-shop:orders",
            "transforms": ["order-to-sale"],
            "destination": "demo-ledger:sale-orders",
            "every": "1s",
            "batch_size": 5,
            "pins": pins,
        })))
    };
    let flow_path = "/api/v1/tenants/globex/flows/orders-to-erp";
    let (status, body) = served
        .call(
            "PUT",
            flow_path,
            GLOBEX,
            pinned(json!({ "demo-ledger": ledger["version"] })),
        )
        .await;
    assert_eq!(
        (status, &body["pins"]["demo-ledger"]),
        (200, &ledger["version"]),
        "{body}"
    );
    let (status, body) = served
        .call(
            "PUT",
            flow_path,
            GLOBEX,
            pinned(json!({ "demo-shop-x": "1.0.0" })),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );

    // The scheduler runs both flows on their own.
    wait_for_runs(&served, "acme", "acme's orders moved", |_| {
        acme_ledger.sales_orders().len() == 5
    })
    .await;
    wait_for_runs(&served, "globex", "globex's orders moved", |runs| {
        globex_ledger.sales_orders().len() == 4 && runs.len() >= 2
    })
    .await;

    // The dead letter: listed for acme, invisible to globex, replayed by acme.
    let (status, letters) = served.call("GET", "/api/v1/dead-letters", ACME, None).await;
    assert_eq!(status, 200, "{letters}");
    let letters = letters.as_array().unwrap().clone();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let id = letters[0]["id"].as_u64().unwrap();
    let (status, globex_letters) = served
        .call("GET", "/api/v1/dead-letters", GLOBEX, None)
        .await;
    assert_eq!((status, globex_letters), (200, json!([])));
    let letter_path = format!("/api/v1/dead-letters/{id}");
    assert_eq!(served.call("GET", &letter_path, GLOBEX, None).await.0, 404);
    let replay = format!("{letter_path}/replay");
    let discard = format!("{letter_path}/discard");
    let empty = || Some(Body::Json(json!({})));
    assert_eq!(served.call("POST", &replay, GLOBEX, empty()).await.0, 404);
    assert_eq!(served.call("POST", &discard, GLOBEX, empty()).await.0, 404);
    let (status, replayed) = served.call("POST", &replay, ACME, empty()).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["dead_letter"].as_u64(), Some(id));
    assert_eq!(acme_ledger.sales_orders().len(), 6);
    assert_eq!(
        served.call("GET", &letter_path, OPS, None).await.0,
        404,
        "delivered, gone"
    );

    // A tenant token sees only its own tenant: other tenants answer 404.
    let (_, tenants) = served.call("GET", "/api/v1/tenants", ACME, None).await;
    assert_eq!(tenants.as_array().unwrap().len(), 1, "{tenants}");
    assert_eq!(tenants[0]["id"], "acme");
    let (_, all_runs) = served
        .call("GET", "/api/v1/runs?limit=1000", ACME, None)
        .await;
    assert!(
        all_runs
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == "acme"),
        "{all_runs}"
    );
    let (_, flows) = served.call("GET", "/api/v1/flows", ACME, None).await;
    assert!(
        flows
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["tenant"] == "acme")
    );
    let flow_body = || {
        Some(Body::Json(json!({
            "source": "demo-shop:orders",
            "destination": "demo-ledger:sale-orders",
        })))
    };
    let enable_body = || Some(Body::Json(json!({})));
    for (method, path, body) in [
        ("GET", "/api/v1/tenants/globex", None),
        ("GET", "/api/v1/tenants/globex/plugins", None),
        (
            "PUT",
            "/api/v1/tenants/globex/plugins/order-to-sale",
            enable_body(),
        ),
        ("DELETE", "/api/v1/tenants/globex/plugins/demo-shop", None),
        ("GET", "/api/v1/tenants/globex/flows", None),
        ("GET", "/api/v1/tenants/globex/flows/orders-to-erp", None),
        (
            "PUT",
            "/api/v1/tenants/globex/flows/orders-to-erp",
            flow_body(),
        ),
        (
            "POST",
            "/api/v1/tenants/globex/flows/orders-to-erp/run",
            None,
        ),
        (
            "GET",
            "/api/v1/tenants/globex/flows/orders-to-erp/retries",
            None,
        ),
        (
            "POST",
            "/api/v1/tenants/globex/flows/orders-to-erp/reconcile",
            None,
        ),
        ("GET", "/api/v1/runs?tenant=globex", None),
        ("GET", "/api/v1/flows?tenant=globex", None),
        ("GET", "/api/v1/dead-letters?tenant=globex", None),
    ] {
        let (status, answer) = served.call(method, path, ACME, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (404, Some("tenant `globex` not found")),
            "{method} {path}"
        );
    }
    let (status, _) = served
        .call("DELETE", "/api/v1/plugins/demo-shop", ACME, None)
        .await;
    assert_eq!(status, 403);
    // ... and the same requests with the operator token reach globex.
    let (status, globex) = served
        .call("GET", "/api/v1/tenants/globex", OPS, None)
        .await;
    assert_eq!(status, 200);
    let enabled = globex["enabled"].to_string();
    assert!(
        enabled.contains("api_token") && !enabled.contains(SHOP_TOKEN),
        "{enabled}"
    );

    // acme disables its shop connector while both flows keep running on their
    // schedule: acme's next run is refused, globex carries on.
    let last_globex = runs(&served, "globex").await[0]["id"].as_u64().unwrap();
    let (status, body) = served
        .call(
            "DELETE",
            "/api/v1/tenants/acme/plugins/demo-shop",
            ACME,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for_runs(&served, "acme", "an acme run refused", |runs| {
        runs[0]["status"] == "failed"
            && runs[0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("not enabled"))
    })
    .await;
    // Runs since, that have ended (the newest may still be running).
    let ended_since = |runs: &[Value]| -> Vec<Value> {
        runs.iter()
            .filter(|r| r["id"].as_u64().unwrap() > last_globex && r["status"] != "running")
            .cloned()
            .collect()
    };
    let globex_runs = wait_for_runs(&served, "globex", "globex runs on", |runs| {
        ended_since(runs).len() >= 2
    })
    .await;
    assert!(
        ended_since(&globex_runs)
            .iter()
            .all(|r| r["status"] == "succeeded"),
        "{globex_runs:#?}"
    );

    // Reconcile: globex's systems agree.
    let (status, report) = served
        .call(
            "POST",
            "/api/v1/tenants/globex/flows/orders-to-erp/reconcile",
            GLOBEX,
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["missing"].clone(), report["matching"].clone()),
        (json!([]), json!(4))
    );

    // The audit log: every change, who made it, before and after.
    let (status, audit) = served.call("GET", "/api/v1/audit", OPS, None).await;
    assert_eq!(status, 200);
    let entries = audit.as_array().unwrap();
    let by = |action: &str, actor: &str, subject: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["actor"] == actor && e["subject"] == subject)
            .unwrap_or_else(|| panic!("no {action} by {actor} on {subject}: {audit:#}"))
    };
    by("plugin.install", "ops", "plugin/demo-shop");
    by("tenant.create", "ops", "tenant/globex");
    let enabled = by("plugin.enable", "globex-portal", "globex/plugin/demo-shop");
    assert_eq!(enabled["detail"]["before"], Value::Null);
    assert_eq!(enabled["detail"]["after"]["secrets"], json!(["api_token"]));
    by("plugin.enable", "ops", "acme/plugin/demo-ledger");
    by("flow.define", "globex-portal", "globex/flow/orders-to-erp");
    let disabled = by("plugin.disable", "acme-portal", "acme/plugin/demo-shop");
    assert_eq!(disabled["detail"]["after"], Value::Null);
    assert_eq!(disabled["detail"]["before"]["plugin"], "demo-shop");
    by(
        "dlq.replay",
        "acme-portal",
        &format!("acme/orders-to-erp/dead-letter/{id}"),
    );
    let text = audit.to_string();
    assert!(
        !text.contains(SHOP_TOKEN) && !text.contains(LEDGER_TOKEN),
        "secrets in the audit log"
    );
    let (_, acme_audit) = served.call("GET", "/api/v1/audit", ACME, None).await;
    let acme_audit = acme_audit.as_array().unwrap();
    assert!(!acme_audit.is_empty());
    assert!(
        acme_audit.iter().all(|e| {
            let subject = e["subject"].as_str().unwrap();
            subject.starts_with("acme/") || subject == "tenant/acme"
        }),
        "{acme_audit:?}"
    );

    // The CLI acts through the API of the running server.
    let cli = |token: &str, args: &[&str]| {
        let mut all = vec!["--server", served.url.as_str(), "--token", token];
        all.extend_from_slice(args);
        let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        let data = data.clone();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            tenon(&data, &args).await
        }
    };
    let out = cli(OPERATOR_TOKEN, &["runs", "list", "--tenant", "globex"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    assert!(
        listed.starts_with("RUN")
            && listed.contains("globex  orders-to-erp")
            && listed.contains("Z  succeeded"),
        "{listed}"
    );
    let out = cli(OPERATOR_TOKEN, &["--json", "audit"]).await;
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log.as_array().unwrap().len(), entries.len());
    let out = cli(ACME_TOKEN, &["runs", "list", "--tenant", "globex"]).await;
    assert_eq!(code(&out), 3, "not found, as for an unknown tenant");
    let out = cli("wrong-token", &["tenant", "list"]).await;
    assert_eq!(code(&out), 4);
    assert!(
        support::stderr(&out).contains("bearer token"),
        "{}",
        support::stderr(&out)
    );
    let out = cli(GLOBEX_TOKEN, &["reconcile", "globex", "orders-to-erp"]).await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("The systems agree."));
    let out = cli(ACME_TOKEN, &["disable", "acme", "demo-shop"]).await;
    assert_eq!(code(&out), 3, "already disabled");
    let out = cli(ACME_TOKEN, &["tenant", "list"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("acme") && !listed.contains("globex"),
        "{listed}"
    );
    // `flow run` through the API; the scheduler may be running the flow at that
    // moment (409, exit 4): then try again.
    let run_now = |token: &'static str, tenant: &'static str| {
        let cli = &cli;
        async move {
            for _ in 0..50 {
                let out = cli(token, &["flow", "run", tenant, "orders-to-erp"]).await;
                if code(&out) != 4 {
                    return out;
                }
                assert!(
                    support::stderr(&out).contains("running"),
                    "{}",
                    support::stderr(&out)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the flow of {tenant} was always running");
        }
    };
    let out = run_now(GLOBEX_TOKEN, "globex").await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
    let out = run_now(ACME_TOKEN, "acme").await;
    assert_eq!(code(&out), 5, "its shop connector is disabled");
    let shop_base = format!("base_url={}", acme_shop.base_url());
    let shop_secret = format!("api_token={SHOP_TOKEN}");
    let shop_grant = acme_shop.addr().to_string();
    let shop_secret_host = format!("api_token={shop_grant}");
    let enable = [
        "enable",
        "acme",
        "demo-shop",
        "--config",
        &shop_base,
        "--secret",
        &shop_secret,
        "--secret-host",
        &shop_secret_host,
        "--grant",
        &shop_grant,
    ];
    let out = cli(ACME_TOKEN, &enable).await;
    assert_eq!(code(&out), 4, "not yet allowed by the operator");
    assert!(
        support::stderr(&out).contains("a tenant token may grant only hosts the operator allowed"),
        "{}",
        support::stderr(&out)
    );
    let allow = ["tenant", "policy", "acme", "--allow-egress", &shop_grant];
    let out = cli(OPERATOR_TOKEN, &allow).await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    let out = cli(ACME_TOKEN, &enable).await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    let out = run_now(ACME_TOKEN, "acme").await;
    assert_eq!(code(&out), 0, "enabled again: {}", support::stderr(&out));
    let out = cli(ACME_TOKEN, &["--json", "dlq", "list"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    let out = cli(ACME_TOKEN, &["plugin", "install", "--bundled"]).await;
    assert_eq!(code(&out), 2, "acts on the data folder only");
    let (_, audit) = served.call("GET", "/api/v1/audit", OPS, None).await;
    let last = audit.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("plugin.enable"), Some("acme-portal")),
        "{last}"
    );

    // The flow's cursor, and the flow itself, through the API: refused (409,
    // exit 4) while the scheduler runs the flow, so tried again until idle.
    let when_idle = |token: &'static str, args: &'static [&'static str]| {
        let cli = &cli;
        async move {
            for _ in 0..50 {
                let out = cli(token, args).await;
                if code(&out) != 4 {
                    return out;
                }
                let error = support::stderr(&out);
                assert!(
                    error.contains("running") || error.contains("in progress"),
                    "{error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the flow was always running");
        }
    };
    let out = cli(
        ACME_TOKEN,
        &["--json", "flow", "cursor", "acme", "orders-to-erp"],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(shown["cursor"].is_string(), "the flow has run: {shown}");
    let out = cli(
        GLOBEX_TOKEN,
        &["flow", "cursor", "acme", "orders-to-erp", "--reset"],
    )
    .await;
    assert_eq!(
        code(&out),
        3,
        "another tenant's flow does not exist for globex"
    );
    let out = when_idle(
        ACME_TOKEN,
        &[
            "--json",
            "flow",
            "cursor",
            "acme",
            "orders-to-erp",
            "--reset",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    let reset: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (reset["cursor"].clone(), reset["before"].clone()),
        (Value::Null, shown["cursor"].clone()),
        "{reset}"
    );
    let (_, audit) = served.call("GET", "/api/v1/audit", OPS, None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "flow.cursor.reset" && e["actor"] == "acme-portal"),
        "{audit}"
    );
    let out = when_idle(ACME_TOKEN, &["flow", "remove", "acme", "orders-to-erp"]).await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    let (status, _) = served
        .call("GET", "/api/v1/tenants/acme/flows/orders-to-erp", OPS, None)
        .await;
    assert_eq!(status, 404, "removed");
    let out = cli(ACME_TOKEN, &["flow", "cursor", "acme", "orders-to-erp"]).await;
    assert_eq!(code(&out), 3);

    let (status, _) = served.terminate(WAIT).await;
    assert!(status.success());
}

/// The egress host `demo-ledger` 0.2.0 (`tests/guests/ledger-v2`) declares and
/// the bundled 0.1.0 does not.
const NEW_LEDGER_HOST: &str = "api.ledger.example";

/// Runs acme's `orders-to-erp` now and answers its run record.
async fn run_now(served: &Served) -> Value {
    let (status, run) = served
        .call(
            "POST",
            "/api/v1/tenants/acme/flows/orders-to-erp/run?wait=true",
            OPS,
            None,
        )
        .await;
    assert_eq!(status, 200, "{run}");
    run
}

/// The versions of `demo-ledger` as `(version, current)`.
async fn ledger_versions(served: &Served, token: Option<&str>) -> Vec<(String, bool)> {
    let (status, versions) = served
        .call("GET", "/api/v1/plugins/demo-ledger/versions", token, None)
        .await;
    assert_eq!(status, 200, "{versions}");
    versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["current"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Changes an order of the shop so the next run reads it again.
fn touch(shop: &Shop) {
    let mut order = shop.orders().remove(0);
    order.customer.last_name.push_str(" Jr.");
    shop.upsert_order(order);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_waits_for_its_grant_and_rolls_back_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path());
    let served = Served::start(&data, &["serve", "--config", &config]).await;
    let v2 = support::ledger_v2().await;

    upload_bundled(&served).await;
    let (status, body) = served
        .call(
            "POST",
            "/api/v1/tenants",
            OPS,
            Some(Body::Json(json!({ "id": "acme" }))),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (shop, ledger) = vendors(3).await;
    enable_plugins(&served, "acme", OPS, &shop, &ledger, &[]).await;
    // No schedule: the test runs the flow when it wants.
    let (status, body) = served
        .call(
            "PUT",
            "/api/v1/tenants/acme/flows/orders-to-erp",
            OPS,
            Some(Body::Json(json!({
                "source": "demo-shop:orders",
                "transforms": ["order-to-sale"],
                "destination": "demo-ledger:sale-orders",
            }))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = run_now(&served).await;
    assert_eq!(
        (&run["status"], &run["records_written"]),
        (&json!("succeeded"), &json!(3)),
        "{run}"
    );
    assert_eq!(ledger.sales_orders().len(), 3);
    assert_eq!(
        ledger_versions(&served, ACME).await,
        [("0.1.0".into(), true)]
    );

    // Upload 0.2.0 while 0.1.0 is in use: both kept, 0.2.0 current.
    let (status, installed) = served
        .call("POST", "/api/v1/plugins", OPS, Some(Body::Bytes(v2)))
        .await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(
        (installed["id"].as_str(), installed["version"].as_str()),
        (Some("demo-ledger"), Some("0.2.0"))
    );
    assert_eq!(
        ledger_versions(&served, ACME).await,
        [("0.1.0".into(), false), ("0.2.0".into(), true)]
    );

    // acme has not granted 0.2.0's new host: its next run is refused, naming it.
    touch(&shop);
    let run = run_now(&served).await;
    let error = run["error"].as_str().unwrap_or_default();
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        error.contains(NEW_LEDGER_HOST)
            && error.contains("0.2.0")
            && error.contains("tenant `acme` has not granted"),
        "{error}"
    );
    assert_eq!(run["records_written"], 0, "{run}");

    // Granted through the API, the next run goes through 0.2.0, which accepts
    // the changed order without posting it to the ledger.
    enable_plugins(&served, "acme", OPS, &shop, &ledger, &[NEW_LEDGER_HOST]).await;
    let posted = |ledger: &Ledger| ledger.sales_orders().iter().map(|s| s.applied).sum::<u64>();
    let posted_by_v1 = posted(&ledger);
    let run = run_now(&served).await;
    assert_eq!(
        (&run["status"], &run["records_written"]),
        (&json!("succeeded"), &json!(1)),
        "{run}"
    );
    assert_eq!(
        posted(&ledger),
        posted_by_v1,
        "0.2.0 delivered it, not 0.1.0"
    );

    // Rollback: only the operator; 0.1.0 is current again and posts to the ledger.
    let rollback = "/api/v1/plugins/demo-ledger/rollback";
    let (status, body) = served.call("POST", rollback, ACME, None).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, current) = served.call("POST", rollback, OPS, None).await;
    assert_eq!(
        (status, current["version"].as_str()),
        (200, Some("0.1.0")),
        "{current}"
    );
    assert_eq!(
        ledger_versions(&served, OPS).await,
        [("0.1.0".into(), true), ("0.2.0".into(), false)]
    );
    let (status, body) = served.call("POST", rollback, OPS, None).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid")),
        "nothing before 0.1.0: {body}"
    );
    touch(&shop);
    let run = run_now(&served).await;
    assert_eq!(
        (&run["status"], &run["records_written"]),
        (&json!("succeeded"), &json!(1)),
        "{run}"
    );
    assert_eq!(posted(&ledger), posted_by_v1 + 1, "0.1.0 posted it");

    // The CLI through the server: versions, and a rollback refused as locally.
    let cli = |args: &[&str]| {
        let mut all = vec!["--server", served.url.as_str(), "--token", OPERATOR_TOKEN];
        all.extend_from_slice(args);
        let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        let data = data.clone();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            tenon(&data, &args).await
        }
    };
    let out = cli(&["--json", "plugin", "versions", "demo-ledger"]).await;
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    let versions: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&versions[0]["current"], &versions[1]["current"]),
        (&json!(true), &json!(false)),
        "{versions}"
    );
    let out = cli(&["plugin", "rollback", "demo-ledger"]).await;
    assert_eq!(code(&out), 4, "{}", support::stderr(&out));
    assert!(support::stderr(&out).contains("nothing to roll back to"));

    // The audit log: the upload and the rollback, by the operator token's name.
    let (_, audit) = served.call("GET", "/api/v1/audit", OPS, None).await;
    let entries = audit.as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .rfind(|e| e["action"] == action && e["subject"] == "plugin/demo-ledger")
            .unwrap_or_else(|| panic!("no {action} of demo-ledger: {audit:#}"))
    };
    let install = find("plugin.install");
    assert_eq!(install["actor"], "ops", "{install}");
    assert_eq!(install["detail"]["after"]["version"], "0.2.0", "{install}");
    let rolled_back = find("plugin.rollback");
    assert_eq!(rolled_back["actor"], "ops", "{rolled_back}");
    assert_eq!(
        (
            &rolled_back["detail"]["before"]["version"],
            &rolled_back["detail"]["after"]["version"]
        ),
        (&json!("0.2.0"), &json!("0.1.0")),
        "{rolled_back}"
    );
    let rollbacks = entries
        .iter()
        .filter(|e| e["action"] == "plugin.rollback")
        .count();
    assert_eq!(rollbacks, 1, "refused rollbacks are not recorded");

    let (status, _) = served.terminate(WAIT).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_token_stays_within_the_operators_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (shop, _ledger) = vendors(1).await;
    support::tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    support::tenon_ok(&data, &["tenant", "create", "acme"]).await;
    let shop_addr = shop.addr().to_string();
    support::tenon_ok(
        &data,
        &["tenant", "policy", "acme", "--allow-egress", &shop_addr],
    )
    .await;
    let mut config = std::fs::read_to_string(config(dir.path())).unwrap();
    config = config.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"",
    );
    let path = dir.path().join("metrics.toml");
    std::fs::write(&path, config).unwrap();
    let served = Served::start(&data, &["serve", "--config", path.to_str().unwrap()]).await;
    let admin = served.url.trim_start_matches("http://").to_owned();
    let enable = |grants: Vec<String>, limits: Value| {
        Some(Body::Json(json!({
            "config": { "base_url": shop.base_url() },
            "secrets": { "api_token": { "value": SHOP_TOKEN, "hosts": [shop_addr.clone()] } },
            "grants": grants,
            "limits": limits,
        })))
    };
    let path = "/api/v1/tenants/acme/plugins/demo-shop";

    // Grants outside the operator's allowlist: metadata, private, the admin API.
    for grant in ["169.254.169.254", "10.0.0.1", &admin, "localhost"] {
        let (status, body) = served
            .call(
                "PUT",
                path,
                ACME,
                enable(vec![shop_addr.clone(), grant.to_owned()], json!({})),
            )
            .await;
        assert_eq!(
            (status, body["kind"].as_str()),
            (403, Some("forbidden")),
            "{grant}: {body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("`{grant}` is not among them")),
            "{body}"
        );
    }
    // Limits above the operator's.
    let (status, body) = served
        .call(
            "PUT",
            path,
            ACME,
            enable(vec![shop_addr.clone()], json!({ "fuel": 2_000_000_000u64 })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("may only lower the operator's limits: fuel (2000000000 > 1000000000)"),
        "{body}"
    );
    // Nor may it widen its own policy.
    let widen = Some(Body::Json(json!({ "egress": ["169.254.169.254"] })));
    assert_eq!(
        served
            .call("PUT", "/api/v1/tenants/acme/policy", ACME, widen)
            .await
            .0,
        403
    );

    // The operator's own limit for the enablement holds when the tenant
    // enables again: it may go below it, not above or back to the default.
    let (status, body) = served
        .call(
            "PUT",
            path,
            OPS,
            enable(vec![shop_addr.clone()], json!({ "fuel": 500_000_000 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = served
        .call(
            "PUT",
            path,
            ACME,
            enable(vec![shop_addr.clone()], json!({})),
        )
        .await;
    assert_eq!(
        (status, body["limits"]["fuel"].as_u64()),
        (200, Some(500_000_000)),
        "{body}"
    );
    let (status, body) = served
        .call(
            "PUT",
            path,
            ACME,
            enable(vec![shop_addr.clone()], json!({ "fuel": 600_000_000 })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("fuel (600000000 > 500000000)"),
        "{body}"
    );
    let (status, body) = served
        .call(
            "PUT",
            path,
            ACME,
            enable(vec![shop_addr.clone()], json!({ "fuel": 100_000_000 })),
        )
        .await;
    assert_eq!(
        (status, body["limits"]["fuel"].as_u64()),
        (200, Some(100_000_000)),
        "{body}"
    );

    // The metrics name every tenant: an operator's alone, or on their own listener.
    assert_eq!(served.call("GET", "/metrics", None, None).await.0, 401);
    assert_eq!(served.call("GET", "/metrics", ACME, None).await.0, 403);
    assert_eq!(served.call("GET", "/metrics", OPS, None).await.0, 200);
    let first = served.stdout()[0].clone();
    let metrics = first
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.trim_end_matches(';').ends_with("/metrics"))
        .map(|w| w.trim_end_matches(';'))
        .unwrap_or_else(|| panic!("no metrics address in {first}"));
    let open = reqwest::get(metrics).await.unwrap();
    assert_eq!(open.status(), 200);
    assert!(
        open.text()
            .await
            .unwrap()
            .contains("tenon_api_requests_total")
    );
}
