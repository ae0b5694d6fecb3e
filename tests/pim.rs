//! The `pim-akeneo` connector against the Akeneo-shaped PIM sandbox: products
//! come with their localized values, prices, media references and the product
//! model of variants, the `updated` watermark moves so that an edit shows up on
//! the next read only, products updated in the same second are not lost between
//! pages, and the PIM's failures (server errors, `429`s, bodies cut short,
//! answers slower than the timeout) fail the read or the run with the case and
//! delay an operator needs, without moving the cursor past a product that was
//! not delivered. Through `akeneo-catalog`, a complete product becomes a
//! canonical product with its category paths, its gallery and its links; an
//! incomplete one is not read; a category rename reads again only the products
//! under that category.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use tenon::Tenon;
use tenon::flow::{Endpoint, Flow, RunStatus};
use tenon::limits::LimitOverrides;
use tenon::record::Envelope;
use tenon_sandboxes::pim::Fault;
use tenon_sandboxes::{Pim, Product, ProductValue, demo_products};
use tenon_sdk::canonical::{Product as Canonical, ProductLink};

const PIM_TOKEN: &str = "pim-test-token";

/// The flow of the fault tests: PIM products into a sink.
const FLOW: &str = "catalog";

/// The egress host of the sink (see [`with_flow`]).
const SINK_HOST: &str = "api.ledger.example";

/// The host's timeout for the PIM's answers in [`setup_with`].
const TIMEOUT_MS: u64 = 2_000;

async fn setup(products: usize) -> (tempfile::TempDir, Tenon, Pim) {
    setup_with(demo_products(products)).await
}

/// A host with `pim-akeneo` enabled for `acme` against a PIM holding
/// `products`, with an HTTP timeout of [`TIMEOUT_MS`].
async fn setup_with(products: Vec<Product>) -> (tempfile::TempDir, Tenon, Pim) {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let pim = Pim::start(PIM_TOKEN, products).await.expect("PIM starts");
    tenon.create_tenant("acme", "test").unwrap();
    enable_pim(&tenon, &pim, &[]);
    (dir, tenon, pim)
}

/// Enables (or enables again) `pim-akeneo` for `acme` against `pim`, with
/// `config` beside `base_url` and an HTTP timeout of [`TIMEOUT_MS`].
fn enable_pim(tenon: &Tenon, pim: &Pim, config: &[(&str, &str)]) {
    let mut settings = BTreeMap::from([("base_url".to_owned(), pim.base_url())]);
    settings.extend(
        config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: settings,
                grants: vec![pim.addr().to_string().parse().unwrap()],
                limits: LimitOverrides {
                    http_timeout_ms: Some(TIMEOUT_MS),
                    ..LimitOverrides::default()
                },
                ..enablement("acme", "pim-akeneo")
            }
            .with_secret("api_token", PIM_TOKEN),
            "test",
        )
        .unwrap();
}

/// Enables `akeneo-catalog` for `acme`, `en_US` and `fr_FR` kept as `en`
/// and `fr`.
fn enable_catalog(tenon: &Tenon) {
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([("locales".into(), "en_US=en, fr_FR=fr".into())]),
                ..enablement("acme", "akeneo-catalog")
            },
            "test",
        )
        .unwrap();
}

/// `records` through `akeneo-catalog` for `acme`: the canonical products by
/// SKU, each checked against the canonical schema.
async fn through_catalog(tenon: &Tenon, records: Vec<Envelope>) -> BTreeMap<String, Canonical> {
    let plugin = tenon.plugin("akeneo-catalog").unwrap();
    let ctx = tenon.call_context("acme", &plugin).unwrap();
    let prepared = tenon.prepared(&plugin).unwrap();
    let (out, _) = tenon
        .sandbox()
        .transform(&prepared, &ctx, records)
        .await
        .unwrap();
    let invalid = tenon
        .schema_errors("akeneo-catalog", "products", &out)
        .unwrap();
    assert!(invalid.iter().all(Option::is_none), "{invalid:?}");
    out.iter()
        .map(|record| {
            let product: Canonical = serde_json::from_str(&record.payload).unwrap();
            (product.sku.clone(), product)
        })
        .collect()
}

/// Adds the flow [`FLOW`]: `pim-akeneo:products` into a sink that accepts every
/// record (the test guest `ledger-v2`, which answers `v2-<key>` and sends
/// nothing), `batch_size` products per batch.
async fn with_flow(tenon: &Tenon, batch_size: u32) {
    install_ledger_v2(tenon).await;
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([("base_url".into(), format!("https://{SINK_HOST}"))]),
                grants: vec![SINK_HOST.parse().unwrap()],
                ..enablement("acme", "demo-ledger")
            }
            .with_secret("api_token", "unused-token"),
            "test",
        )
        .unwrap();
    let flow = Flow {
        batch_size,
        ..tenon::host::flow(
            "acme",
            FLOW,
            Endpoint {
                plugin: "pim-akeneo".into(),
                stream: "products".into(),
            },
            Vec::new(),
            Endpoint {
                plugin: "demo-ledger".into(),
                stream: "sale-orders".into(),
            },
        )
    };
    tenon.add_flow(flow, "test").unwrap();
}

/// The products the sink took, each as often as it was linked.
fn delivered(tenon: &Tenon) -> Vec<String> {
    let mut keys: Vec<String> = tenon
        .links("acme", Some(&format!("flow:{FLOW}")))
        .unwrap()
        .into_iter()
        .map(|(_, _, target)| target.trim_start_matches("v2-").to_owned())
        .collect();
    keys.sort();
    keys
}

/// The identifiers `SKU-0001` to `SKU-<n>`.
fn skus(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("SKU-{i:04}")).collect()
}

/// How many PIM requests one read of `limit` products from `cursor` makes.
async fn requests_per_read(tenon: &Tenon, pim: &Pim, cursor: Option<&str>, limit: u32) -> usize {
    let before = pim.requests().len();
    read(tenon, cursor, limit).await;
    pim.requests().len() - before
}

async fn read(tenon: &Tenon, cursor: Option<&str>, limit: u32) -> tenon::sandbox::ReadPage {
    tenon
        .preview("acme", "pim-akeneo", "products", cursor, limit)
        .await
        .unwrap()
}

fn payload(envelope: &Envelope) -> Value {
    serde_json::from_str(&envelope.payload).unwrap()
}

fn keys(page: &tenon::sandbox::ReadPage) -> Vec<&str> {
    page.records.iter().map(|r| r.key.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn products_are_read_with_localized_values_and_media() {
    let (_dir, tenon, _pim) = setup(3).await;
    let page = read(&tenon, None, 50).await;
    assert_eq!(keys(&page), ["SKU-0001", "SKU-0002", "SKU-0003"]);
    assert!(!page.more);
    let product = payload(&page.records[0]);
    assert_eq!(product["family"], "tshirts");
    assert_eq!(
        product["values"]["name"],
        json!([
            {"locale": "en_US", "scope": null, "data": "T-shirt 1"},
            {"locale": "fr_FR", "scope": null, "data": "T-shirt 1 (FR)"},
        ])
    );
    assert_eq!(
        product["values"]["description"][1]["data"],
        "Coton biologique, coupe droite."
    );
    assert_eq!(
        product["values"]["image"][0]["data"],
        "a/b/c/sku-0001_front.jpg"
    );
    assert!(
        product["values"]["image"][0]["_links"]["download"]["href"]
            .as_str()
            .unwrap()
            .ends_with("/api/rest/v1/media-files/a/b/c/sku-0001_front.jpg/download")
    );
    assert_eq!(
        product["category_paths"]["summer"][1],
        json!({"code": "clothing", "labels": {"en_US": "Clothing", "fr_FR": "Vêtements"}})
    );
    assert_eq!(
        page.records[0].source_time.as_deref(),
        product["updated"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_shows_up_on_the_next_read_only() {
    let (_dir, tenon, pim) = setup(5).await;
    let first = read(&tenon, None, 50).await;
    assert_eq!(first.records.len(), 5);
    let cursor = first.next_cursor.expect("a cursor after records");
    assert!(read(&tenon, Some(&cursor), 50).await.records.is_empty());

    pim.edit_product("SKU-0003", |p| {
        p.values.insert(
            "name".into(),
            vec![
                ProductValue::localized("en_US", "Linen shirt"),
                ProductValue::localized("fr_FR", "Chemise en lin"),
            ],
        );
    });
    let next = read(&tenon, Some(&cursor), 50).await;
    assert_eq!(keys(&next), ["SKU-0003"]);
    assert_eq!(
        payload(&next.records[0])["values"]["name"][1]["data"],
        "Chemise en lin"
    );
    let after = next.next_cursor.expect("the cursor moves");
    assert!(read(&tenon, Some(&after), 50).await.records.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn small_pages_lose_nothing_updated_in_the_same_second() {
    let (_dir, tenon, pim) = setup(4).await;
    let all = read(&tenon, None, 50).await;
    let mut cursor = all.next_cursor;
    // Three edits, most likely within one second: equal `updated` times.
    for sku in ["SKU-0004", "SKU-0002", "SKU-0001"] {
        pim.edit_product(sku, |p| p.enabled = false);
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        let page = read(&tenon, cursor.as_deref(), 1).await;
        if page.records.is_empty() {
            break;
        }
        seen.extend(page.records.iter().map(|r| r.key.clone()));
        cursor = page.next_cursor;
    }
    seen.sort();
    assert_eq!(seen, ["SKU-0001", "SKU-0002", "SKU-0004"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pim_failures_fail_the_read() {
    let (_dir, tenon, pim) = setup(2).await;
    pim.fail_next(1, 503);
    let error = tenon
        .preview("acme", "pim-akeneo", "products", None, 10)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(read(&tenon, None, 10).await.records.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn variants_carry_their_parent_and_every_product_its_prices() {
    let (_dir, tenon, _pim) = setup(6).await;
    let page = read(&tenon, None, 50).await;
    let products: Vec<Value> = page.records.iter().map(payload).collect();
    let parents: Vec<&Value> = products.iter().map(|p| &p["parent"]).collect();
    assert_eq!(
        parents,
        [
            &json!("tshirt-1"),
            &json!("tshirt-1"),
            &Value::Null,
            &json!("tshirt-2"),
            &json!("tshirt-2"),
            &Value::Null,
        ],
        "variants name their model; simple products say null"
    );
    assert_eq!(products[1]["values"]["size"][0]["data"], "m");
    assert_eq!(products[2]["family"], "mugs");
    assert_eq!(products[2]["values"]["name"][1]["data"], "Mug 1 (FR)");
    for product in &products {
        let prices = &product["values"]["price"][0];
        assert_eq!(
            (&prices["locale"], &prices["scope"]),
            (&Value::Null, &Value::Null)
        );
        let currencies: Vec<&str> = prices["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["currency"].as_str().unwrap())
            .collect();
        assert_eq!(currencies, ["EUR", "USD"], "{product}");
    }
    assert_eq!(
        products[3]["values"]["price"][0]["data"],
        json!([{"amount": "12.90", "currency": "EUR"}, {"amount": "14.00", "currency": "USD"}])
    );

    // A product built by a test goes through untouched too.
    let (_dir, tenon, _pim) = setup_with(vec![
        Product::new("BAG-S", "bags")
            .variant_of("bag-tote")
            .with_names(&[("en_US", "Tote"), ("fr_FR", "Cabas")])
            .with_prices(&[("19.90", "EUR"), ("21.00", "USD")])
            .with_value("size", ProductValue::global("s")),
    ])
    .await;
    let bag = payload(&read(&tenon, None, 10).await.records[0]);
    assert_eq!(bag["parent"], "bag-tote");
    assert_eq!(
        bag["values"]["price"],
        json!([{"locale": null, "scope": null, "data": [
            {"amount": "19.90", "currency": "EUR"}, {"amount": "21.00", "currency": "USD"}]}])
    );
    let schema = &tenon.plugin("pim-akeneo").unwrap().descriptor.streams[0].schema;
    let schema: Value = serde_json::from_str(schema).unwrap();
    assert_eq!(
        schema["properties"]["parent"]["type"],
        json!(["string", "null"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_fails_the_read_with_the_pims_retry_after_and_keeps_the_cursor() {
    let (_dir, tenon, pim) = setup(5).await;
    with_flow(&tenon, 2).await;
    let first = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&first);
    assert_eq!(delivered(&tenon), skus(5));

    // A scripted 429 with Akeneo's Retry-After: 3 seconds.
    pim.edit_product("SKU-0002", |p| p.enabled = false);
    let cursor = tenon.cursor("acme", FLOW).unwrap();
    pim.script([Fault::RateLimited {
        retry_after_secs: 3,
    }]);
    let limited = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_eq!(limited.status, RunStatus::Failed);
    let error = limited.error.as_deref().unwrap();
    assert!(
        error.contains("rate limited, retry after 3000 ms") && error.contains("429"),
        "{error}"
    );
    assert_eq!(limited.records_read, 0);
    // What `tenon serve`'s scheduler waits for before the flow's next run.
    assert_eq!(limited.retry_after_ms, Some(3000));
    assert_eq!(limited.cursor_after, cursor, "the cursor stays");
    assert_eq!(tenon.cursor("acme", FLOW).unwrap(), cursor);

    // The next run reads the edit.
    let next = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&next);
    assert_eq!((next.records_read, next.records_written), (1, 1));
    assert_ne!(tenon.cursor("acme", FLOW).unwrap(), cursor);

    // The PIM's own limit: the read over it says how long the window still runs.
    // One read takes two requests: the category tree, then the products.
    pim.set_rate_limit(2, Duration::from_secs(4));
    read(&tenon, None, 10).await;
    let error = tenon
        .preview("acme", "pim-akeneo", "products", None, 10)
        .await
        .unwrap_err()
        .to_string();
    let after_ms: u64 = error
        .split("retry after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no delay in `{error}`"));
    assert!((3_000..=4_000).contains(&after_ms), "{error}");
    let statuses: Vec<u16> = pim.requests().iter().map(|r| r.1).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_cut_bodies_fail_the_run_without_losing_a_product() {
    let (_dir, tenon, pim) = setup(5).await;
    with_flow(&tenon, 2).await;
    // The first batch goes through, then the PIM fails the next read.
    let per_read = requests_per_read(&tenon, &pim, None, 2).await;
    pim.script(std::iter::repeat_n(Fault::Pass, per_read).chain([Fault::Status(503)]));
    let failed = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_deref().unwrap();
    assert!(
        error.contains("retryable") && error.contains("503"),
        "{error}"
    );
    assert_eq!(
        (failed.batches, failed.records_read, failed.records_written),
        (1, 2, 2)
    );
    assert_eq!(delivered(&tenon), skus(2));
    let cursor = tenon
        .cursor("acme", FLOW)
        .unwrap()
        .expect("the first batch committed");
    assert!(cursor.contains("SKU-0002"), "{cursor}");
    assert_eq!(failed.cursor_after.as_deref(), Some(cursor.as_str()));

    // A product page cut short: retryable, and the cursor stays.
    pim.script([Fault::Malformed]);
    let cut = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_eq!(cut.status, RunStatus::Failed);
    let error = cut.error.as_deref().unwrap();
    assert!(
        error.contains("retryable") && error.contains("cut short"),
        "{error}"
    );
    assert_eq!(cut.records_read, 0);
    assert_eq!(
        tenon.cursor("acme", FLOW).unwrap().as_deref(),
        Some(cursor.as_str())
    );

    // Once the PIM answers, the rest arrives, each product once.
    let resumed = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&resumed);
    assert_eq!(resumed.records_read, 3);
    assert_eq!(delivered(&tenon), skus(5));
    let statuses: Vec<u16> = pim.requests().iter().map(|r| r.1).collect();
    assert!(statuses.contains(&503), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_pim_is_waited_for_until_the_timeout_then_the_read_is_retryable() {
    let (_dir, tenon, pim) = setup(3).await;
    pim.slow_next(1, Duration::from_millis(400));
    let started = Instant::now();
    let page = read(&tenon, None, 10).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(page.records.len(), 3, "a slow answer is still an answer");

    with_flow(&tenon, 10).await;
    pim.script([Fault::Slow { ms: 3 * TIMEOUT_MS }]);
    let started = Instant::now();
    let timed_out = tenon.run_flow("acme", FLOW).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(timed_out.status, RunStatus::Failed);
    let error = timed_out.error.as_deref().unwrap();
    assert!(error.contains("retryable"), "{error}");
    assert!(
        waited >= Duration::from_millis(TIMEOUT_MS)
            && waited < Duration::from_millis(3 * TIMEOUT_MS),
        "gave up after the timeout, not before nor at the PIM's pace: {waited:?}"
    );
    assert_eq!(timed_out.cursor_after, None);
    assert!(delivered(&tenon).is_empty());

    let next = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&next);
    assert_eq!(delivered(&tenon), skus(3));
}

/// Enables `pim-akeneo` for `acme` with `api_token` holding an OAuth 2 password
/// grant instead of a token.
fn enable_with_grant(tenon: &Tenon, pim: &Pim, password: &str) -> Result<(), tenon::Error> {
    let grant = json!({"oauth2": {
        "token_url": pim.token_url(), "grant_type": "password",
        "client_id": "tenon-client", "client_secret": "client-s3cret",
        "username": "tenon", "password": password,
    }});
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([("base_url".into(), pim.base_url())]),
                grants: vec![pim.addr().to_string().parse().unwrap()],
                ..enablement("acme", "pim-akeneo")
            }
            .with_secret("api_token", grant.to_string()),
            "test",
        )
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_obtains_renews_and_never_shows_the_pims_oauth_tokens() {
    let (_dir, tenon, pim) = setup(4).await;
    pim.enable_oauth(tenon_sandboxes::OAuthClient::new(
        "tenon-client",
        "client-s3cret",
        "tenon",
        "user-pa55",
    ));

    // A grant that cannot work is refused when enabling, with what is wrong.
    let refused = tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([("base_url".into(), pim.base_url())]),
                grants: vec![pim.addr().to_string().parse().unwrap()],
                ..enablement("acme", "pim-akeneo")
            }
            .with_secret(
                "api_token",
                json!({"oauth2": {"token_url": pim.token_url(), "grant_type": "password",
                    "client_id": "c", "client_secret": "s"}})
                .to_string(),
            ),
            "test",
        )
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("secret `api_token` is an OAuth 2 grant, but")
            && refused.contains("username"),
        "{refused}"
    );

    // The plugin asks for `api_token` as a bearer token, as always; the host
    // runs the password grant once and reuses the token.
    enable_with_grant(&tenon, &pim, "user-pa55").unwrap();
    with_flow(&tenon, 10).await;
    let first = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&first);
    assert_eq!(first.records_read, 4);
    assert_eq!(pim.tokens_issued(), 1);
    pim.edit_product("SKU-0001", |p| p.enabled = false);
    let second = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&second);
    assert_eq!(second.records_read, 1);
    assert_eq!(pim.tokens_issued(), 1, "the token is held between calls");

    // The hour passes: the PIM refuses the token, the host gets a new one and
    // sends the request again; the run does not notice.
    pim.expire_tokens();
    pim.edit_product("SKU-0002", |p| p.enabled = false);
    let renewed = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&renewed);
    assert_eq!(renewed.records_read, 1);
    assert_eq!(pim.tokens_issued(), 2);

    // A wrong password: the run fails permanently, naming the secret and the
    // PIM's error code, never the password or a token.
    pim.expire_tokens();
    enable_with_grant(&tenon, &pim, "wrong-pa55").unwrap();
    pim.edit_product("SKU-0003", |p| p.enabled = false);
    let failed = tenon.run_flow("acme", FLOW).await.unwrap();
    let error = failure(&failed);
    assert!(
        error.contains("OAuth grant of secret `api_token`") && error.contains("invalid_grant"),
        "{error}"
    );
    assert!(
        !error.contains("pa55") && !error.contains("s3cret"),
        "{error}"
    );
    assert_eq!(pim.tokens_issued(), 2);
}

/// A canonical link, for comparing.
fn link(kind: &str, sku: &str, quantity: Option<i64>) -> ProductLink {
    ProductLink {
        kind: kind.into(),
        sku: sku.into(),
        quantity,
    }
}

/// The media URLs of a canonical product, gallery order.
fn urls(product: &Canonical) -> Vec<&str> {
    product.media.iter().map(|m| m.url.as_str()).collect()
}

/// The sandbox's download links of `sku`'s images `views`, in order.
fn downloads(pim: &Pim, sku: &str, views: &[&str]) -> Vec<String> {
    views
        .iter()
        .map(|view| {
            format!(
                "{}/api/rest/v1/media-files/a/b/c/{}_{view}.jpg/download",
                pim.base_url(),
                sku.to_lowercase()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complete_product_becomes_canonical_with_category_paths_gallery_and_links() {
    let (_dir, tenon, pim) = setup(9).await;
    enable_catalog(&tenon);
    let page = read(&tenon, None, 50).await;
    let mut complete = skus(9);
    complete.retain(|sku| sku != "SKU-0008");
    assert_eq!(
        keys(&page),
        complete,
        "SKU-0008 has no images yet: not complete, not read"
    );
    let cursor = page.next_cursor.clone().expect("a cursor after records");
    let mug = payload(&page.records[2]);
    assert_eq!(mug["identifier"], "SKU-0003");
    assert_eq!(
        mug["completenesses"][0],
        json!({"scope": "ecommerce", "locale": "en_US", "data": 100})
    );
    assert_eq!(
        mug["quantified_associations"]["PACK"]["products"][0],
        json!({"identifier": "SKU-0001", "quantity": 2})
    );

    let canonical = through_catalog(&tenon, page.records).await;
    assert_eq!(canonical.len(), 8);
    let mug = &canonical["SKU-0003"];
    assert_eq!(mug.categories, ["Home/Kitchen"]);
    assert_eq!(urls(mug), downloads(&pim, "SKU-0003", &["front", "back"]));
    assert_eq!(
        mug.links,
        [
            link("bundle", "SKU-0001", Some(2)),
            link("bundle", "SKU-0002", Some(1)),
            link("upsell", "SKU-0006", None),
        ],
        "the pack with its quantities; the cross-sold product model left out"
    );
    let tee = &canonical["SKU-0001"];
    assert_eq!(tee.group, "tshirt-1");
    assert_eq!(tee.categories, ["Clothing/Summer collection"]);
    assert_eq!(
        urls(tee),
        downloads(&pim, "SKU-0001", &["front", "back", "detail"]),
        "primary first, then the gallery"
    );
    assert_eq!(
        tee.links,
        [
            link("related", "SKU-0002", None),
            link("crosssell", "SKU-0003", None),
        ]
    );
    assert_eq!(
        canonical["SKU-0009"].links[1],
        link("bundle", "SKU-0008", Some(1)),
        "a link to a product not published yet stays: the destination resolves SKUs"
    );

    // The filter is the connector's: switched off, the incomplete product is
    // read, with its completeness.
    enable_pim(&tenon, &pim, &[("min_completeness", "0")]);
    let all = read(&tenon, None, 50).await;
    assert_eq!(keys(&all), skus(9));
    assert_eq!(payload(&all.records[7])["completenesses"][1]["data"], 83);

    // Back on: once photographed, it is read after the cursor, and only it.
    enable_pim(&tenon, &pim, &[]);
    pim.edit_product("SKU-0008", |p| {
        for (attribute, view) in [("image", "front"), ("gallery_1", "back")] {
            p.values.insert(
                attribute.into(),
                vec![ProductValue::media(&format!("a/b/c/sku-0008_{view}.jpg"))],
            );
        }
    });
    let next = read(&tenon, Some(&cursor), 50).await;
    assert_eq!(keys(&next), ["SKU-0008"]);
    let eighth = through_catalog(&tenon, next.records).await;
    assert_eq!(
        urls(&eighth["SKU-0008"]),
        downloads(&pim, "SKU-0008", &["front", "back"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_category_rename_moves_only_the_products_under_it_on_the_next_run() {
    let (_dir, tenon, pim) = setup(6).await;
    enable_catalog(&tenon);
    with_flow(&tenon, 50).await;
    let first = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&first);
    assert_eq!(first.records_read, 6);
    let quiet = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&quiet);
    assert_eq!(quiet.records_read, 0, "nothing changed");

    pim.edit_category("clothing", |c| {
        c.labels.insert("en_US".into(), "Apparel".into());
    });
    let renamed = pim
        .categories()
        .into_iter()
        .find(|c| c.code == "clothing")
        .unwrap()
        .updated;
    let cursor = tenon.cursor("acme", FLOW).unwrap();
    let preview = read(&tenon, cursor.as_deref(), 50).await;
    assert_eq!(
        keys(&preview),
        ["SKU-0001", "SKU-0002", "SKU-0004", "SKU-0005"],
        "the T-shirts, under `clothing`; not the mugs"
    );
    for record in &preview.records {
        assert_eq!(
            record.source_time.as_deref(),
            Some(renamed.as_str()),
            "the rename is the change"
        );
    }
    let canonical = through_catalog(&tenon, preview.records).await;
    for product in canonical.values() {
        assert_eq!(
            product.categories,
            ["Apparel/Summer collection"],
            "{}",
            product.sku
        );
    }

    let next = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&next);
    assert_eq!((next.records_read, next.records_written), (4, 4));
    let after = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&after);
    assert_eq!(after.records_read, 0, "the rename is read once");
    assert_eq!(delivered(&tenon), skus(6));

    // Deeper down the tree: only that category's products.
    pim.edit_category("kitchen", |c| {
        c.labels.insert("en_US".into(), "Kitchen & dining".into());
    });
    let kitchen = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&kitchen);
    assert_eq!(kitchen.records_read, 2, "SKU-0003 and SKU-0006");
    // And an edit of a product, with no category changed, reads just it.
    pim.edit_product("SKU-0002", |p| p.enabled = false);
    let edit = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&edit);
    assert_eq!(edit.records_read, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_categories_stream_reads_the_tree_then_only_what_changed() {
    let (_dir, tenon, pim) = setup(0).await;
    let categories = |cursor: Option<String>, limit: u32| {
        let tenon = &tenon;
        async move {
            tenon
                .preview("acme", "pim-akeneo", "categories", cursor.as_deref(), limit)
                .await
                .unwrap()
        }
    };
    let all = categories(None, 50).await;
    assert_eq!(
        keys(&all),
        ["clothing", "home", "kitchen", "master", "summer"],
        "by (updated, code)"
    );
    let summer = payload(&all.records[4]);
    assert_eq!(summer["parent"], "clothing");
    assert_eq!(summer["labels"]["fr_FR"], "Collection été");
    assert_eq!(payload(&all.records[3])["parent"], Value::Null);
    let cursor = all.next_cursor.clone().expect("a cursor");
    assert!(
        categories(Some(cursor.clone()), 50)
            .await
            .records
            .is_empty()
    );

    // Small pages: the tie on `updated` neither skips nor repeats.
    let mut seen = Vec::new();
    let mut small: Option<String> = None;
    for _ in 0..5 {
        let page = categories(small.clone(), 2).await;
        seen.extend(page.records.iter().map(|r| r.key.clone()));
        small = page.next_cursor.or(small);
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, keys(&all));

    pim.edit_category("kitchen", |c| {
        c.labels.insert("en_US".into(), "Kitchen & dining".into());
    });
    let next = categories(Some(cursor), 50).await;
    assert_eq!(keys(&next), ["kitchen"]);
    assert_eq!(
        payload(&next.records[0])["labels"]["en_US"],
        "Kitchen & dining"
    );
}
