//! Webhook ingress against a real `tenon serve`: the shop sandbox's signed
//! `order.updated` notifications POSTed to `/hooks/acme/demo-shop`, verified by the
//! `demo-shop` plugin with the tenant's `webhook_secret` (through the host: the
//! plugin never sees it), stored before the answer and delivered by the tenant's
//! flow on its next run; refused ones store nothing; one answered 202 survives
//! a SIGKILL right after; and a server killed again and again while webhooks
//! bring orders in several versions (late, tied, repeated) ends on the newest
//! version of every order.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use support::{SHOP_TOKEN, Served, configure, tenon_ok};
use tenon_sandboxes::{Ledger, Shop, demo_orders};

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
    let mut answers = BTreeMap::new();
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

/// SplitMix64: small, seedable, good enough to shuffle events and spread kills.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Orders only webhooks bring in the ingest kill test.
const INGEST_ORDERS: usize = 30;
/// `tenon serve` processes killed while webhooks arrive.
const INGEST_KILLS: usize = 12;
/// Every this-many kills, the next process is also killed during its start-up.
const INGEST_STARTUP_KILL_EVERY: usize = 3;

/// One version of a webhook-only order: its customer's first name tells the
/// versions apart at the ledger (`customer_name` is `<first> Lovelace`).
struct Event {
    id: String,
    name: String,
    body: Vec<u8>,
    signature: String,
}

fn event(id: &str, name: &str, updated_at: &str) -> Event {
    let mut order = demo_orders(1).remove(0);
    order.id = id.to_owned();
    order.number = format!("SO-{id}");
    order.customer.first_name = name.to_owned();
    order.updated_at = updated_at.to_owned();
    let body = serde_json::to_vec(&order).unwrap();
    let mac = tenon::capability::verify::hmac_sha256(SECRET.as_bytes(), &body);
    Event {
        id: id.to_owned(),
        name: name.to_owned(),
        body,
        signature: format!("sha256={}", tenon::record::hex(&mac)),
    }
}

/// POSTs `event` to the server at `url` until it is accepted (`202`), as a
/// vendor retries a webhook that got no answer or a `503`.
async fn deliver(url: &Mutex<String>, event: &Event) -> u32 {
    let client = reqwest::Client::new();
    let mut tries = 0;
    loop {
        tries += 1;
        let hook = format!("{}{HOOK}", url.lock().unwrap());
        let sent = client
            .post(&hook)
            .header("content-type", "application/json")
            .header("x-shop-event", "order.updated")
            .header("x-shop-signature", &event.signature)
            .body(event.body.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().as_u16() == 202 => return tries,
            Ok(answer) if answer.status().as_u16() == 503 => {}
            Ok(answer) => {
                let status = answer.status();
                panic!(
                    "webhook {} ({}) answered {status}: {}",
                    event.id,
                    event.name,
                    answer.text().await.unwrap_or_default()
                );
            }
            Err(_) => {} // killed mid-request, or not listening yet
        }
        assert!(tries < 2_000, "webhook {} never accepted", event.id);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ledger's customer first name of each webhook order it holds (and how
/// many sales orders it holds for it).
fn held_names(ledger: &Ledger) -> BTreeMap<String, (String, usize)> {
    let mut held: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for sale in ledger.sales_orders() {
        let Some(id) = sale.external_ref.strip_prefix("shop:") else {
            continue;
        };
        if !id.starts_with('9') {
            continue;
        }
        let first = sale
            .customer_name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let entry = held.entry(id.to_owned()).or_insert((first.clone(), 0));
        entry.0 = first;
        entry.1 += 1;
    }
    held
}

/// `tenon serve` killed with SIGKILL again and again (some during start-up)
/// while signed webhooks arrive for orders in several versions, in a random
/// order: late older versions, two versions in one second, repeats. Every
/// webhook answered `202` counts; when the dust settles the ledger holds
/// every order once, on its newest version; where two versions share the
/// newest second, on the one that arrived last (the host does not order
/// versions of one second by itself: it keeps their order of arrival).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_webhook_ingest_ends_on_the_newest_version_of_every_order() {
    let seed = std::env::var("TENON_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("ingest crash seed {seed} (rerun with TENON_CRASH_SEED={seed})");
    let mut prng = Prng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shop = Shop::start(SHOP_TOKEN, demo_orders(2)).await.unwrap();
    let ledger = Ledger::start(support::LEDGER_TOKEN).await.unwrap();
    set_up(&data, &shop, &ledger).await;
    let config = config(dir.path());

    // Each order: v1 at :00, v2 and v3 both at :01 (a tie), and the newest
    // at :02: one version (even orders) or two in that second (odd orders).
    let mut events = Vec::new();
    let mut ties_at_newest = Vec::new();
    for i in 0..INGEST_ORDERS {
        let id = format!("{}", 9000 + i);
        events.push(event(&id, "one", "2026-11-23T10:00:00Z"));
        events.push(event(&id, "two", "2026-11-23T10:00:01Z"));
        events.push(event(&id, "three", "2026-11-23T10:00:01Z"));
        if i % 2 == 0 {
            events.push(event(&id, "four", "2026-11-23T10:00:02Z"));
        } else {
            events.push(event(&id, "north", "2026-11-23T10:00:02Z"));
            events.push(event(&id, "south", "2026-11-23T10:00:02Z"));
            ties_at_newest.push(id);
        }
    }
    // Any order of arrival, older versions after newer ones included.
    for i in (1..events.len()).rev() {
        let j = prng.below(i as u64 + 1) as usize;
        events.swap(i, j);
    }
    // The newest of each order: the last of its newest second to arrive.
    let newest_names = ["four", "north", "south"];
    let mut newest: BTreeMap<String, String> = BTreeMap::new();
    for event in &events {
        if newest_names.contains(&event.name.as_str()) {
            newest.insert(event.id.clone(), event.name.clone());
        }
    }
    let events = std::sync::Arc::new(events);

    let mut served = Served::start(&data, &["serve", "--config", &config]).await;
    let url = std::sync::Arc::new(Mutex::new(served.url.clone()));
    let poster = {
        let (url, events) = (url.clone(), events.clone());
        tokio::spawn(async move {
            let mut retried = 0;
            for event in events.iter() {
                retried += deliver(&url, event).await - 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            retried
        })
    };
    let mut kills = 0;
    let mut startup_kills = 0;
    while kills < INGEST_KILLS && !poster.is_finished() {
        tokio::time::sleep(Duration::from_millis(150 + prng.below(500))).await;
        served.kill().await;
        kills += 1;
        if kills % INGEST_STARTUP_KILL_EVERY == 0 {
            // Killed while it opens the state and loads the plugins.
            let mut starting = support::tenon_command(&data)
                .args(["serve", "--config", &config])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(prng.below(300))).await;
            let _ = starting.kill().await;
            startup_kills += 1;
        }
        served = Served::start(&data, &["serve", "--config", &config]).await;
        *url.lock().unwrap() = served.url.clone();
    }
    let retried = poster.await.unwrap();
    println!(
        "{} webhooks accepted ({retried} sent again after a kill or a 503), {kills} kills \
         ({startup_kills} more during start-up)",
        events.len()
    );
    assert!(
        kills >= INGEST_KILLS / 2,
        "only {kills} kills landed while webhooks arrived"
    );

    // The last server delivers what is left.
    let settled = |ledger: &Ledger| {
        let held = held_names(ledger);
        held.len() == INGEST_ORDERS && held.iter().all(|(id, (name, _))| newest[id] == *name)
    };
    let started = std::time::Instant::now();
    while !settled(&ledger) {
        if started.elapsed() > Duration::from_secs(60) {
            let wrong: Vec<_> = held_names(&ledger)
                .into_iter()
                .filter(|(id, (name, _))| newest[id] != *name)
                .collect();
            panic!(
                "seed {seed}: after 60 s the ledger holds {} of {INGEST_ORDERS} webhook orders; \
                 not on their newest version: {wrong:?}",
                held_names(&ledger).len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A few more runs change nothing: nothing older comes back.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let held = held_names(&ledger);
    for (id, (name, count)) in &held {
        assert_eq!(
            *count, 1,
            "seed {seed}: order {id} is in the ledger {count} times"
        );
        assert_eq!(
            &newest[id], name,
            "seed {seed}: order {id} is not on its newest version"
        );
    }
    // Each version is applied once at most: repeats carry the same key.
    for sale in ledger.sales_orders() {
        assert!(
            sale.applied <= 5,
            "seed {seed}: {} applied {} times for at most 5 versions",
            sale.external_ref,
            sale.applied
        );
    }

    // Where two versions share the newest second, the one that arrives
    // last wins again; older ones arriving late still change nothing.
    for id in &ties_at_newest {
        for (name, at) in [
            ("south", "2026-11-23T10:00:02Z"),
            ("north", "2026-11-23T10:00:02Z"),
            ("one", "2026-11-23T10:00:00Z"),
        ] {
            deliver(&url, &event(id, name, at)).await;
        }
    }
    let mut expected = held.clone();
    for id in &ties_at_newest {
        expected.get_mut(id).unwrap().0 = "north".into();
    }
    eventually("the tied versions sent again", || {
        held_names(&ledger) == expected
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(held_names(&ledger), expected, "seed {seed}");
    let (status, _) = served.terminate(WAIT).await;
    assert!(status.success());
}
