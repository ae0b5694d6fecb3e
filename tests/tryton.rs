//! `erp-tryton` against a real Tryton 8.2 server on loopback (installed from
//! PyPI by `servers/tryton/setup.sh` on first use): products changed since a
//! cursor, including template edits; shop orders into Tryton sales, customers
//! matched through the id map, no duplicates on a second run or a re-delivery.

mod support;
mod support_tryton;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::*;
use support_tryton::{DATABASE, TrytonServer, decimal};
use tenon::Tenon;
use tenon::flow::{Endpoint, Flow};
use tenon::vendors::{Shop, demo_orders};

/// The demo shop's SKUs, names and prices.
const PRODUCTS: [(&str, &str, &str); 6] = [
    ("TEE-BLK-M", "T-shirt black M", "19.90"),
    ("TEE-WHT-L", "T-shirt white L", "19.90"),
    ("MUG-WHT", "Mug white", "9.50"),
    ("CAP-NVY", "Cap navy", "14.00"),
    ("SOCK-GRY-L", "Socks grey L", "6.50"),
    ("HOOD-GRN-S", "Hoodie green S", "49.00"),
];

/// Creates the demo products in Tryton; template ids by SKU.
fn create_products(tryton: &TrytonServer) -> BTreeMap<&'static str, i64> {
    PRODUCTS
        .iter()
        .map(|(sku, name, price)| (*sku, tryton.create_product(sku, name, price)))
        .collect()
}

/// Creates `tenant` and enables `erp-tryton` for it against `tryton`.
fn enable_tryton(tenon: &Tenon, tenant: &str, tryton: &TrytonServer) {
    tenon.create_tenant(tenant, "test").unwrap();
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([
                    ("base_url".into(), tryton.base_url()),
                    ("database".into(), DATABASE.into()),
                ]),
                secrets: BTreeMap::from([("session".into(), tryton.session.clone())]),
                grants: vec![tryton.addr().parse().unwrap()],
                ..enablement(tenant, "erp-tryton")
            },
            "test",
        )
        .unwrap();
}

/// The payloads of a page, as JSON.
fn payloads(page: &tenon::sandbox::ReadPage) -> Vec<Value> {
    page.records
        .iter()
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn products_changed_since_the_cursor_include_template_edits() {
    let tryton = TrytonServer::start();
    let templates = create_products(&tryton);
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    enable_tryton(&tenon, "acme", &tryton);
    tenon
        .check("acme", "erp-tryton")
        .await
        .expect("check passes");

    // Pages of 4 then 2: every product once, with code, name and price.
    let first = tenon
        .preview("acme", "erp-tryton", "products", None, 4)
        .await
        .unwrap();
    assert_eq!(first.records.len(), 4);
    assert!(first.more);
    let second = tenon
        .preview(
            "acme",
            "erp-tryton",
            "products",
            first.next_cursor.as_deref(),
            4,
        )
        .await
        .unwrap();
    assert_eq!(second.records.len(), 2);
    assert!(!second.more);
    let mut read: Vec<Value> = payloads(&first);
    read.extend(payloads(&second));
    let mut codes: Vec<&str> = read.iter().map(|p| p["code"].as_str().unwrap()).collect();
    codes.sort_unstable();
    let mut expected: Vec<&str> = PRODUCTS.iter().map(|p| p.0).collect();
    expected.sort_unstable();
    assert_eq!(codes, expected);
    let mug = read.iter().find(|p| p["code"] == "MUG-WHT").unwrap();
    assert_eq!(mug["name"], "Mug white");
    assert_eq!(mug["list_price"], "9.50");
    let cursor = second.next_cursor.expect("a cursor after the last page");

    // Nothing changed: nothing read.
    let none = tenon
        .preview("acme", "erp-tryton", "products", Some(&cursor), 100)
        .await
        .unwrap();
    assert!(none.records.is_empty() && !none.more, "{none:?}");

    // A template edit (the price lives on product.template) shows up, alone.
    tryton.model(
        "product.template",
        "write",
        vec![
            json!([templates["MUG-WHT"]]),
            json!({"list_price": decimal("10.50")}),
        ],
    );
    let changed = tenon
        .preview("acme", "erp-tryton", "products", Some(&cursor), 100)
        .await
        .unwrap();
    let changed_payloads = payloads(&changed);
    assert_eq!(changed_payloads.len(), 1, "{changed_payloads:?}");
    assert_eq!(changed_payloads[0]["code"], "MUG-WHT");
    assert_eq!(changed_payloads[0]["list_price"], "10.50");
    let after = tenon
        .preview(
            "acme",
            "erp-tryton",
            "products",
            changed.next_cursor.as_deref(),
            100,
        )
        .await
        .unwrap();
    assert!(after.records.is_empty(), "{after:?}");

    // Customers: the company's party at least, with the cursor's time.
    let customers = tenon
        .preview("acme", "erp-tryton", "customers", None, 100)
        .await
        .unwrap();
    assert!(!customers.records.is_empty());
    assert!(customers.records.iter().all(|r| r.source_time.is_some()));
}

/// `demo-shop:orders -> order-to-sale -> erp-tryton:sale-orders`, named `name`.
fn orders_to_tryton(tenant: &str, name: &str) -> Flow {
    Flow {
        batch_size: 5,
        ..tenon::host::flow(
            tenant,
            name,
            Endpoint {
                plugin: "demo-shop".into(),
                stream: "orders".into(),
            },
            vec!["order-to-sale".into()],
            Endpoint {
                plugin: "erp-tryton".into(),
                stream: "sale-orders".into(),
            },
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shop_orders_become_tryton_sales_once_with_customers_matched() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let shop = Shop::start(SHOP_TOKEN, demo_orders(12)).await.unwrap();
    enable_tryton(&tenon, "acme", &tryton);
    tenon
        .enable(shop_enablement("acme", &shop), "test")
        .unwrap();
    tenon
        .enable(enablement("acme", "order-to-sale"), "test")
        .unwrap();
    tenon
        .add_flow(orders_to_tryton("acme", "orders-to-tryton"), "test")
        .unwrap();
    let email_parties = || tryton.count("party.contact_mechanism", json!([["type", "=", "email"]]));
    assert_eq!(tryton.count("sale.sale", json!([])), 0);

    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (12, 12));
    assert_eq!(tryton.count("sale.sale", json!([])), 12);
    // Five customers across twelve orders: five parties, linked in the id map.
    assert_eq!(email_parties(), 5);
    let links = tenon
        .links("acme", Some("customer:email->tryton-party"))
        .unwrap();
    assert_eq!(links.len(), 5, "{links:?}");
    // ... and read back as customers with their e-mails.
    let customers = tenon
        .preview("acme", "erp-tryton", "customers", None, 100)
        .await
        .unwrap();
    let mut emails: Vec<String> = payloads(&customers)
        .iter()
        .filter_map(|c| c["email"].as_str().map(str::to_owned))
        .collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!(emails.len(), 5, "{emails:?}");
    assert!(emails.contains(&shop.orders()[0].customer.email));

    // A sale as the order said: reference, party, lines, amount, draft.
    let order = &shop.orders()[0];
    let sale = tryton.model(
        "sale.sale",
        "search_read",
        vec![
            json!([["reference", "=", format!("shop:{}", order.id)]]),
            json!(0),
            Value::Null,
            Value::Null,
            json!([
                "state",
                "total_amount",
                "party.name",
                "invoice_method",
                "lines"
            ]),
        ],
    );
    let sale = &sale[0];
    assert_eq!(sale["state"], "draft");
    assert_eq!(sale["invoice_method"], "manual");
    assert_eq!(sale["total_amount"]["decimal"], order.total.as_str());
    assert_eq!(sale["lines"].as_array().unwrap().len(), order.lines.len());
    assert_eq!(
        sale["party."]["name"],
        format!("{} {}", order.customer.first_name, order.customer.last_name)
    );
    // The demo's cancelled orders are cancelled sales.
    assert_eq!(
        tryton.count("sale.sale", json!([["state", "=", "cancelled"]])),
        shop.orders()
            .iter()
            .filter(|o| o.status == tenon::vendors::OrderStatus::Cancelled)
            .count()
    );

    // The sales read back with their states: the connector reads what it wrote.
    let sales = tenon
        .preview("acme", "erp-tryton", "sales", None, 100)
        .await
        .unwrap();
    let sales = payloads(&sales);
    assert_eq!(sales.len(), 12);
    let first = sales
        .iter()
        .find(|s| s["reference"] == format!("shop:{}", order.id))
        .unwrap();
    assert_eq!(first["state"], "draft");
    assert_eq!(first["shipment_state"], "none");
    assert_eq!(first["invoice_state"], "none");
    assert_eq!(first["total_amount"], order.total.as_str());

    // The second run reads nothing.
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (0, 0));

    // An order changed in the shop is delivered again: same sale, no new one.
    let mut changed = shop.orders()[1].clone();
    changed.customer.first_name = changed.customer.first_name.to_uppercase();
    shop.upsert_order(changed);
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (1, 1));
    assert_eq!(tryton.count("sale.sale", json!([])), 12);

    // Everything delivered again by a second flow from the start (a replay, a
    // lost cursor): not one sale or customer more.
    tenon
        .add_flow(orders_to_tryton("acme", "orders-again"), "test")
        .unwrap();
    let run = tenon.run_flow("acme", "orders-again").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(run.records_written, 12);
    assert_eq!(tryton.count("sale.sale", json!([])), 12);
    assert_eq!(email_parties(), 5);

    // A new order of a known customer reuses the party.
    let mut new = shop.orders()[0].clone();
    new.id = "5001".into();
    shop.upsert_order(new);
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(run.records_written, 1);
    assert_eq!(tryton.count("sale.sale", json!([])), 13);
    assert_eq!(email_parties(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_sku_fails_that_order_permanently() {
    let tryton = TrytonServer::start();
    tryton.create_product("TEE-BLK-M", "T-shirt black M", "19.90");
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    // The first demo order holds TEE-BLK-M only; the second MUG-WHT and CAP-NVY.
    let shop = Shop::start(SHOP_TOKEN, demo_orders(2)).await.unwrap();
    enable_tryton(&tenon, "acme", &tryton);
    tenon
        .enable(shop_enablement("acme", &shop), "test")
        .unwrap();
    tenon
        .enable(enablement("acme", "order-to-sale"), "test")
        .unwrap();
    tenon
        .add_flow(orders_to_tryton("acme", "orders-to-tryton"), "test")
        .unwrap();
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_eq!((run.records_written, run.dead_lettered), (1, 1), "{run:?}");
    assert_eq!(tryton.count("sale.sale", json!([])), 1);
    let dead = tenon.dead_letters(Some("acme"), None).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.key, "1002");
    let why = format!("{:?}", dead[0].attempts);
    assert!(why.contains("no product with code `MUG-WHT`"), "{why}");
}

/// Puts `quantity` of the product with template `template` into the
/// warehouse's storage (a done move from the supplier location).
fn receive(tryton: &TrytonServer, template: i64, quantity: u32) {
    let locations = tryton.model(
        "stock.location",
        "search_read",
        vec![
            json!([["code", "in", ["SUP", "STO"]]]),
            json!(0),
            Value::Null,
            Value::Null,
            json!(["code"]),
        ],
    );
    let id = |code: &str| {
        locations
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code)
            .unwrap()["id"]
            .clone()
    };
    let product = tryton.model(
        "product.product",
        "search",
        vec![
            json!([["template", "=", template]]),
            json!(0),
            json!(1),
            Value::Null,
        ],
    )[0]
    .clone();
    let unit = tryton.model(
        "product.product",
        "read",
        vec![json!([product]), json!(["default_uom"])],
    )[0]["default_uom"]
        .clone();
    let eur = tryton.model(
        "currency.currency",
        "search",
        vec![
            json!([["code", "=", "EUR"]]),
            json!(0),
            json!(1),
            Value::Null,
        ],
    )[0]
    .clone();
    let moves = tryton.model(
        "stock.move",
        "create",
        vec![json!([{
            "product": product, "unit": unit, "quantity": quantity,
            "from_location": id("SUP"), "to_location": id("STO"),
            "unit_price": decimal("5.00"), "currency": eur, "company": tryton.context["company"],
        }])],
    );
    tryton.model("stock.move", "do", vec![moves]);
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_levels_follow_the_moves_per_warehouse() {
    let tryton = TrytonServer::start();
    let templates = create_products(&tryton);
    receive(&tryton, templates["MUG-WHT"], 10);
    receive(&tryton, templates["CAP-NVY"], 4);
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    enable_tryton(&tenon, "acme", &tryton);

    let page = tenon
        .preview("acme", "erp-tryton", "stock-levels", None, 100)
        .await
        .unwrap();
    let levels = payloads(&page);
    assert_eq!(levels.len(), 2, "{levels:?}");
    let mug = levels.iter().find(|l| l["code"] == "MUG-WHT").unwrap();
    assert_eq!(mug["warehouse"], "WH");
    assert_eq!(mug["quantity"].as_f64(), Some(10.0));

    // Five more mugs: the next read returns the mug alone, at 15.
    receive(&tryton, templates["MUG-WHT"], 5);
    let next = tenon
        .preview(
            "acme",
            "erp-tryton",
            "stock-levels",
            page.next_cursor.as_deref(),
            100,
        )
        .await
        .unwrap();
    let levels = payloads(&next);
    assert_eq!(levels.len(), 1, "{levels:?}");
    assert_eq!(levels[0]["code"], "MUG-WHT");
    assert_eq!(levels[0]["quantity"].as_f64(), Some(15.0));
    let after = tenon
        .preview(
            "acme",
            "erp-tryton",
            "stock-levels",
            next.next_cursor.as_deref(),
            100,
        )
        .await
        .unwrap();
    assert!(after.records.is_empty(), "{after:?}");
}
