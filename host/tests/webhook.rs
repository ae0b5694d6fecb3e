//! Webhook ingress against a real `tenon serve`: the shop sandbox's signed
//! `order.updated` notifications POSTed to `/hooks/acme/demo-shop`, verified by the
//! `demo-shop` plugin with the tenant's `webhook_secret` (through the host: the
//! plugin never sees it), stored before the answer and delivered by the tenant's
//! flow on its next run; refused ones store nothing; and one answered 202 survives
//! a SIGKILL right after.

mod support;

use std::path::Path;
use std::time::Duration;
use support::{SHOP_TOKEN, Served, configure, tenon_ok};
use tenon::vendors::{Ledger, Shop, demo_orders};

const SECRET: &str = "whsec-acme-0123456789";
const HOOK: &str = "/hooks/acme/demo-shop";
const WAIT: Duration = Duration::from_secs(30);

/// A config file with a quick tick, listening on a port the system picks.
fn config(dir: &Path) -> String {
    let path = dir.join("tenon.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\n\n[scheduler]\ntick = \"100ms\"\n",
    )
    .unwrap();
    path.display().to_string()
}

/// The bundled plugins, and `acme`'s flow every second; `demo-shop` re-enabled
/// with the webhook secret.
async fn set_up(data: &Path, shop: &Shop, ledger: &Ledger) {
    tenon_ok(data, &["plugin", "install", "--bundled"]).await;
    configure(data, "acme", shop, ledger, &["--every", "1s"]).await;
    let base = format!("base_url={}", shop.base_url());
    let token = format!("api_token={SHOP_TOKEN}");
    let secret = format!("webhook_secret={SECRET}");
    let grant = shop.addr().to_string();
    tenon_ok(
        data,
        &[
            "enable",
            "acme",
            "demo-shop",
            "--config",
            &base,
            "--secret",
            &token,
            "--secret",
            &secret,
            "--secret-host",
            &format!("api_token={grant}"),
            "--grant",
            &grant,
        ],
    )
    .await;
}

/// An order the shop's feed does not have (so only a webhook can bring it), as
/// JSON, with its signature under `secret`.
fn webhook_order(id: &str, secret: &str) -> (Vec<u8>, String) {
    let mut order = demo_orders(1).remove(0);
    order.id = id.to_owned();
    order.number = format!("SO-{id}");
    let body = serde_json::to_vec(&order).unwrap();
    let mac = tenon::capability::verify::hmac_sha256(secret.as_bytes(), &body);
    (body, format!("sha256={}", tenon::record::hex(&mac)))
}

async fn post(url: &str, body: Vec<u8>, signature: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-shop-event", "order.updated")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("x-shop-signature", signature);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// How often the ledger applied the sales order of shop order `id` (0: absent).
fn applied(ledger: &Ledger, id: &str) -> u64 {
    let reference = format!("shop:{id}");
    ledger
        .sales_orders()
        .iter()
        .find(|s| s.external_ref == reference)
        .map_or(0, |s| s.applied)
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_webhooks_reach_the_ledger_and_refused_ones_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shop = Shop::start(SHOP_TOKEN, demo_orders(3)).await.unwrap();
    let ledger = Ledger::start(support::LEDGER_TOKEN).await.unwrap();
    set_up(&data, &shop, &ledger).await;
    let served = Served::start(&data, &["serve", "--config", &config(dir.path())]).await;
    eventually("the feed's orders in the ledger", || {
        ledger.sales_orders().len() == 3
    })
    .await;
    let hook = format!("{}{HOOK}", served.url);

    // Refused: a signature made with another secret, none at all, a body that is
    // not an order; nothing of them is stored or delivered.
    let (body, forged) = webhook_order("9002", "not-the-secret");
    let (status, refused) = post(&hook, body.clone(), Some(&forged)).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(post(&hook, body, None).await, (401, refused.clone()));
    let junk = b"not json".to_vec();
    let mac = tenon::capability::verify::hmac_sha256(SECRET.as_bytes(), &junk);
    let signature = format!("sha256={}", tenon::record::hex(&mac));
    let (status, answer) = post(&hook, junk, Some(&signature)).await;
    assert_eq!(status, 400, "{answer}");
    // Too large; an unknown tenant and a plugin that takes no webhooks answer
    // exactly as a bad signature does: the route tells nobody which exist.
    let huge = vec![b' '; tenon::server::webhook::MAX_WEBHOOK_BYTES + 1];
    assert_eq!(post(&hook, huge, Some(&signature)).await.0, 413);
    let (body, signature) = webhook_order("9001", SECRET);
    let elsewhere = format!("{}/hooks/globex/demo-shop", served.url);
    assert_eq!(
        post(&elsewhere, body.clone(), Some(&signature)).await,
        (401, refused.clone())
    );
    let ledger_hook = format!("{}/hooks/acme/demo-ledger", served.url);
    assert_eq!(
        post(&ledger_hook, body.clone(), Some(&signature)).await,
        (401, refused.clone())
    );

    // Signed: answered 202, delivered by the next scheduled run.
    let (status, answer) = post(&hook, body, Some(&signature)).await;
    assert_eq!(status, 202, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["records"], 1);
    eventually("the webhook's order in the ledger", || {
        applied(&ledger, "9001") == 1
    })
    .await;
    // The shop's own notification of a feed order goes the same way.
    let order = shop.orders()[0].id.clone();
    assert_eq!(
        shop.notify(&hook, &order, SECRET).await.unwrap(),
        202,
        "the shop's signed notification is taken"
    );

    // A few more runs: the refused order never arrives, the accepted one stays once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(applied(&ledger, "9002"), 0);
    assert_eq!(applied(&ledger, "9001"), 1);
    assert_eq!(
        ledger.sales_orders().len(),
        4,
        "the feed's three orders and the webhook's"
    );
    let (status, _) = served.terminate(WAIT).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_answered_202_survives_a_sigkill_right_after() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shop = Shop::start(SHOP_TOKEN, demo_orders(2)).await.unwrap();
    let ledger = Ledger::start(support::LEDGER_TOKEN).await.unwrap();
    set_up(&data, &shop, &ledger).await;
    let config = config(dir.path());

    let mut served = Served::start(&data, &["serve", "--config", &config]).await;
    let (body, signature) = webhook_order("9001", SECRET);
    let (status, answer) = post(&format!("{}{HOOK}", served.url), body, Some(&signature)).await;
    assert_eq!(status, 202, "{answer}");
    served.kill().await;

    let served = Served::start(&data, &["serve", "--config", &config]).await;
    eventually(
        "the webhook's order in the ledger after the restart",
        || applied(&ledger, "9001") == 1,
    )
    .await;
    // Later runs do not deliver it again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(applied(&ledger, "9001"), 1);
    let (status, _) = served.terminate(WAIT).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_unsigned_webhooks_neither_reaches_the_plugin_slots_nor_stalls_other_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (shop, ledger) = (
        Shop::start(SHOP_TOKEN, demo_orders(2)).await.unwrap(),
        Ledger::start(support::LEDGER_TOKEN).await.unwrap(),
    );
    let (globex_shop, globex_ledger) = (
        Shop::start(SHOP_TOKEN, demo_orders(3)).await.unwrap(),
        Ledger::start(support::LEDGER_TOKEN).await.unwrap(),
    );
    set_up(&data, &shop, &ledger).await;
    configure(&data, "globex", &globex_shop, &globex_ledger, &[]).await;
    let config = dir.path().join("flood.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:0\"\n\n{}", support::operator_token()),
    )
    .unwrap();
    let served = Served::start(&data, &["serve", "--config", config.to_str().unwrap()]).await;
    let (body, _) = webhook_order("9100", SECRET);
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let url = if i % 2 == 0 {
                format!("{}{HOOK}", served.url)
            } else {
                format!("{}/hooks/nobody-{i}/demo-shop", served.url)
            };
            let body = body.clone();
            tokio::spawn(async move { post(&url, body, Some("sha256=00")).await })
        })
        .collect();
    // Meanwhile another tenant's run goes through.
    let (status, run) = served
        .post("/api/v1/tenants/globex/flows/orders-to-erp/run?wait=true")
        .await;
    assert_eq!(status, 200, "{run}");
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(globex_ledger.sales_orders().len(), 3);
    let mut answers = std::collections::BTreeMap::new();
    for answer in flood {
        let (status, _) = answer.await.unwrap();
        *answers.entry(status).or_insert(0) += 1;
    }
    assert!(
        answers.keys().all(|s| *s == 401 || *s == 503),
        "refused, or told to come back: {answers:?}"
    );
    assert!(answers.get(&401).is_some_and(|n| *n >= 1), "{answers:?}");
    // Nothing of the flood was stored or delivered.
    assert_eq!(applied(&ledger, "9100"), 0);
}
