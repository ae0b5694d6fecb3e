//! The demo job behind the README's first command: an order-to-cash and
//! fulfilment scenario across three systems on loopback sandboxes: a shop, an
//! ERP ledger and a ShipStation-style 3PL. It installs the bundled plugins into
//! a fresh data folder, enables them for a tenant with secrets and egress
//! grants, and runs three flows: shop orders to the ERP, shop orders to the
//! warehouse, and the warehouse's parcels (one order split in two) back to the
//! shop with their tracking numbers. A second pass moves only what changed, a
//! third nothing, and reconciliation proves each pair of systems agrees. Every
//! record crosses real HTTP through sandboxed plugins.
//!
//! Also [`serve_sandboxes`], behind `tenon sandbox`: the shop, the ledger, the
//! PIM and the 3PL on loopback until Ctrl-C, for a plugin author to try against.

use crate::capability::secret::Secret;
use crate::cli::run_summary;
use crate::flow::{Endpoint, Flow};
use crate::tenant::Enablement;
use crate::{Error, Tenon, outln};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use tenon_sandboxes::threepl::{Parcel, ShipmentItem};
use tenon_sandboxes::{
    Ledger, Magento, MagentoSeed, OrderStatus, Pim, Shop, ThreePl, demo_orders, demo_products,
};

/// Who the demo's changes are recorded as in the audit log.
const DEMO: &str = "demo";

const SHOP_TOKEN: &str = "shop-demo-token";
const LEDGER_TOKEN: &str = "ledger-demo-token";
const THREEPL_KEY: &str = "3pl-demo-key";
const THREEPL_SECRET: &str = "3pl-demo-secret";

/// `(plugin, stream)`.
type PluginStream = (&'static str, &'static str);

/// The demo's flows: `(name, source, transforms, destination)`.
const FLOWS: [(&str, PluginStream, &[&str], PluginStream); 4] = [
    (
        "orders-to-erp",
        ("demo-shop", "orders"),
        &["order-to-sale"],
        ("demo-ledger", "sale-orders"),
    ),
    (
        "orders-to-3pl",
        ("demo-shop", "orders"),
        &["order-to-sale"],
        ("wms-shipstation", "fulfilment-orders"),
    ),
    (
        "parcels",
        ("wms-shipstation", "shipments"),
        &["shipstation-parcels"],
        ("demo-shop", "fulfilments"),
    ),
    // Refunds are canonical credit memos at the shop already.
    (
        "refunds-to-erp",
        ("demo-shop", "credit-memos"),
        &[],
        ("demo-ledger", "credit-memos"),
    ),
];

/// The three sandboxes of the demo.
struct Systems {
    shop: Shop,
    ledger: Ledger,
    threepl: ThreePl,
}

/// Runs the demo in `data` (emptied first: it belongs to the demo).
pub async fn run(data: &Path, options: crate::host::Options) -> crate::Result<()> {
    if data.exists() {
        std::fs::remove_dir_all(data)
            .with_context(|| format!("could not empty {}", data.display()))?;
    }
    let systems = Systems {
        shop: Shop::start(SHOP_TOKEN, demo_orders(25)).await?,
        ledger: Ledger::start(LEDGER_TOKEN).await?,
        threepl: ThreePl::start(THREEPL_KEY, THREEPL_SECRET).await?,
    };
    let Systems {
        shop,
        ledger,
        threepl,
    } = &systems;
    outln!(
        "Three systems on loopback: shop at {}, ERP ledger at {}, 3PL warehouse at {}.",
        shop.base_url(),
        ledger.base_url(),
        threepl.base_url()
    );

    let tenon = Tenon::open_with(data, options)?;
    for (name, wasm) in crate::bundled::PLUGINS {
        let started = std::time::Instant::now();
        let plugin = tenon
            .install_bundled_plugin(wasm, Default::default(), DEMO)
            .await?;
        outln!(
            "Installed {} {} ({}, {} KiB, compiled in {} ms).",
            name,
            plugin.version,
            plugin.world,
            plugin.size / 1024,
            started.elapsed().as_millis()
        );
    }
    enable(&tenon, &systems)?;
    for (name, from, via, to) in FLOWS {
        let endpoint = |(plugin, stream): (&str, &str)| Endpoint {
            plugin: plugin.into(),
            stream: stream.into(),
        };
        let flow = tenon.add_flow(
            Flow {
                batch_size: 10,
                ..crate::host::flow(
                    "acme",
                    name,
                    endpoint(from),
                    via.iter().map(|t| (*t).to_owned()).collect(),
                    endpoint(to),
                )
            },
            DEMO,
        )?;
        outln!(
            "Flow `{}`: {} -> {} -> {}.",
            flow.name,
            flow.source,
            flow.transforms.join(" -> "),
            flow.destination
        );
    }

    outln!("\n1. First run: the shop's whole backlog goes to the ERP and to the warehouse.");
    run_flow(&tenon, "orders-to-erp").await?;
    run_flow(&tenon, "orders-to-3pl").await?;
    let orders = shop.orders();
    let first = &orders[0];
    if let Some(sale) = ledger
        .sales_orders()
        .into_iter()
        .find(|s| s.external_ref == format!("shop:{}", first.id))
    {
        outln!(
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
    outln!(
        "   The ledger holds {} sales orders; the warehouse {} orders to fulfil.",
        ledger.sales_orders().len(),
        threepl.orders().len()
    );

    // The warehouse ships two open orders: the first with two lines in two
    // parcels (a split shipment), the next in one.
    let open: Vec<_> = orders
        .iter()
        .filter(|o| o.status != OrderStatus::Cancelled && o.lines.len() > 1)
        .take(2)
        .collect();
    let [split, whole] = open[..] else {
        return Err(Error::Invalid("the demo shop has too few orders".into()));
    };
    let item = |line: &tenon_sandboxes::OrderLine| ShipmentItem {
        sku: line.sku.clone(),
        quantity: line.quantity,
    };
    let parcels: Vec<Parcel> = split
        .lines
        .iter()
        .enumerate()
        .map(|(n, line)| Parcel {
            tracking: format!("1Z{}{:02}", split.id, n + 1),
            carrier: "ups".into(),
            items: vec![item(line)],
        })
        .collect();
    threepl.ship(&format!("shop:{}", split.id), parcels);
    threepl.ship(
        &format!("shop:{}", whole.id),
        vec![Parcel {
            tracking: format!("1Z{}01", whole.id),
            carrier: "dhl".into(),
            items: whole.lines.iter().map(item).collect(),
        }],
    );
    outln!(
        "\n2. The warehouse ships order {} in {} parcels and order {} in one; the parcels flow back to the shop.",
        split.id,
        split.lines.len(),
        whole.id
    );
    run_flow(&tenon, "parcels").await?;
    for parcel in shop.fulfilments() {
        outln!(
            "   Shop order {} parcel {}: {} {} ({}).",
            parcel.order_id,
            parcel.id,
            parcel.carrier,
            parcel.tracking_number,
            parcel
                .lines
                .iter()
                .map(|l| format!("{} x{}", l.sku, l.quantity))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let mut cancelled = orders
        .iter()
        .find(|o| o.status != OrderStatus::Cancelled && o.id != split.id && o.id != whole.id)
        .cloned()
        .expect("the demo shop has open orders");
    cancelled.status = OrderStatus::Cancelled;
    shop.upsert_order(cancelled.clone());
    let mut new_order = orders.last().expect("the demo shop has orders").clone();
    new_order.id = "9001".into();
    new_order.number = "SO-9001".into();
    new_order.status = OrderStatus::Paid;
    shop.upsert_order(new_order);
    outln!(
        "\n3. In the shop, order {} is cancelled and order 9001 is new. Second run: only what changed.",
        cancelled.id
    );
    for (name, ..) in FLOWS {
        run_flow(&tenon, name).await?;
    }
    let held = |key: &str| {
        threepl
            .orders()
            .into_iter()
            .find(|o| o.order.order_key == key)
            .map_or_else(|| "missing".to_owned(), |o| o.order.order_status)
    };
    outln!(
        "   At the warehouse, order {} is {} and order 9001 is {}.",
        cancelled.id,
        held(&format!("shop:{}", cancelled.id)),
        held("shop:9001")
    );

    // Money goes back: one unit of one line of a paid order.
    let refunded = orders
        .iter()
        .find(|o| o.status == OrderStatus::Paid && o.lines.len() > 1 && o.id != cancelled.id)
        .expect("the demo shop has paid orders with two lines");
    let line = &refunded.lines[1];
    let refund = shop.refund(&refunded.id, &[(&line.sku, 1)], "damaged in transit")?;
    outln!(
        "\n4. Money goes back: the shop refunds {} x1 of order {} ({} {}, {}). The refund reaches the ledger as a credit note.",
        line.sku,
        refunded.id,
        refund.currency,
        refund.total,
        refund.reason
    );
    run_flow(&tenon, "refunds-to-erp").await?;
    for note in ledger.credit_notes() {
        outln!(
            "   Ledger credit note {} credits sales order {} ({}): {} cents.",
            note.id,
            note.sales_order,
            note.note.order_ref,
            note.note.total_cents
        );
    }

    outln!("\n5. Third run: nothing changed.");
    for (name, ..) in FLOWS {
        run_flow(&tenon, name).await?;
    }

    outln!("\n6. Do the systems agree? (tenon reconcile)");
    for (flow, ..) in FLOWS {
        let report = tenon.reconcile("acme", flow).await?;
        outln!(
            "   {flow}: {} source records, {} held, {} matching, {} missing, {} extra, {} different.",
            report.source_records,
            report.destination_records,
            report.matching,
            report.missing.len(),
            report.extra.len(),
            report.different.len()
        );
        if !report.is_clean() {
            return Err(Error::Invalid(format!(
                "the demo's `{flow}` does not reconcile"
            )));
        }
    }
    let refunded_cents: i64 = shop.refunds().iter().map(|r| r.total_cents()).sum();
    let credited_cents: i64 = ledger
        .credit_notes()
        .iter()
        .map(|n| n.note.total_cents)
        .sum();
    outln!(
        "   Money back: {refunded_cents} cents refunded in the shop, {credited_cents} cents credited in the ledger."
    );
    if refunded_cents != credited_cents {
        return Err(Error::Invalid(
            "the demo's refunds and credit notes do not add up to the same total".into(),
        ));
    }

    outln!(
        "\nState (sled, components, compile cache) is in {}.",
        data.display()
    );
    outln!(
        "Look around: tenon --data {} runs list   (or: flow list, reconcile acme orders-to-3pl, plugin inspect wms-shipstation)",
        data.display()
    );
    let Systems {
        shop,
        ledger,
        threepl,
    } = systems;
    shop.stop().await;
    ledger.stop().await;
    threepl.stop().await;
    Ok(())
}

/// Enables the tenant `acme`'s plugins: each connector with its address, an
/// egress grant to its sandbox only, and its secret bound to that sandbox.
fn enable(tenon: &Tenon, systems: &Systems) -> crate::Result<()> {
    tenon.create_tenant("acme", DEMO)?;
    let enable = |plugin: &str,
                  config: &[(&str, String)],
                  secret: Option<(&str, &str)>,
                  grant: Option<String>| {
        let grants: Vec<crate::capability::http::Grant> = grant
            .map(|g| vec![g.parse().expect("a socket address is a grant")])
            .unwrap_or_default();
        tenon.enable(
            Enablement {
                config: config
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
                secrets: secret
                    .map(|(name, value)| {
                        BTreeMap::from([(
                            name.to_owned(),
                            Secret::for_hosts(value, grants.clone()),
                        )])
                    })
                    .unwrap_or_default(),
                grants: grants.clone(),
                ..Enablement::new("acme", plugin)
            },
            DEMO,
        )
    };
    let Systems {
        shop,
        ledger,
        threepl,
    } = systems;
    enable(
        "demo-shop",
        &[("base_url", shop.base_url())],
        Some(("api_token", SHOP_TOKEN)),
        Some(shop.addr().to_string()),
    )?;
    enable("order-to-sale", &[("currency", "EUR".into())], None, None)?;
    enable(
        "demo-ledger",
        &[("base_url", ledger.base_url())],
        Some(("api_token", LEDGER_TOKEN)),
        Some(ledger.addr().to_string()),
    )?;
    enable(
        "wms-shipstation",
        &[
            ("base_url", threepl.base_url()),
            ("api_key", THREEPL_KEY.to_owned()),
        ],
        Some(("api_secret", THREEPL_SECRET)),
        Some(threepl.addr().to_string()),
    )?;
    enable("shipstation-parcels", &[], None, None)?;
    outln!(
        "Tenant `acme` enabled demo-shop, demo-ledger, wms-shipstation, order-to-sale and \
         shipstation-parcels (egress granted to the three sandboxes only)."
    );
    Ok(())
}

/// Runs `flow` and prints what it did and where its cursor stands.
async fn run_flow(tenon: &Tenon, flow: &str) -> crate::Result<()> {
    let run = tenon.run_flow("acme", flow).await?;
    outln!("   {flow}: {}", run_summary(&run));
    if let Some(error) = &run.error {
        return Err(Error::Invalid(format!(
            "the demo's `{flow}` run failed: {error}"
        )));
    }
    if run.dead_lettered > 0 {
        return Err(Error::Invalid(format!(
            "the demo's `{flow}` run dead-lettered {} record(s): see tenon dlq list",
            run.dead_lettered
        )));
    }
    Ok(())
}

/// What `tenon sandbox` serves: an address and credentials per sandbox.
#[derive(Debug, Clone, clap::Args)]
pub struct Sandboxes {
    /// Address of the shop API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub shop: SocketAddr,
    /// Address of the ledger API.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub ledger: SocketAddr,
    /// Address of the PIM API [default: the ledger's port plus one (8082), or
    /// a port the system picks when the ledger's is 0].
    #[arg(long)]
    pub pim: Option<SocketAddr>,
    /// Address of the 3PL API [default: the ledger's port plus two (8083), or
    /// a port the system picks when the ledger's is 0].
    #[arg(long)]
    pub threepl: Option<SocketAddr>,
    /// Address of the Magento 2 REST API (under `/rest`) [default: the
    /// ledger's port plus three (8084), or a port the system picks when the
    /// ledger's is 0].
    #[arg(long)]
    pub magento: Option<SocketAddr>,
    /// Bearer token the shop accepts.
    #[arg(long, default_value = "shop-token")]
    pub shop_token: String,
    /// Bearer token the ledger accepts.
    #[arg(long, default_value = "ledger-token")]
    pub ledger_token: String,
    /// Bearer token the PIM accepts.
    #[arg(long, default_value = "pim-token")]
    pub pim_token: String,
    /// API key of the 3PL's Basic auth.
    #[arg(long, default_value = "3pl-key")]
    pub threepl_key: String,
    /// API secret of the 3PL's Basic auth.
    #[arg(long, default_value = "3pl-secret")]
    pub threepl_secret: String,
    /// Integration access token Magento accepts as a bearer token (the admin
    /// user `admin` / `magento-sandbox-1` may also ask for admin tokens).
    #[arg(long, default_value = "magento-token")]
    pub magento_token: String,
    /// Requests per minute the 3PL takes before it answers 429 (ShipStation's
    /// default: 40).
    #[arg(long, default_value_t = tenon_sandboxes::threepl::DEFAULT_RATE_LIMIT, value_parser = clap::value_parser!(u32).range(1..))]
    pub threepl_rate_limit: u32,
    /// How many demo orders the shop starts with.
    #[arg(long, default_value_t = 25)]
    pub orders: usize,
    /// How many demo products the PIM starts with.
    #[arg(long, default_value_t = 25)]
    pub products: usize,
}

/// The address `offset` ports after `addr`, on the same IP; port 0 (the system
/// picks) stays 0, so `--ledger 127.0.0.1:0` puts the PIM, the 3PL and Magento
/// on system-picked ports too.
fn beside(addr: SocketAddr, offset: u16) -> crate::Result<SocketAddr> {
    if addr.port() == 0 {
        return Ok(addr);
    }
    let port = addr.port().checked_add(offset).ok_or_else(|| {
        Error::Invalid(format!(
            "no port {offset} after {addr}: give --pim, --threepl and --magento explicitly"
        ))
    })?;
    Ok(SocketAddr::new(addr.ip(), port))
}

/// Serves the five sandboxes on `sandboxes`' addresses until Ctrl-C, printing
/// each one's address and credentials, one line each.
pub async fn serve_sandboxes(sandboxes: Sandboxes) -> crate::Result<()> {
    let Sandboxes {
        shop,
        ledger,
        pim,
        threepl,
        magento,
        shop_token,
        ledger_token,
        pim_token,
        threepl_key,
        threepl_secret,
        magento_token,
        threepl_rate_limit,
        orders,
        products,
    } = sandboxes;
    // Unset, each sits a port further after the ledger.
    let after_ledger =
        |addr: Option<SocketAddr>, offset| addr.map_or_else(|| beside(ledger, offset), Ok);
    let (pim, threepl, magento) = (
        after_ledger(pim, 1)?,
        after_ledger(threepl, 2)?,
        after_ledger(magento, 3)?,
    );
    let shop = Shop::start_on(shop, &shop_token, demo_orders(orders)).await?;
    let ledger = Ledger::start_on(ledger, &ledger_token).await?;
    let pim = Pim::start_on(pim, &pim_token, demo_products(products)).await?;
    let threepl = ThreePl::start_on(threepl, &threepl_key, &threepl_secret).await?;
    threepl.set_rate_limit(
        threepl_rate_limit,
        tenon_sandboxes::threepl::DEFAULT_RATE_WINDOW,
    );
    let seed = MagentoSeed::demo();
    let magento_orders = seed.orders.len();
    let magento = Magento::start_on(magento, &magento_token, seed).await?;
    outln!(
        "Shop sandbox:    {} (bearer token `{shop_token}`, {orders} orders)",
        shop.base_url()
    );
    outln!(
        "Ledger sandbox:  {} (bearer token `{ledger_token}`)",
        ledger.base_url()
    );
    outln!(
        "PIM sandbox:     {} (bearer token `{pim_token}`, {products} products)",
        pim.base_url()
    );
    outln!(
        "3PL sandbox:     {} (Basic auth: API key `{threepl_key}`, secret `{threepl_secret}`)",
        threepl.base_url()
    );
    outln!(
        "Magento sandbox: {}/rest (bearer token `{magento_token}`, admin `{}` / `{}`, {magento_orders} orders)",
        magento.url(),
        tenon_sandboxes::magento::SEED_ADMIN_USERNAME,
        tenon_sandboxes::magento::SEED_ADMIN_PASSWORD,
    );
    outln!("Serving until Ctrl-C.");
    tokio::signal::ctrl_c()
        .await
        .context("could not wait for Ctrl-C")?;
    shop.stop().await;
    ledger.stop().await;
    pim.stop().await;
    threepl.stop().await;
    magento.stop().await;
    Ok(())
}
