//! `erp-tryton` against a real Tryton 8.2 server on loopback (installed from
//! PyPI by `servers/tryton/setup.sh` on first use): products changed since a
//! cursor, including template edits; shop orders into Tryton sales, customers
//! matched through the id map, no duplicates on a second run or a re-delivery;
//! contract and group price lists with quantity breaks and customer accounts;
//! refunds as credit notes against posted invoices and approved returns as
//! return shipments, each booked once and reconciled; order states.

mod support;
mod support_tryton;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::*;
use support_tryton::{REFUND_ACCOUNT, TrytonServer, decimal};
use tenon::Tenon;
use tenon::flow::{Endpoint, Flow};
use tenon::record::{Envelope, Op};
use tenon_sandboxes::{Shop, demo_orders};

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
    tenon.enable(tryton.enablement(tenant), "test").unwrap();
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

/// Creates `acme` with the demo shop, `order-to-sale` and `erp-tryton` enabled,
/// and the flow `orders-to-tryton` between them.
fn shop_to_tryton(tenon: &Tenon, tryton: &TrytonServer, shop: &Shop) {
    enable_tryton(tenon, "acme", tryton);
    tenon.enable(shop_enablement("acme", shop), "test").unwrap();
    tenon
        .enable(enablement("acme", "order-to-sale"), "test")
        .unwrap();
    tenon
        .add_flow(orders_to_tryton("acme", "orders-to-tryton"), "test")
        .unwrap();
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
    shop_to_tryton(&tenon, &tryton, &shop);
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
            .filter(|o| o.status == tenon_sandboxes::OrderStatus::Cancelled)
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
    shop_to_tryton(&tenon, &tryton, &shop);
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_eq!((run.records_written, run.dead_lettered), (1, 1), "{run:?}");
    assert_eq!(tryton.count("sale.sale", json!([])), 1);
    let dead = tenon.dead_letters(Some("acme"), None).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.key, "1002");
    let why = format!("{:?}", dead[0].attempts);
    assert!(why.contains("no product with code `MUG-WHT`"), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_levels_follow_the_moves_per_warehouse() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let wh = tryton.default_warehouse();
    tryton.receive("MUG-WHT", wh, 10);
    tryton.receive("CAP-NVY", wh, 4);
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
    tryton.receive("MUG-WHT", wh, 5);
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

/// `(code, warehouse code) -> (quantity, forecast)` of a `stock-levels` page,
/// checking every payload's shape on the way.
fn levels_by_warehouse(page: &tenon::sandbox::ReadPage) -> BTreeMap<(String, String), (f64, f64)> {
    let mut levels = BTreeMap::new();
    for (record, level) in page.records.iter().zip(payloads(page)) {
        let mut fields: Vec<&str> = level
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "code",
                "forecast_quantity",
                "product_id",
                "quantity",
                "updated_at",
                "warehouse",
                "warehouse_id"
            ],
            "{level}"
        );
        assert_eq!(
            record.key,
            format!("{}@{}", level["product_id"], level["warehouse_id"])
        );
        let key = (
            level["code"].as_str().unwrap().to_owned(),
            level["warehouse"].as_str().unwrap().to_owned(),
        );
        let quantities = (
            level["quantity"].as_f64().unwrap(),
            level["forecast_quantity"].as_f64().unwrap(),
        );
        assert!(levels.insert(key, quantities).is_none(), "{level} twice");
    }
    levels
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_levels_report_each_warehouse_apart() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let wh = tryton.default_warehouse();
    let east = tryton.create_warehouse("EAST", "East warehouse");
    assert_ne!(wh, east);
    tryton.receive("MUG-WHT", wh, 10);
    tryton.receive("MUG-WHT", east, 3);
    tryton.receive("CAP-NVY", east, 4);
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    enable_tryton(&tenon, "acme", &tryton);

    // Every product with a move, in every warehouse: stock where it is, zero
    // elsewhere.
    let page = tenon
        .preview("acme", "erp-tryton", "stock-levels", None, 100)
        .await
        .unwrap();
    let level = |code: &str, warehouse: &str| (code.to_owned(), warehouse.to_owned());
    assert_eq!(
        levels_by_warehouse(&page),
        BTreeMap::from([
            (level("CAP-NVY", "EAST"), (4.0, 4.0)),
            (level("CAP-NVY", "WH"), (0.0, 0.0)),
            (level("MUG-WHT", "EAST"), (3.0, 3.0)),
            (level("MUG-WHT", "WH"), (10.0, 10.0)),
        ])
    );
    let east_level = payloads(&page)
        .into_iter()
        .find(|l| l["warehouse"] == "EAST" && l["code"] == "MUG-WHT")
        .unwrap();
    assert_eq!(east_level["warehouse_id"], east);
    assert_eq!(east_level["product_id"], tryton.product_id("MUG-WHT"));

    // Two mugs leave the east warehouse: the mug again, in both warehouses,
    // the east one lower; the cap not at all.
    tryton.ship_out("MUG-WHT", east, 2);
    assert_eq!(tryton.on_hand("MUG-WHT", east), 1.0);
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
    assert_eq!(
        levels_by_warehouse(&next),
        BTreeMap::from([
            (level("MUG-WHT", "EAST"), (1.0, 1.0)),
            (level("MUG-WHT", "WH"), (10.0, 10.0)),
        ])
    );

    // An inventory counting six caps in the main warehouse: the cap, in both.
    tryton.adjust("CAP-NVY", wh, 6);
    let last = tenon
        .preview(
            "acme",
            "erp-tryton",
            "stock-levels",
            next.next_cursor.as_deref(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        levels_by_warehouse(&last),
        BTreeMap::from([
            (level("CAP-NVY", "EAST"), (4.0, 4.0)),
            (level("CAP-NVY", "WH"), (6.0, 6.0)),
        ])
    );
}

/// The bundled `erp-tryton` called directly, with an id map of its own: for
/// records no flow source carries (a `ship_to`).
struct Writer(Direct);

impl Writer {
    async fn new(tryton: &TrytonServer, dir: &std::path::Path) -> Writer {
        Writer::with_config(tryton, dir, &[]).await
    }

    /// With config keys besides the address and the database.
    async fn with_config(
        tryton: &TrytonServer,
        dir: &std::path::Path,
        config: &[(&str, &str)],
    ) -> Writer {
        Writer(Direct::new(dir, tryton_enablement(tryton, "acme", config), true).await)
    }

    /// Writes `sale-orders` records `(key, payload)`; one outcome each.
    async fn write(&self, records: &[(&str, &Value)]) -> tenon::sandbox::WriteOutcomes {
        self.write_to("sale-orders", records).await
    }

    /// Writes records `(key, payload)` to `stream`; one outcome each.
    async fn write_to(
        &self,
        stream: &str,
        records: &[(&str, &Value)],
    ) -> tenon::sandbox::WriteOutcomes {
        let batch = records
            .iter()
            .map(|(key, payload)| {
                (
                    Envelope {
                        stream: stream.into(),
                        key: (*key).into(),
                        op: Op::Upsert,
                        payload: payload.to_string(),
                        source_time: None,
                    },
                    format!("{stream}:{key}:{payload}"),
                )
            })
            .collect();
        self.0.write(stream, batch).await
    }

    /// Writes one record; the id of its sale.
    async fn write_one(&self, key: &str, payload: &Value) -> String {
        self.write_one_to("sale-orders", key, payload)
            .await
            .expect("the sale's id")
    }

    /// Writes one record to `stream`; the id it was written as, if any.
    async fn write_one_to(&self, stream: &str, key: &str, payload: &Value) -> Option<String> {
        let outcome = self.write_to(stream, &[(key, payload)]).await.remove(0);
        outcome.unwrap_or_else(|e| panic!("record `{key}` failed: {e}"))
    }

    /// Every `sale-orders` record `reconcile` lists, id -> payload, paging by
    /// `limit`.
    async fn reconcile(&self, limit: u32) -> BTreeMap<String, Value> {
        self.reconcile_stream("sale-orders", limit).await
    }

    /// Every record `reconcile` lists for `stream`, id -> payload.
    async fn reconcile_stream(&self, stream: &str, limit: u32) -> BTreeMap<String, Value> {
        self.0
            .reconcile_all(stream, limit)
            .await
            .into_iter()
            .collect()
    }
}

/// `erp-tryton` enabled for `tenant` against `tryton` with `config` besides
/// the address and the database.
fn tryton_enablement(
    tryton: &TrytonServer,
    tenant: &str,
    config: &[(&str, &str)],
) -> tenon::tenant::Enablement {
    let mut enablement = tryton.enablement(tenant);
    for (key, value) in config {
        enablement
            .config
            .insert((*key).to_owned(), (*value).to_owned());
    }
    enablement
}

/// The ids of a sale's lines and its write date: what a write that changes
/// nothing leaves as it was.
fn fingerprint(tryton: &TrytonServer, sale: &Value) -> Value {
    let row = tryton.model(
        "sale.sale",
        "read",
        vec![json!([sale["id"]]), json!(["write_date", "lines"])],
    );
    row[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn sale_orders_with_ship_to_land_change_cancel_and_reconcile_exactly() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::new(&tryton, dir.path()).await;
    // The prepared database has no countries: the connector creates `US`.
    assert_eq!(tryton.count("country.country", json!([])), 0);

    let order = json!({
        "external_ref": "web:9001",
        "customer_email": "grace@example.com",
        "customer_name": "Grace Hopper",
        "currency": "EUR",
        "lines": [
            {"sku": "MUG-WHT", "quantity": 2, "unit_price_cents": 950},
            {"sku": "TEE-BLK-M", "quantity": 1, "unit_price_cents": 1990}
        ],
        "total_cents": 3890,
        "status": "open",
        "ship_to": {
            "name": "Grace Hopper",
            "street": "1 Navy Yard\nBuilding 7",
            "city": "Arlington",
            "postal_code": "22202",
            "country": "US"
        }
    });
    let id = writer.write_one("9001", &order).await;
    let sale = tryton.sale_by_reference("web:9001");
    assert_eq!(sale["id"].to_string(), id);
    assert_eq!(sale["state"], "draft");
    assert_eq!(sale["total_amount"]["decimal"], "38.90");
    let address = &sale["shipment_address."];
    assert_eq!(address["party_name"], "Grace Hopper");
    assert_eq!(address["street_unstructured"], "1 Navy Yard\nBuilding 7");
    assert_eq!(address["city"], "Arlington");
    assert_eq!(address["postal_code"], "22202");
    assert_eq!(address["country."]["code"], "US");
    let skus: Vec<&Value> = sale["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["product."]["code"])
        .collect();
    assert_eq!(skus, [&json!("MUG-WHT"), &json!("TEE-BLK-M")]);
    assert_eq!(
        tryton.count("country.country", json!([["code", "=", "US"]])),
        1
    );

    // Reconcile lists exactly the payload written, keyed by the id written.
    let held = writer.reconcile(10).await;
    eprintln!("reconcile after the first write: {held:?}");
    assert_eq!(held, BTreeMap::from([(id.clone(), order.clone())]));

    // The same record again changes nothing: same sale, same lines, same
    // write date, no new address or country.
    let before = fingerprint(&tryton, &sale);
    let addresses = tryton.count("party.address", json!([]));
    assert_eq!(writer.write_one("9001", &order).await, id);
    assert_eq!(fingerprint(&tryton, &sale), before);
    assert_eq!(tryton.count("party.address", json!([])), addresses);
    assert_eq!(tryton.count("country.country", json!([])), 1);

    // Quoted in Tryton, then changed at the source (a quantity, the city): the
    // quotation is rewritten and stays a quotation.
    tryton.model("sale.sale", "quote", vec![json!([sale["id"]])]);
    let mut changed = order.clone();
    changed["lines"][0]["quantity"] = json!(3);
    changed["total_cents"] = json!(3 * 950 + 1990);
    changed["ship_to"]["city"] = json!("Washington");
    assert_eq!(writer.write_one("9001", &changed).await, id);
    let sale = tryton.sale_by_reference("web:9001");
    assert_eq!(sale["state"], "quotation");
    assert_eq!(sale["total_amount"]["decimal"], "48.40");
    assert_eq!(sale["lines"][0]["quantity"].as_f64(), Some(3.0));
    assert_eq!(sale["shipment_address."]["city"], "Washington");
    assert_eq!(writer.reconcile(10).await[&id], changed);

    // Cancelled at the source: Tryton's cancel workflow, reconciled as such.
    let mut cancelled = changed.clone();
    cancelled["status"] = json!("cancelled");
    assert_eq!(writer.write_one("9001", &cancelled).await, id);
    assert_eq!(tryton.sale_by_reference("web:9001")["state"], "cancelled");
    assert_eq!(writer.reconcile(10).await[&id], cancelled);

    // A confirmed sale is Tryton's: the same record passes, a changed one is
    // a permanent error that says where to change it.
    let mut other = order.clone();
    other["external_ref"] = json!("web:9002");
    let other_id = writer.write_one("9002", &other).await;
    tryton.model(
        "sale.sale",
        "quote",
        vec![json!([other_id.parse::<i64>().unwrap()])],
    );
    tryton.model(
        "sale.sale",
        "confirm",
        vec![json!([other_id.parse::<i64>().unwrap()])],
    );
    let state = tryton.sale_by_reference("web:9002")["state"].clone();
    assert!(state == "confirmed" || state == "processing", "{state}");
    assert_eq!(writer.write_one("9002", &other).await, other_id);
    let mut late = other.clone();
    late["lines"][1]["quantity"] = json!(5);
    late["total_cents"] = json!(2 * 950 + 5 * 1990);
    let outcome = writer.write(&[("9002", &late)]).await.remove(0);
    match outcome {
        Err(tenon::GuestError::Permanent { message }) => {
            assert!(message.contains("change it in Tryton"), "{message}");
            assert!(
                message.contains(&state.as_str().unwrap().to_owned()),
                "{message}"
            );
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    assert_eq!(
        tryton.sale_by_reference("web:9002")["lines"][1]["quantity"].as_f64(),
        Some(1.0)
    );
    // Two sales, each as written; a sale entered by hand without a reference
    // is not Tenon's and not listed.
    let party = sale["party."]["id"].clone();
    tryton.model(
        "sale.sale",
        "create",
        vec![
            json!([{"party": party, "company": tryton.context["company"],
            "currency": tryton.search("currency.currency", json!([["code", "=", "EUR"]]))[0]}]),
        ],
    );
    let held = writer.reconcile(1).await;
    assert_eq!(held, BTreeMap::from([(id, cancelled), (other_id, other)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_is_clean_after_a_flow_and_finds_what_changed_in_tryton() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    // Seven orders: the seventh is cancelled at the source already.
    let shop = Shop::start(SHOP_TOKEN, demo_orders(7)).await.unwrap();
    shop_to_tryton(&tenon, &tryton, &shop);
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(run.records_written, 7);

    // Both sides agree (the destination read in pages of 5).
    let report = tenon.reconcile("acme", "orders-to-tryton").await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        (
            report.source_records,
            report.destination_records,
            report.matching
        ),
        (7, 7, 7)
    );

    let orders = shop.orders();
    let sale_of = |i: usize| tryton.sale_by_reference(&format!("shop:{}", orders[i].id));
    // Behind Tenon's back: a line's quantity edited, a sale deleted, another's
    // reference cleared.
    let edited = sale_of(0);
    let line = edited["lines"][0]["id"].clone();
    let quantity = edited["lines"][0]["quantity"].as_f64().unwrap();
    tryton.model(
        "sale.line",
        "write",
        vec![json!([line]), json!({"quantity": quantity + 1.0})],
    );
    tryton.model("sale.sale", "delete", vec![json!([sale_of(1)["id"]])]);
    let unreferenced = sale_of(2)["id"].clone();
    tryton.model(
        "sale.sale",
        "write",
        vec![json!([unreferenced]), json!({"reference": null})],
    );
    let report = tenon.reconcile("acme", "orders-to-tryton").await.unwrap();
    eprintln!("reconcile after the edits in Tryton: {report:?}");
    assert!(!report.is_clean());
    assert_eq!(report.different.len(), 1, "{report:?}");
    assert_eq!(report.different[0].key, orders[0].id);
    assert_eq!(report.different[0].destination_id, edited["id"].to_string());
    let mut missing = vec![orders[1].id.clone(), orders[2].id.clone()];
    missing.sort_unstable();
    assert_eq!(report.missing, missing);
    assert!(report.extra.is_empty(), "{report:?}");
    assert_eq!(report.matching, 4);

    // At the source: the fourth order cancelled, the first three touched. The
    // next run cancels the fourth sale, puts the edited line back, and writes
    // the deleted and unreferenced sales again; both sides agree again.
    assert_ne!(orders[3].status, tenon_sandboxes::OrderStatus::Cancelled);
    let mut cancel = orders[3].clone();
    cancel.status = tenon_sandboxes::OrderStatus::Cancelled;
    shop.upsert_order(cancel);
    for order in &orders[..3] {
        shop.upsert_order(order.clone());
    }
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (4, 4), "{run:?}");
    assert_eq!(sale_of(3)["state"], "cancelled");
    assert_eq!(sale_of(0)["lines"][0]["quantity"].as_f64(), Some(quantity));
    assert_ne!(sale_of(1), Value::Null);
    let report = tenon.reconcile("acme", "orders-to-tryton").await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.matching, 7);
    // The sale whose reference was cleared stays in Tryton, out of scope.
    assert_eq!(tryton.count("sale.sale", json!([])), 8);

    // Nothing changed: nothing moves, still clean.
    let run = tenon.run_flow("acme", "orders-to-tryton").await.unwrap();
    assert_eq!((run.records_read, run.records_written), (0, 0), "{run:?}");
    assert!(
        tenon
            .reconcile("acme", "orders-to-tryton")
            .await
            .unwrap()
            .is_clean()
    );
}

/// Every record of `stream` from `cursor` on, paging by `limit` as a flow
/// does, and the cursor after the last page.
async fn read_pages(
    tenon: &Tenon,
    stream: &str,
    cursor: Option<String>,
    limit: u32,
) -> (Vec<Envelope>, Option<String>) {
    let mut cursor = cursor;
    let mut all = Vec::new();
    loop {
        let page = tenon
            .preview("acme", "erp-tryton", stream, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.records.len() <= limit as usize, "{page:?}");
        all.extend(page.records);
        if page.next_cursor.is_some() {
            cursor = page.next_cursor;
        }
        if !page.more {
            return (all, cursor);
        }
        assert!(all.len() < 1_000, "paging does not end");
    }
}

/// Records by key, payloads as JSON; a key twice is a failure.
fn by_key(records: &[Envelope]) -> BTreeMap<String, Value> {
    let mut keyed = BTreeMap::new();
    for record in records {
        let payload: Value = serde_json::from_str(&record.payload).unwrap();
        assert!(
            keyed.insert(record.key.clone(), payload).is_none(),
            "`{}` twice",
            record.key
        );
    }
    keyed
}

/// A `sale-orders` record of `email`'s customer with `lines` `(sku, quantity,
/// unit price in cents)`, shipped to Arlington (Tryton quotes only sales with
/// a shipment address).
fn sale_order(reference: &str, email: &str, name: &str, lines: &[(&str, i64, i64)]) -> Value {
    json!({
        "external_ref": reference,
        "customer_email": email,
        "customer_name": name,
        "currency": "EUR",
        "lines": lines
            .iter()
            .map(|(sku, quantity, cents)| json!({"sku": sku, "quantity": quantity, "unit_price_cents": cents}))
            .collect::<Vec<_>>(),
        "total_cents": lines.iter().map(|(_, quantity, cents)| quantity * cents).sum::<i64>(),
        "status": "open",
        "ship_to": {"name": name, "street": "1 Navy Yard", "city": "Arlington",
                    "postal_code": "22202", "country": "US"},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_price_list_is_one_customers_with_exact_breaks() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let (ada, ada_code) = tryton.create_customer("Ada Ltd", "ada@example.com");
    let (_, bob_code) = tryton.create_customer("Bob GmbH", "bob@example.com");
    let (cy, cy_code) = tryton.create_customer("Cy SA", "cy@example.com");
    let (di, di_code) = tryton.create_customer("Di BV", "di@example.com");
    // Ada's contract: mugs at 8.75, 20 % off the list price from 10; tees at
    // 95 % of the list price. Tryton takes the first line that matches.
    let contract = tryton.create_price_list(
        "Contract Ada",
        &[
            (Some("MUG-WHT"), Some(10.0), "unit_price * 0.8"),
            (Some("MUG-WHT"), None, "8.75"),
            (Some("TEE-BLK-M"), None, "list_price * 0.95"),
        ],
    );
    // One list for two parties: published only as the group it is mapped to.
    let wholesale = tryton.create_price_list(
        "Wholesale 2026",
        &[
            (None, Some(5.0), "unit_price * 0.85"),
            (None, None, "unit_price * 0.9"),
        ],
    );
    let net30 = tryton.create_payment_term("Net 30", 30);
    tryton.write_party(
        ada,
        json!({"sale_price_list": contract, "customer_payment_term": net30,
               "credit_limit_amount": decimal("100.00")}),
    );
    tryton.write_party(cy, json!({"sale_price_list": wholesale}));
    tryton.write_party(di, json!({"sale_price_list": wholesale}));
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    tenon.create_tenant("acme", "test").unwrap();
    tenon
        .enable(
            tryton_enablement(
                &tryton,
                "acme",
                &[("group_lists", "Wholesale=Wholesale 2026")],
            ),
            "test",
        )
        .unwrap();

    let (records, cursor) = read_pages(&tenon, "price-lists", None, 5).await;
    let prices = by_key(&records);
    // Ada's contract, exactly: the quantity line is a break at 10, and
    // 19.90 * 0.95 = 18.905, which Tryton keeps as 18.9050 and charges 18.90
    // for one unit (half to even).
    let ada_audience = json!({"kind": "customer", "code": ada_code});
    assert_eq!(
        prices["Contract Ada/MUG-WHT/EUR"],
        json!({"list": "Contract Ada", "sku": "MUG-WHT", "currency": "EUR",
               "audience": ada_audience,
               "breaks": [{"min_quantity": 1, "unit_price": "8.75"},
                          {"min_quantity": 10, "unit_price": "7.60"}]})
    );
    assert_eq!(
        prices["Contract Ada/TEE-BLK-M/EUR"]["breaks"],
        json!([{"min_quantity": 1, "unit_price": "18.90"}])
    );
    // The contract prices only what its lines name; the shared list prices
    // every product for the group, nobody else gets a list of their own.
    let lists: Vec<&str> = prices
        .values()
        .map(|p| p["list"].as_str().unwrap())
        .collect();
    assert_eq!(lists.iter().filter(|l| **l == "Contract Ada").count(), 2);
    assert_eq!(
        lists.iter().filter(|l| **l == "Wholesale 2026").count(),
        PRODUCTS.len()
    );
    assert_eq!(
        lists.iter().filter(|l| **l == "retail").count(),
        PRODUCTS.len()
    );
    assert_eq!(prices.len(), 2 + 2 * PRODUCTS.len(), "{prices:#?}");
    for price in prices.values() {
        let audience = &price["audience"];
        for other in [&bob_code, &cy_code, &di_code] {
            assert_ne!(audience["code"], json!(other), "{price}");
        }
        if price["list"] == "Wholesale 2026" {
            assert_eq!(*audience, json!({"kind": "group", "code": "Wholesale"}));
        }
    }
    assert_eq!(
        prices["Wholesale 2026/MUG-WHT/EUR"]["breaks"],
        json!([{"min_quantity": 1, "unit_price": "8.55"},
               {"min_quantity": 5, "unit_price": "8.08"}])
    );
    for (sku, _, price) in PRODUCTS {
        assert_eq!(
            prices[&format!("retail/{sku}/EUR")],
            json!({"list": "retail", "sku": sku, "currency": "EUR", "audience": {"kind": "all"},
                   "breaks": [{"min_quantity": 1, "unit_price": price}]})
        );
    }

    // Nothing changed: nothing read. A contract line edited: that contract
    // again (both its records), the new price in it, nothing else.
    let (none, _) = read_pages(&tenon, "price-lists", cursor.clone(), 100).await;
    assert!(none.is_empty(), "{none:?}");
    let line = tryton.search(
        "product.price_list.line",
        json!([["price_list", "=", contract], ["formula", "=", "8.75"]]),
    );
    tryton.model(
        "product.price_list.line",
        "write",
        vec![json!(line), json!({"formula": "8.50"})],
    );
    let (changed, _) = read_pages(&tenon, "price-lists", cursor, 100).await;
    let changed = by_key(&changed);
    let keys: Vec<&str> = changed.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["Contract Ada/MUG-WHT/EUR", "Contract Ada/TEE-BLK-M/EUR"]
    );
    assert_eq!(
        changed["Contract Ada/MUG-WHT/EUR"]["breaks"],
        json!([{"min_quantity": 1, "unit_price": "8.50"},
               {"min_quantity": 10, "unit_price": "7.60"}])
    );

    // The customers as accounts: terms, credit and group; the company is none.
    let (accounts, _) = read_pages(&tenon, "customer-accounts", None, 100).await;
    let accounts = by_key(&accounts);
    assert_eq!(accounts.len(), 4, "{accounts:#?}");
    assert_eq!(
        accounts[&ada_code],
        json!({"code": ada_code, "name": "Ada Ltd", "email": "ada@example.com",
               "payment_terms": "Net 30", "credit_limit": "100.00", "currency": "EUR",
               "on_hold": false})
    );
    assert_eq!(
        accounts[&bob_code],
        json!({"code": bob_code, "name": "Bob GmbH", "email": "bob@example.com",
               "currency": "EUR", "on_hold": false})
    );
    assert_eq!(accounts[&di_code]["group"], "Wholesale");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_of_one_line_is_one_posted_credit_note_for_exactly_its_amount() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::with_config(
        &tryton,
        dir.path(),
        &[
            ("invoice_method", "order"),
            ("refund_account", REFUND_ACCOUNT),
        ],
    )
    .await;
    let order = sale_order(
        "web:7001",
        "grace@example.com",
        "Grace Hopper",
        &[("MUG-WHT", 2, 950), ("TEE-BLK-M", 1, 1990)],
    );
    let sale = writer.write_one("7001", &order).await;
    let method = tryton.model(
        "sale.sale",
        "read",
        vec![
            json!([sale.parse::<i64>().unwrap()]),
            json!(["invoice_method"]),
        ],
    );
    assert_eq!(method[0]["invoice_method"], "order");

    // One mug of two refunded, with shipping.
    let memo = json!({
        "external_ref": "web:creditmemo:7",
        "order_ref": "web:7001",
        "currency": "EUR",
        "lines": [{"sku": "MUG-WHT", "quantity": 1, "unit_price_cents": 950, "total_cents": 950}],
        "shipping_cents": 490,
        "adjustment_cents": 0,
        "total_cents": 1440,
        "reason": "arrived broken"
    });
    // Not invoiced yet: retryable, nothing booked.
    match writer
        .write_to("credit-memos", &[("7", &memo)])
        .await
        .remove(0)
    {
        Err(tenon::GuestError::Retryable { message }) => {
            assert!(message.contains("no posted invoice yet"), "{message}");
        }
        other => panic!("expected a retryable error, got {other:?}"),
    }
    assert!(tryton.invoices_by_reference("web:creditmemo:7").is_empty());

    // Confirmed and invoiced in Tryton: the refund is a posted credit note of
    // exactly -14.40 EUR, the mug line crediting the invoice's mug line.
    tryton.confirm_sale("web:7001");
    let invoices = tryton.post_invoices("web:7001");
    assert_eq!(invoices.len(), 1);
    let invoiced_mug = tryton.search(
        "account.invoice.line",
        json!([
            ["invoice", "=", invoices[0]],
            ["product.code", "=", "MUG-WHT"]
        ]),
    );
    let credit = writer
        .write_one_to("credit-memos", "7", &memo)
        .await
        .expect("the credit note's id");
    let notes = tryton.invoices_by_reference("web:creditmemo:7");
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let note = &notes[0];
    assert_eq!(note["id"].to_string(), credit);
    assert_eq!(note["state"], "posted");
    assert_eq!(note["total_amount"]["decimal"], "-14.40");
    assert_eq!(note["currency."]["code"], "EUR");
    assert_eq!(note["description"], "Refund of web:7001");
    let lines = note["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let mug = lines
        .iter()
        .find(|l| l["product."]["code"] == "MUG-WHT")
        .unwrap();
    assert_eq!(mug["quantity"].as_f64(), Some(-1.0));
    assert_eq!(mug["amount"]["decimal"], "-9.50");
    assert_eq!(
        mug["origin"],
        format!("account.invoice.line,{}", invoiced_mug[0])
    );
    let shipping = lines
        .iter()
        .find(|l| l["description"] == "Shipping")
        .unwrap();
    assert_eq!(shipping["amount"]["decimal"], "-4.90");
    assert_eq!(shipping["account."]["code"], REFUND_ACCOUNT);

    // The same memo again (a retry, a replay): the same credit note, no other.
    assert_eq!(
        writer.write_one_to("credit-memos", "7", &memo).await,
        Some(credit.clone())
    );
    assert_eq!(tryton.invoices_by_reference("web:creditmemo:7").len(), 1);
    assert_eq!(tryton.count("account.invoice", json!([])), 2);

    // Reconcile rebuilds the memo from the credit note, to the cent.
    assert_eq!(
        writer.reconcile_stream("credit-memos", 10).await,
        BTreeMap::from([(credit, memo.clone())])
    );
    // The sale still reconciles as it was written.
    assert_eq!(writer.reconcile(10).await[&sale], order);

    // Two more mugs than are left to credit: permanent, nothing booked.
    let mut greedy = memo.clone();
    greedy["external_ref"] = json!("web:creditmemo:8");
    greedy["lines"][0]["quantity"] = json!(2);
    greedy["lines"][0]["total_cents"] = json!(1900);
    greedy["total_cents"] = json!(1900 + 490);
    match writer
        .write_to("credit-memos", &[("8", &greedy)])
        .await
        .remove(0)
    {
        Err(tenon::GuestError::Permanent { message }) => {
            assert!(
                message.contains("only 1 invoiced and not credited yet"),
                "{message}"
            );
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    assert!(tryton.invoices_by_reference("web:creditmemo:8").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_return_restocks_only_its_restocked_units_once() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    let wh = tryton.default_warehouse();
    tryton.receive("MUG-WHT", wh, 5);
    tryton.receive("TEE-BLK-M", wh, 5);
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::with_config(&tryton, dir.path(), &[("order_ref_prefix", "web:")]).await;
    let order = sale_order(
        "web:8001",
        "grace@example.com",
        "Grace Hopper",
        &[("MUG-WHT", 2, 950), ("TEE-BLK-M", 1, 1990)],
    );
    writer.write_one("8001", &order).await;
    tryton.confirm_sale("web:8001");
    tryton.ship_sale("web:8001");
    assert_eq!(tryton.on_hand("MUG-WHT", wh), 3.0);
    assert_eq!(tryton.on_hand("TEE-BLK-M", wh), 4.0);

    // Requested, not decided yet: nothing in Tryton.
    let requested = json!({
        "external_ref": "3pl:rma:RMA-8001-1",
        "order_id": "8001",
        "state": "requested",
        "lines": [{"sku": "MUG-WHT", "quantity": 1}, {"sku": "TEE-BLK-M", "quantity": 1}]
    });
    assert_eq!(
        writer
            .write_one_to("returns", "RMA-8001-1", &requested)
            .await,
        None
    );
    assert!(tryton.returns_by_reference("3pl:rma:RMA-8001-1").is_empty());

    // Approved: the mug back on the shelf, the torn tee disposed of.
    let approved = json!({
        "external_ref": "3pl:rma:RMA-8001-1",
        "order_id": "8001",
        "state": "approved",
        "lines": [
            {"sku": "MUG-WHT", "quantity": 1, "disposition": "restock"},
            {"sku": "TEE-BLK-M", "quantity": 1, "disposition": "dispose", "reason": "torn seam"}
        ]
    });
    let id = writer
        .write_one_to("returns", "RMA-8001-1", &approved)
        .await
        .expect("the return shipment's id");
    let shipments = tryton.returns_by_reference("3pl:rma:RMA-8001-1");
    assert_eq!(shipments.len(), 1);
    assert_eq!(shipments[0]["id"].to_string(), id);
    assert_eq!(shipments[0]["state"], "done");
    assert_eq!(shipments[0]["warehouse"], wh);
    assert_eq!(tryton.on_hand("MUG-WHT", wh), 4.0);
    assert_eq!(tryton.on_hand("TEE-BLK-M", wh), 4.0);
    let waste = tryton.search("stock.location", json!([["type", "=", "lost_found"]]))[0];
    assert_eq!(tryton.on_hand("TEE-BLK-M", waste), 1.0);

    // Again: the same shipment, the stock as it was.
    assert_eq!(
        writer
            .write_one_to("returns", "RMA-8001-1", &approved)
            .await,
        Some(id.clone())
    );
    assert_eq!(tryton.returns_by_reference("3pl:rma:RMA-8001-1").len(), 1);
    assert_eq!(tryton.on_hand("MUG-WHT", wh), 4.0);
    assert_eq!(tryton.on_hand("TEE-BLK-M", wh), 4.0);

    // Reconcile rebuilds the return: order, lines, dispositions and reason.
    assert_eq!(
        writer.reconcile_stream("returns", 10).await,
        BTreeMap::from([(id, approved)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn order_states_follow_the_storefront_sales() {
    let tryton = TrytonServer::start();
    create_products(&tryton);
    tryton.receive("MUG-WHT", tryton.default_warehouse(), 10);
    let dir = tempfile::tempdir().unwrap();
    let writer = Writer::with_config(&tryton, dir.path(), &[("invoice_method", "order")]).await;
    for reference in [
        "web:9101", "web:9102", "web:9103", "web:9104", "web:9105", "shop:77",
    ] {
        let order = sale_order(reference, "ada@example.com", "Ada", &[("MUG-WHT", 1, 950)]);
        writer.write_one(reference, &order).await;
    }
    let mut cancelled = sale_order("web:9105", "ada@example.com", "Ada", &[("MUG-WHT", 1, 950)]);
    cancelled["status"] = json!("cancelled");
    writer.write_one("web:9105", &cancelled).await;
    for reference in ["web:9102", "web:9103", "web:9104"] {
        tryton.confirm_sale(reference);
    }
    tryton.post_invoices("web:9103");
    tryton.ship_sale("web:9104");

    let host_dir = tempfile::tempdir().unwrap();
    let tenon = host(host_dir.path()).await;
    tenon.create_tenant("acme", "test").unwrap();
    tenon
        .enable(
            tryton_enablement(&tryton, "acme", &[("order_ref_prefix", "web:")]),
            "test",
        )
        .unwrap();
    let (records, cursor) = read_pages(&tenon, "order-states", None, 2).await;
    // Keyed and named by the storefront's id; `shop:77` is not this shop's.
    assert_eq!(
        by_key(&records),
        BTreeMap::from([
            (
                "9101".to_owned(),
                json!({"order_id": "9101", "state": "on_hold",
                       "note": "awaiting confirmation in Tryton"})
            ),
            (
                "9102".to_owned(),
                json!({"order_id": "9102", "state": "released"})
            ),
            (
                "9103".to_owned(),
                json!({"order_id": "9103", "state": "invoiced"})
            ),
            (
                "9104".to_owned(),
                json!({"order_id": "9104", "state": "shipped"})
            ),
            (
                "9105".to_owned(),
                json!({"order_id": "9105", "state": "cancelled"})
            ),
        ])
    );
    assert!(records.iter().all(|r| r.source_time.is_some()));

    // Its invoice posted in Tryton: that order alone comes again, invoiced.
    tryton.post_invoices("web:9102");
    let (next, _) = read_pages(&tenon, "order-states", cursor, 100).await;
    assert_eq!(
        by_key(&next),
        BTreeMap::from([(
            "9102".to_owned(),
            json!({"order_id": "9102", "state": "invoiced"})
        )])
    );
}
