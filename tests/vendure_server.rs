//! A real Vendure 3.x server on loopback for the `vendure` tests.
//!
//! [`Vendure::shared`] installs the npm packages once per machine
//! (`tests/servers/vendure/setup.sh` into `target/servers/vendure`, serialised
//! across test processes by a lock file), then starts one server per test binary
//! on a free port with a fresh sqljs database, waits until it answers, and
//! bootstraps it (`bootstrap.js`: a country, a zone, a tax rate, the channel's
//! default zones, shipping and payment methods). The server is killed by PID
//! when the last test holding it drops it. Admin and Shop API GraphQL requests
//! go through `gql.js` (node's `fetch`, with a channel token when a test shops
//! in a B2B channel), so the tests need no HTTP client of their own. The server runs the B2B
//! configuration of `b2b.js` (custom fields, the `OnHold` order state, the B2B
//! channel gate), which `setup.sh` copies afresh on every run.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long the server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running Vendure server, killed on drop.
#[derive(Debug)]
pub struct Vendure {
    child: Mutex<Child>,
    port: u16,
    home: PathBuf,
    /// The superadmin's session token (the connector's `api_token`).
    pub token: String,
    _data: tempfile::TempDir,
}

static SHARED: Mutex<Weak<Vendure>> = Mutex::new(Weak::new());

impl Vendure {
    /// The server of this test binary, started on first use.
    pub fn shared() -> Arc<Vendure> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = shared.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start());
        *shared = Arc::downgrade(&server);
        server
    }

    fn start() -> Vendure {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let home = root.join("../target/servers/vendure");
        let t0 = Instant::now();
        let status = Command::new("bash")
            .arg(root.join("servers/vendure/setup.sh"))
            .arg(&home)
            .status()
            .expect("could not run tests/servers/vendure/setup.sh (bash)");
        assert!(status.success(), "the Vendure set-up failed: {status}");
        let installed = t0.elapsed();

        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let data = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(data.path().join("server.log")).unwrap();
        let child = Command::new("node")
            .arg(home.join("index.js"))
            .current_dir(&home)
            .env("VENDURE_PORT", port.to_string())
            .env("VENDURE_DATA", data.path())
            .env("VENDURE_DISABLE_TELEMETRY", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("could not start node");
        let mut server = Vendure {
            child: Mutex::new(child),
            port,
            home,
            token: String::new(),
            _data: data,
        };
        let t1 = Instant::now();
        loop {
            if let Some(status) = server.child.lock().unwrap().try_wait().unwrap() {
                panic!("Vendure exited ({status}) while starting: {}", server.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                t1.elapsed() < START_TIMEOUT,
                "Vendure did not answer within {START_TIMEOUT:?}: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let started = t1.elapsed();
        let out = Command::new("node")
            .arg(server.home.join("bootstrap.js"))
            .arg(server.admin_url())
            .output()
            .expect("could not run bootstrap.js");
        assert!(
            out.status.success(),
            "bootstrapping Vendure failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
        server.token = boot["token"].as_str().unwrap().to_owned();
        eprintln!(
            "vendure: set-up {:.1} s, start {:.1} s, bootstrap {:.1} s (port {port})",
            installed.as_secs_f64(),
            started.as_secs_f64(),
            t1.elapsed().as_secs_f64() - started.as_secs_f64()
        );
        server
    }

    /// `commerce-vendure` enabled for `tenant` against this server: its address,
    /// the superadmin's token and an egress grant to it.
    pub fn enablement(&self, tenant: &str) -> tenon::tenant::Enablement {
        tenon::tenant::Enablement {
            config: std::collections::BTreeMap::from([("base_url".into(), self.base_url())]),
            grants: vec![self.addr().parse().unwrap()],
            ..crate::support::enablement(tenant, "commerce-vendure")
        }
        .with_secret("api_token", self.token.clone())
    }

    /// `127.0.0.1:<port>`, the egress grant.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`, the connector's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn admin_url(&self) -> String {
        format!("{}/admin-api", self.base_url())
    }

    /// The end of the server's log, for failure messages.
    pub fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self._data.path().join("server.log")).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text[start..].to_owned()
    }

    /// `http://127.0.0.1:<port>/shop-api`, the storefront's API.
    pub fn shop_url(&self) -> String {
        format!("{}/shop-api", self.base_url())
    }

    /// One GraphQL request to `url` through `gql.js`, with a bearer `token`
    /// and a `channel` token if given: `{token, status, body}`, `token` being
    /// the `vendure-auth-token` Vendure answered with.
    fn request(
        &self,
        url: &str,
        token: Option<&str>,
        channel: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut child = Command::new("node")
            .arg(self.home.join("gql.js"))
            .arg(url)
            .arg(token.unwrap_or(""))
            .arg(channel.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not run gql.js");
        let body = json!({"query": query, "variables": variables}).to_string();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gql.js failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs an Admin API request as superadmin and returns its `data`; panics on
    /// GraphQL errors.
    pub fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_in(None, query, variables)
    }

    /// [`Vendure::gql`] in the channel whose token is `channel` (the default
    /// channel for `None`).
    pub fn gql_in(&self, channel: Option<&str>, query: &str, variables: Value) -> Value {
        let answer = self.request(
            &self.admin_url(),
            Some(&self.token),
            channel,
            query,
            variables,
        );
        let body = &answer["body"];
        assert!(
            body.get("errors").is_none(),
            "Vendure refused `{query}`: {}",
            body["errors"]
        );
        body["data"].clone()
    }

    /// A Shop API request as the shopper whose session token is `session`
    /// (anonymous for `None`), in the channel whose token is `channel`: the
    /// whole answer, `data` and `errors` (a refusal is what some tests want).
    pub fn shop(
        &self,
        session: Option<&str>,
        channel: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        self.request(&self.shop_url(), session, channel, query, variables)["body"].clone()
    }

    /// What the Shop API shows a shopper signed in as `session` (anonymous
    /// for `None`) in the channel whose token is `channel` of the product
    /// `slug`, asking for prices in `currency` (Vendure's `currencyCode` query
    /// parameter): its first variant's price with tax, or the code of the
    /// error refusing it (`FORBIDDEN`).
    pub fn shop_price(
        &self,
        slug: &str,
        currency: &str,
        session: Option<&str>,
        channel: Option<&str>,
    ) -> Result<i64, String> {
        let url = format!("{}?currencyCode={currency}", self.shop_url());
        let answer = self.request(
            &url,
            session,
            channel,
            "query($s:String!){ product(slug:$s){ variants { sku priceWithTax currencyCode } } }",
            json!({"s": slug}),
        )["body"]
            .clone();
        if let Some(errors) = answer.get("errors") {
            return Err(errors[0]["extensions"]["code"]
                .as_str()
                .unwrap_or("?")
                .to_owned());
        }
        let variant = &answer["data"]["product"]["variants"][0];
        assert_eq!(variant["currencyCode"], currency, "{answer}");
        Ok(variant["priceWithTax"].as_i64().unwrap())
    }

    /// Logs `email` in to the Shop API (default channel); the session token.
    pub fn shop_login(&self, email: &str, password: &str) -> String {
        let answer = self.request(
            &self.shop_url(),
            None,
            None,
            "mutation($u:String!,$p:String!){ login(username:$u, password:$p){ ... on CurrentUser { id } ... on ErrorResult { errorCode message } } }",
            json!({"u": email, "p": password}),
        );
        assert!(
            answer["body"]["data"]["login"]["id"].is_string(),
            "{email} could not log in: {answer}"
        );
        answer["token"].as_str().unwrap().to_owned()
    }

    /// Creates a product named `sku` (slug: `sku` in lower case) with one
    /// variant `sku` at `price` (minor units of the default currency) with
    /// `stock` on hand; the variant's id.
    pub fn create_variant(&self, sku: &str, price: i64, stock: i64) -> String {
        let product = self.gql(
            "mutation($n:String!,$s:String!){ createProduct(input:{translations:[{languageCode:en, name:$n, slug:$s, description:\"\"}]}){ id } }",
            json!({"n": sku, "s": sku.to_lowercase()}),
        );
        let variants = self.gql(
            "mutation($p:ID!,$sku:String!,$price:Money,$stock:Int){ createProductVariants(input:[{productId:$p, sku:$sku, price:$price, stockOnHand:$stock, translations:[{languageCode:en, name:$sku}]}]){ id } }",
            json!({"p": product["createProduct"]["id"], "sku": sku, "price": price, "stock": stock}),
        );
        variants["createProductVariants"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a customer who can log in to the Shop API with `password`; its
    /// id.
    pub fn customer(&self, email: &str, first_name: &str, password: &str) -> String {
        let created = self.gql(
            "mutation($e:String!,$f:String!,$p:String){ createCustomer(input:{emailAddress:$e, firstName:$f, lastName:\"B2B\"}, password:$p){ ... on Customer { id } ... on ErrorResult { message } } }",
            json!({"e": email, "f": first_name, "p": password}),
        );
        created["createCustomer"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("customer {email}: {created}"))
            .to_owned()
    }
}

/// Orders, as a shopper would make them (draft orders through the Admin API).
impl Vendure {
    /// Creates a draft order for `customer` with these `(variant id, quantity)`
    /// lines; its id.
    pub fn draft_order(&self, customer: &str, lines: &[(&str, i64)]) -> String {
        let created = self.gql("mutation{ createDraftOrder { id } }", json!({}));
        let id = created["createDraftOrder"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.gql(
            "mutation($o:ID!,$c:ID!){ setCustomerForDraftOrder(orderId:$o, customerId:$c){ ... on Order { id } } }",
            json!({"o": id, "c": customer}),
        );
        for (variant, quantity) in lines {
            self.add_line(&id, variant, *quantity);
        }
        id
    }

    /// Adds `quantity` of `variant` to the draft `order`.
    pub fn add_line(&self, order: &str, variant: &str, quantity: i64) {
        let added = self.gql(
            "mutation($o:ID!,$v:ID!,$q:Int!){ addItemToDraftOrder(orderId:$o, input:{productVariantId:$v, quantity:$q}){ ... on Order { id } ... on ErrorResult { message } } }",
            json!({"o": order, "v": variant, "q": quantity}),
        );
        assert!(added["addItemToDraftOrder"]["id"].is_string(), "{added}");
    }

    /// Completes the draft `order`: ships to `address` (Vendure's
    /// `CreateAddressInput`) with the free `standard` shipping method and
    /// settles a manual payment, so that it can be fulfilled.
    pub fn pay(&self, order: &str, address: Value) {
        self.pay_shipped_by(order, address, "standard");
    }

    /// [`Vendure::pay`] with the shipping method of code `shipping`
    /// (`standard`: free; `express`: 4.90).
    pub fn pay_shipped_by(&self, order: &str, address: Value, shipping: &str) {
        self.gql(
            "mutation($o:ID!,$a:CreateAddressInput!){ setDraftOrderShippingAddress(orderId:$o, input:$a){ id } }",
            json!({"o": order, "a": address}),
        );
        let methods = self.gql(
            "query($o:ID!){ eligibleShippingMethodsForDraftOrder(orderId:$o){ id code } }",
            json!({"o": order}),
        );
        let method = methods["eligibleShippingMethodsForDraftOrder"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["code"] == shipping)
            .unwrap_or_else(|| panic!("shipping method `{shipping}`: {methods}"))["id"]
            .clone();
        self.gql(
            "mutation($o:ID!,$m:ID!){ setDraftOrderShippingMethod(orderId:$o, shippingMethodId:$m){ ... on Order { id } } }",
            json!({"o": order, "m": method}),
        );
        self.gql(
            "mutation($o:ID!){ transitionOrderToState(id:$o, state:\"ArrangingPayment\"){ ... on Order { id } } }",
            json!({"o": order}),
        );
        let paid = self.gql(
            "mutation($o:ID!,$t:String!){ addManualPaymentToOrder(input:{orderId:$o, method:\"manual\", transactionId:$t, metadata:{}}){ ... on Order { state } } }",
            json!({"o": order, "t": format!("T-{order}")}),
        );
        assert_eq!(paid["addManualPaymentToOrder"]["state"], "PaymentSettled");
    }
}

impl Drop for Vendure {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}
