//! `commerce-vendure` against a real Vendure 3.x server on loopback (installed
//! from npm by `vendure_server.rs`): orders move into the ledger through
//! `order-to-sale` and only what changed moves again; canonical products, stock
//! levels per stock location and parcels written into Vendure land once, and
//! its `reconcile` export lists them keyed by the ids `write` returned with
//! the very payloads written, until something changes behind Tenon's back.
//! The B2B streams: a contract price is what its customer sees in the Shop API
//! (in the B2B channel of the account) and no one else may look; accounts land
//! on their customers and their groups; order states move orders (a hold stops
//! the parcels); settled refunds are read as credit memos in cents.
//!
//! The server is shared by the tests of this binary, so its listings hold other
//! tests' records too, and those change while a test runs: the reconcile
//! checks compare the ids a test wrote, as the host does through the id map
//! (the others would be `extra`).

mod support;
mod vendure_server;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use tenon::record::{Envelope, Op};
use tenon_sandboxes::Ledger;
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

#[tokio::test(flavor = "multi_thread")]
async fn vendure_orders_reach_the_ledger_and_only_changes_move_again() {
    let vendure = Vendure::shared();
    let _orders = ORDERS.lock().await;
    let tee = vendure.create_variant("ORD-TEE-M", 1990, 10);
    let mug = vendure.create_variant("ORD-MUG", 1250, 10);
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

/// The entries of `listing` keyed by one of `ids`, in listing order: what two
/// listings of the shared server can be compared by while other tests write.
fn mine(listing: &[(String, Value)], ids: &[String]) -> Vec<(String, Value)> {
    listing
        .iter()
        .filter(|(key, _)| ids.contains(key))
        .cloned()
        .collect()
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
    let a = vendure.create_variant("INV-A", 500, 3);
    let b = vendure.create_variant("INV-B", 700, 0);

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
    let tee = vendure.create_variant("FUL-TEE", 1990, 10);
    let mug = vendure.create_variant("FUL-MUG", 1250, 10);
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
    assert_eq!(
        mine(&listing, &ids),
        mine(&writer.reconcile_all("fulfilments", 100).await, &ids)
    );

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
    assert_eq!(
        mine(&listing, &ids),
        mine(&writer.reconcile_all("products", 100).await, &ids)
    );
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
    let variant = vendure.create_variant("LOC-MUG", 1250, 0);

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
    assert_eq!(
        mine(&listing, &ids),
        mine(&writer.reconcile_all("inventory-levels", 100).await, &ids)
    );

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

/// A canonical `customer-accounts` record.
fn account(code: &str, email: &str, group: Option<&str>) -> Value {
    let mut account = json!({
        "code": code, "name": format!("Account {code}"), "email": email,
        "payment_terms": "Net 30", "credit_limit": "5000.00", "currency": "USD", "on_hold": false,
    });
    if let Some(group) = group {
        account["group"] = json!(group);
    }
    account
}

/// A customer as the tests look at it: `updatedAt`, groups and custom fields.
fn customer_state(vendure: &Vendure, id: &str) -> Value {
    vendure.gql(
        "query($id:ID!){ customer(id:$id){ updatedAt groups { name } customFields { accountCode accountName accountGroup paymentTerms creditLimit accountCurrency onHold } } }",
        json!({"id": id}),
    )["customer"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn customer_accounts_land_on_their_customers_once_and_reconcile() {
    let vendure = Vendure::shared();
    let grace = vendure.customer("grace@accounts.example", "Grace", "secret-grace");
    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;

    // Found by e-mail whatever its case; the credit limit with its decimals.
    let mut sent = account(
        "ACC-1",
        " Grace@Accounts.example ",
        Some("Accounts-Wholesale"),
    );
    sent["credit_limit"] = json!("2500");
    let batch = vec![
        record("customer-accounts", "ACC-1", sent.clone()),
        record(
            "customer-accounts",
            "ACC-2",
            account("ACC-2", "nobody@accounts.example", None),
        ),
    ];
    let first = writer.write("customer-accounts", batch.clone()).await;
    assert_eq!(first[0], Ok(Some(grace.clone())));
    let unknown = first[1].as_ref().unwrap_err().to_string();
    assert!(
        unknown.starts_with("permanent") && unknown.contains("`nobody@accounts.example`"),
        "{unknown}"
    );
    let state = customer_state(&vendure, &grace);
    assert_eq!(state["groups"], json!([{"name": "Accounts-Wholesale"}]));
    assert_eq!(
        state["customFields"],
        json!({"accountCode": "ACC-1", "accountName": "Account ACC-1",
               "accountGroup": "Accounts-Wholesale", "paymentTerms": "Net 30",
               "creditLimit": "2500.00", "accountCurrency": "USD", "onHold": false})
    );

    // `reconcile` lists the account under the customer id, as Vendure holds
    // it: the e-mail as Vendure stores it, the amount with its decimals.
    let mut held = sent.clone();
    held["email"] = json!("grace@accounts.example");
    held["credit_limit"] = json!("2500.00");
    let listing = writer.reconcile_all("customer-accounts", 1).await;
    assert_eq!(listed(&listing, &grace), &held);
    let grace_only = [grace.clone()];
    assert_eq!(
        mine(&listing, &grace_only),
        mine(
            &writer.reconcile_all("customer-accounts", 100).await,
            &grace_only
        )
    );

    // Written again in a later second: nothing changes, not even a time.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = writer.write("customer-accounts", batch.clone()).await;
    assert_eq!(again[0], first[0]);
    assert_eq!(customer_state(&vendure, &grace), state);

    // Another group and a credit block: she leaves the group written before.
    let mut moved = held.clone();
    moved["group"] = json!("Accounts-Retail");
    moved["on_hold"] = json!(true);
    let outcome = writer
        .write(
            "customer-accounts",
            vec![record("customer-accounts", "ACC-1", moved.clone())],
        )
        .await;
    assert_eq!(outcome[0], first[0]);
    let state = customer_state(&vendure, &grace);
    assert_eq!(state["groups"], json!([{"name": "Accounts-Retail"}]));
    assert_eq!(state["customFields"]["onHold"], true);
    let listing = writer.reconcile_all("customer-accounts", 100).await;
    assert_eq!(
        compare(&listing, &[(grace.clone(), moved.clone())]).matching,
        std::slice::from_ref(&grace)
    );

    // Taken out of the group behind Tenon's back: the listing says so.
    let groups = vendure.gql(
        "{ customerGroups(options:{filter:{name:{eq:\"Accounts-Retail\"}}}){ items { id } } }",
        json!({}),
    );
    vendure.gql(
        "mutation($g:ID!,$c:[ID!]!){ removeCustomersFromGroup(customerGroupId:$g, customerIds:$c){ id } }",
        json!({"g": groups["customerGroups"]["items"][0]["id"], "c": [grace]}),
    );
    let listing = writer.reconcile_all("customer-accounts", 100).await;
    assert_eq!(
        compare(&listing, &[(grace.clone(), moved)]).different,
        std::slice::from_ref(&grace)
    );
    assert!(listed(&listing, &grace).get("group").is_none());

    // Accounts are not deleted through Tenon.
    let mut delete = record("customer-accounts", "ACC-1", held);
    delete.0.op = Op::Delete;
    let refused = writer.write("customer-accounts", vec![delete]).await;
    let refused = refused[0].as_ref().unwrap_err().to_string();
    assert!(refused.contains("on_hold"), "{refused}");
}

/// A canonical `price-lists` record for `B2B-MUG`.
fn list_price(list: &str, audience: Value, breaks: Value) -> Value {
    json!({"list": list, "sku": "B2B-MUG", "currency": "USD", "audience": audience, "breaks": breaks})
}

/// What the Shop API shows of product `b2b-mug` to `session` in `channel`, in
/// dollars.
fn shop_price(
    vendure: &Vendure,
    session: Option<&str>,
    channel: Option<&str>,
) -> Result<i64, String> {
    vendure.shop_price("b2b-mug", "USD", session, channel)
}

/// A variant's `updatedAt` in each of these channels (a price written there
/// changes it).
fn variant_times(vendure: &Vendure, variant: &str, channels: &[Option<&str>]) -> Vec<String> {
    channels
        .iter()
        .map(|channel| {
            vendure.gql_in(
                *channel,
                "query($id:ID!){ productVariant(id:$id){ updatedAt } }",
                json!({"id": variant}),
            )["productVariant"]["updatedAt"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_price_is_what_its_customer_sees_in_the_shop_and_no_one_else() {
    let vendure = Vendure::shared();
    // A shopper's cart is an order, and the orders test counts them all.
    let _orders = ORDERS.lock().await;
    let mug = vendure.create_variant("B2B-MUG", 1990, 20);
    let ada = vendure.customer("ada@b2b.example", "Ada", "secret-ada");
    vendure.customer("bob@b2b.example", "Bob", "secret-bob");
    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;

    // Ada's B2B account, in the wholesale group.
    let accounts = writer
        .write(
            "customer-accounts",
            vec![record(
                "customer-accounts",
                "C0042",
                account("C0042", "ada@b2b.example", Some("B2B-Wholesale")),
            )],
        )
        .await;
    assert_eq!(accounts[0], Ok(Some(ada.clone())));

    let contract = list_price(
        "contract-C0042",
        json!({"kind": "customer", "code": "C0042"}),
        json!([{"min_quantity": 1, "unit_price": "15.00"}, {"min_quantity": 10, "unit_price": "13.50"}]),
    );
    let retail = list_price(
        "retail",
        json!({"kind": "all"}),
        json!([{"min_quantity": 1, "unit_price": "21.00"}]),
    );
    let wholesale = list_price(
        "wholesale",
        json!({"kind": "group", "code": "B2B-Wholesale"}),
        json!([{"min_quantity": 1, "unit_price": "17.00"}]),
    );
    let mut dated = contract.clone();
    dated["valid_until"] = json!("2026-12-31");
    let tiers_only = list_price(
        "tiers",
        json!({"kind": "all"}),
        json!([{"min_quantity": 5, "unit_price": "12.00"}]),
    );
    let batch = vec![
        record(
            "price-lists",
            "contract-C0042/B2B-MUG/USD",
            contract.clone(),
        ),
        record("price-lists", "retail/B2B-MUG/USD", retail.clone()),
        record("price-lists", "wholesale/B2B-MUG/USD", wholesale.clone()),
        record("price-lists", "dated/B2B-MUG/USD", dated),
        record("price-lists", "tiers/B2B-MUG/USD", tiers_only),
    ];
    let first = writer.write("price-lists", batch.clone()).await;
    let ids: Vec<String> = first[..3]
        .iter()
        .map(|o| o.clone().unwrap().expect("a price id"))
        .collect();
    assert_eq!(
        ids,
        [
            format!("b2b-customer-C0042/{mug}/USD"),
            format!("__default_channel__/{mug}/USD"),
            format!("b2b-group-B2B-Wholesale/{mug}/USD"),
        ]
    );
    for (outcome, why) in [(&first[3], "2026-12-31"), (&first[4], "start at 5")] {
        let error = outcome.as_ref().unwrap_err().to_string();
        assert!(
            error.starts_with("permanent") && error.contains(why),
            "{error}"
        );
    }

    // In the Shop API, Ada pays her contract price in her channel and the
    // wholesale price in her group's; Bob and strangers may not even look.
    let ada_session = vendure.shop_login("ada@b2b.example", "secret-ada");
    let bob_session = vendure.shop_login("bob@b2b.example", "secret-bob");
    let own = Some("b2b-customer-C0042");
    let group = Some("b2b-group-B2B-Wholesale");
    assert_eq!(
        shop_price(&vendure, Some(ada_session.as_str()), own),
        Ok(1500)
    );
    assert_eq!(
        shop_price(&vendure, Some(ada_session.as_str()), group),
        Ok(1700)
    );
    assert_eq!(
        shop_price(&vendure, Some(ada_session.as_str()), None),
        Ok(2100)
    );
    let forbidden = Err("FORBIDDEN".to_owned());
    assert_eq!(
        shop_price(&vendure, Some(bob_session.as_str()), own),
        forbidden
    );
    assert_eq!(
        shop_price(&vendure, Some(bob_session.as_str()), group),
        forbidden
    );
    assert_eq!(shop_price(&vendure, None, own), forbidden);
    assert_eq!(
        shop_price(&vendure, Some(bob_session.as_str()), None),
        Ok(2100)
    );
    // Her cart in her channel is at the contract price.
    let cart = vendure.shop(
        Some(ada_session.as_str()),
        own,
        "mutation($v:ID!){ addItemToOrder(productVariantId:$v, quantity:2){ ... on Order { totalWithTax lines { unitPriceWithTax quantity } } ... on ErrorResult { errorCode message } } }",
        json!({"v": mug}),
    );
    let order = &cart["data"]["addItemToOrder"];
    assert_eq!(
        (
            order["lines"][0]["unitPriceWithTax"].as_i64(),
            order["totalWithTax"].as_i64()
        ),
        (Some(1500), Some(3000)),
        "{cart}"
    );

    // `reconcile` lists the three prices under the ids written, as written,
    // but for the 10-unit break, which Vendure cannot hold.
    let mut contract_held = contract.clone();
    contract_held["breaks"] = json!([{"min_quantity": 1, "unit_price": "15.00"}]);
    let written = vec![
        (ids[0].clone(), contract_held),
        (ids[1].clone(), retail),
        (ids[2].clone(), wholesale),
    ];
    let listing = writer.reconcile_all("price-lists", 2).await;
    assert_eq!(compare(&listing, &written).matching, ids, "{listing:?}");
    assert_eq!(
        compare(&listing, &[(ids[0].clone(), contract)]).different,
        [ids[0].clone()]
    );
    assert_eq!(listing, writer.reconcile_all("price-lists", 100).await);

    // Written again in a later second: no price is written, in no channel.
    let channels = [None, own, group];
    let times = variant_times(&vendure, &mug, &channels);
    let channel_count = |vendure: &Vendure| {
        vendure.gql("{ channels { totalItems } }", json!({}))["channels"]["totalItems"]
            .as_u64()
            .unwrap()
    };
    let count = channel_count(&vendure);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = writer.write("price-lists", batch[..3].to_vec()).await;
    assert_eq!(again, first[..3]);
    assert_eq!(variant_times(&vendure, &mug, &channels), times);
    assert_eq!(channel_count(&vendure), count);

    // A contract price changed in Vendure shows, and the next write puts it back.
    vendure.gql_in(
        own,
        "mutation($id:ID!){ updateProductVariants(input:[{id:$id, prices:[{currencyCode:USD, price:999}]}]){ id } }",
        json!({"id": mug}),
    );
    let listing = writer.reconcile_all("price-lists", 100).await;
    assert_eq!(compare(&listing, &written).different, [ids[0].clone()]);
    writer.write("price-lists", batch[..1].to_vec()).await;
    assert_eq!(
        shop_price(&vendure, Some(ada_session.as_str()), own),
        Ok(1500)
    );
}

/// The `credit-memos` records of Vendure order `order` after `cursor`
/// (`(key, payload)`, paging one by one through the host) and the cursor after
/// them.
async fn credit_memos(
    tenon: &tenon::Tenon,
    order: &str,
    cursor: Option<String>,
) -> (Vec<(String, Value)>, Option<String>) {
    let mut cursor = cursor;
    let mut memos = Vec::new();
    for _ in 0..1000 {
        let page = tenon
            .preview("acme", PLUGIN, "credit-memos", cursor.as_deref(), 1)
            .await
            .unwrap();
        assert!(page.records.len() <= 1, "{page:?}");
        for record in &page.records {
            let memo: Value = serde_json::from_str(&record.payload).unwrap();
            if memo["order_ref"] == format!("shop:{order}") {
                memos.push((record.key.clone(), memo));
            }
        }
        if page.next_cursor.is_some() {
            cursor = page.next_cursor;
        }
        if !page.more {
            return (memos, cursor);
        }
    }
    panic!("paging does not end");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_refund_of_one_line_is_read_as_a_credit_memo_in_cents() {
    let vendure = Vendure::shared();
    let _orders = ORDERS.lock().await;
    let tee = vendure.create_variant("REF-TEE", 1990, 10);
    let mug = vendure.create_variant("REF-MUG", 1250, 10);
    let customer = vendure.customer("rita@refunds.example", "Rita", "secret-rita");
    let order = vendure.draft_order(&customer, &[(&tee, 2), (&mug, 1)]);
    vendure.pay_shipped_by(
        &order,
        json!({"fullName": "Rita Refund", "streetLine1": "Main 1", "city": "Berlin",
               "postalCode": "10115", "countryCode": "DE"}),
        "express",
    );
    let data = vendure.gql(
        "query($o:ID!){ order(id:$o){ totalWithTax shippingWithTax lines { id productVariant { sku } } payments { id } } }",
        json!({"o": order}),
    );
    let placed = &data["order"];
    assert_eq!(
        (
            placed["totalWithTax"].as_i64(),
            placed["shippingWithTax"].as_i64()
        ),
        (Some(2 * 1990 + 1250 + 490), Some(490))
    );
    let line = |sku: &str| {
        placed["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["productVariant"]["sku"] == sku)
            .unwrap()["id"]
            .clone()
    };
    let payment = placed["payments"][0]["id"].clone();
    let refund = |input: Value| -> String {
        let made = vendure.gql(
            "mutation($i:RefundOrderInput!){ refundOrder(input:$i){ ... on Refund { id state } ... on ErrorResult { errorCode message } } }",
            json!({"i": input}),
        );
        assert_eq!(made["refundOrder"]["state"], "Pending", "{made}");
        made["refundOrder"]["id"].as_str().unwrap().to_owned()
    };
    let settle = |id: &str| {
        let settled = vendure.gql(
            "mutation($id:ID!,$t:String!){ settleRefund(input:{id:$id, transactionId:$t}){ ... on Refund { state } ... on ErrorResult { message } } }",
            json!({"id": id, "t": format!("R-{id}")}),
        );
        assert_eq!(settled["settleRefund"]["state"], "Settled", "{settled}");
    };
    // One tee of two, and the shipping: Vendure's lines-and-shipping refund.
    let damaged = refund(
        json!({"paymentId": payment, "lines": [{"orderLineId": line("REF-TEE"), "quantity": 1}],
                                "shipping": 490, "adjustment": 0, "reason": "damaged in transit"}),
    );
    settle(&damaged);
    // An amount (shipping and adjustment 0: on sqljs Vendure 3.7 needs them).
    let goodwill = refund(
        json!({"paymentId": payment, "amount": 300, "shipping": 0, "adjustment": 0,
                                 "reason": "goodwill"}),
    );
    settle(&goodwill);
    // Not settled yet: not a credit memo yet.
    let pending = refund(
        json!({"paymentId": payment, "lines": [{"orderLineId": line("REF-MUG"), "quantity": 1}],
                                "shipping": 0, "adjustment": 0}),
    );

    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    tenon.create_tenant("acme", "test").unwrap();
    tenon.enable(vendure.enablement("acme"), "test").unwrap();
    let (memos, cursor) = credit_memos(&tenon, &order, None).await;
    // `order_ref` is the sale order `order-to-sale` booked (`shop:<id>`).
    assert_eq!(
        memos,
        [
            (
                damaged.clone(),
                json!({"external_ref": format!("vendure:refund:{damaged}"), "order_ref": format!("shop:{order}"),
                       "currency": "USD",
                       "lines": [{"sku": "REF-TEE", "quantity": 1, "unit_price_cents": 1990, "total_cents": 1990}],
                       "shipping_cents": 490, "adjustment_cents": 0, "total_cents": 2480,
                       "reason": "damaged in transit"})
            ),
            (
                goodwill.clone(),
                json!({"external_ref": format!("vendure:refund:{goodwill}"), "order_ref": format!("shop:{order}"),
                       "currency": "USD", "lines": [], "shipping_cents": 0, "adjustment_cents": 300,
                       "total_cents": 300, "reason": "goodwill"})
            ),
        ]
    );
    let memo: tenon_sdk::canonical::CreditMemo =
        serde_json::from_value(memos[0].1.clone()).unwrap();
    assert_eq!(memo.sum_cents(), memo.total_cents);

    // Nothing new: nothing read. Settled in a later second: read once.
    let (none, _) = credit_memos(&tenon, &order, cursor.clone()).await;
    assert!(none.is_empty(), "{none:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    settle(&pending);
    let (settled, _) = credit_memos(&tenon, &order, cursor).await;
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(settled[0].0, pending);
    assert_eq!(
        settled[0].1["lines"],
        json!([{"sku": "REF-MUG", "quantity": 1, "unit_price_cents": 1250, "total_cents": 1250}])
    );
    assert_eq!(settled[0].1["total_cents"], 1250);
}

/// A canonical `order-states` record.
fn order_state(order: &str, state: &str, note: Option<&str>) -> (Envelope, String) {
    let mut payload = json!({"order_id": order, "state": state});
    if let Some(note) = note {
        payload["note"] = json!(note);
    }
    record("order-states", order, payload)
}

/// An order as the tests look at it: state, `updatedAt`, custom fields,
/// history size and its notes.
fn order_view(vendure: &Vendure, order: &str) -> Value {
    vendure.gql(
        "query($o:ID!){ order(id:$o){ state updatedAt customFields { erpState erpNote } fulfillments { state } history { totalItems } notes: history(options:{filter:{type:{eq:\"ORDER_NOTE\"}}}){ items { data } } } }",
        json!({"o": order}),
    )["order"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn order_states_move_vendure_orders_and_read_back() {
    let vendure = Vendure::shared();
    let _orders = ORDERS.lock().await;
    let tee = vendure.create_variant("OST-TEE", 1990, 10);
    let customer = vendure.customer("sam@states.example", "Sam", "secret-sam");
    let address = json!({"fullName": "Sam States", "streetLine1": "Main 1", "city": "Berlin",
                         "postalCode": "10115", "countryCode": "DE"});
    let held = vendure.draft_order(&customer, &[(&tee, 2)]);
    vendure.pay(&held, address.clone());
    let withdrawn = vendure.draft_order(&customer, &[(&tee, 1)]);
    vendure.pay(&withdrawn, address);

    let dir = tempfile::tempdir().unwrap();
    let writer = writer(&vendure, dir.path()).await;
    let batch = vec![
        order_state(&held, "on_hold", Some("credit limit exceeded")),
        order_state(&withdrawn, "cancelled", Some("customer withdrew")),
        order_state("999999", "released", None),
    ];
    let first = writer.write("order-states", batch.clone()).await;
    assert_eq!(first[0], Ok(Some(held.clone())));
    assert_eq!(first[1], Ok(Some(withdrawn.clone())));
    let unknown = first[2].as_ref().unwrap_err().to_string();
    assert!(
        unknown.starts_with("permanent") && unknown.contains("`999999`"),
        "{unknown}"
    );
    let view = order_view(&vendure, &held);
    assert_eq!(view["state"], "OnHold");
    assert_eq!(
        view["customFields"],
        json!({"erpState": "on_hold", "erpNote": "credit limit exceeded"})
    );
    assert_eq!(
        view["notes"]["items"],
        json!([{"data": {"note": "on_hold: credit limit exceeded"}}])
    );
    assert_eq!(order_view(&vendure, &withdrawn)["state"], "Cancelled");

    // A parcel of an order on hold does not leave.
    let parcel = record(
        "fulfilments",
        "1Z-HELD",
        json!({"order_id": held, "tracking_number": "1Z-HELD", "carrier": "UPS",
               "lines": [{"sku": "OST-TEE", "quantity": 2}]}),
    );
    let stopped = writer.write("fulfilments", vec![parcel]).await;
    let stopped = stopped[0].as_ref().unwrap_err().to_string();
    assert!(stopped.contains("on hold"), "{stopped}");
    let view = order_view(&vendure, &held);
    assert_eq!(view["state"], "OnHold");
    assert_eq!(view["fulfillments"], json!([{"state": "Pending"}]));

    // Read back: `reconcile` lists each order written to, as written.
    let listing = writer.reconcile_all("order-states", 1).await;
    let written: Vec<(String, Value)> = [(&held, &batch[0]), (&withdrawn, &batch[1])]
        .iter()
        .map(|(id, (envelope, _))| {
            (
                (*id).clone(),
                serde_json::from_str(&envelope.payload).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        compare(&listing, &written).matching,
        [held.clone(), withdrawn.clone()]
    );
    assert_eq!(listing, writer.reconcile_all("order-states", 100).await);

    // Written again in a later second: nothing changes, no new history.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = writer.write("order-states", batch[..2].to_vec()).await;
    assert_eq!(again, first[..2]);
    assert_eq!(order_view(&vendure, &held), view);

    // Shipped: the hold ends and the waiting parcel leaves.
    let shipped = writer
        .write(
            "order-states",
            vec![order_state(&held, "shipped", Some("left the warehouse"))],
        )
        .await;
    assert_eq!(shipped[0], Ok(Some(held.clone())));
    let view = order_view(&vendure, &held);
    assert_eq!(view["state"], "Shipped");
    assert_eq!(view["fulfillments"], json!([{"state": "Shipped"}]));
    let listing = writer.reconcile_all("order-states", 100).await;
    assert_eq!(
        listed(&listing, &held),
        &json!({"order_id": held, "state": "shipped", "note": "left the warehouse"})
    );

    // Too late to hold it now.
    let late = writer
        .write("order-states", vec![order_state(&held, "on_hold", None)])
        .await;
    let late = late[0].as_ref().unwrap_err().to_string();
    assert!(
        late.starts_with("permanent") && late.contains("`Shipped`"),
        "{late}"
    );
}
