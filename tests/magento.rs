//! The `commerce-magento` connector in a real host against the Magento 2
//! sandbox, with the faults a Magento store answers: `429` with
//! `Retry-After`, `5xx`, answers slower than the host's HTTP timeout (applied
//! by Magento all the same) and answers cut short. Reads fail their run and
//! keep the cursor; writes wait in the retry queue for the delay Magento asked
//! for, end as dead letters when the attempts run out, and are replayed; in the
//! end every order reached the ledger once and every parcel is one Magento
//! shipment.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;
use tenon::Tenon;
use tenon::flow::{Flow, Run, RunStatus};
use tenon::tenant::Enablement;
use tenon_sandboxes::Ledger;
use tenon_sandboxes::magento::{Fault, Magento, MagentoSeed};
use tenon_sandboxes::threepl::{Parcel, ShipmentItem, ThreePl};

const TENANT: &str = "acme";
const MAGENTO_TOKEN: &str = "magento-test-token";
/// The host's HTTP timeout for Magento's requests: a slower answer is a timeout.
const MAGENTO_TIMEOUT_MS: u64 = 800;

/// A host with Magento (demo seed: three paid orders) enabled for `acme`,
/// its requests cut at [`MAGENTO_TIMEOUT_MS`].
async fn setup() -> (tempfile::TempDir, Tenon, Magento) {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let magento = Magento::start(MAGENTO_TOKEN, MagentoSeed::demo())
        .await
        .expect("Magento starts");
    tenon.create_tenant(TENANT, "test").unwrap();
    let mut store = Enablement {
        config: BTreeMap::from([("base_url".into(), magento.url())]),
        grants: vec![magento.addr().to_string().parse().unwrap()],
        ..enablement(TENANT, "commerce-magento")
    }
    .with_secret("access_token", MAGENTO_TOKEN);
    store.limits.http_timeout_ms = Some(MAGENTO_TIMEOUT_MS);
    tenon.enable(store, "test").unwrap();
    tenon
        .enable(prefixed(TENANT, "order-to-sale"), "test")
        .unwrap();
    (dir, tenon, magento)
}

/// The transform `plugin` for `tenant`, knowing Magento's orders by
/// `magento:<id>` (its `reference_prefix`).
fn prefixed(tenant: &str, plugin: &str) -> Enablement {
    Enablement {
        config: BTreeMap::from([("reference_prefix".into(), "magento:".into())]),
        ..enablement(tenant, plugin)
    }
}

/// `name`: `from` through `via` to `to`, `batch` records a batch, a quick
/// retry policy (5 attempts, 200 ms base delay).
fn flow(name: &str, from: (&str, &str), via: &[&str], to: (&str, &str), batch: u32) -> Flow {
    Flow {
        batch_size: batch,
        max_attempts: 5,
        retry_base_ms: 200,
        ..flow_between(TENANT, name, from, via, to)
    }
}

/// Runs `flow`, whatever its outcome.
async fn run(tenon: &Tenon, flow: &str) -> Run {
    tenon.run_flow(TENANT, flow).await.unwrap()
}

/// Waits until `flow`'s retry queue is due.
async fn until_due(tenon: &Tenon, flow: &str) {
    let next = tenon
        .retries(TENANT, flow)
        .unwrap()
        .iter()
        .map(|r| r.next_at)
        .min()
        .expect("a record waits in the retry queue");
    let wait = next.saturating_sub(tenon::host::now_ms()) + 20;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_faults_fail_the_run_keep_the_cursor_and_every_order_reaches_the_ledger_once() {
    let (_dir, tenon, magento) = setup().await;
    let ledger = Ledger::start(LEDGER_TOKEN).await.unwrap();
    tenon
        .enable(ledger_enablement(TENANT, &ledger), "test")
        .unwrap();
    let name = "magento-orders";
    tenon
        .add_flow(
            flow(
                name,
                ("commerce-magento", "orders"),
                &["order-to-sale"],
                ("demo-ledger", "sale-orders"),
                2,
            ),
            "test",
        )
        .unwrap();

    // Each fault fails the run before anything is written, with what Magento
    // said (a cut answer and a timeout say what the host saw), and leaves the
    // cursor where it was.
    let faults: [(Fault, &str); 5] = [
        (
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            "rate limited",
        ),
        (Fault::Status(503), "503"),
        (Fault::Status(500), "500"),
        (Fault::ShortBody, ""),
        (
            Fault::Slow {
                ms: 2 * MAGENTO_TIMEOUT_MS,
            },
            "",
        ),
    ];
    for (fault, said) in faults {
        magento.script_on("/V1/orders", [fault]);
        let failed = run(&tenon, name).await;
        assert_eq!(failed.status, RunStatus::Failed, "{fault:?}: {failed:?}");
        let error = failed.error.clone().unwrap_or_default();
        assert!(error.contains(said), "{fault:?}: {error}");
        assert_eq!(failed.records_written, 0, "{fault:?}: {failed:?}");
        assert_eq!(tenon.cursor(TENANT, name).unwrap(), None, "{fault:?}");
        if let Fault::RateLimited { retry_after_secs } = fault {
            assert_eq!(failed.retry_after_ms, Some(retry_after_secs * 1000));
        }
    }
    assert!(ledger.sales_orders().is_empty());
    // Let the slow answer finish before the next fault is scripted.
    tokio::time::sleep(Duration::from_millis(2 * MAGENTO_TIMEOUT_MS)).await;

    // The second page cut short: the first page's two orders are delivered and
    // committed, the run fails, and the next run reads on from there.
    magento.script_on("/V1/orders", [Fault::Pass, Fault::TruncatedJson]);
    let half = run(&tenon, name).await;
    assert_eq!(half.status, RunStatus::Failed, "{half:?}");
    assert_eq!(half.records_written, 2, "{half:?}");
    let rest = run(&tenon, name).await;
    assert_succeeded(&rest);
    assert_eq!(rest.records_written, 1, "{rest:?}");

    let mut refs: Vec<(String, u64)> = ledger
        .sales_orders()
        .iter()
        .map(|o| (o.external_ref.clone(), o.revision))
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            ("magento:1".to_owned(), 1),
            ("magento:2".to_owned(), 1),
            ("magento:3".to_owned(), 1)
        ],
        "each order once"
    );
    let again = run(&tenon, name).await;
    assert_eq!(again.records_read, 0, "{again:?}");
    let report = tenon.reconcile(TENANT, name).await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matching, 3);
}

/// The 3PL's parcel of all of `items` for Magento order `order`.
fn parcel(tracking: &str, items: &[(&str, u32)]) -> Parcel {
    Parcel {
        tracking: tracking.into(),
        carrier: "ups".into(),
        items: items
            .iter()
            .map(|(sku, quantity)| ShipmentItem {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
    }
}

/// Magento shipments of order `order` with `tracking`.
fn shipped(magento: &Magento, order: u64, tracking: &str) -> usize {
    magento
        .shipments()
        .iter()
        .filter(|s| s.order_id == order && s.tracks.iter().any(|t| t.track_number == tracking))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn write_faults_retry_dead_letter_and_replay_and_no_parcel_ships_twice() {
    let (_dir, tenon, magento) = setup().await;
    let threepl = ThreePl::start(THREEPL_KEY, THREEPL_SECRET).await.unwrap();
    tenon
        .enable(wms_enablement(TENANT, &threepl), "test")
        .unwrap();
    tenon
        .enable(prefixed(TENANT, "shipstation-parcels"), "test")
        .unwrap();
    let to_3pl = flow(
        "magento-to-3pl",
        ("commerce-magento", "orders"),
        &["order-to-sale"],
        ("wms-shipstation", "fulfilment-orders"),
        10,
    );
    let parcels = "parcels-to-magento";
    for flow in [
        to_3pl,
        flow(
            parcels,
            ("wms-shipstation", "shipments"),
            &["shipstation-parcels"],
            ("commerce-magento", "fulfilments"),
            10,
        ),
    ] {
        tenon.add_flow(flow, "test").unwrap();
    }
    assert_succeeded(&run(&tenon, "magento-to-3pl").await);
    // Orders 1 and 3 ship whole; order 2's mug shipped already in Magento.
    threepl.ship(
        "magento:1",
        vec![parcel("1Z-ONE", &[("MUG-01", 2), ("POSTER-01", 1)])],
    );
    threepl.ship(
        "magento:3",
        vec![parcel("1Z-THREE", &[("POSTER-01", 1), ("BAG-01", 3)])],
    );
    let before = magento.writes().shipments;

    // Order 1's shipment is applied after the host gave up on it; order 3's
    // gets a 503. Both wait in the retry queue; the cursor moves on.
    magento.script_on(
        "/V1/order/",
        [
            Fault::Slow {
                ms: 2 * MAGENTO_TIMEOUT_MS,
            },
            Fault::Status(503),
        ],
    );
    let first = run(&tenon, parcels).await;
    assert_succeeded(&first);
    assert_eq!(
        (first.records_read, first.records_queued),
        (2, 2),
        "{first:?}"
    );
    tokio::time::sleep(Duration::from_millis(2 * MAGENTO_TIMEOUT_MS)).await;
    assert_eq!(
        shipped(&magento, 1, "1Z-ONE"),
        1,
        "Magento applied the slow one"
    );

    // A 429 on the first request of the retries: that record waits again, no
    // sooner than Magento asked; the other goes on.
    until_due(&tenon, parcels).await;
    magento.script_on(
        "/V1/",
        [Fault::RateLimited {
            retry_after_secs: 2,
        }],
    );
    let limited = run(&tenon, parcels).await;
    assert_succeeded(&limited);
    assert_eq!(
        (limited.records_retried, limited.records_written),
        (2, 1),
        "{limited:?}"
    );
    let waits: Vec<u64> = tenon
        .retries(TENANT, parcels)
        .unwrap()
        .iter()
        .map(|r| r.next_at.saturating_sub(tenon::host::now_ms()))
        .collect();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(
        waits[0] >= 1_500,
        "the record Magento rate-limited waits its Retry-After: {waits:?}"
    );

    // The next retry's look-up of the order's shipments is cut short: it
    // waits once more; then order 1 is found shipped (by its tracking number)
    // and is not shipped again.
    magento.script_on("/V1/shipments", [Fault::ShortBody]);
    let mut rounds = 0;
    while !tenon.retries(TENANT, parcels).unwrap().is_empty() && rounds < 5 {
        until_due(&tenon, parcels).await;
        assert_succeeded(&run(&tenon, parcels).await);
        rounds += 1;
    }
    assert_eq!(rounds, 2, "the cut answer, then the look-up that finds it");
    assert!(tenon.retries(TENANT, parcels).unwrap().is_empty());
    let letters = tenon.dead_letters(Some(TENANT), None).unwrap();
    assert!(letters.is_empty(), "{letters:#?}");
    assert_eq!(shipped(&magento, 1, "1Z-ONE"), 1);
    assert_eq!(shipped(&magento, 3, "1Z-THREE"), 1);
    assert_eq!(
        magento.writes().shipments - before,
        2,
        "two parcels, two shipments: none twice"
    );

    // Magento's shipping down for longer than the five attempts last (each
    // attempt is one `POST /V1/order/{id}/ship`): a dead letter, nothing
    // shipped; a replay while it is still down fails and keeps the letter;
    // once it is back, the replay ships the parcel once.
    threepl.ship("magento:2", vec![parcel("1Z-TWO", &[("TEE-01-M", 2)])]);
    magento.fail_next_on("/V1/order/", 6, 502);
    let mut dead = 0;
    for _ in 0..6 {
        let attempt = run(&tenon, parcels).await;
        assert_succeeded(&attempt);
        dead += attempt.dead_lettered;
        if dead > 0 {
            break;
        }
        until_due(&tenon, parcels).await;
    }
    assert_eq!(dead, 1);
    assert_eq!(shipped(&magento, 2, "1Z-TWO"), 0);
    let letter = tenon.dead_letters(Some(TENANT), None).unwrap().remove(0);
    assert!(tenon.replay(letter.id, None, false, "test").await.is_err());
    assert_eq!(tenon.dead_letters(Some(TENANT), None).unwrap().len(), 1);
    let replayed = tenon.replay(letter.id, None, false, "test").await.unwrap();
    assert!(replayed.destination_ids[0].is_some(), "{replayed:?}");
    assert_eq!(shipped(&magento, 2, "1Z-TWO"), 1);
    assert!(tenon.dead_letters(Some(TENANT), None).unwrap().is_empty());

    let report = tenon.reconcile(TENANT, parcels).await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matching, 3);
}
