//! Plugin versions: `demo-ledger` 0.1.0 (bundled) upgraded to 0.2.0
//! (`guests/ledger-v2`, which declares one more egress host) while flows use it.
//! The upgrade runs only for tenants that granted the new host, a flow pinned to
//! 0.1.0 keeps running it, a rollback makes 0.1.0 current again, and a dead
//! letter 0.1.0 refused is replayed through 0.2.0.

mod support;

use support::*;
use tenon::Tenon;
use tenon::tenant::Enablement;
use tenon_sandboxes::{Ledger, Shop};
use tenon_tests::guests;

/// The egress host 0.2.0 declares and 0.1.0 does not.
const NEW_HOST: &str = "api.ledger.example";

/// The destination ids the flow linked, by record key.
fn links(tenon: &Tenon, tenant: &str) -> Vec<(String, String)> {
    tenon
        .links(tenant, Some("flow:orders-to-erp"))
        .unwrap()
        .into_iter()
        .map(|(_, source, target)| (source, target))
        .collect()
}

/// Changes an order of the shop other than the record `spare` so the next run
/// reads it again; returns its id.
fn touch(shop: &Shop, spare: &str) -> String {
    let mut order = shop
        .orders()
        .into_iter()
        .find(|o| !spare.ends_with(&o.id))
        .unwrap();
    order.customer.last_name.push_str(" Jr.");
    let key = order.id.clone();
    shop.upsert_order(order);
    key
}

/// Who delivered each record: the ledger's ids are `SO-...`, 0.2.0's `v2-<key>`.
fn delivered_by_v2(tenon: &Tenon, tenant: &str, key_part: &str) -> bool {
    links(tenon, tenant)
        .iter()
        .any(|(source, target)| source.contains(key_part) && target.starts_with("v2-"))
}

fn ledger_with_new_host(tenant: &str, ledger: &Ledger) -> Enablement {
    let mut enablement = ledger_enablement(tenant, ledger);
    enablement.grants.push(NEW_HOST.parse().unwrap());
    enablement
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_runs_where_granted_pins_hold_rollback_restores_and_replay_picks_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(3).await;
    // `acme` grants 0.2.0's new host ahead of the upgrade; `globex` does not.
    pipeline(&tenon, "acme", &shop, &ledger);
    tenon
        .enable(ledger_with_new_host("acme", &ledger), "test")
        .unwrap();
    pipeline(&tenon, "globex", &shop, &ledger);

    // 0.1.0 refuses acme's first sales order for good: a dead letter of 0.1.0.
    ledger.fail_next(1, 422);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_written, run.dead_lettered), (2, 1));
    let letter = tenon.dead_letters(Some("acme"), None).unwrap().remove(0);
    assert_eq!(letter.plugin_version, "0.1.0");
    assert_succeeded(&tenon.run_flow("globex", "orders-to-erp").await.unwrap());
    assert!(
        links(&tenon, "globex")
            .iter()
            .all(|(_, t)| t.starts_with("SO-"))
    );

    // Install 0.2.0 while 0.1.0 is in use: both are kept, 0.2.0 is current.
    let v2 = install_ledger_v2(&tenon).await;
    assert_eq!(
        (v2.id.as_str(), v2.version.as_str()),
        ("demo-ledger", "0.2.0")
    );
    let versions: Vec<String> = tenon
        .plugin_versions("demo-ledger")
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, ["0.1.0", "0.2.0"]);
    assert_eq!(tenon.plugin("demo-ledger").unwrap().version, "0.2.0");

    // A changed order: globex has not granted the new host, so its run is refused
    // with the host named; acme's runs through 0.2.0.
    let key = touch(&shop, &letter.envelope.key);
    let refused = tenon.run_flow("globex", "orders-to-erp").await.unwrap();
    let error = failure(&refused);
    assert!(
        error.contains(NEW_HOST) && error.contains("0.2.0") && error.contains("globex"),
        "{error}"
    );
    assert_eq!(refused.records_written, 0);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(run.records_written, 1);
    assert!(
        delivered_by_v2(&tenon, "acme", &key),
        "{:?}",
        links(&tenon, "acme")
    );

    // globex pins 0.1.0: the flow keeps running the old version, into the ledger.
    let applied_before = ledger.sales_orders().iter().map(|s| s.applied).sum::<u64>();
    let mut flow = tenon.flow("globex", "orders-to-erp").unwrap();
    flow.pins.insert("demo-ledger".into(), "0.1.0".into());
    tenon.add_flow(flow.clone(), "test").unwrap();
    let run = tenon.run_flow("globex", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(run.records_written, 1);
    assert!(!delivered_by_v2(&tenon, "globex", &key));
    assert_eq!(
        ledger.sales_orders().iter().map(|s| s.applied).sum::<u64>(),
        applied_before + 1,
        "0.1.0 posted the changed order to the ledger"
    );
    // A pin must name a plugin of the flow and an installed version.
    flow.pins.insert("demo-ledger".into(), "9.9.9".into());
    let error = tenon.add_flow(flow.clone(), "test").unwrap_err();
    assert!(error.to_string().contains("demo-ledger@9.9.9"), "{error}");
    flow.pins = [("demo-shop".to_owned(), "0.1.0".to_owned())].into();
    flow.pins.insert("guest-echo".into(), "0.1.0".into());
    let error = tenon.add_flow(flow, "test").unwrap_err();
    assert!(error.to_string().contains("does not use"), "{error}");

    // Rollback: 0.1.0 is current again; nothing was installed before it.
    let current = tenon.rollback("demo-ledger", "test").unwrap();
    assert_eq!(current.version, "0.1.0");
    assert_eq!(tenon.plugin("demo-ledger").unwrap().version, "0.1.0");
    let error = tenon.rollback("demo-ledger", "test").unwrap_err();
    assert!(
        error.to_string().contains("nothing to roll back to"),
        "{error}"
    );
    assert_eq!(
        tenon.audit_log().unwrap().last().unwrap().action,
        "plugin.rollback"
    );
    let key = touch(&shop, &letter.envelope.key);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert!(
        !delivered_by_v2(&tenon, "acme", &key),
        "after the rollback acme runs 0.1.0 again"
    );

    // The dead letter 0.1.0 refused, replayed through 0.2.0 (not current any more).
    let replayed = tenon
        .replay(letter.id, Some("0.2.0"), false, "test")
        .await
        .unwrap();
    assert_eq!(replayed.plugin_version, "0.2.0");
    assert_eq!(
        replayed.destination_ids,
        [Some(format!("v2-{}", letter.envelope.key))]
    );
    assert!(tenon.dead_letters(Some("acme"), None).unwrap().is_empty());
}

/// Runs `tenon <args>` in this process on `data`; its exit code.
async fn cli(data: &std::path::Path, args: &[&str]) -> u8 {
    use tenon::cli::{Cli, run};
    let mut argv = vec!["tenon", "--data", data.to_str().unwrap()];
    argv.extend_from_slice(args);
    let Ok(cli) = <Cli as clap::Parser>::try_parse_from(&argv) else {
        return 2;
    };
    match run(cli).await {
        Ok(code) if code == std::process::ExitCode::SUCCESS => 0,
        Ok(_) => 5,
        Err(e) => e.exit_code(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_pins_and_rollback_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = &dir.path().join("data");
    assert_eq!(cli(data, &["plugin", "install", "--bundled"]).await, 0);
    // demo-ledger 0.2.0, unsigned, may not take the name of the signed 0.1.0;
    // signed by the bundle key, it installs once the operator trusts that key.
    let v2_file = dir.path().join("ledger-v2.wasm");
    let v2_file = v2_file.to_str().unwrap();
    let v2 = tenon_tests::guest(guests::LEDGER_V2);
    std::fs::write(v2_file, &v2).unwrap();
    assert_eq!(
        cli(data, &["plugin", "install", "--allow-unsigned", v2_file]).await,
        4
    );
    std::fs::write(v2_file, tenon_tests::signed_by_bundle_key(&v2)).unwrap();
    assert_eq!(cli(data, &["plugin", "install", v2_file]).await, 4);
    let key_file = dir.path().join("bundled.pub");
    std::fs::write(&key_file, tenon_tests::bundle_key()).unwrap();
    assert_eq!(
        cli(
            data,
            &["trust", "add", "tenon-bundled", key_file.to_str().unwrap()]
        )
        .await,
        0
    );
    assert_eq!(cli(data, &["plugin", "install", v2_file]).await, 0);
    assert_eq!(cli(data, &["plugin", "versions", "demo-ledger"]).await, 0);
    assert_eq!(cli(data, &["plugin", "versions", "nothing"]).await, 3);
    assert_eq!(cli(data, &["tenant", "create", "acme"]).await, 0);
    let add = |pin: &'static str| {
        [
            "flow",
            "add",
            "acme",
            "orders-to-erp",
            "--from",
            "demo-shop:orders",
            "--to",
            "demo-ledger:sale-orders",
            "--pin",
            pin,
        ]
    };
    assert_eq!(cli(data, &add("demo-ledger@0.1.0")).await, 0);
    assert_eq!(cli(data, &add("demo-ledger@7.0.0")).await, 3);
    assert_eq!(cli(data, &add("demo-ledger")).await, 2);
    assert_eq!(cli(data, &["plugin", "rollback", "demo-ledger"]).await, 0);
    assert_eq!(cli(data, &["plugin", "rollback", "demo-ledger"]).await, 4);

    let tenon = Tenon::open(data).unwrap();
    let flow = tenon.flow("acme", "orders-to-erp").unwrap();
    assert_eq!(flow.pins["demo-ledger"], "0.1.0");
    assert_eq!(tenon.plugin("demo-ledger").unwrap().version, "0.1.0");
    assert_eq!(tenon.plugin_versions("demo-ledger").unwrap().len(), 2);
}
