//! Durable delivery against a destination that fails in scripted ways: retries
//! with growing delays, the 429 delay honoured, dead letters after the last
//! attempt, replay once the destination recovers, and at the end nothing lost and
//! nothing applied twice. Also the id map the writes fill, and reconciliation.

mod support;

use std::time::Duration;
use support::*;
use tenon::Tenon;
use tenon::delivery::Stage;
use tenon_sandboxes::{Fault, Ledger, SalesOrderStatus, Shop};

/// The demo pipeline (`orders-to-erp` for acme) over a shop of `orders`.
async fn demo(orders: usize) -> (tempfile::TempDir, Tenon, Shop, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(orders).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    (dir, tenon, shop, ledger)
}

/// The demo pipeline with a quick retry policy: 3 attempts, 200 ms base delay.
async fn quick(orders: usize) -> (tempfile::TempDir, Tenon, Shop, Ledger) {
    let (dir, tenon, shop, ledger) = demo(orders).await;
    let mut flow = tenon.flow("acme", "orders-to-erp").unwrap();
    flow.max_attempts = 3;
    flow.retry_base_ms = 200;
    tenon.add_flow(flow, "test").unwrap();
    (dir, tenon, shop, ledger)
}

async fn run(tenon: &Tenon) -> tenon::flow::Run {
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    run
}

/// Waits until the flow's retry queue is due.
async fn until_due(tenon: &Tenon) {
    let next = tenon
        .retries("acme", "orders-to-erp")
        .unwrap()
        .iter()
        .map(|r| r.next_at)
        .min()
        .unwrap();
    let wait = next.saturating_sub(tenon::host::now_ms()) + 20;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Every source order is in the ledger exactly once, applied exactly once.
fn assert_exactly_once(shop: &Shop, ledger: &Ledger, except: &[&str]) {
    let mut expected: Vec<String> = shop
        .orders()
        .iter()
        .filter(|o| !except.contains(&o.id.as_str()))
        .map(|o| format!("shop:{}", o.id))
        .collect();
    expected.sort();
    let books = ledger.sales_orders();
    let mut refs: Vec<String> = books.iter().map(|s| s.external_ref.clone()).collect();
    refs.sort();
    assert_eq!(
        refs, expected,
        "the ledger holds exactly the source's orders"
    );
    for sale in &books {
        assert_eq!(
            sale.applied, 1,
            "{} was applied {} times",
            sale.external_ref, sale.applied
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_back_off_then_dead_letter_then_replay_delivers() {
    let (_dir, tenon, shop, ledger) = quick(5).await;
    let first = format!("shop:{}", shop.orders()[0].id);

    // The first POST fails: that record waits, the other four and the cursor move on.
    ledger.script([Fault::Status(500)]);
    let r = run(&tenon).await;
    assert_eq!(
        (r.records_read, r.records_written, r.records_queued),
        (5, 4, 1)
    );
    assert!(
        tenon.cursor("acme", "orders-to-erp").unwrap().is_some(),
        "one bad record does not hold the cursor"
    );
    assert_eq!(ledger.sales_orders().len(), 4);

    // Not due yet: a run right away leaves it alone.
    let posts = ledger.attempts().len();
    run(&tenon).await;
    assert_eq!(
        ledger.attempts().len(),
        posts,
        "a record is not retried before its time"
    );

    // Second attempt fails too: the delay grows.
    ledger.script([Fault::Status(503)]);
    until_due(&tenon).await;
    let r = run(&tenon).await;
    assert_eq!((r.records_retried, r.records_written), (1, 0));
    let queued = tenon.retries("acme", "orders-to-erp").unwrap();
    assert_eq!(queued.len(), 1);
    let delays: Vec<u64> = vec![queued[0].next_at - queued[0].attempts[1].at];
    assert!(
        (200..=400).contains(&delays[0]),
        "second delay {delays:?} is 200-400 ms (base 200, doubled, jittered)"
    );

    // Third and last attempt fails: dead letter, with every error and its time.
    ledger.script([Fault::Status(502)]);
    until_due(&tenon).await;
    let r = run(&tenon).await;
    assert_eq!(r.dead_lettered, 1);
    assert!(tenon.retries("acme", "orders-to-erp").unwrap().is_empty());
    let letters = tenon.dead_letters(Some("acme"), None).unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (
            letter.stage,
            letter.plugin.as_str(),
            letter.plugin_version.as_str()
        ),
        (Stage::Write, "demo-ledger", "0.1.0")
    );
    let errors: Vec<&str> = letter.attempts.iter().map(|a| a.error.as_str()).collect();
    assert_eq!(errors.len(), 3);
    for (error, status) in errors.iter().zip(["500", "503", "502"]) {
        assert!(
            error.starts_with("retryable") && error.contains(status),
            "{error}"
        );
    }
    let times: Vec<u64> = letter.attempts.iter().map(|a| a.at).collect();
    assert!(
        times[1] - times[0] >= 100 && times[2] - times[1] >= 200,
        "attempts spaced by the backoff: {times:?}"
    );
    let gaps: Vec<Duration> = ledger
        .attempts()
        .iter()
        .filter(|(_, r, _)| *r == first)
        .map(|(at, _, _)| *at)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert_eq!(
        gaps.len(),
        2,
        "three POSTs of the record reached the ledger"
    );
    assert!(
        gaps[1] > gaps[0],
        "growing delays between attempts: {gaps:?}"
    );

    // A failed replay keeps the dead letter and adds the attempt...
    ledger.script([Fault::Status(500)]);
    assert!(tenon.replay(letter.id, None, false, "test").await.is_err());
    assert_eq!(tenon.dead_letter(letter.id).unwrap().attempts.len(), 4);
    // ...a replay after the destination recovered delivers it and leaves an audit entry.
    let replayed = tenon.replay(letter.id, None, false, "test").await.unwrap();
    assert!(replayed.destination_ids[0].is_some());
    assert!(tenon.dead_letters(None, None).unwrap().is_empty());
    let audit = tenon.audit_log().unwrap();
    assert_eq!(audit.last().unwrap().action, "dlq.replay");
    assert_eq!(audit.last().unwrap().actor, "test");
    assert_exactly_once(&shop, &ledger, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_answer_waits_exactly_as_long_as_the_vendor_asked() {
    let (_dir, tenon, shop, ledger) = quick(3).await;
    ledger.script([Fault::RateLimited {
        retry_after_secs: 2,
    }]);
    let r = run(&tenon).await;
    assert_eq!(r.records_queued, 1);
    let queued = &tenon.retries("acme", "orders-to-erp").unwrap()[0];
    assert_eq!(
        queued.next_at - queued.attempts[0].at,
        2_000,
        "Retry-After: 2 means 2000 ms, no jitter"
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
    assert_eq!(
        ledger.sales_orders().len(),
        2,
        "not retried before the vendor's delay"
    );
    until_due(&tenon).await;
    run(&tenon).await;
    assert_exactly_once(&shop, &ledger, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_and_malformed_answers_are_retried_without_duplicates() {
    let (_dir, tenon, shop, ledger) = quick(4).await;
    let mut slow = ledger_enablement("acme", &ledger);
    slow.limits.http_timeout_ms = Some(300);
    tenon.enable(slow, "test").unwrap();

    // The first POST is applied by the ledger only after the client gave up on it;
    // the second is answered 200 with a body that is not JSON, so its id is unknown.
    ledger.script([Fault::Slow { ms: 800 }, Fault::Malformed]);
    let r = run(&tenon).await;
    assert_eq!((r.records_written, r.records_queued), (2, 2), "{r:?}");
    tokio::time::sleep(Duration::from_millis(600)).await; // the slow POST lands
    until_due(&tenon).await;
    run(&tenon).await;
    assert!(tenon.retries("acme", "orders-to-erp").unwrap().is_empty());
    // The slow POST was applied once; its retry carried the same idempotency key.
    assert_exactly_once(&shop, &ledger, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_rejection_is_dead_lettered_at_once_and_discard_is_audited() {
    let (_dir, tenon, shop, ledger) = quick(3).await;
    let rejected = shop.orders()[0].id.clone();
    ledger.script([Fault::Reject]);
    let r = run(&tenon).await;
    assert_eq!(
        (r.records_written, r.dead_lettered, r.records_queued),
        (2, 1, 0)
    );
    let letter = tenon.dead_letters(None, None).unwrap().remove(0);
    assert_eq!(letter.envelope.key, rejected);
    assert!(
        letter.attempts[0].error.starts_with("permanent"),
        "{:?}",
        letter.attempts
    );

    let entry = tenon
        .discard(letter.id, "ops@acme", Some("order was cancelled by phone"))
        .unwrap();
    assert_eq!(entry.action, "dlq.discard");
    assert_eq!(entry.detail["reason"], "order was cancelled by phone");
    assert!(tenon.dead_letters(None, None).unwrap().is_empty());
    assert!(
        tenon.discard(letter.id, "ops", None).is_err(),
        "gone for good"
    );
    assert_exactly_once(&shop, &ledger, &[&rejected]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_the_transform_refuses_is_dead_lettered_and_the_rest_flow() {
    let (_dir, tenon, shop, ledger) = demo(6).await;
    let mut bad = shop.orders()[2].clone();
    bad.lines[0].unit_price = "19.999".into();
    shop.upsert_order_at(bad.clone(), &bad.updated_at);

    let r = run(&tenon).await;
    assert_eq!(
        (r.records_read, r.records_written, r.dead_lettered),
        (6, 5, 1)
    );
    let letter = tenon.dead_letters(None, None).unwrap().remove(0);
    assert_eq!(
        (letter.stage, letter.plugin.as_str()),
        (Stage::Transform, "order-to-sale")
    );
    assert_eq!(letter.envelope.key, bad.id, "the source record is kept");
    assert!(
        letter.attempts[0]
            .error
            .contains(&format!("record `{}`", bad.id)),
        "{:?}",
        letter.attempts
    );
    assert_exactly_once(&shop, &ledger, &[&bad.id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_version_takes_the_queued_ones_place_and_retries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, ledger) = vendors(3).await;
    let first = shop.orders()[0].clone();
    {
        let tenon = host(dir.path()).await;
        pipeline(&tenon, "acme", &shop, &ledger);
        let mut flow = tenon.flow("acme", "orders-to-erp").unwrap();
        flow.retry_base_ms = 2_000;
        tenon.add_flow(flow, "test").unwrap();
        ledger.script([Fault::Status(500)]);
        assert_eq!(run(&tenon).await.records_queued, 1);

        // The shop changes the queued order before its retry is due.
        let mut newer = first.clone();
        newer.status = tenon_sandboxes::OrderStatus::Cancelled;
        shop.upsert_order(newer);
        let r = run(&tenon).await;
        assert_eq!(
            (r.records_read, r.records_written),
            (1, 0),
            "the newer version waits behind the queue"
        );
        let queued = tenon.retries("acme", "orders-to-erp").unwrap();
        assert_eq!(queued.len(), 1);
        assert!(
            queued[0].envelope.payload.contains("cancelled"),
            "the queue holds the newer version"
        );
    }

    // A restarted host still has the queue, and delivers the newest version once.
    let tenon = Tenon::open(dir.path()).unwrap();
    until_due(&tenon).await;
    run(&tenon).await;
    let books = ledger.sales_orders();
    let sale = books
        .iter()
        .find(|s| s.external_ref == format!("shop:{}", first.id))
        .unwrap();
    assert_eq!(sale.status, SalesOrderStatus::Cancelled);
    assert_exactly_once(&shop, &ledger, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_fill_the_id_map_and_reconcile_finds_what_changed_behind_our_back() {
    let (_dir, tenon, shop, ledger) = quick(6).await;
    run(&tenon).await;

    let links = tenon.links("acme", Some("flow:orders-to-erp")).unwrap();
    assert_eq!(links.len(), 6);
    for sale in ledger.sales_orders() {
        let key = sale.external_ref.trim_start_matches("shop:");
        assert!(
            links.contains(&("flow:orders-to-erp".into(), key.into(), sale.id.clone())),
            "{links:?}"
        );
    }

    let clean = tenon.reconcile("acme", "orders-to-erp").await.unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!(
        (
            clean.source_records,
            clean.destination_records,
            clean.matching
        ),
        (6, 6, 6)
    );

    let books = ledger.sales_orders();
    assert!(ledger.remove_sales_order(&books[1].id));
    ledger.edit_sales_order(&books[2].id, |s| s.total_cents += 1);
    let report = tenon.reconcile("acme", "orders-to-erp").await.unwrap();
    assert!(!report.is_clean());
    assert_eq!(
        report.missing,
        vec![books[1].external_ref.trim_start_matches("shop:").to_owned()]
    );
    assert_eq!(report.different.len(), 1);
    assert_eq!(report.different[0].destination_id, books[2].id);
    assert!(report.extra.is_empty());
    assert_eq!(report.matching, 4);
    drop(shop);
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_a_page_at_a_time_and_a_tenant_sees_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(7).await;
    ledger.script(std::iter::repeat_n(Fault::Reject, 100));
    pipeline(&tenon, "acme", &shop, &ledger);
    pipeline(&tenon, "globex", &shop, &ledger);
    for tenant in ["acme", "globex", "acme"] {
        tenon.run_flow(tenant, "orders-to-erp").await.unwrap();
    }
    let acme: Vec<u64> = tenon
        .dead_letters(Some("acme"), None)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(acme.len(), 7, "{acme:?}");
    // Pages of 3 after the last id of the page before: every letter once, in order.
    let (mut after, mut paged) = (0, Vec::new());
    loop {
        let page = tenon
            .dead_letters_page(Some("acme"), None, after, 3)
            .unwrap();
        assert!(page.len() <= 3 && page.iter().all(|d| d.tenant == "acme"));
        let Some(last) = page.last() else { break };
        after = last.id;
        paged.extend(page.iter().map(|d| d.id));
    }
    assert_eq!(paged, acme);
    assert_eq!(
        tenon
            .dead_letters_page(Some("globex"), None, 0, 100)
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        tenon.dead_letters_page(None, None, 0, 100).unwrap().len(),
        14
    );
    assert_eq!(
        tenon.dead_letters_page(None, None, 0, 0).unwrap().len(),
        1,
        "a page holds at least one letter"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_slow_on_one_write_in_twenty_still_gets_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(200).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let mut flow = tenon.flow("acme", "orders-to-erp").unwrap();
    flow.batch_size = 100;
    flow.retry_base_ms = 100;
    tenon.add_flow(flow, "test").unwrap();
    // Calls of 2 s, requests of 700 ms; one POST in twenty takes 1 s (and is
    // applied after the client gave up): five in a batch of 100 would take
    // 3.5 s, and the whole batch used to fail, page after page.
    let mut slow = ledger_enablement("acme", &ledger);
    slow.limits.timeout_ms = Some(2_000);
    slow.limits.http_timeout_ms = Some(700);
    tenon.enable(slow, "test").unwrap();
    ledger.slow_every(20, 1_000);

    let (mut runs, mut split, mut dead) = (0, 0, 0);
    loop {
        let r = run(&tenon).await;
        runs += 1;
        split += r.write_timeouts;
        dead += r.dead_lettered;
        let queued = tenon.retries("acme", "orders-to-erp").unwrap();
        if queued.is_empty() && r.cursor_after.is_some() && r.records_read == 0 {
            break;
        }
        assert!(runs < 60, "no end after {runs} runs: {r:?}");
        if !queued.is_empty() {
            until_due(&tenon).await;
        }
    }
    assert_eq!(dead, 0, "nothing was dead-lettered");
    assert!(split > 0, "some calls ran short of time and were split");
    tokio::time::sleep(Duration::from_millis(1_200)).await; // the last slow POSTs land
    assert_exactly_once(&shop, &ledger, &[]);
    eprintln!("200 orders delivered in {runs} runs, {split} write call(s) split");
}

#[tokio::test(flavor = "multi_thread")]
async fn records_that_do_not_match_their_streams_schema_are_dead_lettered_with_the_reason() {
    let (_dir, tenon, shop, ledger) = demo(6).await;
    // Not an ISO 4217 code: the shop's `orders` schema refuses it as read.
    let mut misread = shop.orders()[1].clone();
    misread.currency = "Euro".into();
    shop.upsert_order_at(misread.clone(), &misread.updated_at);
    // No lines: a valid order, but the transform makes a sales order without
    // lines, which the ledger's `sale-orders` schema refuses before the write.
    let mut empty = shop.orders()[3].clone();
    empty.lines.clear();
    empty.total = "0.00".into();
    shop.upsert_order_at(empty.clone(), &empty.updated_at);

    let r = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!(
        (r.records_read, r.records_written, r.dead_lettered),
        (6, 4, 2),
        "{r:?}"
    );
    let letters = tenon.dead_letters(Some("acme"), None).unwrap();
    let letter = |key: &str| letters.iter().find(|l| l.envelope.key == key).unwrap();
    let read = letter(&misread.id);
    assert_eq!(
        (read.stage, read.plugin.as_str()),
        (Stage::Read, "demo-shop")
    );
    let error = &read.attempts[0].error;
    assert!(
        error.contains("does not match the schema of `demo-shop`'s stream `orders`")
            && error.contains("at `/currency`"),
        "{error}"
    );
    assert!(
        !error.contains("Euro"),
        "values stay out of the text: {error}"
    );
    let write = letter(&empty.id);
    assert_eq!(
        (write.stage, write.plugin.as_str()),
        (Stage::Write, "demo-ledger")
    );
    let error = &write.attempts[0].error;
    assert!(
        error.contains("`demo-ledger`'s stream `sale-orders`") && error.contains("at `/lines`"),
        "{error}"
    );
    assert!(
        write.envelope.payload.contains("\"lines\":[]"),
        "the record as the destination would have received it: {}",
        write.envelope.payload
    );
    assert_exactly_once(&shop, &ledger, &[&misread.id, &empty.id]);

    // A replay checks again: still invalid, refused, and the attempt recorded.
    let refused = tenon.replay(read.id, None, false, "ops").await.unwrap_err();
    assert!(refused.to_string().contains("at `/currency`"), "{refused}");
    assert_eq!(tenon.dead_letter(read.id).unwrap().attempts.len(), 2);
    // Fixed at the source, the record's next change flows.
    misread.currency = "EUR".into();
    shop.upsert_order(misread.clone());
    let r = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!((r.records_written, r.dead_lettered), (1, 0), "{r:?}");
    assert_exactly_once(&shop, &ledger, &[&empty.id]);
    // `preview --validate`'s check: the source's records as a flow sees them.
    let page = tenon
        .preview("acme", "demo-shop", "orders", None, 10)
        .await
        .unwrap();
    let errors = tenon
        .schema_errors("demo-shop", "orders", &page.records)
        .unwrap();
    assert_eq!(errors.iter().flatten().count(), 0, "{errors:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_destination_two_flows_share_each_reconciles_its_own_records() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let ledger = Ledger::start(LEDGER_TOKEN).await.unwrap();
    // Two tenants' shops feed the same ledger; their order ids differ.
    let orders = tenon_sandboxes::demo_orders(9);
    let acme = Shop::start(SHOP_TOKEN, orders[..6].to_vec()).await.unwrap();
    let globex = Shop::start(SHOP_TOKEN, orders[6..].to_vec()).await.unwrap();
    pipeline(&tenon, "acme", &acme, &ledger);
    pipeline(&tenon, "globex", &globex, &ledger);
    for tenant in ["acme", "globex"] {
        assert_succeeded(&tenon.run_flow(tenant, "orders-to-erp").await.unwrap());
    }
    assert_eq!(ledger.sales_orders().len(), 9);

    let report = tenon.reconcile("acme", "orders-to-erp").await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        (
            report.source_records,
            report.destination_records,
            report.matching,
            report.not_owned
        ),
        (6, 9, 6, 3)
    );
    let report = tenon.reconcile("globex", "orders-to-erp").await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.matching, report.not_owned), (3, 6));

    // Asked for the whole destination, the other flow's records are extra.
    let whole = tenon
        .reconcile_in("acme", "orders-to-erp", tenon::reconcile::Scope::Whole)
        .await
        .unwrap();
    assert_eq!(
        (whole.matching, whole.extra.len(), whole.not_owned),
        (6, 3, 0)
    );
    assert!(!whole.is_clean());
    // Its own records are still compared field by field.
    let books = ledger.sales_orders();
    let ours = books
        .iter()
        .find(|s| s.external_ref == format!("shop:{}", orders[0].id))
        .unwrap();
    ledger.edit_sales_order(&ours.id, |s| s.total_cents += 1);
    let report = tenon.reconcile("acme", "orders-to-erp").await.unwrap();
    assert_eq!(report.different.len(), 1, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_replayed_with_reread_takes_the_record_as_the_source_has_it_now() {
    let (_dir, tenon, shop, ledger) = demo(4).await;
    let mut order = shop.orders()[1].clone();
    order.currency = "Euro".into();
    shop.upsert_order_at(order.clone(), &order.updated_at);
    let r = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!((r.records_written, r.dead_lettered), (3, 1), "{r:?}");
    let letter = tenon.dead_letters(Some("acme"), None).unwrap().remove(0);

    // The shop's data is put right in place (same change time): no run reads
    // it again, and the stored payload is still the bad one.
    order.currency = "EUR".into();
    shop.upsert_order_at(order.clone(), &order.updated_at);
    let r = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!(r.records_read, 0, "{r:?}");
    assert!(tenon.replay(letter.id, None, false, "ops").await.is_err());

    let reread = tenon::dlq::ReplayOptions {
        reread: true,
        ..Default::default()
    };
    let replayed = tenon.replay_with(letter.id, &reread, "ops").await.unwrap();
    assert_eq!(replayed.destination_ids.len(), 1);
    assert!(tenon.dead_letters(Some("acme"), None).unwrap().is_empty());
    let sale = ledger
        .sales_orders()
        .into_iter()
        .find(|s| s.external_ref == format!("shop:{}", order.id))
        .expect("the re-read order reached the ledger");
    assert_eq!(sale.currency, "EUR");
    assert_exactly_once(&shop, &ledger, &[]);
    let audit = tenon.audit_log().unwrap();
    let entry = audit.iter().rfind(|e| e.action == "dlq.replay").unwrap();
    assert_eq!(entry.detail["reread"], true, "{entry:?}");
}
