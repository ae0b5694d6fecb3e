//! End-to-end sync through real components, real HTTP on loopback and real sled:
//! install -> enable -> run -> cursor stored -> the next run reads only what changed.

mod support;

use support::*;
use tenon_sandboxes::{OrderStatus, SalesOrderStatus};

#[tokio::test(flavor = "multi_thread")]
async fn first_run_moves_the_backlog_and_the_next_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(25).await;
    pipeline(&tenon, "acme", &shop, &ledger);

    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(
        (run.records_read, run.records_written, run.batches),
        (25, 25, 3)
    );
    assert!(run.fuel_used > 0 && run.http_requests > 0, "{run:?}");
    // The same, by plugin: source, transform and destination.
    let names: Vec<&str> = run.plugins.keys().map(String::as_str).collect();
    assert_eq!(names, ["demo-ledger", "demo-shop", "order-to-sale"]);
    let plugins = run.plugins.values();
    assert_eq!(
        plugins.clone().map(|u| u.fuel_used).sum::<u64>(),
        run.fuel_used
    );
    assert_eq!(
        plugins.clone().map(|u| u.http_requests).sum::<u64>(),
        run.http_requests
    );
    assert!(plugins.clone().all(|u| u.calls >= 3 && u.http_errors == 0));
    assert_eq!(run.plugins["order-to-sale"].http_requests, 0);
    assert!(run.plugins["demo-shop"].http_micros > 0, "{run:?}");
    let cursor = tenon
        .cursor("acme", "orders-to-erp")
        .unwrap()
        .expect("cursor stored");
    assert_eq!(run.cursor_after.as_deref(), Some(cursor.as_str()));

    // Every order arrived once, mapped: cents, names, status.
    let books = ledger.sales_orders();
    assert_eq!(books.len(), 25);
    let order = &shop.orders()[0];
    let sale = books
        .iter()
        .find(|s| s.external_ref == format!("shop:{}", order.id))
        .unwrap();
    let total: u64 = sale
        .lines
        .iter()
        .map(|l| l.unit_price_cents * u64::from(l.quantity))
        .sum();
    assert_eq!(sale.total_cents, total);
    assert_eq!(format!("{}.{:02}", total / 100, total % 100), order.total);
    assert_eq!(
        sale.customer_name,
        format!("{} {}", order.customer.first_name, order.customer.last_name)
    );

    // One order changes, one is new: the next run moves exactly those two.
    let mut changed = shop.orders()[3].clone();
    changed.status = OrderStatus::Cancelled;
    shop.upsert_order(changed.clone());
    let mut new = shop.orders()[0].clone();
    new.id = "5001".into();
    shop.upsert_order(new);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (2, 2));
    assert_eq!(run.cursor_before.as_deref(), Some(cursor.as_str()));
    let books = ledger.sales_orders();
    assert_eq!(books.len(), 26);
    let cancelled = books
        .iter()
        .find(|s| s.external_ref == format!("shop:{}", changed.id))
        .unwrap();
    assert_eq!(cancelled.status, SalesOrderStatus::Cancelled);

    // Nothing changed: nothing moves.
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (0, 0));
    assert_eq!(tenon.runs(Some("acme"), None, 10).unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_disabled_for_one_tenant_still_runs_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger_a) = vendors(12).await;
    let ledger_b = tenon_sandboxes::Ledger::start(LEDGER_TOKEN).await.unwrap();
    pipeline(&tenon, "tenant-a", &shop, &ledger_a);
    pipeline(&tenon, "tenant-b", &shop, &ledger_b);

    tenon.disable("tenant-a", "demo-shop", "test").unwrap();
    let a = tenon.run_flow("tenant-a", "orders-to-erp").await.unwrap();
    let b = tenon.run_flow("tenant-b", "orders-to-erp").await.unwrap();

    assert!(
        failure(&a).contains("`demo-shop` is not enabled for tenant `tenant-a`"),
        "{a:?}"
    );
    assert_eq!(a.records_read, 0);
    assert!(ledger_a.sales_orders().is_empty());
    assert_eq!(tenon.cursor("tenant-a", "orders-to-erp").unwrap(), None);
    assert_succeeded(&b);
    assert_eq!(ledger_b.sales_orders().len(), 12);

    // Enabled again, tenant A catches up from where it was.
    tenon
        .enable(shop_enablement("tenant-a", &shop), "test")
        .unwrap();
    let a = tenon.run_flow("tenant-a", "orders-to-erp").await.unwrap();
    assert_succeeded(&a);
    assert_eq!(ledger_a.sales_orders().len(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_and_compiled_components_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(8).await;
    {
        let tenon = host(dir.path()).await;
        assert!(
            tenon
                .engine()
                .stats
                .compiled
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 3
        );
        pipeline(&tenon, "acme", &shop, &ledger);
        assert_succeeded(&tenon.run_flow("acme", "orders-to-erp").await.unwrap());
    }

    let tenon = tenon::Tenon::open(dir.path()).unwrap();
    assert_eq!(
        tenon.plugins().unwrap().len(),
        tenon::bundled::PLUGINS.len()
    );
    assert_eq!(tenon.tenants().unwrap().len(), 1);
    assert_eq!(tenon.enablements(Some("acme")).unwrap().len(), 3);
    assert_eq!(tenon.flows(Some("acme")).unwrap().len(), 1);
    assert!(tenon.cursor("acme", "orders-to-erp").unwrap().is_some());
    assert_eq!(tenon.runs(None, None, 10).unwrap().len(), 1);

    let mut order = shop.orders()[0].clone();
    order.status = OrderStatus::Cancelled;
    shop.upsert_order(order);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(
        run.records_read, 1,
        "only the change is read after the restart"
    );
    assert!(
        run.id > tenon.runs(None, None, 10).unwrap()[1].id,
        "run ids keep increasing"
    );

    // The restarted host loaded every component from the compile cache.
    let stats = &tenon.engine().stats;
    assert_eq!(stats.compiled.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(
        stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}
