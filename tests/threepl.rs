//! The `wms-shipstation` connector against the ShipStation-shaped 3PL sandbox:
//! storefront orders reach the 3PL exactly once across retries, a shipment split
//! in two parcels is read as two shipment records with their tracking numbers
//! (by polling and by SHIP_NOTIFY), and `429`s are waited out for exactly the
//! `X-Rate-Limit-Reset` the 3PL sent.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;
use tenon::Tenon;
use tenon::flow::{Endpoint, Flow};
use tenon::sandbox::WebhookRequest;
use tenon::vendors::threepl::Fault;
use tenon::vendors::{Parcel, ShipmentItem, Shop, ThreePl, demo_orders};

const API_KEY: &str = "3pl-key";
const API_SECRET: &str = "3pl-secret";
const FLOW: &str = "orders-to-3pl";

/// A host with the shop, `order-to-sale` and the 3PL enabled for `acme`, and the
/// flow `shop:orders -> order-to-sale -> 3pl:fulfilment-orders` with a quick
/// retry policy (3 attempts, 200 ms base delay).
async fn setup(orders: usize) -> (tempfile::TempDir, Tenon, Shop, ThreePl) {
    setup_with(orders, None).await
}

/// [`setup`], with the 3PL's requests cut at `http_timeout_ms` when given.
async fn setup_with(
    orders: usize,
    http_timeout_ms: Option<u64>,
) -> (tempfile::TempDir, Tenon, Shop, ThreePl) {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let shop = Shop::start(SHOP_TOKEN, demo_orders(orders))
        .await
        .expect("shop starts");
    let threepl = ThreePl::start(API_KEY, API_SECRET)
        .await
        .expect("3PL starts");
    tenon.create_tenant("acme", "test").unwrap();
    tenon
        .enable(shop_enablement("acme", &shop), "test")
        .unwrap();
    tenon
        .enable(enablement("acme", "order-to-sale"), "test")
        .unwrap();
    let mut threepl_enablement = tenon::tenant::Enablement {
        config: BTreeMap::from([
            ("base_url".into(), threepl.base_url()),
            ("api_key".into(), API_KEY.into()),
        ]),
        grants: vec![threepl.addr().to_string().parse().unwrap()],
        ..enablement("acme", "wms-shipstation")
    }
    .with_secret("api_secret", API_SECRET);
    threepl_enablement.limits.http_timeout_ms = http_timeout_ms;
    tenon.enable(threepl_enablement, "test").unwrap();
    let flow = Flow {
        batch_size: 10,
        max_attempts: 3,
        retry_base_ms: 200,
        ..tenon::host::flow(
            "acme",
            FLOW,
            Endpoint {
                plugin: "demo-shop".into(),
                stream: "orders".into(),
            },
            vec!["order-to-sale".into()],
            Endpoint {
                plugin: "wms-shipstation".into(),
                stream: "fulfilment-orders".into(),
            },
        )
    };
    tenon.add_flow(flow, "test").unwrap();
    (dir, tenon, shop, threepl)
}

async fn run(tenon: &Tenon) -> tenon::flow::Run {
    let run = tenon.run_flow("acme", FLOW).await.unwrap();
    assert_succeeded(&run);
    run
}

/// Waits until the flow's retry queue is due.
async fn until_due(tenon: &Tenon) {
    let next = tenon
        .retries("acme", FLOW)
        .unwrap()
        .iter()
        .map(|r| r.next_at)
        .min()
        .unwrap();
    let wait = next.saturating_sub(tenon::host::now_ms()) + 20;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Every shop order is a 3PL order exactly once, applied exactly once.
fn assert_exactly_once(shop: &Shop, threepl: &ThreePl) {
    let mut expected: Vec<String> = shop
        .orders()
        .iter()
        .map(|o| format!("shop:{}", o.id))
        .collect();
    expected.sort();
    let orders = threepl.orders();
    let mut keys: Vec<String> = orders.iter().map(|o| o.order.order_key.clone()).collect();
    keys.sort();
    assert_eq!(keys, expected, "the 3PL holds exactly the shop's orders");
    for order in &orders {
        assert_eq!(
            order.applied, 1,
            "{} was applied {} times",
            order.order.order_key, order.applied
        );
    }
}

fn parcel(tracking: &str, sku: &str) -> Parcel {
    Parcel {
        tracking: tracking.into(),
        carrier: "ups".into(),
        items: vec![ShipmentItem {
            sku: sku.into(),
            quantity: 1,
        }],
    }
}

fn payload(envelope: &tenon::record::Envelope) -> serde_json::Value {
    serde_json::from_str(&envelope.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_reach_the_3pl_exactly_once_across_retries() {
    let (_dir, tenon, shop, threepl) = setup(4).await;
    threepl.script([Fault::Status(503)]);
    let r = run(&tenon).await;
    assert_eq!((r.records_read, r.records_queued), (4, 1));
    assert_eq!(threepl.orders().len(), 3);
    let refused: Vec<u16> = threepl
        .attempts()
        .iter()
        .map(|a| a.2)
        .filter(|s| *s != 200)
        .collect();
    assert_eq!(refused, [503]);

    until_due(&tenon).await;
    run(&tenon).await;
    assert!(tenon.retries("acme", FLOW).unwrap().is_empty());
    assert_exactly_once(&shop, &threepl);

    // Nothing changed: nothing is sent again.
    let posts = threepl.attempts().len();
    let r = run(&tenon).await;
    assert_eq!(r.records_read, 0);
    assert_eq!(threepl.attempts().len(), posts);

    // The mapping: a ShipStation order awaiting shipment, with the shop's lines.
    let first = &shop.orders()[0];
    let stored = threepl
        .orders()
        .into_iter()
        .find(|o| o.order.order_key == format!("shop:{}", first.id))
        .unwrap();
    assert_eq!(stored.order.order_status, "awaiting_shipment");
    assert_eq!(stored.order.customer_email, first.customer.email);
    let skus: Vec<&str> = stored.order.items.iter().map(|i| i.sku.as_str()).collect();
    let expected: Vec<&str> = first.lines.iter().map(|l| l.sku.as_str()).collect();
    assert_eq!(skus, expected);
}

/// ShipStation takes no idempotency key: an order it took while the answer
/// was lost (the request timed out after it arrived) would be created again by
/// a plain retry. The host tells the connector the record was attempted
/// before without an answer it could trust; the connector finds the order at
/// the 3PL and does not send it again.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_the_3pl_took_after_the_request_timed_out_is_not_sent_again() {
    let (_dir, tenon, shop, threepl) = setup_with(3, Some(300)).await;
    // The first `createorder` is applied 1 s after it arrived: long after the
    // connector gave up on it at 300 ms.
    threepl.script([Fault::Slow { ms: 1_000 }]);
    let r = run(&tenon).await;
    assert_eq!((r.records_read, r.records_queued), (3, 1), "{r:?}");
    let queued = tenon.retries("acme", FLOW).unwrap();
    let key = &queued[0].idempotency_key;
    let attempt = tenon.write_attempt("acme", "wms-shipstation", key).unwrap();
    let attempt = attempt.expect("the attempt is recorded");
    assert_eq!(attempt.calls, 1);
    assert!(
        matches!(&attempt.answer, Some(tenon::GuestError::Retryable { message }) if message.contains("timed out")),
        "{attempt:?}"
    );
    // The slow one lands.
    for _ in 0..100 {
        if threepl.orders().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(threepl.orders().len(), 3);

    until_due(&tenon).await;
    let r = run(&tenon).await;
    assert_eq!(r.records_written, 1, "{r:?}");
    assert!(tenon.retries("acme", FLOW).unwrap().is_empty());
    // Three orders, each created once: the retry looked the order up and
    // found it, and no fourth `createorder` was sent.
    assert_exactly_once(&shop, &threepl);
    assert_eq!(threepl.attempts().len(), 3, "{:?}", threepl.attempts());
    // Delivered: the record of its attempts is gone.
    let attempt = tenon.write_attempt("acme", "wms-shipstation", key).unwrap();
    assert_eq!(attempt, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_shipment_is_read_as_two_shipment_records() {
    let (_dir, tenon, shop, threepl) = setup(2).await;
    run(&tenon).await;
    let key = format!("shop:{}", shop.orders()[0].id);
    threepl.ship(
        &key,
        vec![
            parcel("1Z-PARCEL-ONE", "TEE"),
            parcel("1Z-PARCEL-TWO", "MUG"),
        ],
    );

    let page = tenon
        .preview("acme", "wms-shipstation", "shipments", None, 50)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 2, "{page:?}");
    let tracking: Vec<String> = page
        .records
        .iter()
        .map(|r| payload(r)["tracking_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tracking, ["1Z-PARCEL-ONE", "1Z-PARCEL-TWO"]);
    for record in &page.records {
        let shipment = payload(record);
        assert_eq!(shipment["order_key"], key.as_str());
        assert_eq!(shipment["carrier"], "ups");
        assert_eq!(shipment["items"].as_array().unwrap().len(), 1);
    }
    assert_ne!(page.records[0].key, page.records[1].key);

    // From the cursor: nothing new, then only the next shipment.
    let cursor = page.next_cursor.expect("a cursor after records");
    let again = tenon
        .preview("acme", "wms-shipstation", "shipments", Some(&cursor), 50)
        .await
        .unwrap();
    assert!(again.records.is_empty(), "{again:?}");
    let other = format!("shop:{}", shop.orders()[1].id);
    threepl.ship(&other, vec![parcel("1Z-PARCEL-THREE", "CAP")]);
    let next = tenon
        .preview("acme", "wms-shipstation", "shipments", Some(&cursor), 50)
        .await
        .unwrap();
    assert_eq!(next.records.len(), 1);
    assert_eq!(
        payload(&next.records[0])["tracking_number"],
        "1Z-PARCEL-THREE"
    );

    // Small pages walk the same records in order.
    let first = tenon
        .preview("acme", "wms-shipstation", "shipments", None, 1)
        .await
        .unwrap();
    assert!(first.more);
    assert_eq!(
        payload(&first.records[0])["tracking_number"],
        "1Z-PARCEL-ONE"
    );
    let second = tenon
        .preview(
            "acme",
            "wms-shipstation",
            "shipments",
            first.next_cursor.as_deref(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        payload(&second.records[0])["tracking_number"],
        "1Z-PARCEL-TWO"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ship_notify_is_accepted_without_calling_the_3pl_and_the_next_run_reads_its_shipments() {
    let (_dir, tenon, shop, threepl) = setup(2).await;
    run(&tenon).await;
    // A flow must take the shipments for the webhook to be stored.
    let flow = tenon::host::flow(
        "acme",
        "shipments",
        Endpoint {
            plugin: "wms-shipstation".into(),
            stream: "shipments".into(),
        },
        Vec::new(),
        Endpoint {
            plugin: "wms-shipstation".into(),
            stream: "fulfilment-orders".into(),
        },
    );
    tenon.add_flow(flow, "test").unwrap();
    threepl.ship(
        &format!("shop:{}", shop.orders()[1].id),
        vec![parcel("EARLIER", "CAP")],
    );
    let key = format!("shop:{}", shop.orders()[0].id);
    let notify = threepl.ship(&key, vec![parcel("T-1", "TEE"), parcel("T-2", "MUG")]);

    let request = |body: Vec<u8>| WebhookRequest {
        method: "POST".into(),
        path: "/hooks/acme/wms-shipstation".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
    // ShipStation neither signs a notification nor puts data in it, and the
    // handler has no network: it is accepted as it is, with no records and no
    // call to the 3PL (nobody can make the host call the vendor by POSTing).
    let calls = threepl.requests();
    let taken = tenon
        .receive_webhook(
            "acme",
            "wms-shipstation",
            request(serde_json::to_vec(&notify).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(taken, 0);
    assert_eq!(threepl.requests(), calls, "the handler called the 3PL");
    assert!(tenon.inbox("acme", "shipments").unwrap().is_empty());

    // A resource_url elsewhere is refused as not a notification of this 3PL.
    let forged = serde_json::json!({
        "resource_url": "http://198.51.100.7/shipments?batchId=1",
        "resource_type": "SHIP_NOTIFY",
    });
    let error = tenon
        .receive_webhook(
            "acme",
            "wms-shipstation",
            request(serde_json::to_vec(&forged).unwrap()),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not a shipment listing under"),
        "{error}"
    );

    // The flow's run reads the shipments the notification announced.
    let r = tenon.run_flow("acme", "shipments").await.unwrap();
    assert_succeeded(&r);
    assert_eq!(r.records_read, 3, "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_retried_after_the_reset_delay_not_before() {
    let (_dir, tenon, shop, threepl) = setup(3).await;
    threepl.script([Fault::RateLimited { reset_secs: 2 }]);
    let r = run(&tenon).await;
    assert_eq!(r.records_queued, 1);
    let queued = &tenon.retries("acme", FLOW).unwrap()[0];
    assert_eq!(
        queued.next_at - queued.attempts[0].at,
        2_000,
        "X-Rate-Limit-Reset: 2 means 2000 ms"
    );
    assert!(
        queued.attempts[0]
            .error
            .starts_with("rate limited, retry after 2000 ms"),
        "{:?}",
        queued.attempts
    );

    tokio::time::sleep(Duration::from_millis(1_000)).await;
    run(&tenon).await;
    assert_eq!(threepl.orders().len(), 2, "not retried before the reset");
    until_due(&tenon).await;
    run(&tenon).await;
    assert_exactly_once(&shop, &threepl);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_rate_limit_window_is_honoured_on_reads_and_writes() {
    let (_dir, tenon, shop, threepl) = setup(3).await;
    // A window long enough for the read below to fall in it on a busy machine.
    threepl.set_rate_limit(2, Duration::from_secs(4));
    let r = run(&tenon).await;
    assert_eq!(
        (r.records_written, r.records_queued),
        (2, 1),
        "the third POST is over the limit"
    );
    let queued = &tenon.retries("acme", FLOW).unwrap()[0];
    let delay = queued.next_at - queued.attempts[0].at;
    assert!(
        (3_000..=4_000).contains(&delay),
        "waits for the window: {delay} ms"
    );

    // Reads are limited too, with the same reset.
    let error = tenon
        .preview("acme", "wms-shipstation", "shipments", None, 10)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("rate limited"), "{error}");

    until_due(&tenon).await;
    run(&tenon).await;
    assert_exactly_once(&shop, &threepl);
}
