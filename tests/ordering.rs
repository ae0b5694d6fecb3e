//! Versions are ordered: whatever order a record's versions arrive in (by the
//! feed, by webhooks, late, twice, or behind a failed delivery waiting in the
//! retry queue), the destination ends on the newest one, an older version that
//! comes later is counted as superseded and never sent, and two changes within
//! the same second are two deliveries.

mod support;

use support::*;
use tenon::Tenon;
use tenon::capability::secret::Secret;
use tenon_sandboxes::{Fault, Ledger, Order, OrderStatus, SalesOrderStatus, Shop, demo_orders};

const SECRET: &str = "whsec-ordering";
const EARLY: &str = "2026-11-23T10:00:00Z";
const LATE: &str = "2026-11-23T10:00:05Z";

/// Order 1001 as the shop had it at `updated_at`, with `status`.
fn order(status: OrderStatus, updated_at: &str) -> Order {
    let mut order = demo_orders(1).remove(0);
    order.status = status;
    order.updated_at = updated_at.to_owned();
    order
}

/// The demo pipeline for `acme`, taking the shop's webhooks, with quick
/// retries.
async fn setup(dir: &std::path::Path, shop: &Shop, ledger: &Ledger) -> Tenon {
    let tenon = host(dir).await;
    pipeline(&tenon, "acme", shop, ledger);
    let mut with_secret = shop_enablement("acme", shop);
    with_secret.secrets.insert(
        "webhook_secret".into(),
        Secret::for_hosts(SECRET, Vec::new()),
    );
    tenon.enable(with_secret, "test").unwrap();
    let mut flow = tenon.flow("acme", "orders-to-erp").unwrap();
    flow.retry_base_ms = 200;
    tenon.add_flow(flow, "test").unwrap();
    tenon
}

async fn send(tenon: &Tenon, order: &Order) {
    let stored = tenon
        .receive_webhook("acme", "demo-shop", signed_webhook(order, SECRET))
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

async fn run(tenon: &Tenon) -> tenon::flow::Run {
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    run
}

/// The ledger's sales order for order 1001.
fn sale(ledger: &Ledger) -> tenon_sandboxes::SalesOrder {
    let books = ledger.sales_orders();
    assert_eq!(books.len(), 1, "one sales order: {books:?}");
    books.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_older_version_never_replaces_the_newer_one_waiting_in_the_retry_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(0).await;
    shop.upsert_order_at(order(OrderStatus::Cancelled, LATE), LATE);
    let tenon = setup(dir.path(), &shop, &ledger).await;

    // v2 fails and waits in the retry queue; the cursor moves past it.
    ledger.script([Fault::Status(500)]);
    assert_eq!(run(&tenon).await.records_queued, 1);

    // v1 arrives late by webhook: it is superseded, the queue keeps v2.
    send(&tenon, &order(OrderStatus::Placed, EARLY)).await;
    let late = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&late);
    assert_eq!(
        (late.records_superseded, late.records_written),
        (1, 0),
        "{late:?}"
    );
    let queued = tenon.retries("acme", "orders-to-erp").unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].envelope.source_time.as_deref(), Some(LATE));
    assert!(ledger.sales_orders().is_empty(), "v1 was never sent");

    // The retry delivers v2.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let retried = run(&tenon).await;
    assert_eq!(retried.records_written, 1);
    assert_eq!(sale(&ledger).status, SalesOrderStatus::Cancelled);
    assert!(tenon.retries("acme", "orders-to-erp").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_webhook_never_overwrites_a_newer_version_delivered_by_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(0).await;
    let tenon = setup(dir.path(), &shop, &ledger).await;

    send(&tenon, &order(OrderStatus::Cancelled, LATE)).await;
    assert_eq!(run(&tenon).await.records_written, 1);
    send(&tenon, &order(OrderStatus::Placed, EARLY)).await;
    let late = run(&tenon).await;
    assert_eq!((late.records_superseded, late.records_written), (1, 0));
    let sale = sale(&ledger);
    assert_eq!(sale.status, SalesOrderStatus::Cancelled);
    assert_eq!(
        sale.applied, 1,
        "the older version never reached the ledger"
    );
    assert!(tenon.inbox("acme", "orders-to-erp").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_webhook_never_overwrites_a_newer_version_the_feed_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(0).await;
    shop.upsert_order_at(order(OrderStatus::Cancelled, LATE), LATE);
    let tenon = setup(dir.path(), &shop, &ledger).await;

    assert_eq!(run(&tenon).await.records_written, 1);
    send(&tenon, &order(OrderStatus::Placed, EARLY)).await;
    let late = run(&tenon).await;
    assert_eq!((late.records_superseded, late.records_written), (1, 0));
    assert_eq!(sale(&ledger).status, SalesOrderStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_changes_in_the_same_second_are_two_deliveries_and_a_repeat_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(0).await;
    let tenon = setup(dir.path(), &shop, &ledger).await;

    send(&tenon, &order(OrderStatus::Placed, EARLY)).await;
    assert_eq!(run(&tenon).await.records_written, 1);
    assert_eq!(sale(&ledger).status, SalesOrderStatus::Open);

    // Cancelled within the same second: a new version, delivered.
    let cancelled = order(OrderStatus::Cancelled, EARLY);
    send(&tenon, &cancelled).await;
    let second = run(&tenon).await;
    assert_eq!(second.records_written, 1, "{second:?}");
    let after = sale(&ledger);
    assert_eq!(after.status, SalesOrderStatus::Cancelled);
    assert_eq!(after.applied, 2);

    // The same webhook again: that version was delivered, nothing is sent.
    send(&tenon, &cancelled).await;
    let repeat = run(&tenon).await;
    assert_eq!((repeat.records_repeated, repeat.records_written), (1, 0));
    assert_eq!(sale(&ledger).applied, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn of_versions_arriving_out_of_order_in_one_batch_only_the_newest_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(0).await;
    let tenon = setup(dir.path(), &shop, &ledger).await;

    send(&tenon, &order(OrderStatus::Cancelled, LATE)).await;
    send(&tenon, &order(OrderStatus::Paid, "2026-11-23T10:00:03Z")).await;
    send(&tenon, &order(OrderStatus::Placed, EARLY)).await;
    let r = run(&tenon).await;
    assert_eq!(
        (r.records_read, r.records_written, r.records_superseded),
        (3, 1, 2)
    );
    let sale = sale(&ledger);
    assert_eq!(sale.status, SalesOrderStatus::Cancelled);
    assert_eq!(sale.applied, 1);
}
