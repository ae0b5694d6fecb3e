//! `tenon new connector|transform NAME`: a plugin crate that builds, passes its
//! own tests and installs, for an author to start from.
//!
//! A connector comes with a test that runs the built component in a real host
//! against a scripted vendor (`tenon-test`); a transform with a native unit test
//! of its mapping. The crate depends on the SDK (and the harness) by path: by
//! default the checkout this binary was built from, or `--sdk`.

use crate::error::{Error, Result};
use crate::plugin::is_identifier;
use std::path::{Path, PathBuf};

/// What to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Connector,
    Transform,
}

/// The SDK of the checkout this binary was built from, if it is still there.
pub fn default_sdk() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdk")
        .canonicalize()
        .ok()
        .filter(|sdk| sdk.join("Cargo.toml").is_file())
}

/// Writes the crate `name` into `dir` (which must not exist yet, or be empty);
/// returns the files written.
pub fn create(kind: Kind, name: &str, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>> {
    if !is_identifier(name) {
        return Err(Error::Invalid(format!(
            "plugin name `{name}` must be 1-64 lowercase letters, digits or dashes, starting with a letter"
        )));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Invalid(format!(
            "`{}` already exists and is not empty; nothing was written",
            dir.display()
        )));
    }
    let sdk = sdk
        .canonicalize()
        .map_err(|e| Error::Invalid(format!("the SDK folder `{}`: {e}", sdk.display())))?;
    if !sdk.join("Cargo.toml").is_file() || !sdk.join("test/Cargo.toml").is_file() {
        return Err(Error::Invalid(format!(
            "`{}` is not Tenon's sdk folder (no Cargo.toml and test/Cargo.toml)",
            sdk.display()
        )));
    }
    let fill = |template: &str| {
        template
            .replace("{name}", name)
            .replace("{type}", &type_name(name))
            .replace("{sdk}", &toml_string(&sdk))
            .replace("{harness}", &toml_string(&sdk.join("test")))
    };
    let files: Vec<(&str, String)> = match kind {
        Kind::Connector => vec![
            ("Cargo.toml", fill(CONNECTOR_MANIFEST)),
            ("src/lib.rs", fill(CONNECTOR_LIB)),
            ("tests/read.rs", fill(CONNECTOR_TEST)),
            (".gitignore", "/target\n".into()),
        ],
        Kind::Transform => vec![
            ("Cargo.toml", fill(TRANSFORM_MANIFEST)),
            ("src/lib.rs", fill(TRANSFORM_LIB)),
            (".gitignore", "/target\n".into()),
        ],
    };
    let mut written = Vec::new();
    for (file, text) in files {
        let path = dir.join(file);
        let parent = path.parent().expect("a file in the crate");
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| Error::Invalid(format!("could not write `{}`: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// `my-shop` -> `MyShop`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A path as a TOML basic string's contents.
fn toml_string(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

const CONNECTOR_MANIFEST: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
description = "Orders from my storefront."

[lib]
crate-type = ["cdylib"]

[dependencies]
tenon-sdk = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }

[dev-dependencies]
tenon-test = { path = "{harness}" }
serde_json = "1"
"#;

/// The guide's connector (`sdk/README.md`, section 2), for the demo shop API
/// `tenon sandbox` serves; host/tests/author.rs checks they stay the same.
const CONNECTOR_LIB: &str = r#"//! `{name}`: reads a storefront's orders, in the canonical `orders` shape.
//!
//! Config `base_url`; secret `api_token` (bearer); cursor `updated_at|id`.

use serde::Deserialize;
use tenon_sdk::canonical::Order;
use tenon_sdk::prelude::*;

/// One answer of `GET /api/orders`.
#[derive(Deserialize)]
struct OrderPage {
    orders: Vec<Order>,
    has_more: bool,
}

/// Where an order stands in the stream: `(time, key)`.
fn position(order: &Order) -> (&str, &str) {
    (&order.updated_at, &order.id)
}

struct {type};

impl Connector for {type} {
    fn describe() -> Descriptor {
        Descriptor {
            streams: vec![canonical::readable("orders", Some("updated_at"), canonical::ORDERS)],
            config: vec![ConfigKey::required("base_url", "The shop API: http://host:port.")],
            secrets: vec![SecretInfo::bearer("api_token", "The shop API's token.")],
            ..descriptor!(Kind::Commerce) // name, version, description: from Cargo.toml
        }
    }

    fn check() -> Result<(), Error> {
        shop()?.get("/api/health").send()?.error_for_status().map(drop)
    }

    fn read(_stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        let mark = Watermark::from_cursor(cursor.as_deref());
        let most = limit.clamp(1, 200).to_string(); // the shop's largest page
        let mut query = vec![("limit", most.as_str())];
        if !mark.is_start() {
            query.extend([("updated_after", &*mark.time), ("after_id", &*mark.key)]);
        }
        let page: OrderPage = shop()?.get_json("/api/orders", &query)?;
        let changes = mark.changes(page.orders, limit, page.has_more, position);
        changes.into_page("orders", position)
    }
}

/// The shop API of the current tenant, authenticated with its `api_token`.
fn shop() -> Result<Client, Error> {
    Ok(Client::new(config::require("base_url")?).credential("api_token"))
}

export_connector!({type});
"#;

const CONNECTOR_TEST: &str = r#"//! `{name}` in a real Tenon host against a scripted vendor: `cargo test`.

use serde_json::{Value, json};
use tenon_test::{Host, Plugin, Reply, Request, Settings, Vendor};

/// An order in the canonical shape, changed at `updated_at`.
fn order(id: &str, updated_at: &str) -> Value {
    json!({
        "id": id, "status": "paid", "currency": "EUR",
        "customer": {"email": "ada@example.com"},
        "lines": [{"sku": "MUG", "quantity": 1, "unit_price": "12.50"}],
        "total": "12.50", "updated_at": updated_at
    })
}

/// The shop API: the orders after `(updated_after, after_id)`, sorted by
/// `(updated_at, id)`, at most `limit`.
fn orders_after(all: &[Value], request: &Request) -> Reply {
    let after = (
        request.param("updated_after").unwrap_or_default(),
        request.param("after_id").unwrap_or_default(),
    );
    let limit: usize = request.param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    let mut newer: Vec<&Value> = all
        .iter()
        .filter(|o| {
            let at = (o["updated_at"].as_str().unwrap(), o["id"].as_str().unwrap());
            at > (after.0.as_str(), after.1.as_str())
        })
        .collect();
    newer.sort_by_key(|o| (o["updated_at"].to_string(), o["id"].to_string()));
    let more = newer.len() > limit;
    newer.truncate(limit);
    Reply::json(json!({"orders": newer, "has_more": more}))
}

fn host_for(vendor: &Vendor) -> Host {
    let host = Host::new(&Plugin::build());
    host.enable(
        Settings::new()
            .config("base_url", &vendor.url())
            .secret("api_token", "test-token-1", &vendor.addr()),
    );
    host
}

#[test]
fn reads_every_order_once_through_a_timestamp_tie() {
    // Three orders changed in the same second; pages of two end inside the tie.
    let all = vec![
        order("1003", "2026-11-23T10:00:00Z"),
        order("1001", "2026-11-23T10:00:00Z"),
        order("1002", "2026-11-23T10:00:00Z"),
        order("1004", "2026-11-23T10:05:00Z"),
    ];
    let vendor = Vendor::start();
    vendor.reply("GET", "/api/health", Reply::status(200));
    let served = all.clone();
    vendor.on("GET", "/api/orders", move |request| orders_after(&served, request));

    let host = host_for(&vendor);
    host.check().unwrap();
    let records = host.read_all("orders", 2).unwrap();
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["1001", "1002", "1003", "1004"]);
    assert_eq!(records[3].payload["total"], "12.50");
    // The host added the credential; the connector only named it.
    assert!(
        vendor
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer test-token-1"))
    );
}

#[test]
fn a_vendor_that_fails_fails_the_read_as_retryable() {
    let vendor = Vendor::start();
    vendor.then("GET", "/api/orders", [Reply::status(503)]);
    vendor.reply("GET", "/api/orders", Reply::json(json!({"orders": [], "has_more": false})));
    let host = host_for(&vendor);
    let failure = host.read("orders", None, 10).unwrap_err();
    assert!(failure.message.contains("retryable"), "{failure}");
    // The next read gets through.
    assert!(host.read("orders", None, 10).unwrap().records.is_empty());
}
"#;

const TRANSFORM_MANIFEST: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
description = "Storefront orders to sale orders."

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
tenon-sdk = { path = "{sdk}" }
serde = { version = "1", features = ["derive"] }

[dev-dependencies]
serde_json = "1"
"#;

const TRANSFORM_LIB: &str = r##"//! `{name}`: canonical `orders` to canonical `sale-orders`, amounts in minor
//! units of each order's currency.

use tenon_sdk::canonical::{Order, SaleLine, SaleOrder};
use tenon_sdk::prelude::*;

struct {type};

impl Transform for {type} {
    fn describe() -> Descriptor {
        Descriptor {
            streams: vec![
                // Consumed: what a flow hands to the transform.
                canonical::writable(canonical::ORDERS, canonical::ORDERS),
                // Produced: what the transform hands on.
                canonical::readable(canonical::SALE_ORDERS, None, canonical::SALE_ORDERS),
            ],
            ..descriptor!(Kind::Transform)
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        batch
            .iter()
            .map(|record| {
                let order: Order = record.json()?;
                let sale = to_sale(&order)
                    .map_err(|e| Error::permanent(format!("record `{}`: {e}", record.key)))?;
                let time = record.source_time.as_deref();
                Envelope::upsert(canonical::SALE_ORDERS, &record.key, &sale, time)
            })
            .collect()
    }
}

/// The mapping, apart from the sandbox so that `cargo test` runs it natively.
pub fn to_sale(order: &Order) -> Result<SaleOrder, String> {
    let cents = |amount: &str| money::minor_units(amount, &order.currency);
    let mut lines = Vec::new();
    for line in &order.lines {
        lines.push(SaleLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price_cents: cents(&line.unit_price)?,
        });
    }
    Ok(SaleOrder {
        external_ref: format!("shop:{}", order.id),
        customer_email: order.customer.email.clone(),
        customer_name: order.customer.full_name(),
        currency: order.currency.clone(),
        lines,
        total_cents: cents(&order.total)?,
        status: if order.status == "cancelled" { "cancelled" } else { "open" }.into(),
        ship_to: order.shipping_address.clone(),
    })
}

export_transform!({type});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_become_minor_units() {
        let order: Order = serde_json::from_str(
            r#"{"id": "1001", "status": "paid", "currency": "EUR",
                "customer": {"email": "ada@example.com", "first_name": "Ada"},
                "lines": [{"sku": "MUG", "quantity": 2, "unit_price": "12.5"}],
                "total": "25.00", "updated_at": "2026-11-23T10:00:00Z"}"#,
        )
        .unwrap();
        let sale = to_sale(&order).unwrap();
        assert_eq!((sale.total_cents, sale.lines[0].unit_price_cents), (2500, 1250));
        assert_eq!(sale.external_ref, "shop:1001");
        let mut odd = order.clone();
        odd.total = "25.001".into();
        assert!(to_sale(&odd).unwrap_err().contains("25.001"));
    }
}
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_types_and_bad_ones_are_refused() {
        assert_eq!(type_name("my-shop"), "MyShop");
        assert_eq!(type_name("erp2-x"), "Erp2X");
        let dir = tempfile::tempdir().unwrap();
        let sdk = default_sdk().unwrap();
        let err = create(Kind::Connector, "My Shop", &dir.path().join("x"), &sdk).unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
        std::fs::write(dir.path().join("taken"), "").unwrap();
        let err = create(Kind::Connector, "my-shop", dir.path(), &sdk).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
