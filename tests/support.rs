//! Shared set-up for the integration tests: a host on a fresh data folder, the
//! loopback vendor sandboxes, and the bundled demo pipeline enabled for a tenant.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use tenon::Tenon;
use tenon::flow::{Endpoint, Flow, Run, RunStatus};
use tenon::limits::LimitOverrides;
use tenon::plugin::Installed;
use tenon::tenant::Enablement;
use tenon::vendors::{Ledger, Shop, demo_orders};

pub const SHOP_TOKEN: &str = "shop-test-token";
pub const LEDGER_TOKEN: &str = "ledger-test-token";

/// A host with the bundled plugins installed, on a temporary data folder.
pub async fn host(dir: &Path) -> Tenon {
    let tenon = Tenon::open(dir).expect("host opens");
    for (name, wasm) in tenon::bundled::PLUGINS {
        tenon
            .install(wasm, LimitOverrides::default(), "test")
            .await
            .unwrap_or_else(|e| panic!("bundled plugin {name} installs: {e}"));
    }
    tenon
}

/// Installs a test guest component.
pub async fn install(tenon: &Tenon, path: &str) -> Installed {
    install_with(tenon, path, LimitOverrides::default()).await
}

/// Installs a test guest component with plugin-level limits.
pub async fn install_with(tenon: &Tenon, path: &str, limits: LimitOverrides) -> Installed {
    let wasm = tenon_tests::guest(path);
    tenon
        .install(&wasm, limits, "test")
        .await
        .expect("guest installs")
}

/// A shop with `n` demo orders and an empty ledger.
pub async fn vendors(n: usize) -> (Shop, Ledger) {
    (
        Shop::start(SHOP_TOKEN, demo_orders(n))
            .await
            .expect("shop starts"),
        Ledger::start(LEDGER_TOKEN).await.expect("ledger starts"),
    )
}

pub fn enablement(tenant: &str, plugin: &str) -> Enablement {
    Enablement {
        tenant: tenant.into(),
        plugin: plugin.into(),
        config: BTreeMap::new(),
        secrets: BTreeMap::new(),
        grants: Vec::new(),
        limits: LimitOverrides::default(),
        enabled_at: 0,
    }
}

pub fn shop_enablement(tenant: &str, shop: &Shop) -> Enablement {
    Enablement {
        config: BTreeMap::from([("base_url".into(), shop.base_url())]),
        secrets: BTreeMap::from([("api_token".into(), SHOP_TOKEN.into())]),
        grants: vec![shop.addr().to_string().parse().unwrap()],
        ..enablement(tenant, "demo-shop")
    }
}

pub fn ledger_enablement(tenant: &str, ledger: &Ledger) -> Enablement {
    Enablement {
        config: BTreeMap::from([("base_url".into(), ledger.base_url())]),
        secrets: BTreeMap::from([("api_token".into(), LEDGER_TOKEN.into())]),
        grants: vec![ledger.addr().to_string().parse().unwrap()],
        ..enablement(tenant, "demo-ledger")
    }
}

/// Creates `tenant`, enables the demo pipeline against these vendors and adds the
/// flow `orders-to-erp` (batches of 10).
pub fn pipeline(tenon: &Tenon, tenant: &str, shop: &Shop, ledger: &Ledger) {
    tenon.create_tenant(tenant, "test").unwrap();
    tenon.enable(shop_enablement(tenant, shop), "test").unwrap();
    tenon
        .enable(enablement(tenant, "order-to-sale"), "test")
        .unwrap();
    tenon
        .enable(ledger_enablement(tenant, ledger), "test")
        .unwrap();
    tenon
        .add_flow(orders_flow(tenant, "demo-shop", "orders"), "test")
        .unwrap();
}

/// `source -> order-to-sale -> demo-ledger:sale-orders`, batches of 10.
pub fn orders_flow(tenant: &str, source: &str, stream: &str) -> Flow {
    Flow {
        batch_size: 10,
        ..tenon::host::flow(
            tenant,
            "orders-to-erp",
            Endpoint {
                plugin: source.into(),
                stream: stream.into(),
            },
            vec!["order-to-sale".into()],
            Endpoint {
                plugin: "demo-ledger".into(),
                stream: "sale-orders".into(),
            },
        )
    }
}

pub fn assert_succeeded(run: &Run) {
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "run failed: {:?}",
        run.error
    );
}

/// The run's error, asserting it failed.
pub fn failure(run: &Run) -> String {
    assert_eq!(
        run.status,
        RunStatus::Failed,
        "run should have failed: {run:?}"
    );
    run.error.clone().expect("a failed run says why")
}

/// A bundled plugin called directly, in a sandbox of its own, for records no
/// flow source carries and for listing what a destination holds. Config,
/// secrets and grants come from an [`Enablement`]; with `idmap`, the plugin gets
/// an id map in `dir`.
pub struct Direct {
    sandbox: tenon::sandbox::Sandbox,
    prepared: tenon::engine::Prepared,
    ctx: tenon::sandbox::CallContext,
}

impl Direct {
    pub fn new(dir: &Path, enablement: Enablement, idmap: bool) -> Direct {
        let engine = std::sync::Arc::new(tenon::engine::Engine::new(dir.join("cache")).unwrap());
        let wasm = tenon::bundled::PLUGINS
            .iter()
            .find(|(name, _)| *name == enablement.plugin)
            .unwrap_or_else(|| panic!("{} is bundled", enablement.plugin))
            .1;
        let (_, prepared) = engine.load(wasm).unwrap();
        Direct {
            sandbox: tenon::sandbox::Sandbox::new(engine),
            prepared,
            ctx: tenon::sandbox::CallContext {
                tenant: enablement.tenant,
                plugin: enablement.plugin,
                config: std::sync::Arc::new(enablement.config),
                secrets: std::sync::Arc::new(enablement.secrets),
                grants: std::sync::Arc::new(enablement.grants),
                limits: tenon::limits::Limits::default(),
                idmap: idmap.then(|| tenon::state::State::open(&dir.join("state")).unwrap()),
            },
        }
    }

    /// Writes `batch` (records with their idempotency keys) to `stream`.
    pub async fn write(
        &self,
        stream: &str,
        batch: Vec<(tenon::record::Envelope, String)>,
    ) -> tenon::sandbox::WriteOutcomes {
        self.sandbox
            .write(&self.prepared, &self.ctx, stream, batch)
            .await
            .unwrap()
            .0
    }

    /// Every record of readable `stream`, paging by `limit`.
    pub async fn read_all(&self, stream: &str, limit: u32) -> Vec<tenon::record::Envelope> {
        let mut cursor: Option<String> = None;
        let mut all = Vec::new();
        loop {
            let (page, _) = self
                .sandbox
                .read(&self.prepared, &self.ctx, stream, cursor.as_deref(), limit)
                .await
                .unwrap();
            all.extend(page.records);
            if !page.more || page.next_cursor.is_none() {
                return all;
            }
            cursor = page.next_cursor;
            assert!(all.len() < 10_000, "paging does not end");
        }
    }

    /// Every record `reconcile` lists for `stream`, `(id, payload)` in order,
    /// paging by `limit`; asserts that pages keep to `limit` and that no id
    /// comes twice.
    pub async fn reconcile_all(
        &self,
        stream: &str,
        limit: u32,
    ) -> Vec<(String, serde_json::Value)> {
        let mut cursor: Option<String> = None;
        let mut all: Vec<(String, serde_json::Value)> = Vec::new();
        loop {
            let (page, _) = self
                .sandbox
                .reconcile(&self.prepared, &self.ctx, stream, cursor.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.records.len() <= limit as usize, "{page:?}");
            for record in page.records {
                assert_eq!(record.op, tenon::record::Op::Upsert);
                assert!(
                    all.iter().all(|(key, _)| *key != record.key),
                    "`{}` listed twice",
                    record.key
                );
                all.push((record.key, serde_json::from_str(&record.payload).unwrap()));
            }
            if !page.more || page.next_cursor.is_none() {
                return all;
            }
            cursor = page.next_cursor;
            assert!(all.len() < 10_000, "paging does not end");
        }
    }
}
