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
use tenon_sandboxes::{Ledger, Shop, ThreePl, demo_orders};

pub const SHOP_TOKEN: &str = "shop-test-token";
pub const LEDGER_TOKEN: &str = "ledger-test-token";
/// The 3PL's API key and secret (HTTP Basic).
pub const THREEPL_KEY: &str = "3pl-key";
pub const THREEPL_SECRET: &str = "3pl-secret";

/// A host with the bundled plugins installed, on a temporary data folder.
pub async fn host(dir: &Path) -> Tenon {
    let tenon = Tenon::open(dir).expect("host opens");
    tenon
        .install_bundled(Default::default(), "test")
        .await
        .unwrap_or_else(|e| panic!("the bundled plugins install: {e}"));
    tenon
}

/// Installs a test guest component.
pub async fn install(tenon: &Tenon, path: &str) -> Installed {
    install_with(tenon, path, LimitOverrides::default()).await
}

/// Installs a test guest component (they are unsigned) with plugin-level
/// limits.
pub async fn install_with(tenon: &Tenon, path: &str, limits: LimitOverrides) -> Installed {
    let wasm = tenon_tests::guest(path);
    let options = tenon::publishers::InstallOptions {
        limits,
        allow_unsigned: true,
        ..Default::default()
    };
    tenon
        .install_with(&wasm, options, "test")
        .await
        .expect("guest installs")
}

/// Installs `ledger-v2` (`demo-ledger` 0.2.0), signed by the bundle key the
/// bundled `demo-ledger` is signed with, after trusting that key.
pub async fn install_ledger_v2(tenon: &Tenon) -> Installed {
    if !tenon
        .publishers()
        .unwrap()
        .iter()
        .any(|p| p.name == "tenon-bundled")
    {
        tenon
            .trust("tenon-bundled", &tenon_tests::bundle_key(), "test")
            .unwrap();
    }
    let wasm =
        tenon_tests::signed_by_bundle_key(&tenon_tests::guest(tenon_tests::guests::LEDGER_V2));
    tenon
        .install(&wasm, LimitOverrides::default(), "test")
        .await
        .expect("the signed ledger-v2 installs")
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
    Enablement::new(tenant, plugin)
}

pub fn shop_enablement(tenant: &str, shop: &Shop) -> Enablement {
    Enablement {
        config: BTreeMap::from([("base_url".into(), shop.base_url())]),
        grants: vec![shop.addr().to_string().parse().unwrap()],
        ..enablement(tenant, "demo-shop")
    }
    .with_secret("api_token", SHOP_TOKEN)
}

pub fn ledger_enablement(tenant: &str, ledger: &Ledger) -> Enablement {
    Enablement {
        config: BTreeMap::from([("base_url".into(), ledger.base_url())]),
        grants: vec![ledger.addr().to_string().parse().unwrap()],
        ..enablement(tenant, "demo-ledger")
    }
    .with_secret("api_token", LEDGER_TOKEN)
}

/// `wms-shipstation` for `tenant` against `threepl`, started with
/// [`THREEPL_KEY`] and [`THREEPL_SECRET`].
pub fn wms_enablement(tenant: &str, threepl: &ThreePl) -> Enablement {
    Enablement {
        config: BTreeMap::from([
            ("base_url".into(), threepl.base_url()),
            ("api_key".into(), THREEPL_KEY.into()),
        ]),
        grants: vec![threepl.addr().to_string().parse().unwrap()],
        ..enablement(tenant, "wms-shipstation")
    }
    .with_secret("api_secret", THREEPL_SECRET)
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
        ..flow_between(
            tenant,
            "orders-to-erp",
            (source, stream),
            &["order-to-sale"],
            ("demo-ledger", "sale-orders"),
        )
    }
}

/// The flow `name` of `tenant` from `(plugin, stream)` through the
/// transforms `via` to `(plugin, stream)`, with the defaults otherwise.
pub fn flow_between(
    tenant: &str,
    name: &str,
    from: (&str, &str),
    via: &[&str],
    to: (&str, &str),
) -> Flow {
    tenon::host::flow(
        tenant,
        name,
        Endpoint {
            plugin: from.0.into(),
            stream: from.1.into(),
        },
        via.iter().map(|&t| t.into()).collect(),
        Endpoint {
            plugin: to.0.into(),
            stream: to.1.into(),
        },
    )
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

/// A bundled plugin called directly, in a host of its own on `dir`, for
/// records no flow source carries and for listing what a destination holds.
/// Config, secrets and grants come from an [`Enablement`]; with `idmap`, the
/// plugin gets that host's id map.
pub struct Direct {
    tenon: Tenon,
    prepared: tenon::engine::Prepared,
    ctx: tenon::sandbox::CallContext,
}

impl Direct {
    pub async fn new(dir: &Path, enablement: Enablement, idmap: bool) -> Direct {
        let tenon = Tenon::open(dir).expect("host opens");
        let wasm = tenon::bundled::get(&enablement.plugin)
            .unwrap_or_else(|| panic!("{} is bundled", enablement.plugin));
        let installed = tenon
            .install_bundled_plugin(wasm, Default::default(), "test")
            .await
            .expect("the bundled plugin installs");
        tenon.create_tenant(&enablement.tenant, "test").unwrap();
        let tenant = enablement.tenant.clone();
        tenon
            .enable(enablement, "test")
            .expect("the plugin enables");
        let mut ctx = tenon.call_context(&tenant, &installed).unwrap();
        if !idmap {
            ctx = ctx.without::<tenon::capability::idmap::Scope>();
        }
        Direct {
            prepared: tenon.prepared(&installed).unwrap(),
            tenon,
            ctx,
        }
    }

    /// Writes `batch` (records with their idempotency keys) to `stream`.
    pub async fn write(
        &self,
        stream: &str,
        batch: Vec<(tenon::record::Envelope, String)>,
    ) -> tenon::sandbox::WriteOutcomes {
        self.tenon
            .sandbox()
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
                .tenon
                .sandbox()
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
                .tenon
                .sandbox()
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

/// A vendor that answers every request with the request itself, as a granted
/// endpoint that echoes could: the body is the request line and headers
/// verbatim, then, for each header, its last word URL-encoded and in base64.
/// The hostile guests use it to try to read back what the host added.
#[derive(Debug)]
pub struct Echo {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn echo() -> Echo {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65_536 {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut body = head.clone();
                for line in head.lines().skip(1) {
                    if let Some(word) = line.split_whitespace().last() {
                        let encoded: String = word
                            .bytes()
                            .map(|b| match b {
                                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                                    char::from(b).to_string()
                                }
                                _ => format!("%{b:02X}"),
                            })
                            .collect();
                        let b64 = base64::engine::general_purpose::STANDARD.encode(word);
                        body.push_str(&format!("url {encoded} b64 {b64}\n"));
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    Echo { addr, task }
}

/// The shop's signed `order.updated` webhook carrying `order`, as the host
/// hands it to `demo-shop`, signed with `secret`.
pub fn signed_webhook(
    order: &tenon_sandboxes::Order,
    secret: &str,
) -> tenon::sandbox::WebhookRequest {
    let body = serde_json::to_vec(order).unwrap();
    let mac = tenon::capability::verify::hmac_sha256(secret.as_bytes(), &body);
    tenon::sandbox::WebhookRequest {
        method: "POST".into(),
        path: "/hooks/acme/demo-shop".into(),
        headers: vec![(
            "x-shop-signature".into(),
            format!("sha256={}", tenon::record::hex(&mac)),
        )],
        body,
    }
}
