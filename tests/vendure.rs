//! `commerce-vendure` against a real Vendure 3.x server on loopback (installed
//! from npm by `vendure_server.rs`): orders move into the ledger through
//! `order-to-sale` and only what changed moves again; canonical products, stock
//! levels per stock location and parcels written into Vendure land once, and
//! its `reconcile` export lists them keyed by the ids `write` returned with
//! the very payloads written, until something changes behind Tenon's back.
//!
//! The server is shared by the tests of this binary, so its listings hold other
//! tests' records too: the reconcile checks compare the ids a test wrote, as
//! the host does through the id map (the others would be `extra`).

mod support;
mod vendure_server;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use tenon::record::{Envelope, Op};
use tenon::vendors::Ledger;
use vendure_server::Vendure;

const PLUGIN: &str = "commerce-vendure";

/// The stock location every Vendure has.
const DEFAULT_LOCATION: &str = "Default Stock Location";

/// Held by the tests that create orders: the orders test counts every order of
/// the shared server, so none may appear while it runs.
static ORDERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How many orders the server holds.
fn order_count(vendure: &Vendure) -> u64 {
    vendure.gql("{ orders { totalItems } }", json!({}))["orders"]["totalItems"]
        .as_u64()
        .unwrap()
}

/// Creates a product with one variant; returns the variant id.
fn variant(vendure: &Vendure, sku: &str, price: i64, stock: i64) -> String {
    let product = vendure.gql(
        "mutation($n:String!,$s:String!){ createProduct(input:{translations:[{languageCode:en, name:$n, slug:$s, description:\"\"}]}){ id } }",
        json!({"n": sku, "s": sku.to_lowercase()}),
    );
    let variants = vendure.gql(
        "mutation($p:ID!,$sku:String!,$price:Money,$stock:Int){ createProductVariants(input:[{productId:$p, sku:$sku, price:$price, stockOnHand:$stock, translations:[{languageCode:en, name:$sku}]}]){ id } }",
        json!({"p": product["createProduct"]["id"], "sku": sku, "price": price, "stock": stock}),
    );
    variants["createProductVariants"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn vendure_orders_reach_the_ledger_and_only_changes_move_again() {
    let vendure = Vendure::shared();
    let _orders = ORDERS.lock().await;
    let tee = variant(&vendure, "ORD-TEE-M", 1990, 10);
    let mug = variant(&vendure, "ORD-MUG", 1250, 10);
    let customer = vendure.gql(
        "mutation{ createCustomer(input:{emailAddress:\"ada@example.com\", firstName:\"Ada\", lastName:\"Lovelace\"}){ ... on Customer { id } } }",
        json!({}),
    )["createCustomer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = vendure.draft_order(&customer, &[(&tee, 2)]);
    let second = vendure.draft_order(&customer, &[(&tee, 1), (&mug, 3)]);

    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let ledger = Ledger::start(LEDGER_TOKEN).await.unwrap();
    tenon.create_tenant("acme", "test").unwrap();
    tenon.enable(vendure.enablement("acme"), "test").unwrap();
    tenon
        .enable(enablement("acme", "order-to-sale"), "test")
        .unwrap();
    tenon
        .enable(ledger_enablement("acme", &ledger), "test")
        .unwrap();
    tenon
        .add_flow(orders_flow("acme", PLUGIN, "orders"), "test")
        .unwrap();
    tenon.check("acme", PLUGIN).await.expect("check passes");

    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    // Every order of the server: these two, and those of other tests before.
    let all = order_count(&vendure);
    assert_eq!(
        (run.records_read, run.records_written),
        (all, all),
        "{run:?}"
    );
    let books = ledger.sales_orders();
    let sale = |id: &str| {
        ledger
            .sales_orders()
            .into_iter()
            .find(|s| s.external_ref == format!("shop:{id}"))
            .unwrap_or_else(|| panic!("order {id} reached the ledger"))
    };
    assert_eq!(books.len() as u64, all);
    let sale2 = sale(&second);
    assert_eq!(sale2.total_cents, 1990 + 3 * 1250);
    assert_eq!(sale2.customer_name, "Ada Lovelace");
    assert_eq!(sale2.customer_email, "ada@example.com");
    let skus: Vec<(&str, u32, u64)> = sale2
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity, l.unit_price_cents))
        .collect();
    assert_eq!(skus, [("ORD-TEE-M", 1, 1990), ("ORD-MUG", 3, 1250)]);
    assert_eq!(sale(&first).total_cents, 3980);

    // Nothing changed: nothing moves.
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (0, 0), "{run:?}");

    // Vendure's times have whole seconds: change the order in a later second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    vendure.add_line(&first, &mug, 1);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (1, 1), "{run:?}");
    assert_eq!(sale(&first).total_cents, 3980 + 1250);
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!((run.records_read, run.records_written), (0, 0), "{run:?}");
}

/// The bundled `commerce-vendure`, called directly.
async fn writer(vendure: &Vendure, dir: &std::path::Path) -> Direct {
    Direct::new(dir, vendure.enablement("acme"), false).await
}

/// The host's comparison restricted to what a test wrote: for each `(id,
/// payload written)`, whether the listing holds it (`matching`), holds
/// something else (`different`) or nothing (`missing`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Comparison {
    matching: Vec<String>,
    different: Vec<String>,
    missing: Vec<String>,
}

fn compare(listed: &[(String, Value)], written: &[(String, Value)]) -> Comparison {
    let mut report = Comparison::default();
    for (id, payload) in written {
        match listed.iter().find(|(key, _)| key == id) {
            None => report.missing.push(id.clone()),
            Some((_, held)) if held == payload => report.matching.push(id.clone()),
            Some(_) => report.different.push(id.clone()),
        }
    }
    report
}

/// The listed payload of `id`.
fn listed<'a>(listing: &'a [(String, Value)], id: &str) -> &'a Value {
    &listing
        .iter()
        .find(|(key, _)| key == id)
        .unwrap_or_else(|| panic!("`{id}` is listed"))
        .1
}

/// The id of the stock location named `name`.
fn stock_location(vendure: &Vendure, name: &str) -> String {
    let data = vendure.gql("{ stockLocations { items { id name } } }", json!({}));
    data["stockLocations"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("stock location `{name}`: {data}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A delivery of an upsert of `payload` with key `key`.
fn record(stream: &str, key: &str, payload: Value) -> (Envelope, String) {
    (
        Envelope {
            stream: stream.into(),
            key: key.into(),
            op: Op::Upsert,
            payload: payload.to_string(),
            source_time: None,
        },
        format!("{stream}:{key}:{payload}"),
    )
}

/// Stock on hand and the number of stock movements of a variant.
fn stock(vendure: &Vendure, variant: &str) -> (i64, i64) {
    let data = vendure.gql(
        "query($id:ID!){ productVariant(id:$id){ stockOnHand stockMovements { totalItems } } }",
        json!({"id": variant}),
    );
    let v = &data["productVariant"];
    (
        v["stockOnHand"].as_i64().unwrap(),
        v["stockMovements"]["totalItems"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_levels_written_by_sku_land_in_vendure_once() {
    let vendure = Vendure::shared();
    let a = variant(&vendure, "INV-A", 500, 3);
    let b = variant(&vendure, "INV-B", 700, 0);

    let default = stock_location(&vendure, DEFAULT_LOCATION);

    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;
    let level = |sku: &str, quantity: i64| {
        record(
            "inventory-levels",
            sku,
            json!({"sku": sku, "location": DEFAULT_LOCATION, "quantity": quantity}),
        )
    };
    let batch = vec![
        level("INV-A", 17),
        level("NO-SUCH-SKU", 1),
        level("INV-B", 4),
    ];

    let outcomes = writer.write("inventory-levels", batch.clone()).await;
    assert_eq!(outcomes[0], Ok(Some(format!("{a}@{default}"))));
    assert_eq!(outcomes[2], Ok(Some(format!("{b}@{default}"))));
    let unknown = outcomes[1].as_ref().unwrap_err().to_string();
    assert!(
        unknown.starts_with("permanent") && unknown.contains("`NO-SUCH-SKU`"),
        "{unknown}"
    );
    let (a_stock, a_moves) = stock(&vendure, &a);
    let (b_stock, b_moves) = stock(&vendure, &b);
    assert_eq!((a_stock, b_stock), (17, 4));

    // The same levels again: nothing changes in Vendure, not even a movement.
    let outcomes = writer.write("inventory-levels", batch).await;
    assert_eq!(outcomes[0], Ok(Some(format!("{a}@{default}"))));
    assert_eq!(stock(&vendure, &a), (17, a_moves));
    assert_eq!(stock(&vendure, &b), (4, b_moves));
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_page_one_by_one_through_equal_update_times() {
    let vendure = Vendure::shared();
    // Created back to back, most of them in the same second.
    for name in ["Grace", "Alan", "Edsger", "Barbara"] {
        vendure.gql(
            "mutation($e:String!,$f:String!){ createCustomer(input:{emailAddress:$e, firstName:$f, lastName:\"Paging\"}){ ... on Customer { id } } }",
            json!({"e": format!("{}@paging.example", name.to_lowercase()), "f": name}),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    tenon.create_tenant("acme", "test").unwrap();

    // A token Vendure does not know: `check` and reads fail, naming the secret.
    let wrong = vendure
        .enablement("acme")
        .with_secret("api_token", "not-a-session");
    tenon.enable(wrong, "test").unwrap();
    let refused = tenon.check("acme", PLUGIN).await.unwrap_err().to_string();
    assert!(refused.contains("api_token"), "{refused}");
    let refused = tenon
        .preview("acme", PLUGIN, "customers", None, 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("api_token"), "{refused}");

    tenon.enable(vendure.enablement("acme"), "test").unwrap();

    // Pages of one record: every customer exactly once, in (updated_at, id) order.
    let mut cursor: Option<String> = None;
    let mut seen: Vec<(String, String, String)> = Vec::new();
    loop {
        let page = tenon
            .preview("acme", PLUGIN, "customers", cursor.as_deref(), 1)
            .await
            .unwrap();
        assert!(page.records.len() <= 1);
        let Some(record) = page.records.first() else {
            assert!(!page.more && page.next_cursor.is_none(), "{page:?}");
            break;
        };
        let payload: Value = serde_json::from_str(&record.payload).unwrap();
        assert_eq!(payload["id"].as_str(), Some(record.key.as_str()));
        seen.push((
            payload["updated_at"].as_str().unwrap().to_owned(),
            format!("{:0>12}", record.key),
            payload["email"].as_str().unwrap().to_owned(),
        ));
        cursor = page.next_cursor;
        assert!(cursor.is_some());
        assert!(seen.len() < 1000, "paging does not end");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "each customer once, in order");
    let paging: Vec<&str> = seen
        .iter()
        .map(|(_, _, email)| email.as_str())
        .filter(|email| email.ends_with("@paging.example"))
        .collect();
    assert_eq!(
        paging,
        [
            "grace@paging.example",
            "alan@paging.example",
            "edsger@paging.example",
            "barbara@paging.example"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shipment_split_in_two_parcels_becomes_two_fulfilments_once() {
    let vendure = Vendure::shared();
    let _orders = ORDERS.lock().await;
    let tee = variant(&vendure, "FUL-TEE", 1990, 10);
    let mug = variant(&vendure, "FUL-MUG", 1250, 10);
    let customer = vendure.gql(
        "mutation{ createCustomer(input:{emailAddress:\"margaret@example.com\", firstName:\"Margaret\", lastName:\"Hamilton\"}){ ... on Customer { id } } }",
        json!({}),
    )["createCustomer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = vendure.draft_order(&customer, &[(&tee, 2), (&mug, 1)]);
    let bare = vendure.draft_order(&customer, &[(&mug, 1)]);
    // Paid: address, shipping method, payment.
    vendure.pay(
        &id,
        json!({"fullName": "Margaret Hamilton", "streetLine1": "Main 1", "streetLine2": "Hinterhaus",
               "city": "Berlin", "postalCode": "10115", "countryCode": "DE"}),
    );

    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;
    let parcel = |tracking: &str, lines: Value| {
        record(
            "fulfilments",
            tracking,
            json!({"order_id": id, "tracking_number": tracking, "carrier": "UPS", "lines": lines}),
        )
    };
    let batch = vec![
        parcel("1Z-PARCEL-ONE", json!([{"sku": "FUL-TEE", "quantity": 2}])),
        parcel("1Z-PARCEL-TWO", json!([{"sku": "FUL-MUG", "quantity": 1}])),
        parcel(
            "1Z-NO-SUCH-LINE",
            json!([{"sku": "ORD-NOWHERE", "quantity": 1}]),
        ),
    ];
    let first = writer.write("fulfilments", batch.clone()).await;
    let unknown = first[2].as_ref().unwrap_err().to_string();
    assert!(unknown.contains("`ORD-NOWHERE`"), "{unknown}");
    let ids: Vec<String> = first[..2]
        .iter()
        .map(|o| o.clone().unwrap().expect("a fulfilment id"))
        .collect();
    assert_ne!(ids[0], ids[1]);

    let shipped = |vendure: &Vendure| {
        let data = vendure.gql(
            "query($o:ID!){ order(id:$o){ state fulfillments { id state trackingCode method } } }",
            json!({"o": id}),
        );
        let order = &data["order"];
        let mut parcels: Vec<(String, String, String, String)> = order["fulfillments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_owned();
                (s("id"), s("trackingCode"), s("state"), s("method"))
            })
            .collect();
        parcels.sort();
        (order["state"].as_str().unwrap().to_owned(), parcels)
    };
    let expected = (
        "Shipped".to_owned(),
        vec![
            (
                ids[0].clone(),
                "1Z-PARCEL-ONE".to_owned(),
                "Shipped".to_owned(),
                "UPS".to_owned(),
            ),
            (
                ids[1].clone(),
                "1Z-PARCEL-TWO".to_owned(),
                "Shipped".to_owned(),
                "UPS".to_owned(),
            ),
        ],
    );
    assert_eq!(shipped(&vendure), expected);

    // Delivered again: the same fulfilments, no new ones.
    let again = writer.write("fulfilments", batch[..2].to_vec()).await;
    assert_eq!(again, first[..2]);
    assert_eq!(shipped(&vendure), expected);

    // `reconcile` lists both parcels under the ids written, as written.
    let written: Vec<(String, Value)> = ids
        .iter()
        .zip(&batch)
        .map(|(id, (envelope, _))| (id.clone(), serde_json::from_str(&envelope.payload).unwrap()))
        .collect();
    let listing = writer.reconcile_all("fulfilments", 1).await;
    let report = compare(&listing, &written);
    assert_eq!(report.matching, ids, "{report:?}\n{listing:?}");
    assert_eq!(listing, writer.reconcile_all("fulfilments", 100).await);

    // The orders stream: canonical orders, the shipping address mapped, and
    // none on an order without one.
    let orders = writer.read_all("orders", 3).await;
    let payload = |key: &str| -> Value {
        let record = orders
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("order {key} is read"));
        serde_json::from_str(&record.payload).unwrap()
    };
    let shipped_order = payload(&id);
    assert_eq!(
        shipped_order["shipping_address"],
        json!({"name": "Margaret Hamilton", "street": "Main 1\nHinterhaus", "city": "Berlin",
               "postal_code": "10115", "country": "DE"})
    );
    assert_eq!(shipped_order["status"], "paid");
    assert_eq!(shipped_order["vendure_state"], "Shipped");
    assert_eq!(shipped_order["currency"], "USD");
    assert_eq!(shipped_order["total"], "52.30");
    let order: tenon_sdk::canonical::Order = serde_json::from_value(shipped_order).unwrap();
    assert_eq!(order.number.as_deref().map(str::is_empty), Some(false));
    assert_eq!(order.lines.len(), 2);
    let bare = payload(&bare);
    assert!(bare.get("shipping_address").is_none(), "{bare}");
}

/// A canonical `products` record, as a source's transform would make it.
fn product_payload(sku: &str, names: (&str, &str), usd: &str, eur: &str) -> Value {
    json!({
        "sku": sku,
        "group": "rec-tee",
        "name": {"en": names.0, "de": names.1},
        "description": {"en": "A heavy cotton tee.", "de": "Ein schweres Baumwollshirt."},
        "prices": {"EUR": eur, "USD": usd},
        "enabled": true,
    })
}

/// The product with slug `slug` as the tests look at it: its `updatedAt`, its
/// variants' `(sku, updatedAt)` and its number of option groups.
fn product_state(vendure: &Vendure, slug: &str) -> (String, Vec<(String, String)>, usize) {
    let data = vendure.gql(
        "query($s:String!){ product(slug:$s){ updatedAt optionGroups { id } variants { sku updatedAt } } }",
        json!({"s": slug}),
    );
    let product = &data["product"];
    let mut variants: Vec<(String, String)> = product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["sku"].as_str().unwrap().to_owned(),
                v["updatedAt"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    variants.sort();
    (
        product["updatedAt"].as_str().unwrap().to_owned(),
        variants,
        product["optionGroups"].as_array().unwrap().len(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn products_land_once_and_reconcile_until_vendure_changes_behind_our_back() {
    let vendure = Vendure::shared();
    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;

    let small = product_payload("REC-TEE-S", ("Tee S", "T-Shirt S"), "21.00", "19.90");
    let medium = product_payload("REC-TEE-M", ("Tee M", "T-Shirt M"), "21.50", "20.40");
    let mut yen = product_payload("REC-TEE-YEN", ("Tee", "T-Shirt"), "1.00", "1.00");
    yen["prices"]["JPY"] = json!("1500");
    let mut french = product_payload("REC-TEE-FR", ("Tee", "T-Shirt"), "1.00", "1.00");
    french["name"]["fr"] = json!("Tee-shirt");
    let batch = vec![
        record("products", "REC-TEE-S", small.clone()),
        record("products", "REC-TEE-YEN", yen),
        record("products", "REC-TEE-M", medium.clone()),
        record("products", "REC-TEE-FR", french),
    ];

    let t0 = std::time::Instant::now();
    let first = writer.write("products", batch.clone()).await;
    let took = t0.elapsed();
    let ids: Vec<String> = [&first[0], &first[2]]
        .iter()
        .map(|o| (*o).clone().unwrap().expect("a variant id"))
        .collect();
    assert_ne!(ids[0], ids[1]);
    for (outcome, name) in [(&first[1], "`JPY`"), (&first[3], "`fr`")] {
        let error = outcome.as_ref().unwrap_err().to_string();
        assert!(
            error.starts_with("permanent") && error.contains(name),
            "{error}"
        );
    }

    // One product, two variants told apart by one option group, priced in both
    // currencies (hundredths), named in both languages.
    let data = vendure.gql(
        "query($s:String!){ product(slug:$s){ translations { languageCode name description } variants { id sku enabled prices { currencyCode price } translations { languageCode name } } } }",
        json!({"s": "rec-tee"}),
    );
    let mut variants = data["product"]["variants"].as_array().unwrap().clone();
    variants.sort_by_key(|v| v["sku"].as_str().unwrap().to_owned());
    assert_eq!(variants.len(), 2, "{data}");
    let small_in_vendure = &variants[1];
    assert_eq!(small_in_vendure["id"], ids[0].as_str());
    let mut prices = small_in_vendure["prices"].as_array().unwrap().clone();
    prices.sort_by_key(|p| p["currencyCode"].as_str().unwrap().to_owned());
    assert_eq!(
        prices,
        [
            json!({"currencyCode": "EUR", "price": 1990}),
            json!({"currencyCode": "USD", "price": 2100})
        ]
    );
    let mut names: Vec<Value> = small_in_vendure["translations"].as_array().unwrap().clone();
    names.sort_by_key(|t| t["languageCode"].as_str().unwrap().to_owned());
    assert_eq!(
        names,
        [
            json!({"languageCode": "de", "name": "T-Shirt S"}),
            json!({"languageCode": "en", "name": "Tee S"})
        ]
    );
    let before = product_state(&vendure, "rec-tee");
    assert_eq!(before.2, 1, "one option group");

    // `reconcile` lists both variants under the ids written, payloads as written,
    // whatever the page size.
    let written = vec![
        (ids[0].clone(), small.clone()),
        (ids[1].clone(), medium.clone()),
    ];
    let listing = writer.reconcile_all("products", 2).await;
    let report = compare(&listing, &written);
    assert_eq!(
        report.matching,
        ids,
        "{report:?}\n{:?}",
        listed(&listing, &ids[0])
    );
    assert_eq!(listing, writer.reconcile_all("products", 100).await);
    let listed_ids: Vec<u64> = listing.iter().map(|(k, _)| k.parse().unwrap()).collect();
    assert!(listed_ids.windows(2).all(|w| w[0] < w[1]), "{listed_ids:?}");

    // Written again in a later second: nothing changes, not even a time.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = writer.write("products", batch.clone()).await;
    assert_eq!((&again[0], &again[2]), (&first[0], &first[2]));
    assert_eq!(product_state(&vendure, "rec-tee"), before);

    // Behind Tenon's back: a price and a description change in Vendure.
    vendure.gql(
        "mutation($id:ID!){ updateProductVariants(input:[{id:$id, prices:[{currencyCode:EUR, price:999}]}]){ id } }",
        json!({"id": ids[0]}),
    );
    let listing = writer.reconcile_all("products", 100).await;
    let report = compare(&listing, &written);
    assert_eq!(
        (report.matching, report.different),
        (vec![ids[1].clone()], vec![ids[0].clone()])
    );
    assert_eq!(listed(&listing, &ids[0])["prices"]["EUR"], "9.99");

    // The next write puts it back.
    let restored = writer.write("products", batch[..1].to_vec()).await;
    assert_eq!(restored[0], first[0]);
    let listing = writer.reconcile_all("products", 100).await;
    assert_eq!(compare(&listing, &written).matching, ids);

    // A new description (of the group) and a disabled variant reach Vendure.
    let mut disabled = small.clone();
    disabled["enabled"] = json!(false);
    disabled["description"] = json!({"en": "Heavier."});
    let outcome = writer
        .write(
            "products",
            vec![record("products", "REC-TEE-S", disabled.clone())],
        )
        .await;
    assert_eq!(outcome[0], first[0]);
    let listing = writer.reconcile_all("products", 100).await;
    assert_eq!(listed(&listing, &ids[0]), &disabled);
    assert_eq!(
        listed(&listing, &ids[1])["description"],
        json!({"en": "Heavier."})
    );

    // Deleting is refused: disabling is how a variant leaves the shop.
    let mut delete = record("products", "REC-TEE-M", medium);
    delete.0.op = Op::Delete;
    let refused = writer.write("products", vec![delete]).await;
    let refused = refused[0].as_ref().unwrap_err().to_string();
    assert!(refused.contains("enabled"), "{refused}");
    eprintln!(
        "products: first batch of 4 in {:.2} s; {} variants listed",
        took.as_secs_f64(),
        listing.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_levels_land_per_stock_location_and_reconcile() {
    let vendure = Vendure::shared();
    let second = vendure.gql(
        "mutation{ createStockLocation(input:{name:\"Second Warehouse\"}){ id } }",
        json!({}),
    )["createStockLocation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let default = stock_location(&vendure, DEFAULT_LOCATION);
    let variant = variant(&vendure, "LOC-MUG", 1250, 0);

    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;
    let level = |location: &str, quantity: i64| {
        record(
            "inventory-levels",
            &format!("LOC-MUG:{location}"),
            json!({"sku": "LOC-MUG", "location": location, "quantity": quantity}),
        )
    };
    let batch = vec![
        level(DEFAULT_LOCATION, 7),
        level("Second Warehouse", 12),
        level("Nowhere", 1),
    ];
    let outcomes = writer.write("inventory-levels", batch.clone()).await;
    let ids = [
        format!("{variant}@{default}"),
        format!("{variant}@{second}"),
    ];
    assert_eq!(outcomes[0], Ok(Some(ids[0].clone())));
    assert_eq!(outcomes[1], Ok(Some(ids[1].clone())));
    let unknown = outcomes[2].as_ref().unwrap_err().to_string();
    assert!(
        unknown.starts_with("permanent") && unknown.contains("`Nowhere`"),
        "{unknown}"
    );

    let levels = |vendure: &Vendure| {
        let data = vendure.gql(
            "query($id:ID!){ productVariant(id:$id){ stockLevels { stockLocationId stockOnHand } stockMovements { totalItems } } }",
            json!({"id": variant}),
        );
        let v = &data["productVariant"];
        let mut levels: Vec<(String, i64)> = v["stockLevels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["stockLocationId"].as_str().unwrap().to_owned(),
                    l["stockOnHand"].as_i64().unwrap(),
                )
            })
            .collect();
        levels.sort();
        (levels, v["stockMovements"]["totalItems"].as_i64().unwrap())
    };
    let (held, moves) = levels(&vendure);
    let mut expected = vec![(default.clone(), 7), (second.clone(), 12)];
    expected.sort();
    assert_eq!(held, expected);

    // Again: the same levels, no new stock movement.
    let again = writer.write("inventory-levels", batch.clone()).await;
    assert_eq!(again[..2], outcomes[..2]);
    assert_eq!(levels(&vendure), (held, moves));

    // `reconcile` lists the level at each location under the id written.
    let written: Vec<(String, Value)> = ids
        .iter()
        .zip(&batch)
        .map(|(id, (envelope, _))| (id.clone(), serde_json::from_str(&envelope.payload).unwrap()))
        .collect();
    let listing = writer.reconcile_all("inventory-levels", 3).await;
    assert_eq!(compare(&listing, &written).matching, ids);
    assert_eq!(listing, writer.reconcile_all("inventory-levels", 100).await);

    // Stock counted in Vendure shows as a difference.
    vendure.gql(
        "mutation($id:ID!,$l:ID!){ updateProductVariants(input:[{id:$id, stockLevels:[{stockLocationId:$l, stockOnHand:11}]}]){ id } }",
        json!({"id": variant, "l": second}),
    );
    let listing = writer.reconcile_all("inventory-levels", 100).await;
    let report = compare(&listing, &written);
    assert_eq!(report.different, [ids[1].clone()]);
    assert_eq!(
        listed(&listing, &ids[1]),
        &json!({"sku": "LOC-MUG", "location": "Second Warehouse", "quantity": 11})
    );
}
