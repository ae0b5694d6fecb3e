//! The demo job behind the README's first command: starts two loopback vendor
//! sandboxes (a shop and an ERP ledger), installs the bundled plugins into a fresh
//! data folder, enables them for a tenant with secrets and egress grants, and runs
//! the flow `orders-to-erp` three times: the backlog, then only what changed, then
//! nothing. Every record crosses real HTTP on loopback through sandboxed plugins.
//!
//! Also [`serve_sandboxes`], behind `tenon sandbox`: the shop, the ledger, the
//! PIM and the 3PL on loopback until Ctrl-C, for a plugin author to try against.

use crate::cli::run_summary;
use crate::flow::{Endpoint, Flow};
use crate::limits::LimitOverrides;
use crate::tenant::Enablement;
use crate::vendors::{Ledger, OrderStatus, Pim, Shop, ThreePl, demo_orders, demo_products};
use crate::{Error, Tenon};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

/// Who the demo's changes are recorded as in the audit log.
const DEMO: &str = "demo";

const SHOP_TOKEN: &str = "shop-demo-token";
const LEDGER_TOKEN: &str = "ledger-demo-token";

/// Runs the demo in `data` (emptied first: it belongs to the demo).
pub async fn run(data: &Path) -> crate::Result<()> {
    if data.exists() {
        std::fs::remove_dir_all(data)
            .with_context(|| format!("could not empty {}", data.display()))?;
    }
    let shop = Shop::start(SHOP_TOKEN, demo_orders(25)).await?;
    let ledger = Ledger::start(LEDGER_TOKEN).await?;
    println!(
        "Vendor sandboxes: shop at {}, ERP ledger at {}.",
        shop.base_url(),
        ledger.base_url()
    );

    let tenon = Tenon::open(data)?;
    for (name, wasm) in crate::bundled::PLUGINS {
        let started = std::time::Instant::now();
        let plugin = tenon.install(wasm, LimitOverrides::default(), DEMO).await?;
        println!(
            "Installed {} {} ({}, {} KiB, compiled in {} ms).",
            name,
            plugin.version,
            plugin.world,
            plugin.size / 1024,
            started.elapsed().as_millis()
        );
    }

    tenon.create_tenant("acme", DEMO)?;
    let enable =
        |plugin: &str, config: &[(&str, String)], secret: Option<&str>, grant: Option<String>| {
            tenon.enable(
                Enablement {
                    tenant: "acme".into(),
                    plugin: plugin.into(),
                    config: config
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                    secrets: secret
                        .map(|s| BTreeMap::from([("api_token".to_string(), s.to_string())]))
                        .unwrap_or_default(),
                    grants: grant
                        .map(|g| vec![g.parse().expect("a socket address is a grant")])
                        .unwrap_or_default(),
                    limits: LimitOverrides::default(),
                    enabled_at: 0,
                },
                DEMO,
            )
        };
    enable(
        "demo-shop",
        &[("base_url", shop.base_url())],
        Some(SHOP_TOKEN),
        Some(shop.addr().to_string()),
    )?;
    enable("order-to-sale", &[("currency", "EUR".into())], None, None)?;
    enable(
        "demo-ledger",
        &[("base_url", ledger.base_url())],
        Some(LEDGER_TOKEN),
        Some(ledger.addr().to_string()),
    )?;
    println!(
        "Tenant `acme` enabled demo-shop, order-to-sale and demo-ledger (egress granted to the two sandboxes only)."
    );

    let flow = tenon.add_flow(
        Flow {
            batch_size: 10,
            ..crate::host::flow(
                "acme",
                "orders-to-erp",
                Endpoint {
                    plugin: "demo-shop".into(),
                    stream: "orders".into(),
                },
                vec!["order-to-sale".into()],
                Endpoint {
                    plugin: "demo-ledger".into(),
                    stream: "sale-orders".into(),
                },
            )
        },
        DEMO,
    )?;
    println!(
        "Flow `{}`: {} -> {} -> {}.",
        flow.name,
        flow.source,
        flow.transforms.join(" -> "),
        flow.destination
    );

    println!("\n1. First run: the whole backlog.");
    report(&tenon, &ledger).await?;

    let mut orders = shop.orders();
    let first = orders[0].clone();
    let sale = ledger
        .sales_orders()
        .into_iter()
        .find(|s| s.external_ref == format!("shop:{}", first.id));
    if let Some(sale) = sale {
        println!(
            "   Shop order {} ({} {}, {} line(s), {:?}) is now ledger sales order {} ({} cents, {:?}).",
            first.id,
            first.currency,
            first.total,
            first.lines.len(),
            first.status,
            sale.id,
            sale.total_cents,
            sale.status
        );
    }

    let mut cancelled = orders.remove(0);
    cancelled.status = OrderStatus::Cancelled;
    shop.upsert_order(cancelled.clone());
    let mut new_order = orders.pop().expect("the demo shop has orders");
    new_order.id = "9001".into();
    new_order.number = "SO-9001".into();
    shop.upsert_order(new_order);
    println!(
        "\n2. In the shop, order {} is cancelled and order 9001 is new. Second run: only what changed.",
        cancelled.id
    );
    report(&tenon, &ledger).await?;

    println!("\n3. Third run: nothing changed.");
    report(&tenon, &ledger).await?;

    println!(
        "\nState (sled, components, compile cache) is in {}.",
        data.display()
    );
    println!(
        "Look around: tenon --data {} runs list   (or: flow list, plugin inspect demo-shop)",
        data.display()
    );
    shop.stop().await;
    ledger.stop().await;
    Ok(())
}

/// What `tenon sandbox` serves: an address and credentials per sandbox.
#[derive(Debug, Clone)]
pub struct Sandboxes {
    pub shop: SocketAddr,
    pub ledger: SocketAddr,
    pub pim: SocketAddr,
    pub threepl: SocketAddr,
    pub shop_token: String,
    pub ledger_token: String,
    pub pim_token: String,
    pub threepl_key: String,
    pub threepl_secret: String,
    /// Demo orders the shop starts with.
    pub orders: usize,
    /// Demo products the PIM starts with.
    pub products: usize,
}

/// The address `offset` ports after `addr`, on the same IP; port 0 (the system
/// picks) stays 0, so `--ledger 127.0.0.1:0` puts the PIM and the 3PL on
/// system-picked ports too.
pub fn beside(addr: SocketAddr, offset: u16) -> crate::Result<SocketAddr> {
    if addr.port() == 0 {
        return Ok(addr);
    }
    let port = addr.port().checked_add(offset).ok_or_else(|| {
        Error::Invalid(format!(
            "no port {offset} after {addr}: give --pim and --threepl explicitly"
        ))
    })?;
    Ok(SocketAddr::new(addr.ip(), port))
}

/// Serves the four sandboxes on `sandboxes`' addresses until Ctrl-C, printing
/// each one's address and credentials, one line each.
pub async fn serve_sandboxes(sandboxes: Sandboxes) -> crate::Result<()> {
    let Sandboxes {
        shop,
        ledger,
        pim,
        threepl,
        shop_token,
        ledger_token,
        pim_token,
        threepl_key,
        threepl_secret,
        orders,
        products,
    } = sandboxes;
    let shop = Shop::start_on(shop, &shop_token, demo_orders(orders)).await?;
    let ledger = Ledger::start_on(ledger, &ledger_token).await?;
    let pim = Pim::start_on(pim, &pim_token, demo_products(products)).await?;
    let threepl = ThreePl::start_on(threepl, &threepl_key, &threepl_secret).await?;
    println!(
        "Shop sandbox:   {} (bearer token `{shop_token}`, {orders} orders)",
        shop.base_url()
    );
    println!(
        "Ledger sandbox: {} (bearer token `{ledger_token}`)",
        ledger.base_url()
    );
    println!(
        "PIM sandbox:    {} (bearer token `{pim_token}`, {products} products)",
        pim.base_url()
    );
    println!(
        "3PL sandbox:    {} (Basic auth: API key `{threepl_key}`, secret `{threepl_secret}`)",
        threepl.base_url()
    );
    println!("Serving until Ctrl-C.");
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    shop.stop().await;
    ledger.stop().await;
    pim.stop().await;
    threepl.stop().await;
    Ok(())
}

async fn report(tenon: &Tenon, ledger: &Ledger) -> crate::Result<()> {
    let run = tenon.run_flow("acme", "orders-to-erp").await?;
    println!("   {}", run_summary(&run));
    if let Some(error) = &run.error {
        return Err(Error::Invalid(format!("the demo run failed: {error}")));
    }
    let orders = ledger.sales_orders();
    println!(
        "   The ledger holds {} sales orders ({} POST requests so far); stored cursor: {}.",
        orders.len(),
        ledger.requests(),
        tenon
            .cursor("acme", "orders-to-erp")?
            .unwrap_or_else(|| "none".into())
    );
    Ok(())
}
