//! A real Tryton 8.2 server for the `erp-tryton` tests: installed from PyPI once
//! into `target/servers/tryton` by `servers/tryton/setup.sh` (which serialises
//! concurrent test processes with `flock` on `setup.lock`), then one server per
//! test on a copy of the prepared database, on a free loopback port, stopped by
//! PID when the [`TrytonServer`] is dropped. Also a minimal JSON-RPC client (std
//! only) for the tests to arrange and inspect Tryton's data.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The database the set-up script prepares.
pub const DATABASE: &str = "tenon";

/// A running `trytond` on its own copy of the prepared database.
#[derive(Debug)]
pub struct TrytonServer {
    child: Child,
    port: u16,
    /// `Authorization` header value of an admin session: the connector's secret.
    pub session: String,
    /// The admin user's context (its company).
    pub context: Value,
    _dir: tempfile::TempDir,
}

/// `<workspace>/target/servers/tryton`.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/servers/tryton")
}

impl TrytonServer {
    /// Installs Tryton if needed, then starts a server and logs in as admin.
    pub fn start() -> TrytonServer {
        let cache = cache_dir();
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/tryton/setup.sh");
        let started = Instant::now();
        let status = Command::new("bash")
            .arg(&setup)
            .arg(&cache)
            .status()
            .expect("could not run the Tryton set-up script");
        assert!(status.success(), "Tryton set-up failed: {status}");
        eprintln!("tryton set-up ready in {:?}", started.elapsed());

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            cache.join("db").join(format!("{DATABASE}.sqlite")),
            dir.path().join(format!("{DATABASE}.sqlite")),
        )
        .expect("could not copy the prepared Tryton database");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("trytond.log")).unwrap();
        let started = Instant::now();
        let child = Command::new(cache.join("venv/bin/trytond"))
            .arg("-c")
            .arg(cache.join("trytond.conf"))
            .args(["-d", DATABASE])
            .env("TRYTOND_DATABASE__PATH", dir.path())
            .env("TRYTOND_WEB__LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("could not start trytond");
        let mut server = TrytonServer {
            child,
            port,
            session: String::new(),
            context: Value::Null,
            _dir: dir,
        };
        loop {
            if rpc(port, "/rpc/", None, "common.server.version", json!([])).is_ok() {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("trytond exited at start ({status}), see its log");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "trytond not ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let password = std::fs::read_to_string(cache.join("adminpass")).unwrap();
        let login = server
            .call(
                "common.db.login",
                json!(["admin", {"password": password.trim()}, "en"]),
            )
            .expect("admin logs in");
        let token = format!("admin:{}:{}", login[0], login[1].as_str().unwrap());
        server.session = format!("Session {}", base64(token.as_bytes()));
        server.context = server
            .call("model.res.user.get_preferences", json!([true, {}]))
            .unwrap();
        eprintln!("trytond ready on port {port} in {:?}", started.elapsed());
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, the grant the connector needs.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Calls `method` with the admin session; Tryton's error as `Err`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let auth = (!self.session.is_empty()).then_some(self.session.as_str());
        rpc(
            self.port,
            &format!("/{DATABASE}/rpc/"),
            auth,
            method,
            params,
        )
    }

    /// Calls `model.<model>.<method>` with `args` and the admin's context.
    pub fn model(&self, model: &str, method: &str, mut args: Vec<Value>) -> Value {
        args.push(self.context.clone());
        self.call(&format!("model.{model}.{method}"), Value::Array(args))
            .unwrap_or_else(|e| panic!("{model}.{method} failed: {e}"))
    }

    /// How many records of `model` match `domain`.
    pub fn count(&self, model: &str, domain: Value) -> usize {
        let ids = self.model(
            model,
            "search",
            vec![domain, json!(0), Value::Null, Value::Null],
        );
        ids.as_array().unwrap().len()
    }

    /// `erp-tryton` enabled for `tenant` against this server: its address,
    /// database, admin session and an egress grant to it.
    pub fn enablement(&self, tenant: &str) -> tenon::tenant::Enablement {
        tenon::tenant::Enablement {
            config: std::collections::BTreeMap::from([
                ("base_url".into(), self.base_url()),
                ("database".into(), DATABASE.into()),
            ]),
            grants: vec![self.addr().parse().unwrap()],
            ..crate::support::enablement(tenant, "erp-tryton")
        }
        .with_secret("session", self.session.clone())
    }

    /// Creates a salable product (template and variant) with code `sku`, in
    /// the prepared accounting category `Goods` (so that its sales can be
    /// invoiced); the template's id.
    pub fn create_product(&self, sku: &str, name: &str, price: &str) -> i64 {
        let unit = self.model(
            "product.uom",
            "search",
            vec![
                json!([["name", "=", "Unit"]]),
                json!(0),
                json!(1),
                Value::Null,
            ],
        )[0]
        .clone();
        let ids = self.model(
            "product.template",
            "create",
            vec![json!([{
                "name": name, "type": "goods", "default_uom": unit, "salable": true,
                "sale_uom": unit, "list_price": decimal(price),
                "account_category": self.goods_category(),
                "products": [["create", [{"suffix_code": sku}]]],
            }])],
        );
        ids[0].as_i64().unwrap()
    }
}

/// A product named by its code (`"MUG-WHT"`, a `&str`) or by its
/// `product.product` id (an `i64`), for the stock helpers.
pub trait ProductRef {
    /// The `product.product` id.
    fn product_id(&self, tryton: &TrytonServer) -> i64;
}

impl ProductRef for &str {
    fn product_id(&self, tryton: &TrytonServer) -> i64 {
        tryton.product_id(self)
    }
}

impl ProductRef for i64 {
    fn product_id(&self, _: &TrytonServer) -> i64 {
        *self
    }
}

impl TrytonServer {
    /// The ids of the records of `model` matching `domain`, by id.
    pub fn search(&self, model: &str, domain: Value) -> Vec<i64> {
        let ids = self.model(
            model,
            "search",
            vec![domain, json!(0), Value::Null, json!([["id", "ASC"]])],
        );
        serde_json::from_value(ids).unwrap()
    }

    /// `search_read` of `fields` of the records of `model` matching `domain`,
    /// by id; dotted fields come back nested under `"<field>."`.
    pub fn search_read(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let rows = self.model(
            model,
            "search_read",
            vec![
                domain,
                json!(0),
                Value::Null,
                json!([["id", "ASC"]]),
                json!(fields),
            ],
        );
        serde_json::from_value(rows).unwrap()
    }

    /// The `product.product` id of the product with code `sku`; panics if none.
    pub fn product_id(&self, sku: &str) -> i64 {
        *self
            .search("product.product", json!([["code", "=", sku]]))
            .first()
            .unwrap_or_else(|| panic!("no product `{sku}` in Tryton"))
    }

    /// The id of the `stock.location` with `code` (`WH`, `SUP`, `CUS`...).
    pub fn location(&self, code: &str) -> i64 {
        *self
            .search("stock.location", json!([["code", "=", code]]))
            .first()
            .unwrap_or_else(|| panic!("no stock location `{code}` in Tryton"))
    }

    /// The warehouse the prepared database comes with (code `WH`).
    pub fn default_warehouse(&self) -> i64 {
        self.location("WH")
    }

    /// Creates a warehouse with `code` and `name`, with its own input, output
    /// and storage zones (codes `<code>-IN`, `<code>-OUT`, `<code>-STO`; Tryton
    /// requires the three and makes them the warehouse's children) and the
    /// database's lost-and-found location (for inventories); its id.
    pub fn create_warehouse(&self, code: &str, name: &str) -> i64 {
        let lost_found = self.search("stock.location", json!([["type", "=", "lost_found"]]))[0];
        let zones = self.model(
            "stock.location",
            "create",
            vec![json!([
                {"name": format!("{name} Input"), "code": format!("{code}-IN"), "type": "storage"},
                {"name": format!("{name} Output"), "code": format!("{code}-OUT"), "type": "storage"},
                {"name": format!("{name} Storage"), "code": format!("{code}-STO"), "type": "storage"},
            ])],
        );
        let ids = self.model(
            "stock.location",
            "create",
            vec![json!([{
                "name": name, "code": code, "type": "warehouse",
                "input_location": zones[0], "output_location": zones[1],
                "storage_location": zones[2],
                // Inventories move differences from and to it.
                "lost_found_location": lost_found,
            }])],
        );
        ids[0].as_i64().unwrap()
    }

    /// The storage zone of `warehouse`.
    pub fn storage_of(&self, warehouse: i64) -> i64 {
        self.model(
            "stock.location",
            "read",
            vec![json!([warehouse]), json!(["storage_location"])],
        )[0]["storage_location"]
            .as_i64()
            .unwrap()
    }

    /// Puts `quantity` of `product` into `warehouse`'s storage zone: a done
    /// move from the supplier location.
    pub fn receive(&self, product: impl ProductRef, warehouse: i64, quantity: u32) {
        let from = self.location("SUP");
        let to = self.storage_of(warehouse);
        self.move_done(product.product_id(self), from, to, quantity);
    }

    /// Sets the on-hand quantity of `product` in `warehouse`'s storage zone to
    /// `quantity`, up or down: a confirmed `stock.inventory` of that zone (Tryton
    /// moves the difference from or to the lost-and-found location). A move
    /// out of storage cannot be done over JSON-RPC without assigning it first,
    /// which Tryton does not expose; an inventory can.
    pub fn adjust(&self, product: impl ProductRef, warehouse: i64, quantity: u32) {
        let inventory = self.model(
            "stock.inventory",
            "create",
            vec![json!([{
                "location": self.storage_of(warehouse),
                "company": self.context["company"],
                "lines": [["create", [{"product": product.product_id(self), "quantity": quantity}]]],
            }])],
        );
        self.model("stock.inventory", "confirm", vec![inventory]);
    }

    /// Takes `quantity` of `product` out of `warehouse`'s storage zone, as a
    /// shipment would: [`adjust`](Self::adjust) to the on-hand quantity less
    /// `quantity` (panics if there is not that much).
    pub fn ship_out(&self, product: impl ProductRef, warehouse: i64, quantity: u32) {
        let product = product.product_id(self);
        let on_hand = self.on_hand(product, warehouse);
        let left = on_hand - f64::from(quantity);
        assert!(left >= 0.0, "only {on_hand} of product {product} to ship");
        self.adjust(product, warehouse, left as u32);
    }

    /// The on-hand quantity of `product` in `warehouse`.
    pub fn on_hand(&self, product: impl ProductRef, warehouse: i64) -> f64 {
        let mut context = self.context.clone();
        context["locations"] = json!([warehouse]);
        let rows = self
            .call(
                "model.product.product.read",
                json!([[product.product_id(self)], ["quantity"], context]),
            )
            .unwrap_or_else(|e| panic!("product.product.read failed: {e}"));
        rows[0]["quantity"].as_f64().unwrap()
    }

    /// A done `stock.move` of `quantity` units of `product` from `from` to `to`.
    fn move_done(&self, product: i64, from: i64, to: i64, quantity: u32) {
        let unit = self.model(
            "product.product",
            "read",
            vec![json!([product]), json!(["default_uom"])],
        )[0]["default_uom"]
            .clone();
        let eur = self.search("currency.currency", json!([["code", "=", "EUR"]]))[0];
        let moves = self.model(
            "stock.move",
            "create",
            vec![json!([{
                "product": product, "unit": unit, "quantity": quantity,
                "from_location": from, "to_location": to,
                "unit_price": decimal("5.00"), "currency": eur,
                "company": self.context["company"],
            }])],
        );
        self.model("stock.move", "do", vec![moves]);
    }

    /// The sale with `reference`, for inspection: `id`, `number`, `state`,
    /// `reference`, `total_amount`, `party.` (`name`, `email`), `currency.`
    /// (`code`), `shipment_address.` (`party_name`, `street_unstructured`,
    /// `city`, `postal_code`, `country.` `code`; null without one), and `lines`
    /// in sale-line order, each `sequence`, `type`, `product.` (`code`),
    /// `quantity`, `unit_price`. `Value::Null` if there is no such sale.
    pub fn sale_by_reference(&self, reference: &str) -> Value {
        let sales = self.search_read(
            "sale.sale",
            json!([["reference", "=", reference]]),
            &[
                "number",
                "state",
                "reference",
                "total_amount",
                "party.name",
                "party.email",
                "currency.code",
                "shipment_address.party_name",
                "shipment_address.street_unstructured",
                "shipment_address.city",
                "shipment_address.postal_code",
                "shipment_address.country.code",
            ],
        );
        let Some(mut sale) = sales.into_iter().next() else {
            return Value::Null;
        };
        let lines = self.model(
            "sale.line",
            "search_read",
            vec![
                json!([["sale", "=", sale["id"]]]),
                json!(0),
                Value::Null,
                json!([["sequence", "ASC"], ["id", "ASC"]]),
                json!(["sequence", "type", "product.code", "quantity", "unit_price"]),
            ],
        );
        sale["lines"] = lines;
        sale
    }
}

/// Customers, price lists, sales, invoices and shipments: what the B2B
/// streams read and what credit memos and returns are booked against.
impl TrytonServer {
    /// The accounting product category the set-up prepares (`Goods`, revenue
    /// account `4.1.1`).
    pub fn goods_category(&self) -> i64 {
        *self
            .search(
                "product.category",
                json!([["name", "=", GOODS_CATEGORY], ["accounting", "=", true]]),
            )
            .first()
            .expect("the set-up prepares the accounting category `Goods`")
    }

    /// Creates a party named `name` with the e-mail `email` (a customer to
    /// the connector: Tryton gives it a code from its party sequence); its
    /// id and code.
    pub fn create_customer(&self, name: &str, email: &str) -> (i64, String) {
        let ids = self.model(
            "party.party",
            "create",
            vec![json!([{
                "name": name,
                "contact_mechanisms": [["create", [{"type": "email", "value": email}]]],
            }])],
        );
        let id = ids[0].as_i64().unwrap();
        let code = self.model("party.party", "read", vec![json!([id]), json!(["code"])])[0]["code"]
            .as_str()
            .expect("parties get a code")
            .to_owned();
        (id, code)
    }

    /// Creates a payment term of one remainder line due `days` later; its id.
    pub fn create_payment_term(&self, name: &str, days: u32) -> i64 {
        let ids = self.model(
            "account.invoice.payment_term",
            "create",
            vec![json!([{
                "name": name,
                "lines": [["create", [{"type": "remainder",
                    "relativedeltas": [["create", [{"days": days}]]]}]]],
            }])],
        );
        ids[0].as_i64().unwrap()
    }

    /// Creates a price list based on the list price (`unit_price` is the
    /// product's list price) with `lines` in this order (sequences 1, 2...),
    /// each `(product code or every product, least quantity, formula)`; its id.
    pub fn create_price_list(
        &self,
        name: &str,
        lines: &[(Option<&str>, Option<f64>, &str)],
    ) -> i64 {
        let lines: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(index, (sku, quantity, formula))| {
                json!({
                    "sequence": index + 1,
                    "product": sku.map(|sku| self.product_id(sku)),
                    "quantity": quantity,
                    "formula": formula,
                })
            })
            .collect();
        let ids = self.model(
            "product.price_list",
            "create",
            vec![json!([{
                "name": name, "price": "list_price", "company": self.context["company"],
                "lines": [["create", lines]],
            }])],
        );
        ids[0].as_i64().unwrap()
    }

    /// Writes `values` (`sale_price_list`, `customer_payment_term`,
    /// `credit_limit_amount`...) to the party `party`.
    pub fn write_party(&self, party: i64, values: Value) {
        self.model("party.party", "write", vec![json!([party]), values]);
    }

    /// The id of the sale with `reference`; panics if there is none.
    pub fn sale_id(&self, reference: &str) -> i64 {
        *self
            .search("sale.sale", json!([["reference", "=", reference]]))
            .first()
            .unwrap_or_else(|| panic!("no sale `{reference}` in Tryton"))
    }

    /// Quotes and confirms the sale with `reference`, as a Tryton user does:
    /// it goes on to processing, with its shipment and, for the invoice
    /// method `order`, its invoice (a draft).
    pub fn confirm_sale(&self, reference: &str) -> i64 {
        let sale = self.sale_id(reference);
        self.model("sale.sale", "quote", vec![json!([sale])]);
        self.model("sale.sale", "confirm", vec![json!([sale])]);
        sale
    }

    /// Posts the draft invoices of the sale with `reference`; their ids.
    pub fn post_invoices(&self, reference: &str) -> Vec<i64> {
        let sale = self.sale_id(reference);
        let invoices = self.model(
            "sale.sale",
            "read",
            vec![json!([sale]), json!(["invoices"])],
        )[0]["invoices"]
            .clone();
        let drafts = self.search(
            "account.invoice",
            json!([
                ["id", "in", invoices],
                ["state", "in", ["draft", "validated"]]
            ]),
        );
        assert!(
            !drafts.is_empty(),
            "sale `{reference}` has no invoice to post"
        );
        self.model("account.invoice", "post", vec![json!(drafts)]);
        drafts
    }

    /// Ships the customer shipments of the sale with `reference` (assigned from
    /// stock, picked, packed, done: the stock must be there).
    pub fn ship_sale(&self, reference: &str) {
        let sale = self.sale_id(reference);
        let shipments = self.model(
            "sale.sale",
            "read",
            vec![json!([sale]), json!(["shipments"])],
        )[0]["shipments"]
            .clone();
        for step in ["assign_try", "pick", "pack", "do"] {
            self.model("stock.shipment.out", step, vec![shipments.clone()]);
        }
        let state = self.model(
            "sale.sale",
            "read",
            vec![json!([sale]), json!(["shipment_state"])],
        );
        assert_eq!(
            state[0]["shipment_state"], "sent",
            "sale `{reference}` not shipped"
        );
    }

    /// The customer invoices and credit notes with `reference`: `id`, `state`,
    /// `number`, `total_amount`, `currency.` (`code`), `description` and
    /// `lines`, each `product.` (`code`), `description`, `quantity`,
    /// `unit_price`, `amount`, `account.` (`code`) and `origin`.
    pub fn invoices_by_reference(&self, reference: &str) -> Vec<Value> {
        let mut invoices = self.search_read(
            "account.invoice",
            json!([["type", "=", "out"], ["reference", "=", reference]]),
            &[
                "state",
                "number",
                "total_amount",
                "currency.code",
                "description",
            ],
        );
        for invoice in &mut invoices {
            invoice["lines"] = Value::Array(self.search_read(
                "account.invoice.line",
                json!([["invoice", "=", invoice["id"]]]),
                &[
                    "product.code",
                    "description",
                    "quantity",
                    "unit_price",
                    "amount",
                    "account.code",
                    "origin",
                ],
            ));
        }
        invoices
    }

    /// The customer return shipments with `reference`: `id`, `state`,
    /// `warehouse`.
    pub fn returns_by_reference(&self, reference: &str) -> Vec<Value> {
        self.search_read(
            "stock.shipment.out.return",
            json!([["reference", "=", reference]]),
            &["state", "warehouse"],
        )
    }
}

/// The accounting product category `bootstrap.py` prepares.
pub const GOODS_CATEGORY: &str = "Goods";

/// The revenue account of the prepared chart that refunds of shipping and
/// adjustments go to (`4.3.3 Other Adjustments` of the universal chart).
pub const REFUND_ACCOUNT: &str = "4.3.3";

impl Drop for TrytonServer {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Tryton `Decimal`.
pub fn decimal(value: &str) -> Value {
    json!({"__class__": "Decimal", "decimal": value})
}

/// One JSON-RPC call over a fresh HTTP/1.1 connection.
fn rpc(
    port: u16,
    path: &str,
    auth: Option<&str>,
    method: &str,
    params: Value,
) -> Result<Value, Value> {
    let body = json!({"id": 1, "method": method, "params": params}).to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| json!(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let auth = auth
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n{auth}\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| json!(e.to_string()))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| json!(e.to_string()))?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| json!("no HTTP answer"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(json!(format!("{head} {body}")));
    }
    let answer: Value = serde_json::from_str(body).map_err(|e| json!(e.to_string()))?;
    match answer.get("error") {
        Some(error) if !error.is_null() => Err(error.clone()),
        _ => Ok(answer["result"].clone()),
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
