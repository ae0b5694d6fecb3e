//! The four flows of enterprise commerce, end to end, between a real Vendure
//! 3.7 (npm), a real Tryton 8.2 (PyPI), the Akeneo-style PIM sandbox and the
//! ShipStation-style 3PL sandbox (the PIM with OAuth password-grant tokens), all
//! on loopback, with the bundled plugins:
//!
//! | Flow | Source | Transform | Destination |
//! |---|---|---|---|
//! | `catalog` | `pim-akeneo:products` | `akeneo-catalog` | `commerce-vendure:products` |
//! | `inventory` | `erp-tryton:stock-levels` | `tryton-stock` | `commerce-vendure:inventory-levels` |
//! | `order-to-cash` | `commerce-vendure:orders` | `order-to-sale` | `erp-tryton:sale-orders` |
//! | `orders-to-3pl` | `commerce-vendure:orders` | `order-to-sale` | `wms-shipstation:fulfilment-orders` |
//! | `parcels` | `wms-shipstation:shipments` | `shipstation-parcels` | `commerce-vendure:fulfilments` |
//!
//! One scenario, in the order a shop goes live: the catalog comes from the PIM,
//! stock from the ERP, customers order in the shop, the orders go to the ERP
//! and the warehouse, and the warehouse's parcels come back to the shop. After
//! every step `tenon reconcile` proves the two systems agree, a second run
//! moves nothing, and an edit at the source moves exactly that edit.

mod support;
mod support_tryton;
// The Shop API helpers are for tests/vendure.rs's B2B checks.
#[allow(dead_code)]
mod vendure_server;

use serde_json::{Value, json};
use support::*;
use support_tryton::{TrytonServer, decimal};
use tenon::flow::{Endpoint, Flow, Run};
use tenon::host::Tenon;
use tenon::sandbox::WebhookRequest;
use tenon::tenant::Enablement;
use tenon_sandboxes::pim::{OAuthClient, Pim, Product, ProductValue};
use tenon_sandboxes::threepl::{Parcel, ShipmentItem, ThreePl};
use vendure_server::Vendure;

const TENANT: &str = "acme";
const PIM_TOKEN: &str = "pim-test-token";
const THREEPL_KEY: &str = "3pl-key";
const THREEPL_SECRET: &str = "3pl-secret";
/// Vendure's stock location for Tryton's `WH`; Berlin is created for `WH2`.
const DEFAULT_LOCATION: &str = "Default Stock Location";

/// The catalogue: a tee in two sizes (one product model) and a mug.
fn catalogue() -> Vec<Product> {
    let tee = |sku: &str, size: &str| {
        Product::new(sku, "clothing")
            .variant_of("tee_classic")
            .with_names(&[
                ("en_US", &format!("Classic tee, {size}")),
                ("de_DE", &format!("Klassisches T-Shirt, {size}")),
            ])
            .with_value(
                "description",
                ProductValue::localized("en_US", "Soft organic cotton."),
            )
            .with_value(
                "description",
                ProductValue::localized("de_DE", "Weiche Bio-Baumwolle."),
            )
            .with_prices(&[("21.00", "USD"), ("19.90", "EUR")])
            .updated_at("2026-11-20T09:00:00+00:00")
    };
    vec![
        tee("TEE-S", "S"),
        tee("TEE-M", "M"),
        Product::new("MUG", "homeware")
            .with_names(&[("en_US", "Mug"), ("de_DE", "Becher")])
            .with_prices(&[("12.50", "USD"), ("11.5", "EUR")])
            .updated_at("2026-11-20T09:00:01+00:00"),
    ]
}

/// Everything the scenario runs against.
struct World {
    tenon: Tenon,
    vendure: std::sync::Arc<Vendure>,
    tryton: TrytonServer,
    pim: Pim,
    threepl: ThreePl,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let vendure = Vendure::shared();
        let tryton = tokio::task::spawn_blocking(TrytonServer::start)
            .await
            .unwrap();
        let pim = Pim::start(PIM_TOKEN, catalogue()).await.unwrap();
        let threepl = ThreePl::start(THREEPL_KEY, THREEPL_SECRET).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let tenon = host(dir.path()).await;
        let world = World {
            tenon,
            vendure,
            tryton,
            pim,
            threepl,
            _dir: dir,
        };
        world.enable();
        world
    }

    /// The tenant, its six plugins with config, secrets and egress grants, and
    /// the five flows.
    fn enable(&self) {
        let tenon = &self.tenon;
        tenon.create_tenant(TENANT, "test").unwrap();
        let enable = |plugin: &str,
                      config: &[(&str, String)],
                      secrets: &[(&str, String)],
                      grant: Option<String>| {
            let enablement = secrets.iter().fold(
                Enablement {
                    config: config
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                    grants: grant.into_iter().map(|g| g.parse().unwrap()).collect(),
                    ..enablement(TENANT, plugin)
                },
                |e, (name, value)| e.with_secret(name, value.clone()),
            );
            tenon.enable(enablement, "test").unwrap();
        };
        tenon
            .enable(self.vendure.enablement(TENANT), "test")
            .unwrap();
        tenon
            .enable(self.tryton.enablement(TENANT), "test")
            .unwrap();
        // Akeneo's hour-long tokens: the secret holds the password grant and the
        // host obtains the tokens.
        self.pim.enable_oauth(OAuthClient::new(
            "tenon",
            "client-secret",
            "api-user",
            "api-password",
        ));
        let grant = json!({"oauth2": {
            "token_url": self.pim.token_url(), "grant_type": "password",
            "client_id": "tenon", "client_secret": "client-secret",
            "username": "api-user", "password": "api-password",
        }});
        enable(
            "pim-akeneo",
            &[("base_url", self.pim.base_url())],
            &[("api_token", grant.to_string())],
            Some(self.pim.addr().to_string()),
        );
        enable(
            "wms-shipstation",
            &[
                ("base_url", self.threepl.base_url()),
                ("api_key", THREEPL_KEY.to_owned()),
            ],
            &[("api_secret", THREEPL_SECRET.to_owned())],
            Some(self.threepl.addr().to_string()),
        );
        enable(
            "akeneo-catalog",
            &[("locales", "en_US=en, de_DE=de".to_owned())],
            &[],
            None,
        );
        enable(
            "tryton-stock",
            &[("locations", format!("WH={DEFAULT_LOCATION}, WH2=Berlin"))],
            &[],
            None,
        );
        enable("order-to-sale", &[], &[], None);
        enable("shipstation-parcels", &[], &[], None);

        let flow = |name: &str, from: (&str, &str), via: &str, to: (&str, &str)| Flow {
            batch_size: 50,
            ..tenon::host::flow(
                TENANT,
                name,
                Endpoint {
                    plugin: from.0.into(),
                    stream: from.1.into(),
                },
                vec![via.into()],
                Endpoint {
                    plugin: to.0.into(),
                    stream: to.1.into(),
                },
            )
        };
        for flow in [
            flow(
                "catalog",
                ("pim-akeneo", "products"),
                "akeneo-catalog",
                ("commerce-vendure", "products"),
            ),
            flow(
                "inventory",
                ("erp-tryton", "stock-levels"),
                "tryton-stock",
                ("commerce-vendure", "inventory-levels"),
            ),
            flow(
                "order-to-cash",
                ("commerce-vendure", "orders"),
                "order-to-sale",
                ("erp-tryton", "sale-orders"),
            ),
            flow(
                "orders-to-3pl",
                ("commerce-vendure", "orders"),
                "order-to-sale",
                ("wms-shipstation", "fulfilment-orders"),
            ),
            flow(
                "parcels",
                ("wms-shipstation", "shipments"),
                "shipstation-parcels",
                ("commerce-vendure", "fulfilments"),
            ),
        ] {
            tenon.add_flow(flow, "test").unwrap();
        }
    }

    /// Runs `flow`; asserts it succeeded with nothing queued or dead-lettered.
    async fn run(&self, flow: &str) -> Run {
        let run = self.tenon.run_flow(TENANT, flow).await.unwrap();
        assert_succeeded(&run);
        assert_eq!(
            (run.records_queued, run.dead_lettered),
            (0, 0),
            "{flow}: {run:?}\n{:?}",
            self.tenon.dead_letters(Some(TENANT), Some(flow))
        );
        run
    }

    /// Asserts that `flow`'s two systems agree; the number of records matched.
    async fn agree(&self, flow: &str) -> usize {
        let report = self.tenon.reconcile(TENANT, flow).await.unwrap();
        assert!(report.is_clean(), "{flow} does not reconcile: {report:#?}");
        report.matching
    }

    fn gql(&self, query: &str, variables: Value) -> Value {
        self.vendure.gql(query, variables)
    }

    /// Vendure's variant id of `sku`.
    fn variant(&self, sku: &str) -> String {
        let data = self.gql(
            "query($s:String!){ productVariants(options:{filter:{sku:{eq:$s}}}){ items { id } } }",
            json!({"s": sku}),
        );
        data["productVariants"]["items"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no variant `{sku}` in Vendure: {data}"))
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_stock_orders_and_parcels_flow_between_four_systems_and_reconcile() {
    let w = World::start().await;
    catalog(&w).await;
    inventory(&w).await;
    let orders = order_to_cash(&w).await;
    fulfilment(&w, &orders).await;

    // Shipping changed the orders in Vendure: they move again, change nothing
    // in Tryton or the 3PL.
    w.run("order-to-cash").await;
    w.run("orders-to-3pl").await;

    // Vendure took the shipped units off its own stock; Tryton, which owns
    // stock, has not booked the shipments yet: reconcile shows exactly that.
    let drift = w.tenon.reconcile(TENANT, "inventory").await.unwrap();
    let mut seen: Vec<(i64, i64)> = drift
        .different
        .iter()
        .map(|d| {
            let [tryton, vendure] = &d.fields["quantity"];
            (tryton.as_i64().unwrap(), vendure.as_i64().unwrap())
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [(7, 6), (10, 8), (25, 24)], "{drift:#?}");
    // The ERP books the shipments; the next inventory run sets Vendure from it.
    for (sku, quantity) in [("TEE-S", 2), ("MUG", 1), ("TEE-M", 1)] {
        w.tryton
            .ship_out(sku, w.tryton.default_warehouse(), quantity);
    }
    let booked = w.run("inventory").await;
    assert_eq!(booked.records_read, 6, "{booked:?}");
    for flow in [
        "catalog",
        "inventory",
        "order-to-cash",
        "orders-to-3pl",
        "parcels",
    ] {
        w.agree(flow).await;
    }
}

/// PIM -> Vendure: one product per model with its variants, names in two
/// languages, prices in two currencies; an edit in the PIM moves alone.
async fn catalog(w: &World) {
    let run = w.run("catalog").await;
    assert_eq!((run.records_read, run.records_written), (3, 3), "{run:?}");
    assert_eq!(w.pim.tokens_issued(), 1, "one OAuth token for the run");
    let products = w.gql(
        "{ products(options:{sort:{id:ASC}}) { items { slug translations { languageCode name description } variants { sku name prices { currencyCode price } } } } }",
        json!({}),
    );
    let items = products["products"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the tee model and the mug: {products}");
    let tee = items.iter().find(|p| p["slug"] == "tee-classic").unwrap();
    let skus: Vec<&str> = tee["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus.len(), 2, "{tee}");
    assert!(skus.contains(&"TEE-S") && skus.contains(&"TEE-M"), "{tee}");
    let german = tee["translations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["languageCode"] == "de")
        .unwrap_or_else(|| panic!("no German translation: {tee}"));
    assert_eq!(german["description"], "Weiche Bio-Baumwolle.");
    let mug = items.iter().find(|p| p["slug"] == "mug").unwrap();
    let mut prices: Vec<(String, i64)> = mug["variants"][0]["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["currencyCode"].as_str().unwrap().to_owned(),
                p["price"].as_i64().unwrap(),
            )
        })
        .collect();
    prices.sort();
    assert_eq!(prices, [("EUR".to_owned(), 1150), ("USD".to_owned(), 1250)]);
    assert_eq!(w.agree("catalog").await, 3);

    let again = w.run("catalog").await;
    assert_eq!(again.records_read, 0, "nothing changed: {again:?}");

    // A catalogue editor renames the mug in German and drops its dollar price.
    w.pim.edit_product("MUG", |mug| {
        *mug = Product::new("MUG", "homeware")
            .with_names(&[("en_US", "Mug"), ("de_DE", "Kaffeebecher")])
            .with_prices(&[("13.00", "USD"), ("11.50", "EUR")]);
    });
    let edit = w.run("catalog").await;
    assert_eq!(
        (edit.records_read, edit.records_written),
        (1, 1),
        "{edit:?}"
    );
    let mug = w.gql(
        "{ productVariants(options:{filter:{sku:{eq:\"MUG\"}}}) { items { translations { languageCode name } prices { currencyCode price } } } }",
        json!({}),
    );
    let variant = &mug["productVariants"]["items"][0];
    let german = variant["translations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["languageCode"] == "de")
        .unwrap();
    assert_eq!(german["name"], "Kaffeebecher");
    let usd = variant["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["currencyCode"] == "USD")
        .unwrap();
    assert_eq!(usd["price"], 1300);
    assert_eq!(w.agree("catalog").await, 3);
}

/// Tryton -> Vendure: stock per warehouse lands per stock location; a receipt
/// in Tryton moves only that product's levels.
async fn inventory(w: &World) {
    let t = &w.tryton;
    for (sku, name, price) in [
        ("TEE-S", "Classic tee S", "19.90"),
        ("TEE-M", "Classic tee M", "19.90"),
        ("MUG", "Mug", "11.50"),
    ] {
        t.create_product(sku, name, price);
    }
    let wh = t.default_warehouse();
    let berlin = t.create_warehouse("WH2", "Berlin DC");
    for (sku, main, second) in [("TEE-S", 10, 4), ("TEE-M", 7, 0), ("MUG", 25, 12)] {
        t.receive(sku, wh, main);
        if second > 0 {
            t.receive(sku, berlin, second);
        }
    }
    // TEE-M has never been in Berlin: receive and ship one so that it has a
    // level there (0), as the others do.
    t.receive("TEE-M", berlin, 1);
    t.ship_out("TEE-M", berlin, 1);
    w.gql(
        "mutation{ createStockLocation(input:{name:\"Berlin\", description:\"Berlin DC\"}){ id } }",
        json!({}),
    );

    let run = w.run("inventory").await;
    assert_eq!(
        (run.records_read, run.records_written),
        (6, 6),
        "3 products in 2 warehouses: {run:?}"
    );
    assert_eq!(
        levels(w, "MUG"),
        [(DEFAULT_LOCATION.to_owned(), 25), ("Berlin".to_owned(), 12)]
    );
    assert_eq!(
        levels(w, "TEE-M"),
        [(DEFAULT_LOCATION.to_owned(), 7), ("Berlin".to_owned(), 0)]
    );
    assert_eq!(w.agree("inventory").await, 6);
    let again = w.run("inventory").await;
    assert_eq!(again.records_read, 0, "{again:?}");

    // Tryton receives 5 more mugs in Berlin: the next run moves the mug's two
    // levels (Tryton reports a product's stock in every warehouse), nothing else.
    t.receive("MUG", berlin, 5);
    let edit = w.run("inventory").await;
    assert_eq!(
        (edit.records_read, edit.records_written),
        (2, 2),
        "{edit:?}"
    );
    assert_eq!(
        levels(w, "MUG"),
        [(DEFAULT_LOCATION.to_owned(), 25), ("Berlin".to_owned(), 17)]
    );
    assert_eq!(w.agree("inventory").await, 6);
}

/// Stock on hand of `sku` per Vendure stock location, default location first.
fn levels(w: &World, sku: &str) -> Vec<(String, i64)> {
    let data = w.gql(
        "query($s:String!){ productVariants(options:{filter:{sku:{eq:$s}}}){ items { stockLevels { stockOnHand stockLocation { id name } } } } }",
        json!({"s": sku}),
    );
    let mut levels: Vec<(i64, String, i64)> = data["productVariants"]["items"][0]["stockLevels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["stockLocation"]["id"].as_str().unwrap().parse().unwrap(),
                l["stockLocation"]["name"].as_str().unwrap().to_owned(),
                l["stockOnHand"].as_i64().unwrap(),
            )
        })
        .collect();
    levels.sort();
    levels.into_iter().map(|(_, name, n)| (name, n)).collect()
}

/// A paid Vendure order for `customer` with `(sku, quantity)` lines, shipped to
/// Berlin; its id.
fn paid_order(w: &World, customer: &str, lines: &[(&str, i64)]) -> String {
    let variants: Vec<(String, i64)> = lines.iter().map(|(sku, n)| (w.variant(sku), *n)).collect();
    let lines: Vec<(&str, i64)> = variants.iter().map(|(v, n)| (v.as_str(), *n)).collect();
    let id = w.vendure.draft_order(customer, &lines);
    w.vendure.pay(
        &id,
        json!({"fullName": "Ada Lovelace", "streetLine1": "Invalidenstr. 1", "streetLine2": "Hinterhaus",
               "city": "Berlin", "postalCode": "10115", "countryCode": "DE"}),
    );
    id
}

/// Vendure -> Tryton: paid orders become sales, their buyer one party matched
/// through the id map; a cancellation moves alone and cancels the sale.
async fn order_to_cash(w: &World) -> Vec<String> {
    // The shop sells in dollars: Tryton needs the currency.
    let t = &w.tryton;
    if t.count("currency.currency", json!([["code", "=", "USD"]])) == 0 {
        t.model(
            "currency.currency",
            "create",
            vec![json!([{"name": "US Dollar", "code": "USD", "symbol": "$", "digits": 2, "rounding": decimal("0.01")}])],
        );
    }
    let ada = w.gql(
        "mutation{ createCustomer(input:{emailAddress:\"ada@flows.example\", firstName:\"Ada\", lastName:\"Lovelace\"}){ ... on Customer { id } } }",
        json!({}),
    )["createCustomer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let orders = vec![
        paid_order(w, &ada, &[("TEE-S", 2), ("MUG", 1)]),
        paid_order(w, &ada, &[("TEE-M", 1)]),
        paid_order(w, &ada, &[("MUG", 3)]),
    ];

    let run = w.run("order-to-cash").await;
    assert_eq!((run.records_read, run.records_written), (3, 3), "{run:?}");
    let sale = t.sale_by_reference(&format!("shop:{}", orders[0]));
    assert_eq!(sale["state"], "draft", "{sale}");
    assert_eq!(
        t.count("party.party", json!([["name", "=", "Ada Lovelace"]])),
        1,
        "three orders, one customer, one party"
    );
    assert_eq!(w.agree("order-to-cash").await, 3);
    assert_eq!(w.run("order-to-cash").await.records_read, 0);

    // The customer cancels the third order in the shop.
    let cancelled = w.gql(
        "mutation($o:ID!){ cancelOrder(input:{orderId:$o, reason:\"changed mind\"}){ ... on Order { state } ... on ErrorResult { message } } }",
        json!({"o": orders[2]}),
    );
    assert_eq!(
        cancelled["cancelOrder"]["state"], "Cancelled",
        "{cancelled}"
    );
    let edit = w.run("order-to-cash").await;
    assert_eq!(
        (edit.records_read, edit.records_written),
        (1, 1),
        "{edit:?}"
    );
    let sale = t.sale_by_reference(&format!("shop:{}", orders[2]));
    assert_eq!(sale["state"], "cancelled", "{sale}");
    assert_eq!(w.agree("order-to-cash").await, 3);
    orders
}

/// Vendure -> 3PL -> Vendure: orders to fulfil go to the warehouse, which
/// ships the first in two parcels (announced by SHIP_NOTIFY, which brings no
/// data) and the second in one; the run finds all three by polling, and the
/// shop gets one fulfilment per parcel.
async fn fulfilment(w: &World, orders: &[String]) {
    let run = w.run("orders-to-3pl").await;
    // The cancelled order goes too, as cancelled: the warehouse must not ship it.
    assert_eq!((run.records_read, run.records_written), (3, 3), "{run:?}");
    let warehouse = w.threepl.orders();
    let status = |id: &str| {
        warehouse
            .iter()
            .find(|o| o.order.order_key == format!("shop:{id}"))
            .unwrap_or_else(|| panic!("order {id} is not at the 3PL"))
            .order
            .order_status
            .clone()
    };
    assert_eq!(status(&orders[0]), "awaiting_shipment");
    assert_eq!(status(&orders[2]), "cancelled");
    let first = warehouse
        .iter()
        .find(|o| o.order.order_key == format!("shop:{}", orders[0]))
        .unwrap();
    assert_eq!(first.order.ship_to.city, "Berlin");
    assert_eq!(first.order.ship_to.street2, "Hinterhaus");
    assert_eq!(w.agree("orders-to-3pl").await, 3);

    let parcel = |tracking: &str, sku: &str, quantity: u32| Parcel {
        tracking: tracking.into(),
        carrier: "ups".into(),
        items: vec![ShipmentItem {
            sku: sku.into(),
            quantity,
        }],
    };
    let notify = w.threepl.ship(
        &format!("shop:{}", orders[0]),
        vec![parcel("1Z-TEE", "TEE-S", 2), parcel("1Z-MUG", "MUG", 1)],
    );
    let taken = w
        .tenon
        .receive_webhook(
            TENANT,
            "wms-shipstation",
            WebhookRequest {
                method: "POST".into(),
                path: format!("/hooks/{TENANT}/wms-shipstation"),
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&notify).unwrap(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        taken, 0,
        "SHIP_NOTIFY carries no data: the run reads the parcels"
    );
    w.threepl.ship(
        &format!("shop:{}", orders[1]),
        vec![parcel("1Z-TEE-M", "TEE-M", 1)],
    );

    // All three parcels by polling, the two the notification announced among them.
    let run = w.run("parcels").await;
    assert_eq!(run.records_written, 3, "{run:?}");
    let shipped = fulfilments(w, &orders[0]);
    assert_eq!(
        shipped,
        [
            ("1Z-MUG".to_owned(), "Shipped".to_owned()),
            ("1Z-TEE".to_owned(), "Shipped".to_owned())
        ],
        "a shipment split in two parcels is two fulfilments"
    );
    assert_eq!(fulfilments(w, &orders[1]).len(), 1);
    assert_eq!(w.agree("parcels").await, 3);
    assert_eq!(w.run("parcels").await.records_read, 0);
}

/// `(tracking code, state)` of an order's fulfilments, sorted.
fn fulfilments(w: &World, order: &str) -> Vec<(String, String)> {
    let data = w.gql(
        "query($o:ID!){ order(id:$o){ fulfillments { trackingCode state } } }",
        json!({"o": order}),
    );
    let mut out: Vec<(String, String)> = data["order"]["fulfillments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["trackingCode"].as_str().unwrap_or_default().to_owned(),
                f["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}
