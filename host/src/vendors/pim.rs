//! The PIM sandbox: a product catalogue that follows the shape of Akeneo's REST
//! API: products with a family, categories, a parent product model (for
//! variants) and attribute values per locale and channel (scope), prices, media
//! references, search by `updated`, page links; and, for the tests, scripted
//! faults and a rate limit.
//!
//! # API
//! Every request but the token endpoint's needs `Authorization: Bearer <token>`
//! with either the static token the sandbox started with or an access token the
//! token endpoint issued that has not expired; otherwise the answer is
//! `401 {"error": "..."}` (the sandboxes' shared check). The PIM's own errors
//! have Akeneo's shape: `{"code": <status>, "message": "..."}`.
//!
//! - `POST /api/oauth/v1/token` issues tokens as Akeneo does, once
//!   [`Pim::enable_oauth`] has set the API client and its user
//!   ([`OAuthClient`]). The client authenticates with HTTP Basic
//!   `client_id:client_secret`. The body is a form
//!   (`application/x-www-form-urlencoded`, as RFC 6749 says) or JSON
//!   (`application/json`, as Akeneo's documentation shows) with
//!   `grant_type=password`, `username` and `password`, or with
//!   `grant_type=refresh_token` and `refresh_token`. Success answers
//!   `200 {"access_token": "...", "expires_in": <secs>, "token_type": "bearer",
//!   "scope": null, "refresh_token": "..."}` with `Cache-Control: no-store`. The
//!   access token opens the API for [`OAuthClient::ttl`] (an hour by default,
//!   [`DEFAULT_TOKEN_TTL`]), then answers `401` like a wrong token; a refresh
//!   token serves once and does not expire. Errors: a wrong or missing client
//!   answers `401` (`"error": "invalid_client"`, with `WWW-Authenticate: Basic`);
//!   a wrong username or password, or an unknown or used refresh token, `400`
//!   (`"invalid_grant"`, as Akeneo answers it); another grant type `400`
//!   (`"unsupported_grant_type"`); a missing parameter or a body that does not
//!   parse `400` (`"invalid_request"`). Error bodies carry Akeneo's `code` and
//!   `message` and RFC 6749's `error` and `error_description`. The endpoint is
//!   outside the bearer check, the scripted faults and the rate limit, and
//!   [`Pim::requests`] does not list it. The static token stays an alternative
//!   for operators who obtain tokens out of band (and store one as the tenant
//!   secret).
//! - `GET /api/rest/v1/products?search=&limit=&page=` answers
//!   `200 {"_links": {"self": {"href"}, "first": {"href"}, "next": {"href"}?},
//!   "current_page": p, "_embedded": {"items": [Product, ...]}}`, sorted by
//!   `(updated, identifier)`, `limit` per page (default 10, at most 100), pages
//!   from 1; `next` is there only when another page follows. `search` is
//!   Akeneo's JSON filter; the sandbox understands
//!   `{"updated": [{"operator": ">" | "<", "value": "2026-11-23 10:00:00"}]}`
//!   (the value may also be RFC 3339) and refuses other filters with `422`.
//! - Products look like Akeneo's: `identifier`, `family`, `categories`,
//!   `enabled`, `parent` (the code of the product model a variant product
//!   belongs to, `null` for a simple product; always serialized, as Akeneo
//!   does), `values` = `{attribute: [{"locale", "scope", "data"}]}`, `created`,
//!   `updated` (`2026-11-23T10:00:00+00:00`). A price collection's `data` is
//!   `[{"amount": "19.90", "currency": "EUR"}, ...]` (amounts are decimal
//!   strings); a media value's `data` is the file path and it carries
//!   `_links.download.href`. As in Akeneo, a variant product lists the values
//!   it inherits from its model too; product models are not served.
//!
//! # Faults and rate limit
//! [`Pim::script`] queues [`Fault`]s: each API request (after the bearer check)
//! takes the next one, in order, and none changes the catalogue:
//! - [`Fault::Status`] answers that status (a `429` with `Retry-After: 1`);
//! - [`Fault::RateLimited`] answers `429` with `Retry-After: <secs>` and the
//!   headers below with `X-RateLimit-Remaining: 0`;
//! - [`Fault::Slow`] waits, then serves the request;
//! - [`Fault::Malformed`] answers `200` with a JSON content type and a body cut
//!   short, as by a proxy that dropped the connection;
//! - [`Fault::Pass`] serves the request as usual, to fail a later one.
//!
//! [`Pim::set_rate_limit`] allows `limit` requests per window: past it, the
//! answer is `429 {"code": 429, "message": "Too Many Requests"}` with
//! `Retry-After` (whole seconds until the window resets). While a limit is set,
//! every answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (seconds). Akeneo documents only `429` and `Retry-After`
//! (its limit is 100 requests per second per PIM, [`AKENEO_RATE_LIMIT`]); the
//! `X-RateLimit-*` headers are what its gateways commonly add, and no client
//! should need them. Without a set limit there is none.
//!
//! # For tests
//! - [`demo_products`] seeds a catalogue: T-shirts as variant products (sizes
//!   `s` and `m` of a model) and simple mugs, with names and descriptions in
//!   `en_US` and `fr_FR`, a price in EUR and USD and an image each.
//! - [`Product::new`] and its `with_*` methods build a product for a test.
//! - [`Pim::edit_product`] changes a product as a catalogue editor would, and
//!   moves its `updated` to now.
//! - [`Pim::fail_next`] and [`Pim::slow_next`] queue `count` times the same
//!   fault; [`Pim::requests`] lists every API request with its arrival time and
//!   the status it was answered.
//! - [`Pim::enable_oauth`] opens the token endpoint to an [`OAuthClient`];
//!   [`Pim::tokens_issued`] counts the access tokens it issued (so a test can
//!   see a client ask again after expiry) and [`Pim::expire_tokens`] expires
//!   every issued access token at once, as the hour passing would.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Admission, RateWindow, Server, TokenCheck, lock, scripted_status};

/// The largest `limit` of the product list.
const MAX_LIMIT: usize = 100;

/// Akeneo's documented limit: 100 API requests per second per PIM. The
/// `X-RateLimit-Limit` of a scripted [`Fault::RateLimited`] when no limit is set.
pub const AKENEO_RATE_LIMIT: u32 = 100;

/// Where the PIM issues tokens.
const TOKEN_PATH: &str = "/api/oauth/v1/token";

/// How long an issued access token opens the API unless the client's
/// [`OAuthClient::ttl`] says otherwise: Akeneo's hour.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The length of issued access and refresh tokens.
const TOKEN_LEN: usize = 32;

/// The body [`Fault::Malformed`] answers: a product page cut inside its first
/// product.
const MALFORMED_BODY: &str = r#"{"_links": {"self": {"href": "/api/rest/v1/products?limit=10&page=1"}}, "current_page": 1, "_embedded": {"items": [{"identifier": "SKU-"#;

/// A product as the PIM stores and lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub identifier: String,
    pub family: String,
    pub categories: Vec<String>,
    pub enabled: bool,
    /// The code of the product model this variant product belongs to; `None`
    /// (serialized `null`) for a simple product.
    #[serde(default)]
    pub parent: Option<String>,
    /// Attribute code to its values, one per locale and scope it has.
    pub values: BTreeMap<String, Vec<ProductValue>>,
    pub created: String,
    /// `2026-11-23T10:00:00+00:00`, whole seconds.
    pub updated: String,
}

impl Product {
    /// A simple, enabled product of `family`, in no category and without values,
    /// created and updated now.
    pub fn new(identifier: &str, family: &str) -> Product {
        let now = akeneo_time(SystemTime::now());
        Product {
            identifier: identifier.to_owned(),
            family: family.to_owned(),
            categories: Vec::new(),
            enabled: true,
            parent: None,
            values: BTreeMap::new(),
            created: now.clone(),
            updated: now,
        }
    }

    /// The same product as a variant of the product model `parent`.
    pub fn variant_of(mut self, parent: &str) -> Product {
        self.parent = Some(parent.to_owned());
        self
    }

    /// The same product with `value` added to the values of `attribute`.
    pub fn with_value(mut self, attribute: &str, value: ProductValue) -> Product {
        self.values
            .entry(attribute.to_owned())
            .or_default()
            .push(value);
        self
    }

    /// The same product with a `name` in each of `(locale, name)`.
    pub fn with_names(self, names: &[(&str, &str)]) -> Product {
        names.iter().fold(self, |product, (locale, name)| {
            product.with_value("name", ProductValue::localized(locale, *name))
        })
    }

    /// The same product with the price collection `price` =
    /// `[(amount, currency), ...]`, like `[("19.90", "EUR"), ("21.00", "USD")]`.
    pub fn with_prices(self, prices: &[(&str, &str)]) -> Product {
        self.with_value("price", ProductValue::prices(prices))
    }

    /// The same product, created and updated at `time`
    /// (`2026-11-23T10:00:00+00:00`).
    pub fn updated_at(mut self, time: &str) -> Product {
        time.clone_into(&mut self.created);
        time.clone_into(&mut self.updated);
        self
    }
}

/// One value of an attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductValue {
    /// `en_US`, or `None` for an attribute that is not localizable.
    pub locale: Option<String>,
    /// The channel (`ecommerce`), or `None` for an attribute that is not scopable.
    pub scope: Option<String>,
    pub data: Value,
    /// Media values link to their file.
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
}

impl ProductValue {
    /// A localized, unscoped value.
    pub fn localized(locale: &str, data: impl Into<Value>) -> Self {
        ProductValue {
            locale: Some(locale.to_owned()),
            scope: None,
            data: data.into(),
            links: None,
        }
    }

    /// A value that is neither localized nor scoped.
    pub fn global(data: impl Into<Value>) -> Self {
        ProductValue {
            locale: None,
            scope: None,
            data: data.into(),
            links: None,
        }
    }

    /// A global value of a price collection attribute: `[(amount, currency),
    /// ...]`, amounts as decimal strings (`"19.90"`), as Akeneo serializes them.
    pub fn prices(prices: &[(&str, &str)]) -> Self {
        let data: Vec<Value> = prices
            .iter()
            .map(|(amount, currency)| json!({"amount": amount, "currency": currency}))
            .collect();
        Self::global(data)
    }
}

/// What a scripted request answers instead of the API. None changes the
/// catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with `{"code": <status>, "message": "injected
    /// failure"}`; a `429` carries `Retry-After: 1`.
    Status(u16),
    /// Answers `429` with `Retry-After: <retry_after_secs>`,
    /// `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset: <retry_after_secs>`.
    RateLimited { retry_after_secs: u64 },
    /// Waits `ms` milliseconds, then serves the request as usual.
    Slow { ms: u64 },
    /// Answers `200` with a JSON content type and a truncated body that does not
    /// parse.
    Malformed,
    /// Serves the request as usual: a script's placeholder for a request that
    /// must succeed before a later one fails.
    Pass,
}

/// What the PIM holds.
#[derive(Debug, Default)]
struct Catalogue {
    products: BTreeMap<String, Product>,
    /// Faults the next requests answer, first first.
    script: VecDeque<Fault>,
    /// No limit when `None`.
    rate: Option<RateWindow>,
    /// Every answered API request: arrival and status.
    requests: Vec<(Instant, u16)>,
}

type Shared = Arc<Mutex<Catalogue>>;

/// The API client (a "connection" in Akeneo) and the user the token endpoint
/// issues tokens to; see [`Pim::enable_oauth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    /// How long an issued access token opens the API.
    pub ttl: Duration,
}

impl OAuthClient {
    /// A client whose access tokens last [`DEFAULT_TOKEN_TTL`].
    pub fn new(client_id: &str, client_secret: &str, username: &str, password: &str) -> Self {
        OAuthClient {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            ttl: DEFAULT_TOKEN_TTL,
        }
    }

    /// The same client, with access tokens that last `ttl`.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

/// What the token endpoint knows and issued.
#[derive(Debug, Default)]
struct Tokens {
    /// `None` until [`Pim::enable_oauth`]: every client is then wrong.
    client: Option<OAuthClient>,
    /// Issued access tokens: when and for how long.
    access: HashMap<String, (Instant, Duration)>,
    /// Refresh tokens not used yet.
    refresh: HashSet<String>,
    /// Access tokens issued so far.
    issued: usize,
}

impl Tokens {
    /// Whether `token` is an issued access token that has not expired at `now`.
    fn accepts(&self, token: &str, now: Instant) -> bool {
        self.access
            .get(token)
            .is_some_and(|(issued, ttl)| now.saturating_duration_since(*issued) < *ttl)
    }

    /// Issues an access token that lasts `ttl` and a refresh token: the token
    /// endpoint's answer.
    fn issue(&mut self, ttl: Duration) -> Value {
        let now = Instant::now();
        self.access
            .retain(|_, (issued, ttl)| now.saturating_duration_since(*issued) < *ttl);
        let access = random_token();
        let refresh = random_token();
        self.access.insert(access.clone(), (now, ttl));
        self.refresh.insert(refresh.clone());
        self.issued += 1;
        json!({
            "access_token": access,
            "expires_in": u64::try_from(ttl.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
            "token_type": "bearer",
            "scope": null,
            "refresh_token": refresh,
        })
    }
}

/// A running PIM sandbox; dropping it stops the server too.
#[derive(Debug)]
pub struct Pim {
    server: Server,
    catalogue: Shared,
    tokens: Arc<Mutex<Tokens>>,
}

impl Pim {
    /// Starts a PIM with `products` on `127.0.0.1` (port picked by the system)
    /// that accepts the bearer `token`.
    pub async fn start(token: &str, products: Vec<Product>) -> anyhow::Result<Pim> {
        Self::start_on(super::ANY_LOOPBACK_PORT, token, products).await
    }

    /// As [`Pim::start`], on the address `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        token: &str,
        products: Vec<Product>,
    ) -> anyhow::Result<Pim> {
        anyhow::ensure!(!token.is_empty(), "the pim sandbox needs a non-empty token");
        let catalogue = Arc::new(Mutex::new(Catalogue {
            products: products
                .into_iter()
                .map(|p| (p.identifier.clone(), p))
                .collect(),
            ..Catalogue::default()
        }));
        let routes = Router::new()
            .route("/api/rest/v1/products", get(list_products))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&catalogue),
                answer_faults,
            ))
            .with_state(Arc::clone(&catalogue));
        let tokens = Arc::new(Mutex::new(Tokens::default()));
        let check: TokenCheck = {
            let token: Arc<str> = Arc::from(token);
            let tokens = Arc::clone(&tokens);
            Arc::new(move |presented: &str| {
                presented == &*token || lock(&tokens).accepts(presented, Instant::now())
            })
        };
        let public = Router::new()
            .route(TOKEN_PATH, post(issue_token))
            .with_state(Arc::clone(&tokens));
        let server = Server::start_with("pim", addr, check, routes, public).await?;
        Ok(Pim {
            server,
            catalogue,
            tokens,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `http://127.0.0.1:PORT/api/oauth/v1/token`: the token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }

    /// Opens the token endpoint to `client`, or changes the client it knows;
    /// tokens issued before stay valid until they expire.
    pub fn enable_oauth(&self, client: OAuthClient) {
        lock(&self.tokens).client = Some(client);
    }

    /// How many access tokens the token endpoint issued so far (password and
    /// refresh grants).
    pub fn tokens_issued(&self) -> usize {
        lock(&self.tokens).issued
    }

    /// Expires every access token issued so far, as if their lifetime had
    /// passed; refresh tokens stay valid, and the static token too.
    pub fn expire_tokens(&self) {
        lock(&self.tokens).access.clear();
    }

    /// Every product, sorted by identifier.
    pub fn products(&self) -> Vec<Product> {
        lock(&self.catalogue).products.values().cloned().collect()
    }

    /// Changes product `identifier` with `edit` and sets its `updated` to now (a
    /// second later than its last `updated` at least, so the change is visible).
    ///
    /// # Panics
    /// If there is no such product.
    pub fn edit_product(&self, identifier: &str, edit: impl FnOnce(&mut Product)) {
        let mut catalogue = lock(&self.catalogue);
        let product = catalogue
            .products
            .get_mut(identifier)
            .unwrap_or_else(|| panic!("the PIM sandbox has no product `{identifier}`"));
        edit(product);
        product.identifier = identifier.to_owned();
        let now = akeneo_time(SystemTime::now());
        product.updated = if now > product.updated {
            now
        } else {
            let last = parse_seconds(&product.updated).unwrap_or_default();
            akeneo_time(UNIX_EPOCH + Duration::from_secs(last + 1))
        };
    }

    /// Appends `faults` to the script: each following API request takes the
    /// next one (see the module documentation).
    ///
    /// # Panics
    /// If a [`Fault::Status`] is not an HTTP status code (100 to 999).
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        let faults: Vec<Fault> = faults.into_iter().collect();
        for fault in &faults {
            if let Fault::Status(status) = fault {
                scripted_status(*status);
            }
        }
        lock(&self.catalogue).script.extend(faults);
    }

    /// Queues `count` times [`Fault::Status`]`(status)`: the next `count`
    /// requests answer `status` without doing anything.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    pub fn fail_next(&self, count: usize, status: u16) {
        self.script(std::iter::repeat_n(Fault::Status(status), count));
    }

    /// Queues `count` times [`Fault::Slow`]: the next `count` requests are
    /// answered only after `delay`.
    pub fn slow_next(&self, count: usize, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.script(std::iter::repeat_n(Fault::Slow { ms }, count));
    }

    /// Allows `limit` requests per `window` from now on (a fresh window), scripted
    /// faults included; see the module documentation.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        lock(&self.catalogue).rate = Some(RateWindow::new(limit, window));
    }

    /// Removes the limit [`Pim::set_rate_limit`] set.
    pub fn lift_rate_limit(&self) {
        lock(&self.catalogue).rate = None;
    }

    /// Every API request answered so far, in the order they were answered:
    /// arrival and status (a scripted fault's included).
    pub fn requests(&self) -> Vec<(Instant, u16)> {
        lock(&self.catalogue).requests.clone()
    }

    /// Stops the server; see [`Server::stop`].
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// `2026-11-23T10:00:00+00:00`: Akeneo's date-time format.
fn akeneo_time(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// Unix seconds of `2026-11-23T10:00:00+00:00` or `2026-11-23 10:00:00` (UTC).
fn parse_seconds(text: &str) -> Option<u64> {
    let head = text.get(..19)?.replace(' ', "T");
    let parsed = chrono::NaiveDateTime::parse_from_str(&head, "%Y-%m-%dT%H:%M:%S").ok()?;
    u64::try_from(parsed.and_utc().timestamp()).ok()
}

/// `count` demo products `SKU-0001`... updated a minute apart on 2026-11-01, in
/// groups of three: two T-shirts (family `tshirts`, category `summer`) that are
/// the sizes `s` and `m` of the product model `tshirt-<g>`, then a simple mug
/// (family `mugs`, category `kitchen`, `parent` null), where `<g>` counts the
/// groups from 1. Every product has a `name` and a `description` in `en_US` and
/// `fr_FR` (`T-shirt <g>` / `T-shirt <g> (FR)`, `Mug <g>` / `Mug <g> (FR)`), a
/// global `price` in EUR and USD (a model's variants share theirs) and an image.
pub fn demo_products(count: usize) -> Vec<Product> {
    let start = parse_seconds("2026-11-01T09:00:00").expect("a valid date");
    (1..=count)
        .map(|n| {
            let identifier = format!("SKU-{n:04}");
            let time = akeneo_time(UNIX_EPOCH + Duration::from_secs(start + 60 * n as u64));
            let group = (n - 1) / 3 + 1;
            let size = ["s", "m"].get((n - 1) % 3).copied();
            let image = format!("a/b/c/{}_front.jpg", identifier.to_lowercase());
            let (family, category, name, description, eur_cents, usd_cents) = match size {
                Some(_) => (
                    "tshirts",
                    "summer",
                    format!("T-shirt {group}"),
                    [
                        "Organic cotton, regular fit.",
                        "Coton biologique, coupe droite.",
                    ],
                    1_090 + 100 * group,
                    1_200 + 100 * group,
                ),
                None => (
                    "mugs",
                    "kitchen",
                    format!("Mug {group}"),
                    ["Stoneware, 33 cl.", "Grès, 33 cl."],
                    550 + 100 * group,
                    610 + 100 * group,
                ),
            };
            let mut product = Product {
                categories: vec![category.to_owned()],
                ..Product::new(&identifier, family)
            }
            .with_names(&[("en_US", &name), ("fr_FR", &format!("{name} (FR)"))])
            .with_value(
                "description",
                ProductValue::localized("en_US", description[0]),
            )
            .with_value(
                "description",
                ProductValue::localized("fr_FR", description[1]),
            )
            .with_prices(&[(&decimal(eur_cents), "EUR"), (&decimal(usd_cents), "USD")])
            .with_value(
                "image",
                ProductValue {
                    links: Some(json!({"download": {
                        "href": format!("/api/rest/v1/media-files/{image}/download")
                    }})),
                    ..ProductValue::global(image)
                },
            )
            .updated_at(&time);
            if let Some(size) = size {
                product = product
                    .variant_of(&format!("tshirt-{group}"))
                    .with_value("size", ProductValue::global(size));
            }
            product
        })
        .collect()
}

/// `1190` cents as `"11.90"`: Akeneo's amounts, two decimals.
fn decimal(cents: usize) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Akeneo's error body: `{"code": <status>, "message": "<message>"}`.
fn akeneo_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "code": status.as_u16(), "message": message.into() })),
    )
        .into_response()
}

/// `TOKEN_LEN` random ASCII letters and digits.
fn random_token() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(TOKEN_LEN)
        .collect()
}

/// An error of the token endpoint: Akeneo's `code` and `message`, and RFC
/// 6749's `error` and `error_description`.
fn oauth_error(status: StatusCode, error: &str, message: &str) -> Response {
    let mut response = (
        status,
        Json(json!({
            "code": status.as_u16(),
            "message": message,
            "error": error,
            "error_description": message,
        })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    response
}

/// `POST /api/oauth/v1/token`: the password and refresh token grants, for the
/// client [`Pim::enable_oauth`] set.
async fn issue_token(
    State(tokens): State<Arc<Mutex<Tokens>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    let params = if json_body {
        json_params(&body)
    } else {
        form_params(&body)
    };
    let credentials = basic_credentials(&headers);
    let mut tokens = lock(&tokens);
    let Some(client) = tokens.client.clone().filter(|client| {
        credentials.as_ref().is_some_and(|presented| {
            presented
                .iter()
                .any(|(id, secret)| *id == client.client_id && *secret == client.client_secret)
        })
    }) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client credentials are invalid",
        );
    };
    let params = match params {
        Ok(params) => params,
        Err(message) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &message),
    };
    let param = |name: &str| params.get(name).filter(|value| !value.is_empty());
    let missing = |name: &str| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("The parameter `{name}` is missing"),
        )
    };
    match param("grant_type").map(String::as_str) {
        None => missing("grant_type"),
        Some("password") => {
            let (Some(username), Some(password)) = (param("username"), param("password")) else {
                return missing(if param("username").is_none() {
                    "username"
                } else {
                    "password"
                });
            };
            if *username != client.username || *password != client.password {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid username and password combination",
                );
            }
            token_answer(tokens.issue(client.ttl))
        }
        Some("refresh_token") => {
            let Some(refresh) = param("refresh_token") else {
                return missing("refresh_token");
            };
            if !tokens.refresh.remove(refresh) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid refresh token",
                );
            }
            token_answer(tokens.issue(client.ttl))
        }
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("The grant type `{other}` is not supported"),
        ),
    }
}

/// `200` with the issued tokens, not to be cached (RFC 6749 5.1).
fn token_answer(body: Value) -> Response {
    (
        StatusCode::OK,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(body),
    )
        .into_response()
}

/// The client id and secret of `Authorization: Basic`, as sent and form-decoded
/// (RFC 6749 2.3.1 encodes them; most clients do not), `None` without Basic
/// credentials.
fn basic_credentials(headers: &HeaderMap) -> Option<Vec<(String, String)>> {
    let (scheme, encoded) = headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim()
        .split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let mut candidates = vec![(id.to_owned(), secret.to_owned())];
    if let (Some(id), Some(secret)) = (form_decode(id), form_decode(secret)) {
        candidates.push((id, secret));
    }
    Some(candidates)
}

/// The parameters of a form body; the first of a repeated name counts.
fn form_params(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "The body is not UTF-8".to_owned())?;
    let mut params = HashMap::new();
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(name), Some(value)) = (form_decode(name), form_decode(value)) else {
            return Err(format!("`{pair}` is not form-encoded"));
        };
        params.entry(name).or_insert(value);
    }
    Ok(params)
}

/// The string members of a JSON object body (`null` ones left out).
fn json_params(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let object: serde_json::Map<String, Value> = serde_json::from_slice(body)
        .map_err(|err| format!("The body is not a JSON object: {err}"))?;
    let mut params = HashMap::new();
    for (name, value) in object {
        match value {
            Value::String(value) => {
                params.insert(name, value);
            }
            Value::Null => {}
            _ => return Err(format!("The parameter `{name}` must be a string")),
        }
    }
    Ok(params)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Standard base64, padding optional; `None` on a character outside the
/// alphabet.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in text.trim_end_matches('=').bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `429` with `Retry-After: <secs>`.
fn too_many(retry_after_secs: u64) -> Response {
    let mut response = akeneo_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// Answers the request's scripted fault, if any, and `429` past the rate limit;
/// adds the `X-RateLimit-*` headers while a limit is set (or to a scripted
/// `429`); records every answer.
async fn answer_faults(State(catalogue): State<Shared>, request: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let (fault, admission) = {
        let mut c = lock(&catalogue);
        let admission = c.rate.as_mut().map(|rate| rate.admit(arrived));
        (c.script.pop_front(), admission)
    };
    // The headers of the answer: limit, remaining, reset.
    let mut window = admission.map(|a| (a.limit, a.remaining, a.reset_secs));
    let mut response = match fault {
        Some(Fault::Status(status)) => {
            let status = scripted_status(status);
            if status == StatusCode::TOO_MANY_REQUESTS {
                too_many(1)
            } else {
                akeneo_error(status, "injected failure")
            }
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let limit = admission.map_or(AKENEO_RATE_LIMIT, |a| a.limit);
            window = Some((limit, 0, retry_after_secs));
            too_many(retry_after_secs)
        }
        Some(Fault::Malformed) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            MALFORMED_BODY,
        )
            .into_response(),
        Some(Fault::Slow { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            serve(admission, request, next).await
        }
        Some(Fault::Pass) | None => serve(admission, request, next).await,
    };
    if let Some((limit, remaining, reset)) = window {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", u64::from(limit)),
            ("x-ratelimit-remaining", u64::from(remaining)),
            ("x-ratelimit-reset", reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    lock(&catalogue)
        .requests
        .push((arrived, response.status().as_u16()));
    response
}

/// The API's answer, or `429` when the rate limit refused the request.
async fn serve(admission: Option<Admission>, request: Request, next: Next) -> Response {
    match admission {
        Some(refused) if !refused.admitted => too_many(refused.reset_secs),
        _ => next.run(request).await,
    }
}

/// The query of the product list.
#[derive(Debug, Deserialize)]
struct ProductQuery {
    search: Option<String>,
    limit: Option<usize>,
    page: Option<usize>,
}

/// One condition of Akeneo's `search`.
#[derive(Debug, Deserialize)]
struct Condition {
    operator: String,
    value: String,
}

/// `GET /api/rest/v1/products`.
async fn list_products(
    State(catalogue): State<Shared>,
    Query(query): Query<ProductQuery>,
) -> Response {
    let mut bounds: Vec<(String, u64)> = Vec::new();
    if let Some(search) = &query.search {
        let filters: BTreeMap<String, Vec<Condition>> = match serde_json::from_str(search) {
            Ok(filters) => filters,
            Err(err) => {
                return akeneo_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("search is not a valid filter: {err}"),
                );
            }
        };
        for (property, conditions) in filters {
            if property != "updated" {
                return akeneo_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("filter on `{property}` is not supported by the sandbox"),
                );
            }
            for condition in conditions {
                let Some(at) = parse_seconds(&condition.value) else {
                    return akeneo_error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("`{}` is not a date-time", condition.value),
                    );
                };
                if condition.operator != ">" && condition.operator != "<" {
                    return akeneo_error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("operator `{}` is not supported", condition.operator),
                    );
                }
                bounds.push((condition.operator, at));
            }
        }
    }
    let limit = query.limit.unwrap_or(10).clamp(1, MAX_LIMIT);
    let page = query.page.unwrap_or(1).max(1);
    let c = lock(&catalogue);
    let mut matching: Vec<&Product> = c
        .products
        .values()
        .filter(|p| {
            let at = parse_seconds(&p.updated).unwrap_or_default();
            bounds
                .iter()
                .all(|(operator, bound)| match operator.as_str() {
                    ">" => at > *bound,
                    _ => at < *bound,
                })
        })
        .collect();
    matching.sort_by(|a, b| (&a.updated, &a.identifier).cmp(&(&b.updated, &b.identifier)));
    let has_next = matching.len() > page * limit;
    let items: Vec<&Product> = matching
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let link = |page: usize| {
        let mut href = format!("/api/rest/v1/products?limit={limit}&page={page}");
        if let Some(search) = &query.search {
            href.push_str("&search=");
            href.push_str(&percent_encode(search));
        }
        json!({ "href": href })
    };
    let mut links = json!({ "self": link(page), "first": link(1) });
    if has_next {
        links["next"] = link(page + 1);
    }
    Json(json!({
        "_links": links,
        "current_page": page,
        "_embedded": { "items": items },
    }))
    .into_response()
}

/// Percent-encodes all but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let secs = parse_seconds("2026-11-23T10:00:00+00:00").unwrap();
        assert_eq!(parse_seconds("2026-11-23 10:00:00"), Some(secs));
        assert_eq!(
            akeneo_time(UNIX_EPOCH + Duration::from_secs(secs)),
            "2026-11-23T10:00:00+00:00"
        );
    }

    #[test]
    fn demo_products_group_variants_under_models_and_price_everything() {
        let products = demo_products(4);
        let parents: Vec<Option<&str>> = products.iter().map(|p| p.parent.as_deref()).collect();
        assert_eq!(
            parents,
            [Some("tshirt-1"), Some("tshirt-1"), None, Some("tshirt-2")]
        );
        let json = serde_json::to_value(&products[2]).unwrap();
        assert_eq!(json["parent"], Value::Null, "always serialized");
        assert_eq!(json["family"], "mugs");
        assert_eq!(
            json["values"]["price"],
            json!([{"locale": null, "scope": null, "data": [
                {"amount": "6.50", "currency": "EUR"},
                {"amount": "7.10", "currency": "USD"},
            ]}])
        );
        let first = serde_json::to_value(&products[0]).unwrap();
        assert_eq!(first["values"]["price"][0]["data"][0]["amount"], "11.90");
        assert_eq!(first["values"]["size"][0]["data"], "s");
        assert_eq!(first["values"]["name"][1]["data"], "T-shirt 1 (FR)");
        for product in &products {
            let locales: Vec<Option<&str>> = product.values["description"]
                .iter()
                .map(|v| v.locale.as_deref())
                .collect();
            assert_eq!(locales, [Some("en_US"), Some("fr_FR")]);
            assert_eq!(product.values["price"][0].data.as_array().unwrap().len(), 2);
        }
    }

    async fn get(pim: &Pim) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}/api/rest/v1/products?limit=1", pim.base_url()))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn scripted_faults_answer_in_order() {
        let pim = Pim::start("t", demo_products(2)).await.unwrap();
        pim.script([
            Fault::Pass,
            Fault::Status(503),
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            Fault::Malformed,
            Fault::Slow { ms: 300 },
        ]);
        assert_eq!(get(&pim).await.status(), 200);
        let failed = get(&pim).await;
        assert_eq!(failed.status(), 503);
        assert_eq!(
            serde_json::from_slice::<Value>(&failed.bytes().await.unwrap()).unwrap(),
            json!({"code": 503, "message": "injected failure"})
        );
        let limited = get(&pim).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "7");
        assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
        assert_eq!(limited.headers()["x-ratelimit-reset"], "7");
        let malformed = get(&pim).await;
        assert_eq!(malformed.status(), 200);
        assert!(serde_json::from_slice::<Value>(&malformed.bytes().await.unwrap()).is_err());
        let started = Instant::now();
        let slow = get(&pim).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            serde_json::from_slice::<Value>(&slow.bytes().await.unwrap()).unwrap()["_embedded"]["items"]
                [0]["identifier"],
            "SKU-0001"
        );
        assert_eq!(get(&pim).await.status(), 200, "the script is used up");
        let statuses: Vec<u16> = pim.requests().iter().map(|r| r.1).collect();
        assert_eq!(statuses, [200, 503, 429, 200, 200, 200]);
        pim.stop().await;
    }

    #[tokio::test]
    async fn the_rate_limit_answers_429_with_retry_after_until_the_window_resets() {
        let pim = Pim::start("t", demo_products(1)).await.unwrap();
        assert!(get(&pim).await.headers().get("x-ratelimit-limit").is_none());
        pim.set_rate_limit(2, Duration::from_secs(30));
        for remaining in ["1", "0"] {
            let ok = get(&pim).await;
            assert_eq!(ok.status(), 200);
            assert_eq!(ok.headers()["x-ratelimit-limit"], "2");
            assert_eq!(ok.headers()["x-ratelimit-remaining"], remaining);
        }
        let limited = get(&pim).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "30");
        assert_eq!(limited.headers()["x-ratelimit-reset"], "30");
        pim.set_rate_limit(1, Duration::from_millis(200));
        assert_eq!(get(&pim).await.status(), 200);
        assert_eq!(get(&pim).await.status(), 429);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(get(&pim).await.status(), 200, "a new window");
        pim.lift_rate_limit();
        assert_eq!(get(&pim).await.status(), 200);
        pim.stop().await;
    }

    const FORM: &str = "application/x-www-form-urlencoded";
    const JSON: &str = "application/json";

    /// A PIM with the static token `t` and OAuth for `client`/`secret`,
    /// `julia`/`pw`, whose access tokens last `ttl`.
    async fn oauth_pim(ttl: Duration) -> Pim {
        let pim = Pim::start("t", demo_products(2)).await.unwrap();
        pim.enable_oauth(OAuthClient::new("client", "secret", "julia", "pw").with_ttl(ttl));
        pim
    }

    /// Posts `body` to the token endpoint with Basic `client:secret`; the status
    /// and the JSON body.
    async fn request_token(
        pim: &Pim,
        client: Option<(&str, &str)>,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(pim.token_url())
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    /// The status of listing products with the bearer `token`.
    async fn list_with(pim: &Pim, token: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/api/rest/v1/products?limit=1", pim.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn assert_token_answer(body: &Value, expires_in: u64) {
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], expires_in);
        assert_eq!(body["scope"], Value::Null);
        for key in ["access_token", "refresh_token"] {
            let token = body[key].as_str().unwrap();
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[tokio::test]
    async fn the_password_grant_with_a_form_body_gives_a_token_that_lists_products() {
        let pim = oauth_pim(DEFAULT_TOKEN_TTL).await;
        let (status, body) = request_token(
            &pim,
            Some(("client", "secret")),
            FORM,
            "grant_type=password&username=julia&password=pw",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_token_answer(&body, 3600);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(list_with(&pim, token).await, 200);
        assert_eq!(list_with(&pim, "not-a-token").await, 401);
        assert_eq!(pim.tokens_issued(), 1);
        assert_eq!(pim.requests().len(), 1, "the token request is not listed");
        pim.stop().await;
    }

    #[tokio::test]
    async fn the_password_grant_with_a_json_body_gives_a_token_that_lists_products() {
        let pim = Pim::start("t", demo_products(2)).await.unwrap();
        pim.enable_oauth(OAuthClient::new("cl ient+1", "s:e/c", "julia", "p w"));
        let (status, body) = request_token(
            &pim,
            Some(("cl ient+1", "s:e/c")),
            "application/json; charset=utf-8",
            r#"{"grant_type": "password", "username": "julia", "password": "p w"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_token_answer(&body, 3600);
        assert_eq!(
            list_with(&pim, body["access_token"].as_str().unwrap()).await,
            200
        );
        let (status, body) = request_token(
            &pim,
            Some(("cl%20ient%2B1", "s%3Ae%2Fc")),
            FORM,
            "grant_type=password&username=julia&password=p+w",
        )
        .await;
        assert_eq!(
            status, 200,
            "RFC 6749 2.3.1 form-encoded credentials: {body}"
        );
        assert_eq!(pim.tokens_issued(), 2);
        pim.stop().await;
    }

    #[tokio::test]
    async fn a_wrong_or_missing_client_gets_401() {
        let pim = Pim::start("t", demo_products(1)).await.unwrap();
        let grant = "grant_type=password&username=julia&password=pw";
        let (status, body) = request_token(&pim, Some(("client", "secret")), FORM, grant).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_client")),
            "before enable_oauth"
        );
        pim.enable_oauth(OAuthClient::new("client", "secret", "julia", "pw"));
        let (status, body) = request_token(&pim, Some(("client", "wrong")), FORM, grant).await;
        assert_eq!(status, 401);
        assert_eq!(body["code"], 401);
        assert_eq!(body["error"], "invalid_client");
        assert!(body["message"].is_string());
        let (status, _) = request_token(&pim, None, FORM, grant).await;
        assert_eq!(status, 401);
        let unauthorized = reqwest::Client::new()
            .post(pim.token_url())
            .bearer_auth("t")
            .send()
            .await
            .unwrap();
        assert_eq!(unauthorized.status(), 401, "the static token is no client");
        assert_eq!(unauthorized.headers()["www-authenticate"], "Basic");
        assert_eq!(pim.tokens_issued(), 0);
        pim.stop().await;
    }

    #[tokio::test]
    async fn a_wrong_password_or_grant_gets_400() {
        let pim = oauth_pim(DEFAULT_TOKEN_TTL).await;
        let client = Some(("client", "secret"));
        for body in [
            "grant_type=password&username=julia&password=wrong",
            "grant_type=password&username=bob&password=pw",
        ] {
            let (status, body) = request_token(&pim, client, FORM, body).await;
            assert_eq!(status, 400);
            assert_eq!(body["code"], 400);
            assert_eq!(body["error"], "invalid_grant");
            assert!(body["message"].is_string());
        }
        let (status, body) = request_token(
            &pim,
            client,
            JSON,
            r#"{"grant_type": "client_credentials"}"#,
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("unsupported_grant_type"))
        );
        for (content_type, body) in [
            (FORM, "username=julia&password=pw"),
            (FORM, "grant_type=password&username=julia"),
            (
                JSON,
                r#"{"grant_type": "password", "username": "julia", "password": 1}"#,
            ),
            (JSON, "not json"),
        ] {
            let (status, answer) = request_token(&pim, client, content_type, body).await;
            assert_eq!(
                (status, &answer["error"]),
                (400, &json!("invalid_request")),
                "{body}"
            );
        }
        assert_eq!(pim.tokens_issued(), 0);
        pim.stop().await;
    }

    #[tokio::test]
    async fn an_issued_token_stops_working_when_it_expires() {
        let pim = oauth_pim(Duration::from_secs(1)).await;
        let grant = "grant_type=password&username=julia&password=pw";
        let (_, body) = request_token(&pim, Some(("client", "secret")), FORM, grant).await;
        assert_token_answer(&body, 1);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(list_with(&pim, token).await, 200);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(list_with(&pim, token).await, 401, "expired by its TTL");

        pim.enable_oauth(OAuthClient::new("client", "secret", "julia", "pw"));
        let (_, body) = request_token(&pim, Some(("client", "secret")), FORM, grant).await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(list_with(&pim, token).await, 200);
        pim.expire_tokens();
        assert_eq!(
            list_with(&pim, token).await,
            401,
            "expired by expire_tokens"
        );
        assert_eq!(
            list_with(&pim, "t").await,
            200,
            "the static token never expires"
        );
        assert_eq!(pim.tokens_issued(), 2);
        pim.stop().await;
    }

    #[tokio::test]
    async fn the_refresh_token_grant_issues_a_new_token_once_per_refresh_token() {
        let pim = oauth_pim(DEFAULT_TOKEN_TTL).await;
        let client = Some(("client", "secret"));
        let (_, first) = request_token(
            &pim,
            client,
            FORM,
            "grant_type=password&username=julia&password=pw",
        )
        .await;
        pim.expire_tokens();
        let refresh = first["refresh_token"].as_str().unwrap();
        let (status, second) = request_token(
            &pim,
            client,
            JSON,
            &json!({"grant_type": "refresh_token", "refresh_token": refresh}).to_string(),
        )
        .await;
        assert_eq!(status, 200, "{second}");
        assert_token_answer(&second, 3600);
        assert_ne!(second["access_token"], first["access_token"]);
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(
            list_with(&pim, second["access_token"].as_str().unwrap()).await,
            200
        );
        assert_eq!(
            list_with(&pim, first["access_token"].as_str().unwrap()).await,
            401
        );
        assert_eq!(pim.tokens_issued(), 2);
        let reused = format!("grant_type=refresh_token&refresh_token={refresh}");
        let (status, body) = request_token(&pim, client, FORM, &reused).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_grant")),
            "used once"
        );
        let (status, body) = request_token(
            &pim,
            client,
            FORM,
            "grant_type=refresh_token&refresh_token=unknown",
        )
        .await;
        assert_eq!((status, &body["error"]), (400, &json!("invalid_grant")));
        let next = format!(
            "grant_type=refresh_token&refresh_token={}",
            second["refresh_token"].as_str().unwrap()
        );
        assert_eq!(request_token(&pim, client, FORM, &next).await.0, 200);
        assert_eq!(pim.tokens_issued(), 3);
        pim.stop().await;
    }

    #[tokio::test]
    async fn the_static_token_and_the_404_fallback_still_work() {
        let pim = oauth_pim(DEFAULT_TOKEN_TTL).await;
        assert_eq!(list_with(&pim, "t").await, 200);
        assert_eq!(list_with(&pim, "u").await, 401);
        let unknown = |token: &'static str| {
            reqwest::Client::new()
                .get(format!("{}/api/rest/v1/nothing", pim.base_url()))
                .bearer_auth(token)
                .send()
        };
        assert_eq!(unknown("t").await.unwrap().status(), 404);
        assert_eq!(unknown("u").await.unwrap().status(), 401);
        let get_token = reqwest::Client::new()
            .get(pim.token_url())
            .send()
            .await
            .unwrap();
        assert_eq!(
            get_token.status(),
            405,
            "the token endpoint takes POST only"
        );
        assert_eq!(pim.tokens_issued(), 0);
        pim.stop().await;
    }

    #[test]
    fn basic_credentials_and_forms_decode() {
        assert_eq!(
            base64_decode("Y2xpZW50OnNlY3JldA==").unwrap(),
            b"client:secret"
        );
        assert_eq!(
            base64_decode("Y2xpZW50OnNlY3JldA").unwrap(),
            b"client:secret"
        );
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("Zm9v!").is_none());
        assert_eq!(form_decode("a+b%2Bc%3D").as_deref(), Some("a b+c="));
        assert!(form_decode("%2").is_none());
        assert!(form_decode("%+1").is_none());
        let params = form_params(b"grant_type=password&username=a%40b&grant_type=x&flag").unwrap();
        assert_eq!(params["grant_type"], "password", "the first counts");
        assert_eq!(params["username"], "a@b");
        assert_eq!(params["flag"], "");
    }
}
