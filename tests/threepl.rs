//! The `wms-shipstation` connector against the ShipStation-shaped 3PL sandbox:
//! storefront orders reach the 3PL exactly once across retries, a shipment split
//! in two parcels is read as two shipment records with their tracking numbers
//! (by polling and by SHIP_NOTIFY), `429`s are waited out for exactly the
//! `X-Rate-Limit-Reset` the 3PL sent, holds written as `order-states` stop an
//! order from shipping until released (by a record or by their date), and a
//! customer's parcel coming back is read as `return-labels` and becomes
//! canonical `returns` through `shipstation-returns`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use support::*;
use tenon::Tenon;
use tenon::flow::{Endpoint, Flow};
use tenon::record::{Envelope, Op};
use tenon::sandbox::WebhookRequest;
use tenon_sandboxes::threepl::{Disposition, Fault, ReturnParcel, ReturnedItem, ShipRefusal};
use tenon_sandboxes::{FulfilmentOrder, Parcel, ShipmentItem, Shop, ThreePl, demo_orders};
use tenon_sdk::canonical::{Return, ReturnLine};

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
    let threepl = ThreePl::start(THREEPL_KEY, THREEPL_SECRET)
        .await
        .expect("3PL starts");
    tenon.create_tenant("acme", "test").unwrap();
    tenon
        .enable(shop_enablement("acme", &shop), "test")
        .unwrap();
    tenon
        .enable(enablement("acme", "order-to-sale"), "test")
        .unwrap();
    let mut wms = wms_enablement("acme", &threepl);
    wms.limits.http_timeout_ms = http_timeout_ms;
    tenon.enable(wms, "test").unwrap();
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

fn payload(envelope: &Envelope) -> serde_json::Value {
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

/// The 3PL's order with key `key`.
fn order_of(threepl: &ThreePl, key: &str) -> FulfilmentOrder {
    threepl
        .orders()
        .into_iter()
        .find(|o| o.order.order_key == key)
        .unwrap_or_else(|| panic!("the 3PL has no order `{key}`"))
}

/// An `order-states` delivery with source key `key`.
fn order_state(key: &str, order_id: &str, state: &str) -> (Envelope, String) {
    let payload = json!({"order_id": order_id, "state": state});
    (
        Envelope {
            stream: "order-states".into(),
            key: key.into(),
            op: Op::Upsert,
            payload: payload.to_string(),
            source_time: None,
        },
        format!("order-states:{key}:{payload}"),
    )
}

/// What `reconcile` of `order-states` lists, `orderId` -> payload.
async fn held_states(holds: &Direct) -> BTreeMap<String, serde_json::Value> {
    holds
        .reconcile_all("order-states", 1)
        .await
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_written_blocks_shipping_and_a_release_lets_the_order_ship() {
    let (_dir, tenon, shop, threepl) = setup(2).await;
    run(&tenon).await;
    let holds_dir = tempfile::tempdir().unwrap();
    let holds = Direct::new(holds_dir.path(), wms_enablement("acme", &threepl), true).await;
    let orders = shop.orders();
    let (first, second) = (orders[0].id.clone(), orders[1].id.clone());
    let key = format!("shop:{first}");
    let order_id = order_of(&threepl, &key).order_id.to_string();

    let outcomes = holds
        .write("order-states", vec![order_state("s1", &first, "on_hold")])
        .await;
    assert_eq!(outcomes, vec![Ok(Some(order_id.clone()))]);
    let held = order_of(&threepl, &key);
    assert_eq!(held.order.order_status, "on_hold");
    assert_eq!(
        held.hold_until_date.as_deref(),
        Some("2099-12-31T00:00:00.0000000"),
        "without `hold_days`, held until released"
    );
    let refused = threepl
        .try_ship(&key, vec![parcel("1Z-HELD", "TEE")])
        .unwrap_err();
    assert!(matches!(refused, ShipRefusal::OnHold { .. }), "{refused}");
    assert!(threepl.shipments().is_empty(), "a held order does not ship");

    // The same record again: the look-up finds it held; no second hold.
    let calls = threepl.requests();
    let outcomes = holds
        .write("order-states", vec![order_state("s1", &first, "on_hold")])
        .await;
    assert_eq!(outcomes, vec![Ok(Some(order_id.clone()))]);
    assert_eq!(threepl.requests(), calls + 1, "one look-up, nothing else");
    assert_eq!(order_of(&threepl, &key).modify_date, held.modify_date);

    // Reconcile lists what the warehouse holds: this order held, the other not.
    let listed = held_states(&holds).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        listed[&order_id],
        json!({"order_id": first, "state": "on_hold"})
    );

    let outcomes = holds
        .write("order-states", vec![order_state("s1", &first, "released")])
        .await;
    assert_eq!(outcomes, vec![Ok(Some(order_id.clone()))]);
    let released = order_of(&threepl, &key);
    assert_eq!(
        (
            released.order.order_status.as_str(),
            released.hold_until_date.as_deref()
        ),
        ("awaiting_shipment", None)
    );
    let calls = threepl.requests();
    let outcomes = holds
        .write("order-states", vec![order_state("s1", &first, "released")])
        .await;
    assert_eq!(outcomes, vec![Ok(Some(order_id.clone()))]);
    assert_eq!(
        threepl.requests(),
        calls + 1,
        "released already: a look-up only"
    );
    assert_eq!(
        held_states(&holds).await[&order_id],
        json!({"order_id": first, "state": "released"})
    );
    threepl
        .try_ship(&key, vec![parcel("1Z-FREE", "TEE")])
        .expect("a released order ships");

    // Too late to hold; states a warehouse does not take; an order it lacks.
    let outcomes = holds
        .write(
            "order-states",
            vec![
                order_state("s1", &first, "on_hold"),
                order_state("s2", &second, "invoiced"),
                order_state("s3", &second, "cancelled"),
                order_state("s4", "999999", "on_hold"),
            ],
        )
        .await;
    assert!(
        matches!(&outcomes[0], Err(tenon::GuestError::Permanent { message }) if message.contains("too late")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Ok(None), "nothing for a warehouse to do");
    assert!(
        matches!(&outcomes[2], Err(tenon::GuestError::Permanent { message }) if message.contains("fulfilment-orders")),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[3], Err(tenon::GuestError::Retryable { message }) if message.contains("no order `shop:999999`")),
        "{outcomes:?}"
    );
    assert_eq!(
        order_of(&threepl, &format!("shop:{second}"))
            .order
            .order_status,
        "awaiting_shipment"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hold_of_hold_days_ends_by_itself_when_its_date_comes() {
    let (_dir, tenon, shop, threepl) = setup(1).await;
    run(&tenon).await;
    let holds_dir = tempfile::tempdir().unwrap();
    let mut wms = wms_enablement("acme", &threepl);
    wms.config.insert("hold_days".into(), "2".into());
    let holds = Direct::new(holds_dir.path(), wms, true).await;
    let id = shop.orders()[0].id.clone();
    let key = format!("shop:{id}");

    let outcomes = holds
        .write("order-states", vec![order_state("s1", &id, "on_hold")])
        .await;
    assert!(outcomes[0].is_ok(), "{outcomes:?}");
    let until = order_of(&threepl, &key)
        .hold_until_date
        .expect("held until a date");
    assert!(&until[..10] > threepl.today().as_str(), "{until}");

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    threepl.advance_clock(DAY);
    assert_eq!(order_of(&threepl, &key).order.order_status, "on_hold");
    threepl.advance_clock(DAY);
    let released = order_of(&threepl, &key);
    assert_eq!(
        released.order.order_status, "awaiting_shipment",
        "two days on"
    );
    assert_eq!(released.hold_until_date, None);
    // Reconcile says what the warehouse did, not what was written.
    let listed = held_states(&holds).await;
    assert_eq!(
        listed[&released.order_id.to_string()],
        json!({"order_id": id, "state": "released"})
    );
    threepl.ship(&key, vec![parcel("1Z-LATER", "TEE")]);
}

/// `records` through `shipstation-returns` for `acme`: the canonical returns,
/// each checked against the stream's schema.
async fn through_returns(tenon: &Tenon, records: Vec<Envelope>) -> Vec<Return> {
    let plugin = tenon.plugin("shipstation-returns").unwrap();
    let ctx = tenon.call_context("acme", &plugin).unwrap();
    let prepared = tenon.prepared(&plugin).unwrap();
    let (out, _) = tenon
        .sandbox()
        .transform(&prepared, &ctx, records)
        .await
        .unwrap();
    let invalid = tenon
        .schema_errors("shipstation-returns", "returns", &out)
        .unwrap();
    assert!(invalid.iter().all(Option::is_none), "{invalid:?}");
    out.iter()
        .map(|record| {
            assert_eq!(record.stream, "returns");
            serde_json::from_str(&record.payload).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parcel_coming_back_is_read_as_a_return_label_and_becomes_a_canonical_return() {
    let (_dir, tenon, shop, threepl) = setup(2).await;
    run(&tenon).await;
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([("locations".into(), "1=Main warehouse".into())]),
                ..enablement("acme", "shipstation-returns")
            },
            "test",
        )
        .unwrap();
    let order = shop.orders()[1].clone();
    let key = format!("shop:{}", order.id);
    let (kept, broken) = (order.lines[0].sku.clone(), order.lines[1].sku.clone());
    threepl.ship(&key, vec![parcel("1Z-OUT", &kept)]);
    let label = threepl.return_parcel(
        &key,
        ReturnParcel {
            tracking: "1Z-BACK".into(),
            carrier: "ups".into(),
            warehouse_id: 1,
            items: vec![
                ReturnedItem {
                    sku: kept.clone(),
                    quantity: 1,
                    reason: Some("too small".into()),
                },
                ReturnedItem {
                    sku: broken.clone(),
                    quantity: 1,
                    reason: None,
                },
            ],
        },
    );

    // A return label is no parcel for the customer: `shipments` leaves it out.
    let outbound = tenon
        .preview("acme", "wms-shipstation", "shipments", None, 50)
        .await
        .unwrap();
    let tracking: Vec<String> = outbound
        .records
        .iter()
        .map(|r| payload(r)["tracking_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tracking, ["1Z-OUT"]);

    // Faults answer this listing too; the read fails and changes nothing.
    threepl.script([Fault::Status(503)]);
    let error = tenon
        .preview("acme", "wms-shipstation", "return-labels", None, 50)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");

    let page = tenon
        .preview("acme", "wms-shipstation", "return-labels", None, 50)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1, "{page:?}");
    assert_eq!(page.records[0].key, label.to_string());
    let invalid = tenon
        .schema_errors("wms-shipstation", "return-labels", &page.records)
        .unwrap();
    assert!(invalid.iter().all(Option::is_none), "{invalid:?}");
    let vendor = payload(&page.records[0]);
    assert_eq!(vendor["status"], "awaiting_return");
    assert_eq!(vendor["order_key"], key.as_str());
    assert_eq!(vendor["warehouse_id"], "1");
    assert_eq!(vendor["rma_number"], format!("RMA-{key}-1"));
    let requested = through_returns(&tenon, page.records.clone()).await;
    assert_eq!(requested.len(), 1);
    assert_eq!(
        requested[0].external_ref,
        format!("shipstation:return:{label}")
    );
    assert_eq!(requested[0].order_id, order.id);
    assert_eq!(requested[0].state, "requested");
    assert_eq!(requested[0].location.as_deref(), Some("Main warehouse"));
    assert!(requested[0].restocked().is_empty());

    // From the cursor: nothing until the return moves on, then that step once.
    let cursor = page.next_cursor.expect("a cursor after records");
    let read = |cursor: String| {
        let tenon = &tenon;
        async move {
            tenon
                .preview(
                    "acme",
                    "wms-shipstation",
                    "return-labels",
                    Some(&cursor),
                    50,
                )
                .await
                .unwrap()
        }
    };
    assert!(read(cursor.clone()).await.records.is_empty());
    threepl.receive_return(label);
    let received = read(cursor).await;
    assert_eq!(received.records.len(), 1, "{received:?}");
    assert_eq!(payload(&received.records[0])["status"], "received");
    let cursor = received.next_cursor.expect("a cursor");
    threepl.approve_return(
        label,
        &[
            (kept.as_str(), Disposition::Restock),
            (broken.as_str(), Disposition::Dispose),
        ],
    );
    let approved = read(cursor).await;
    assert_eq!(approved.records.len(), 1, "{approved:?}");
    let back = through_returns(&tenon, approved.records.clone()).await;
    assert_eq!(back[0].state, "approved");
    assert_eq!(back[0].restocked(), BTreeMap::from([(kept.as_str(), 1)]));
    let mut lines = vec![
        ReturnLine {
            sku: kept.clone(),
            quantity: 1,
            disposition: Some("restock".into()),
            reason: Some("too small".into()),
        },
        ReturnLine {
            sku: broken.clone(),
            quantity: 1,
            disposition: Some("dispose".into()),
            reason: None,
        },
    ];
    lines.sort_by(|a, b| a.sku.cmp(&b.sku));
    assert_eq!(back[0].lines, lines);

    // A second read from the last cursor moves nothing.
    let last = approved.next_cursor.expect("a cursor");
    assert!(read(last).await.records.is_empty());
}
