//! The PIM sandbox: a product catalogue that follows the shape of Akeneo's REST
//! API: products with a family, categories of a category tree, a parent product
//! model (for variants), attribute values per locale and channel (scope),
//! prices, image attributes that name media files, associations (plain and
//! quantified), completeness per channel and locale, search by `updated`,
//! completeness, categories and status, page links; and, for the tests,
//! scripted faults and a rate limit.
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
//! - `GET /api/rest/v1/products?search=&limit=&page=&with_completenesses=`
//!   answers `200 {"_links": {"self": {"href"}, "first": {"href"}, "next":
//!   {"href"}?}, "current_page": p, "_embedded": {"items": [Product, ...]}}`,
//!   sorted by `(updated, identifier)`, `limit` per page (default 10, at most
//!   100), pages from 1; `next` is there only when another page follows, and
//!   every link repeats the query (`search`, `with_completenesses`). `search`
//!   is Akeneo's JSON filter, `{"<property>": [{"operator", "value", ...}]}`,
//!   every condition to hold; the sandbox understands
//!   - `updated` with `>` or `<` and a date-time (`2026-11-23 10:00:00`, or
//!     RFC 3339);
//!   - `completeness` with a `scope` (a channel) and `=`, `!=`, `<`, `<=`,
//!     `>`, `>=` (true when the completeness of at least one locale of the
//!     channel, or of the given `locales`, compares so: Akeneo's "independently
//!     of locales"), or `GREATER THAN ON ALL LOCALES`, `GREATER OR EQUALS THAN
//!     ON ALL LOCALES`, `LOWER THAN ON ALL LOCALES`, `LOWER OR EQUALS THAN ON
//!     ALL LOCALES` (every one of the given `locales`, which are then
//!     required); a product without a family has no completeness and matches
//!     none;
//!   - `categories` with `IN`, `NOT IN`, `IN OR UNCLASSIFIED`, `IN CHILDREN`,
//!     `NOT IN CHILDREN` (a list of existing category codes; the `CHILDREN`
//!     forms take the categories and everything under them) or `UNCLASSIFIED`;
//!   - `enabled` with `=` or `!=` and a boolean;
//!
//!   and refuses other properties, operators and values with `422`, an unknown
//!   category or channel too. With `with_completenesses=true` every product
//!   carries `"completenesses": [{"scope", "locale", "data": <percent>}, ...]`.
//! - Products look like Akeneo's: `identifier`, `family`, `categories` (codes),
//!   `enabled`, `parent` (the code of the product model a variant product
//!   belongs to, `null` for a simple product; always serialized, as Akeneo
//!   does), `values` = `{attribute: [{"locale", "scope", "data"}]}`,
//!   `associations` = `{"X_SELL": {"products": [...], "product_models": [...],
//!   "groups": [...]}, ...}`, `quantified_associations` = `{"PACK":
//!   {"products": [{"identifier", "quantity"}], "product_models": [...]}}`
//!   (both always serialized, `{}` when empty), `created`, `updated`
//!   (`2026-11-23T10:00:00+00:00`). A price collection's `data` is
//!   `[{"amount": "19.90", "currency": "EUR"}, ...]` (amounts are decimal
//!   strings). An image value's `data` is the media file's code
//!   (`a/b/c/sku-0001_front.jpg`) and it carries `_links.download.href`, the
//!   absolute URL of the file's download. As in Akeneo, a variant product lists
//!   the values it inherits from its model too; product models are not served.
//!   In Akeneo an association type is either plain or quantified; here `PACK`
//!   is the quantified one.
//! - Completeness, per channel and locale, is Akeneo's: of the attributes the
//!   product's [`Family`] requires in the channel, plus the identifier (always
//!   filled), the share that has a value for that locale (or a value that is
//!   not localizable) and channel (or not scopable) whose `data` is not null,
//!   `""` or `[]`, rounded down. A family the sandbox was not told about
//!   requires nothing but the identifier; channels are the [`Channel`]s set.
//! - `GET /api/rest/v1/categories?search=&limit=&page=&with_position=` pages
//!   the category tree as the product list does, sorted root/left (each tree
//!   depth first, siblings by code); items are `{"code", "parent" (null for a
//!   root), "updated", "labels": {"en_US": "..."}}`, with `"position"` (from
//!   1 among siblings) when `with_position=true`. `search` understands
//!   `parent` (`=` a code: its direct children), `code` (`IN` a list),
//!   `is_root` (`=` a boolean) and `updated` (`>` an ISO 8601 date-time).
//!   `GET /api/rest/v1/categories/{code}` answers one, `404` for another code.
//! - `GET /api/rest/v1/media-files/{code}` answers `{"code",
//!   "original_filename", "mime_type", "size", "extension", "_links":
//!   {"download": {"href"}}}` for the code of an image value of any product,
//!   `404` otherwise; `GET /api/rest/v1/media-files/{code}/download` answers
//!   the file: placeholder bytes of the extension's content type.
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
//!   `en_US` and `fr_FR`, a price in EUR and USD, images, cross-sells, upsells,
//!   substitutions and packs; the eighth product has no images yet and is
//!   incomplete. Every PIM starts with [`demo_categories`] (a small tree),
//!   [`demo_families`] (what `tshirts` and `mugs` require) and
//!   [`demo_channels`] (`ecommerce` in `en_US` and `fr_FR`).
//! - [`Product::new`] and its `with_*` methods build a product for a test;
//!   [`Category::new`], [`Family::new`] and [`Channel::new`] the rest.
//! - [`Pim::edit_product`] and [`Pim::edit_category`] change a product or a
//!   category as a catalogue editor would, and move its `updated` to now (a
//!   category's edit leaves its products' `updated` alone, as in Akeneo);
//!   [`Pim::set_categories`], [`Pim::set_family`] and [`Pim::set_channel`]
//!   replace the tree, a family or a channel; [`Pim::completenesses`] says what
//!   a product's completeness is.
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

/// The largest `limit` of the product and category lists.
const MAX_LIMIT: usize = 100;

/// Where media files are served.
const MEDIA_FILES: &str = "/api/rest/v1/media-files";

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
    /// The family's code; `""` for a product without a family (it has no
    /// completeness).
    pub family: String,
    /// Codes of the categories the product is classified in.
    pub categories: Vec<String>,
    pub enabled: bool,
    /// The code of the product model this variant product belongs to; `None`
    /// (serialized `null`) for a simple product.
    #[serde(default)]
    pub parent: Option<String>,
    /// Attribute code to its values, one per locale and scope it has.
    pub values: BTreeMap<String, Vec<ProductValue>>,
    /// Association type (`X_SELL`, `UPSELL`, `SUBSTITUTION`) to what the
    /// product is associated with.
    #[serde(default)]
    pub associations: BTreeMap<String, Association>,
    /// Quantified association type (`PACK`) to the parts and their quantity.
    #[serde(default)]
    pub quantified_associations: BTreeMap<String, QuantifiedAssociation>,
    pub created: String,
    /// `2026-11-23T10:00:00+00:00`, whole seconds.
    pub updated: String,
}

impl Product {
    /// A simple, enabled product of `family`, in no category, without values
    /// or associations, created and updated now.
    pub fn new(identifier: &str, family: &str) -> Product {
        let now = akeneo_time(SystemTime::now());
        Product {
            identifier: identifier.to_owned(),
            family: family.to_owned(),
            categories: Vec::new(),
            enabled: true,
            parent: None,
            values: BTreeMap::new(),
            associations: BTreeMap::new(),
            quantified_associations: BTreeMap::new(),
            created: now.clone(),
            updated: now,
        }
    }

    /// The same product as a variant of the product model `parent`.
    pub fn variant_of(mut self, parent: &str) -> Product {
        self.parent = Some(parent.to_owned());
        self
    }

    /// The same product, classified in `categories` (codes) instead.
    pub fn in_categories(mut self, categories: &[&str]) -> Product {
        self.categories = categories.iter().map(|&c| c.to_owned()).collect();
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

    /// The same product with the image attribute `attribute` naming the media
    /// file `code` (`a/b/c/tee_front.jpg`).
    pub fn with_image(self, attribute: &str, code: &str) -> Product {
        self.with_value(attribute, ProductValue::media(code))
    }

    /// The same product, associated by the type `kind` (`X_SELL`) with the
    /// products `identifiers` too.
    pub fn associated(mut self, kind: &str, identifiers: &[&str]) -> Product {
        let association = self.associations.entry(kind.to_owned()).or_default();
        association
            .products
            .extend(identifiers.iter().map(|&i| i.to_owned()));
        self
    }

    /// The same product, associated by the type `kind` with the product models
    /// `codes` too.
    pub fn associated_models(mut self, kind: &str, codes: &[&str]) -> Product {
        let association = self.associations.entry(kind.to_owned()).or_default();
        association
            .product_models
            .extend(codes.iter().map(|&c| c.to_owned()));
        self
    }

    /// The same product with the quantified association `kind` (`PACK`)
    /// holding `parts` = `[(identifier, quantity), ...]` too.
    pub fn with_parts(mut self, kind: &str, parts: &[(&str, u32)]) -> Product {
        let association = self
            .quantified_associations
            .entry(kind.to_owned())
            .or_default();
        association
            .products
            .extend(parts.iter().map(|&(identifier, quantity)| Quantified {
                identifier: identifier.to_owned(),
                quantity,
            }));
        self
    }

    /// The same product, created and updated at `time`
    /// (`2026-11-23T10:00:00+00:00`).
    pub fn updated_at(mut self, time: &str) -> Product {
        time.clone_into(&mut self.created);
        time.clone_into(&mut self.updated);
        self
    }
}

/// What one association type of a product links to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    /// Product identifiers.
    #[serde(default)]
    pub products: Vec<String>,
    /// Product model codes.
    #[serde(default)]
    pub product_models: Vec<String>,
    /// Group codes.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// What one quantified association type of a product holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantifiedAssociation {
    #[serde(default)]
    pub products: Vec<Quantified>,
    /// Product model codes, as `identifier`.
    #[serde(default)]
    pub product_models: Vec<Quantified>,
}

/// A part of a quantified association: what, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantified {
    pub identifier: String,
    pub quantity: u32,
}

/// One value of an attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductValue {
    /// `en_US`, or `None` for an attribute that is not localizable.
    pub locale: Option<String>,
    /// The channel (`ecommerce`), or `None` for an attribute that is not scopable.
    pub scope: Option<String>,
    pub data: Value,
    /// Media values link to their file: `{"download": {"href": "/api/rest/v1/
    /// media-files/<code>/download"}}`, made absolute when served.
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

    /// A global value of an image attribute: the media file `code`, with its
    /// download link. The media-files endpoint serves every code a product's
    /// image value names.
    pub fn media(code: &str) -> Self {
        ProductValue {
            links: Some(json!({"download": {"href": format!("{MEDIA_FILES}/{code}/download")}})),
            ..Self::global(code)
        }
    }

    /// Whether the value counts as filled for completeness.
    fn is_filled(&self) -> bool {
        match &self.data {
            Value::Null => false,
            Value::String(text) => !text.is_empty(),
            Value::Array(items) => !items.is_empty(),
            _ => true,
        }
    }
}

/// A category of a category tree, as the PIM lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub code: String,
    /// The parent's code; `None` (serialized `null`) for a root: a tree.
    pub parent: Option<String>,
    /// `2026-11-23T10:00:00+00:00`: a rename or a move changes it.
    pub updated: String,
    /// Name per locale.
    pub labels: BTreeMap<String, String>,
}

impl Category {
    /// A category under `parent` (a root for `None`) with `labels` =
    /// `[(locale, name), ...]`, updated now.
    pub fn new(code: &str, parent: Option<&str>, labels: &[(&str, &str)]) -> Category {
        Category {
            code: code.to_owned(),
            parent: parent.map(str::to_owned),
            updated: akeneo_time(SystemTime::now()),
            labels: labels
                .iter()
                .map(|(locale, name)| ((*locale).to_owned(), (*name).to_owned()))
                .collect(),
        }
    }

    /// The same category, updated at `time` (`2026-11-23T10:00:00+00:00`).
    pub fn updated_at(mut self, time: &str) -> Category {
        time.clone_into(&mut self.updated);
        self
    }
}

/// A family: the attributes a product of it must have, per channel, to be
/// complete there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub code: String,
    /// Channel code to the attribute codes required in it (the identifier is
    /// always required and always filled: do not list it).
    pub requirements: BTreeMap<String, Vec<String>>,
}

impl Family {
    /// A family that requires nothing but the identifier.
    pub fn new(code: &str) -> Family {
        Family {
            code: code.to_owned(),
            requirements: BTreeMap::new(),
        }
    }

    /// The same family, requiring `attributes` in the channel `channel`.
    pub fn requires(mut self, channel: &str, attributes: &[&str]) -> Family {
        self.requirements.insert(
            channel.to_owned(),
            attributes.iter().map(|&a| a.to_owned()).collect(),
        );
        self
    }
}

/// A channel (a scope): the locales completeness is computed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub code: String,
    pub locales: Vec<String>,
}

impl Channel {
    pub fn new(code: &str, locales: &[&str]) -> Channel {
        Channel {
            code: code.to_owned(),
            locales: locales.iter().map(|&l| l.to_owned()).collect(),
        }
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
    categories: BTreeMap<String, Category>,
    families: BTreeMap<String, Family>,
    channels: BTreeMap<String, Channel>,
    /// `http://127.0.0.1:PORT`: what relative media links are made absolute
    /// with.
    base_url: String,
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
            categories: demo_categories()
                .into_iter()
                .map(|c| (c.code.clone(), c))
                .collect(),
            families: demo_families()
                .into_iter()
                .map(|f| (f.code.clone(), f))
                .collect(),
            channels: demo_channels()
                .into_iter()
                .map(|c| (c.code.clone(), c))
                .collect(),
            ..Catalogue::default()
        }));
        let routes = Router::new()
            .route("/api/rest/v1/products", get(list_products))
            .route("/api/rest/v1/categories", get(list_categories))
            .route("/api/rest/v1/categories/{code}", get(get_category))
            .route(&format!("{MEDIA_FILES}/{{*path}}"), get(media_file))
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
        lock(&catalogue).base_url = server.base_url();
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
        product.updated = touched(&product.updated);
    }

    /// Every category, sorted by code.
    pub fn categories(&self) -> Vec<Category> {
        lock(&self.catalogue).categories.values().cloned().collect()
    }

    /// Replaces the category tree (every PIM starts with [`demo_categories`]).
    pub fn set_categories(&self, categories: Vec<Category>) {
        lock(&self.catalogue).categories = categories
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect();
    }

    /// Changes category `code` with `edit` (a rename: its `labels`; a move:
    /// its `parent`) and sets its `updated` to now, a second later than its
    /// last at least. The products in it keep their `updated`, as in Akeneo.
    ///
    /// # Panics
    /// If there is no such category.
    pub fn edit_category(&self, code: &str, edit: impl FnOnce(&mut Category)) {
        let mut catalogue = lock(&self.catalogue);
        let category = catalogue
            .categories
            .get_mut(code)
            .unwrap_or_else(|| panic!("the PIM sandbox has no category `{code}`"));
        edit(category);
        category.code = code.to_owned();
        category.updated = touched(&category.updated);
    }

    /// Adds or replaces a family (every PIM starts with [`demo_families`]);
    /// completeness follows at once.
    pub fn set_family(&self, family: Family) {
        lock(&self.catalogue)
            .families
            .insert(family.code.clone(), family);
    }

    /// Adds or replaces a channel (every PIM starts with [`demo_channels`]).
    pub fn set_channel(&self, channel: Channel) {
        lock(&self.catalogue)
            .channels
            .insert(channel.code.clone(), channel);
    }

    /// The completeness of product `identifier`: `(channel, locale)` to the
    /// percentage, as `with_completenesses` lists it; empty for a product
    /// without a family or an unknown identifier.
    pub fn completenesses(&self, identifier: &str) -> BTreeMap<(String, String), u32> {
        let catalogue = lock(&self.catalogue);
        catalogue
            .products
            .get(identifier)
            .map(|product| completeness(product, &catalogue))
            .unwrap_or_default()
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

/// The `updated` of something edited now: now, or a second after `last` when
/// now is not later, so the edit is always visible to an `updated` search.
fn touched(last: &str) -> String {
    let now = akeneo_time(SystemTime::now());
    if now.as_str() > last {
        now
    } else {
        let last = parse_seconds(last).unwrap_or_default();
        akeneo_time(UNIX_EPOCH + Duration::from_secs(last + 1))
    }
}

/// Unix seconds of `2026-11-23T10:00:00+00:00` or `2026-11-23 10:00:00` (UTC).
fn parse_seconds(text: &str) -> Option<u64> {
    let head = text.get(..19)?.replace(' ', "T");
    let parsed = chrono::NaiveDateTime::parse_from_str(&head, "%Y-%m-%dT%H:%M:%S").ok()?;
    u64::try_from(parsed.and_utc().timestamp()).ok()
}

/// When the demo categories were last changed: before every demo product.
const DEMO_CATEGORIES_UPDATED: &str = "2026-10-01T09:00:00+00:00";

/// The category tree every PIM starts with: the root `master` (Master
/// catalog) with `clothing` (Clothing) and its child `summer` (Summer
/// collection), and `home` (Home) with its child `kitchen` (Kitchen), named in
/// `en_US` and `fr_FR`, all updated on 2026-10-01, before any demo product.
pub fn demo_categories() -> Vec<Category> {
    [
        ("master", None, "Master catalog", "Catalogue principal"),
        ("clothing", Some("master"), "Clothing", "Vêtements"),
        (
            "summer",
            Some("clothing"),
            "Summer collection",
            "Collection été",
        ),
        ("home", Some("master"), "Home", "Maison"),
        ("kitchen", Some("home"), "Kitchen", "Cuisine"),
    ]
    .into_iter()
    .map(|(code, parent, en, fr)| {
        Category::new(code, parent, &[("en_US", en), ("fr_FR", fr)])
            .updated_at(DEMO_CATEGORIES_UPDATED)
    })
    .collect()
}

/// The families every PIM starts with: in the channel `ecommerce`, `tshirts`
/// require `name`, `description`, `price`, `image` and `size`, `mugs` the same
/// but `size`. Other families require only the identifier.
pub fn demo_families() -> Vec<Family> {
    vec![
        Family::new("tshirts").requires(
            "ecommerce",
            &["name", "description", "price", "image", "size"],
        ),
        Family::new("mugs").requires("ecommerce", &["name", "description", "price", "image"]),
    ]
}

/// The channels every PIM starts with: `ecommerce`, in `en_US` and `fr_FR`.
pub fn demo_channels() -> Vec<Channel> {
    vec![Channel::new("ecommerce", &["en_US", "fr_FR"])]
}

/// The one demo product that is incomplete: its photos are not shot yet.
const DEMO_INCOMPLETE: usize = 8;

/// `count` demo products `SKU-0001`... updated a minute apart on 2026-11-01, in
/// groups of three: two T-shirts (family `tshirts`, category `summer`) that are
/// the sizes `s` and `m` of the product model `tshirt-<g>`, then a simple mug
/// (family `mugs`, category `kitchen`, `parent` null), where `<g>` counts the
/// groups from 1. Every product has a `name` and a `description` in `en_US` and
/// `fr_FR` (`T-shirt <g>` / `T-shirt <g> (FR)`, `Mug <g>` / `Mug <g> (FR)`) and
/// a global `price` in EUR and USD (a model's variants share theirs).
///
/// Images: the primary `image` (`a/b/c/<sku>_front.jpg`, lower case) and the
/// gallery `gallery_1` (`_back.jpg`), and for T-shirts `gallery_2`
/// (`_detail.jpg`). The eighth product (`SKU-0008`, the `m` of `tshirt-3`) has
/// no images yet: it is 83% complete in both locales of `ecommerce`, every
/// other product 100%.
///
/// Associations: each T-shirt cross-sells (`X_SELL`) its group's mug and has
/// the other size as `SUBSTITUTION`; each mug cross-sells the model
/// `tshirt-<g>` (a product model), upsells (`UPSELL`) the next group's mug,
/// and is a `PACK` (quantified) of two of its group's `s` and one `m`. Only
/// products within `count` are named.
pub fn demo_products(count: usize) -> Vec<Product> {
    let start = parse_seconds("2026-11-01T09:00:00").expect("a valid date");
    let sku = |n: usize| format!("SKU-{n:04}");
    (1..=count)
        .map(|n| {
            let identifier = sku(n);
            let time = akeneo_time(UNIX_EPOCH + Duration::from_secs(start + 60 * n as u64));
            let group = (n - 1) / 3 + 1;
            let size = ["s", "m"].get((n - 1) % 3).copied();
            let media = |view: &str| format!("a/b/c/{}_{view}.jpg", identifier.to_lowercase());
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
            let mut product = Product::new(&identifier, family)
                .in_categories(&[category])
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
                .updated_at(&time);
            if n != DEMO_INCOMPLETE {
                product = product
                    .with_image("image", &media("front"))
                    .with_image("gallery_1", &media("back"));
                if size.is_some() {
                    product = product.with_image("gallery_2", &media("detail"));
                }
            }
            let mug = 3 * group;
            if let Some(size) = size {
                let other = if size == "s" { n + 1 } else { n - 1 };
                product = product
                    .variant_of(&format!("tshirt-{group}"))
                    .with_value("size", ProductValue::global(size));
                if mug <= count {
                    product = product.associated("X_SELL", &[&sku(mug)]);
                }
                if other <= count {
                    product = product.associated("SUBSTITUTION", &[&sku(other)]);
                }
            } else {
                product = product
                    .associated_models("X_SELL", &[&format!("tshirt-{group}")])
                    .with_parts("PACK", &[(&sku(n - 2), 2), (&sku(n - 1), 1)]);
                if mug + 3 <= count {
                    product = product.associated("UPSELL", &[&sku(mug + 3)]);
                }
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
    with_completenesses: Option<String>,
}

/// The query of the category list.
#[derive(Debug, Deserialize)]
struct CategoryQuery {
    search: Option<String>,
    limit: Option<usize>,
    page: Option<usize>,
    with_position: Option<String>,
}

/// One condition of Akeneo's `search`.
#[derive(Debug, Deserialize)]
struct Condition {
    operator: String,
    #[serde(default)]
    value: Value,
    /// The channel of a `completeness` condition.
    #[serde(default)]
    scope: Option<String>,
    /// The locales of a `completeness` condition.
    #[serde(default)]
    locales: Option<Vec<String>>,
}

/// A `422` naming what the sandbox does not take.
fn unprocessable(message: impl Into<String>) -> Response {
    akeneo_error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Akeneo's `search` parameter: property to its conditions.
fn parse_search(search: Option<&str>) -> Result<BTreeMap<String, Vec<Condition>>, String> {
    match search {
        None => Ok(BTreeMap::new()),
        Some(text) => {
            serde_json::from_str(text).map_err(|err| format!("search is not a valid filter: {err}"))
        }
    }
}

/// The time of an `updated` condition, in Unix seconds.
fn condition_time(condition: &Condition) -> Result<u64, String> {
    condition
        .value
        .as_str()
        .and_then(parse_seconds)
        .ok_or_else(|| format!("`{}` is not a date-time", condition.value))
}

/// One understood condition on products.
#[derive(Debug)]
enum ProductFilter {
    /// `updated` after (`true`) or before this second.
    Updated { after: bool, at: u64 },
    Completeness {
        operator: String,
        value: i64,
        scope: String,
        /// `None`: the channel's locales.
        locales: Option<Vec<String>>,
    },
    /// `categories`: `IN`-like operators with their codes, the `CHILDREN` ones
    /// already widened to the subtrees.
    Categories {
        operator: String,
        codes: HashSet<String>,
    },
    /// `enabled` equal (`true`) or not to `value`.
    Enabled { equal: bool, value: bool },
}

impl ProductFilter {
    /// The filters of a product `search`, or the `422` it deserves.
    fn parse(search: Option<&str>, c: &Catalogue) -> Result<Vec<ProductFilter>, String> {
        let mut filters = Vec::new();
        for (property, conditions) in parse_search(search)? {
            for condition in conditions {
                filters.push(Self::one(&property, condition, c)?);
            }
        }
        Ok(filters)
    }

    fn one(property: &str, condition: Condition, c: &Catalogue) -> Result<ProductFilter, String> {
        let operator = condition.operator.as_str();
        let refused =
            || format!("operator `{operator}` on `{property}` is not supported by the sandbox");
        match property {
            "updated" => {
                let after = match operator {
                    ">" => true,
                    "<" => false,
                    _ => return Err(refused()),
                };
                Ok(ProductFilter::Updated {
                    after,
                    at: condition_time(&condition)?,
                })
            }
            "completeness" => {
                let all_locales = operator.ends_with("ON ALL LOCALES");
                if !all_locales && !matches!(operator, "=" | "!=" | "<" | "<=" | ">" | ">=") {
                    return Err(refused());
                }
                let Some(value) = condition.value.as_i64() else {
                    return Err(String::from("a completeness is an integer"));
                };
                let Some(scope) = condition.scope.clone() else {
                    return Err(String::from("a completeness filter needs a `scope`"));
                };
                if !c.channels.contains_key(&scope) {
                    return Err(format!("channel `{scope}` does not exist"));
                }
                if all_locales && condition.locales.as_ref().is_none_or(Vec::is_empty) {
                    return Err(format!("`{operator}` needs `locales`"));
                }
                Ok(ProductFilter::Completeness {
                    operator: condition.operator,
                    value,
                    scope,
                    locales: condition.locales,
                })
            }
            "categories" => {
                let codes: HashSet<String> = match operator {
                    "UNCLASSIFIED" => HashSet::new(),
                    "IN" | "NOT IN" | "IN OR UNCLASSIFIED" | "IN CHILDREN" | "NOT IN CHILDREN" => {
                        let codes: Vec<String> = serde_json::from_value(condition.value.clone())
                            .map_err(|_| String::from("categories are a list of codes"))?;
                        if let Some(unknown) =
                            codes.iter().find(|c2| !c.categories.contains_key(*c2))
                        {
                            return Err(format!("category `{unknown}` does not exist"));
                        }
                        if operator.ends_with("CHILDREN") {
                            subtrees(&c.categories, &codes)
                        } else {
                            codes.into_iter().collect()
                        }
                    }
                    _ => return Err(refused()),
                };
                Ok(ProductFilter::Categories {
                    operator: condition.operator,
                    codes,
                })
            }
            "enabled" => {
                let equal = match operator {
                    "=" => true,
                    "!=" => false,
                    _ => return Err(refused()),
                };
                let Some(value) = condition.value.as_bool() else {
                    return Err(String::from("`enabled` takes a boolean"));
                };
                Ok(ProductFilter::Enabled { equal, value })
            }
            _ => Err(format!(
                "filter on `{property}` is not supported by the sandbox"
            )),
        }
    }

    /// Whether `product` passes, with `completeness` its completeness.
    fn accepts(
        &self,
        product: &Product,
        completeness: &BTreeMap<(String, String), u32>,
        c: &Catalogue,
    ) -> bool {
        match self {
            ProductFilter::Updated { after, at } => {
                let updated = parse_seconds(&product.updated).unwrap_or_default();
                if *after { updated > *at } else { updated < *at }
            }
            ProductFilter::Completeness {
                operator,
                value,
                scope,
                locales,
            } => {
                let locales: Vec<&str> = match locales {
                    Some(locales) => locales.iter().map(String::as_str).collect(),
                    None => c
                        .channels
                        .get(scope)
                        .map(|channel| channel.locales.iter().map(String::as_str).collect())
                        .unwrap_or_default(),
                };
                let percent = |locale: &str| {
                    completeness
                        .get(&(scope.clone(), locale.to_owned()))
                        .map(|p| i64::from(*p))
                };
                let compare = |percent: i64, operator: &str| match operator {
                    "=" => percent == *value,
                    "!=" => percent != *value,
                    "<" | "LOWER THAN ON ALL LOCALES" => percent < *value,
                    "<=" | "LOWER OR EQUALS THAN ON ALL LOCALES" => percent <= *value,
                    ">" | "GREATER THAN ON ALL LOCALES" => percent > *value,
                    _ => percent >= *value,
                };
                if operator.ends_with("ON ALL LOCALES") {
                    locales
                        .iter()
                        .all(|locale| percent(locale).is_some_and(|p| compare(p, operator)))
                } else {
                    locales
                        .iter()
                        .any(|locale| percent(locale).is_some_and(|p| compare(p, operator)))
                }
            }
            ProductFilter::Categories { operator, codes } => {
                let in_any = product.categories.iter().any(|code| codes.contains(code));
                let unclassified = product.categories.is_empty();
                match operator.as_str() {
                    "UNCLASSIFIED" => unclassified,
                    "IN OR UNCLASSIFIED" => in_any || unclassified,
                    "NOT IN" | "NOT IN CHILDREN" => !in_any,
                    _ => in_any,
                }
            }
            ProductFilter::Enabled { equal, value } => (product.enabled == *value) == *equal,
        }
    }
}

/// The codes of `roots` and of every category under them.
fn subtrees(categories: &BTreeMap<String, Category>, roots: &[String]) -> HashSet<String> {
    let mut found: HashSet<String> = roots.iter().cloned().collect();
    loop {
        let before = found.len();
        for category in categories.values() {
            if category.parent.as_ref().is_some_and(|p| found.contains(p)) {
                found.insert(category.code.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// `product`'s completeness: `(channel, locale)` to the share, rounded down, of
/// the family's required attributes (and the identifier) that are filled.
fn completeness(product: &Product, c: &Catalogue) -> BTreeMap<(String, String), u32> {
    let mut out = BTreeMap::new();
    if product.family.is_empty() {
        return out;
    }
    let unknown = Family::new(&product.family);
    let family = c.families.get(&product.family).unwrap_or(&unknown);
    for channel in c.channels.values() {
        let required = family
            .requirements
            .get(&channel.code)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for locale in &channel.locales {
            let filled = required
                .iter()
                .filter(|attribute| {
                    product.values.get(*attribute).is_some_and(|values| {
                        values.iter().any(|value| {
                            value.locale.as_ref().is_none_or(|l| l == locale)
                                && value.scope.as_ref().is_none_or(|s| *s == channel.code)
                                && value.is_filled()
                        })
                    })
                })
                .count();
            let percent = (1 + filled) * 100 / (1 + required.len());
            out.insert(
                (channel.code.clone(), locale.clone()),
                u32::try_from(percent).unwrap_or(100),
            );
        }
    }
    out
}

/// `product` as the API serves it: media links made absolute, and its
/// completenesses when asked for.
fn served(product: &Product, c: &Catalogue, with_completenesses: bool) -> Value {
    let mut json = serde_json::to_value(product).unwrap_or_default();
    if let Some(values) = json["values"].as_object_mut() {
        for value in values
            .values_mut()
            .filter_map(Value::as_array_mut)
            .flatten()
        {
            if let Some(href) = value.pointer_mut("/_links/download/href")
                && let Some(path) = href.as_str().filter(|h| h.starts_with('/'))
            {
                *href = Value::String(format!("{}{path}", c.base_url));
            }
        }
    }
    if with_completenesses {
        json["completenesses"] = completeness(product, c)
            .into_iter()
            .map(|((scope, locale), data)| json!({"scope": scope, "locale": locale, "data": data}))
            .collect();
    }
    json
}

/// Whether a `with_*` query flag is set.
fn flag(value: Option<&String>) -> bool {
    value.is_some_and(|v| v == "true")
}

/// One page of `items` (all of them, sorted) at `path`: Akeneo's page body,
/// links repeating `extra` query parameters and the search.
fn page_of(
    path: &str,
    items: Vec<Value>,
    (limit, page): (Option<usize>, Option<usize>),
    search: Option<&str>,
    extra: &[(&str, bool)],
) -> Response {
    let limit = limit.unwrap_or(10).clamp(1, MAX_LIMIT);
    let page = page.unwrap_or(1).max(1);
    let has_next = items.len() > page * limit;
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let link = |page: usize| {
        let mut href = format!("{path}?limit={limit}&page={page}");
        for (name, set) in extra {
            if *set {
                href.push_str(&format!("&{name}=true"));
            }
        }
        if let Some(search) = search {
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

/// `GET /api/rest/v1/products`.
async fn list_products(
    State(catalogue): State<Shared>,
    Query(query): Query<ProductQuery>,
) -> Response {
    let c = lock(&catalogue);
    let filters = match ProductFilter::parse(query.search.as_deref(), &c) {
        Ok(filters) => filters,
        Err(refused) => return unprocessable(refused),
    };
    let with_completenesses = flag(query.with_completenesses.as_ref());
    let mut matching: Vec<&Product> = c
        .products
        .values()
        .filter(|p| {
            let completeness = completeness(p, &c);
            filters.iter().all(|f| f.accepts(p, &completeness, &c))
        })
        .collect();
    matching.sort_by(|a, b| (&a.updated, &a.identifier).cmp(&(&b.updated, &b.identifier)));
    let items = matching
        .into_iter()
        .map(|p| served(p, &c, with_completenesses))
        .collect();
    page_of(
        "/api/rest/v1/products",
        items,
        (query.limit, query.page),
        query.search.as_deref(),
        &[("with_completenesses", with_completenesses)],
    )
}

/// The categories in Akeneo's root/left order (each tree depth first,
/// siblings by code), each with its position among its siblings (from 1). A
/// category whose parent is unknown counts as a root; a cycle is cut.
fn tree_order(categories: &BTreeMap<String, Category>) -> Vec<(&Category, usize)> {
    let mut children: BTreeMap<Option<&str>, Vec<&Category>> = BTreeMap::new();
    for category in categories.values() {
        let parent = category
            .parent
            .as_deref()
            .filter(|p| categories.contains_key(*p));
        children.entry(parent).or_default().push(category);
    }
    let mut out = Vec::with_capacity(categories.len());
    let mut seen = HashSet::new();
    let mut stack: Vec<(&Category, usize)> = children
        .get(&None)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .rev()
        .map(|(i, c)| (*c, i + 1))
        .collect();
    while let Some((category, position)) = stack.pop() {
        if !seen.insert(category.code.as_str()) {
            continue;
        }
        out.push((category, position));
        if let Some(kids) = children.get(&Some(category.code.as_str())) {
            stack.extend(kids.iter().enumerate().rev().map(|(i, c)| (*c, i + 1)));
        }
    }
    out
}

/// A category as the API serves it.
fn served_category(category: &Category, position: Option<usize>) -> Value {
    let mut json = serde_json::to_value(category).unwrap_or_default();
    if let Some(position) = position {
        json["position"] = json!(position);
    }
    json
}

/// One condition of a category `search`.
type CategoryTest = Box<dyn Fn(&Category) -> bool>;

/// `GET /api/rest/v1/categories`.
async fn list_categories(
    State(catalogue): State<Shared>,
    Query(query): Query<CategoryQuery>,
) -> Response {
    let search = match parse_search(query.search.as_deref()) {
        Ok(search) => search,
        Err(refused) => return unprocessable(refused),
    };
    let mut tests: Vec<CategoryTest> = Vec::new();
    for (property, conditions) in search {
        for condition in conditions {
            let test: CategoryTest = match (property.as_str(), condition.operator.as_str()) {
                ("parent", "=") => match condition.value.as_str() {
                    Some(parent) => {
                        let parent = parent.to_owned();
                        Box::new(move |c| c.parent.as_deref() == Some(parent.as_str()))
                    }
                    None => return unprocessable("`parent` takes a category code"),
                },
                ("code", "IN") => {
                    match serde_json::from_value::<HashSet<String>>(condition.value) {
                        Ok(codes) => Box::new(move |c| codes.contains(&c.code)),
                        Err(_) => return unprocessable("`code` takes a list of codes"),
                    }
                }
                ("is_root", "=") => match condition.value.as_bool() {
                    Some(root) => Box::new(move |c| c.parent.is_none() == root),
                    None => return unprocessable("`is_root` takes a boolean"),
                },
                ("updated", ">") => match condition_time(&condition) {
                    Ok(at) => Box::new(move |c| {
                        parse_seconds(&c.updated).is_some_and(|updated| updated > at)
                    }),
                    Err(refused) => return unprocessable(refused),
                },
                (property, operator) => {
                    return unprocessable(format!(
                        "filter `{operator}` on category `{property}` is not supported by the sandbox"
                    ));
                }
            };
            tests.push(test);
        }
    }
    let with_position = flag(query.with_position.as_ref());
    let c = lock(&catalogue);
    let items = tree_order(&c.categories)
        .into_iter()
        .filter(|(category, _)| tests.iter().all(|test| test(category)))
        .map(|(category, position)| served_category(category, with_position.then_some(position)))
        .collect();
    page_of(
        "/api/rest/v1/categories",
        items,
        (query.limit, query.page),
        query.search.as_deref(),
        &[("with_position", with_position)],
    )
}

/// `GET /api/rest/v1/categories/{code}`.
async fn get_category(
    State(catalogue): State<Shared>,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    match lock(&catalogue).categories.get(&code) {
        Some(category) => Json(served_category(category, None)).into_response(),
        None => akeneo_error(
            StatusCode::NOT_FOUND,
            format!("Category \"{code}\" does not exist."),
        ),
    }
}

/// The content type of a media file, by its extension.
fn mime_type(extension: &str) -> &'static str {
    match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `GET /api/rest/v1/media-files/{code}` and `.../{code}/download`.
async fn media_file(
    State(catalogue): State<Shared>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    let (code, download) = match path.strip_suffix("/download") {
        Some(code) => (code, true),
        None => (path.as_str(), false),
    };
    let c = lock(&catalogue);
    let known = c.products.values().any(|product| {
        product
            .values
            .values()
            .flatten()
            .any(|value| value.links.is_some() && value.data.as_str() == Some(code))
    });
    if !known {
        return akeneo_error(
            StatusCode::NOT_FOUND,
            format!("Media file \"{code}\" does not exist."),
        );
    }
    let filename = code.rsplit('/').next().unwrap_or(code);
    let extension = filename.rsplit_once('.').map_or("", |(_, ext)| ext);
    let content_type = mime_type(extension);
    let bytes = format!("tenon pim sandbox: media file {code}\n").into_bytes();
    if download {
        return (
            StatusCode::OK,
            [
                (CONTENT_TYPE, content_type.to_owned()),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            bytes,
        )
            .into_response();
    }
    Json(json!({
        "_links": {"download": {"href": format!("{}{MEDIA_FILES}/{code}/download", c.base_url)}},
        "code": code,
        "original_filename": filename,
        "mime_type": content_type,
        "size": bytes.len(),
        "extension": extension,
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
        let nine = demo_products(9);
        let imaged: Vec<bool> = nine
            .iter()
            .map(|p| p.values.contains_key("image"))
            .collect();
        assert_eq!(imaged.iter().filter(|i| !**i).count(), 1);
        assert!(!imaged[7], "the eighth has no images yet");
        assert!(
            !nine[8].associations.contains_key("UPSELL"),
            "the last mug has no next one to upsell"
        );
    }

    /// `GET path` (with its query) with the static token `t`: the status and
    /// the JSON body.
    async fn get_json(pim: &Pim, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", pim.base_url()))
            .bearer_auth("t")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// `search` percent-encoded for a query string.
    fn search(filter: &Value) -> String {
        percent_encode(&filter.to_string())
    }

    /// The `identifier`s of a product page.
    fn identifiers(page: &Value) -> Vec<&str> {
        page["_embedded"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["identifier"].as_str().unwrap())
            .collect()
    }

    /// The `code`s of a category page.
    fn codes(page: &Value) -> Vec<&str> {
        page["_embedded"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn categories_page_the_tree_root_left_with_labels_and_positions() {
        let pim = Pim::start("t", Vec::new()).await.unwrap();
        let (status, all) = get_json(&pim, "/api/rest/v1/categories?limit=100").await;
        assert_eq!(status, 200);
        assert_eq!(
            codes(&all),
            ["master", "clothing", "summer", "home", "kitchen"],
            "each tree depth first, siblings by code"
        );
        assert_eq!(
            all["_embedded"]["items"][2],
            json!({"code": "summer", "parent": "clothing", "updated": "2026-10-01T09:00:00+00:00",
                   "labels": {"en_US": "Summer collection", "fr_FR": "Collection été"}})
        );
        assert_eq!(all["_embedded"]["items"][0]["parent"], Value::Null);

        let (_, first) = get_json(&pim, "/api/rest/v1/categories?limit=2&with_position=true").await;
        assert_eq!(codes(&first), ["master", "clothing"]);
        assert_eq!(first["_embedded"]["items"][1]["position"], 1);
        let next = first["_links"]["next"]["href"].as_str().unwrap();
        assert!(next.contains("with_position=true"), "{next}");
        let (_, second) = get_json(&pim, next).await;
        assert_eq!(codes(&second), ["summer", "home"]);
        assert_eq!(
            second["_embedded"]["items"][1]["position"], 2,
            "home after clothing"
        );
        let (_, third) = get_json(&pim, next_link(&second)).await;
        assert_eq!(codes(&third), ["kitchen"]);
        assert!(third["_links"].get("next").is_none());

        for (filter, expected) in [
            (
                json!({"parent": [{"operator": "=", "value": "master"}]}),
                vec!["clothing", "home"],
            ),
            (
                json!({"is_root": [{"operator": "=", "value": true}]}),
                vec!["master"],
            ),
            (
                json!({"code": [{"operator": "IN", "value": ["kitchen", "summer"]}]}),
                vec!["summer", "kitchen"],
            ),
        ] {
            let (status, page) = get_json(
                &pim,
                &format!("/api/rest/v1/categories?search={}", search(&filter)),
            )
            .await;
            assert_eq!(status, 200, "{filter}");
            assert_eq!(codes(&page), expected, "{filter}");
        }

        pim.edit_category("home", |c| {
            c.labels.insert("en_US".into(), "Home & living".into());
        });
        let renamed = json!({"updated": [{"operator": ">", "value": "2026-10-01T09:00:00Z"}]});
        let (_, page) = get_json(
            &pim,
            &format!("/api/rest/v1/categories?search={}", search(&renamed)),
        )
        .await;
        assert_eq!(codes(&page), ["home"], "only the renamed category");
        let (status, home) = get_json(&pim, "/api/rest/v1/categories/home").await;
        assert_eq!(
            (status, &home["labels"]["en_US"]),
            (200, &json!("Home & living"))
        );
        assert_eq!(get_json(&pim, "/api/rest/v1/categories/attic").await.0, 404);
        let unsupported = json!({"labels": [{"operator": "=", "value": "x"}]});
        assert_eq!(
            get_json(
                &pim,
                &format!("/api/rest/v1/categories?search={}", search(&unsupported))
            )
            .await
            .0,
            422
        );
        pim.stop().await;
    }

    /// The `next` link of a page.
    fn next_link(page: &Value) -> &str {
        page["_links"]["next"]["href"].as_str().unwrap()
    }

    #[tokio::test]
    async fn products_carry_associations_and_images_whose_media_files_are_served() {
        let pim = Pim::start("t", demo_products(6)).await.unwrap();
        let (_, page) = get_json(&pim, "/api/rest/v1/products?limit=10").await;
        let items = page["_embedded"]["items"].as_array().unwrap();
        let tee = &items[0];
        assert_eq!(tee["categories"], json!(["summer"]));
        assert_eq!(
            tee["associations"],
            json!({
                "SUBSTITUTION": {"products": ["SKU-0002"], "product_models": [], "groups": []},
                "X_SELL": {"products": ["SKU-0003"], "product_models": [], "groups": []},
            })
        );
        assert_eq!(tee["quantified_associations"], json!({}));
        let mug = &items[2];
        assert_eq!(
            mug["quantified_associations"],
            json!({"PACK": {"products": [
                {"identifier": "SKU-0001", "quantity": 2},
                {"identifier": "SKU-0002", "quantity": 1},
            ], "product_models": []}})
        );
        assert_eq!(
            mug["associations"]["UPSELL"]["products"],
            json!(["SKU-0006"])
        );
        assert_eq!(
            mug["associations"]["X_SELL"]["product_models"],
            json!(["tshirt-1"])
        );
        assert!(
            items[5]["associations"].get("UPSELL").is_none(),
            "no seventh group"
        );

        let image = &tee["values"]["image"][0];
        assert_eq!(image["data"], "a/b/c/sku-0001_front.jpg");
        let href = image["_links"]["download"]["href"].as_str().unwrap();
        assert_eq!(
            href,
            format!(
                "{}/api/rest/v1/media-files/a/b/c/sku-0001_front.jpg/download",
                pim.base_url()
            ),
            "absolute, as Akeneo links"
        );
        assert_eq!(
            tee["values"]["gallery_2"][0]["data"],
            "a/b/c/sku-0001_detail.jpg"
        );
        assert!(mug["values"].get("gallery_2").is_none());

        let (status, file) =
            get_json(&pim, "/api/rest/v1/media-files/a/b/c/sku-0001_front.jpg").await;
        assert_eq!(status, 200);
        assert_eq!(file["code"], "a/b/c/sku-0001_front.jpg");
        assert_eq!(file["original_filename"], "sku-0001_front.jpg");
        assert_eq!(file["mime_type"], "image/jpeg");
        assert_eq!(file["extension"], "jpg");
        assert_eq!(file["_links"]["download"]["href"], href);
        let download = reqwest::Client::new()
            .get(href)
            .bearer_auth("t")
            .send()
            .await
            .unwrap();
        assert_eq!(download.status(), 200);
        assert_eq!(download.headers()["content-type"], "image/jpeg");
        assert_eq!(
            download.bytes().await.unwrap().len() as u64,
            file["size"].as_u64().unwrap()
        );
        assert_eq!(
            get_json(&pim, "/api/rest/v1/media-files/a/b/c/nothing.jpg")
                .await
                .0,
            404
        );
        assert_eq!(
            pim.products()[0].values["image"][0].links,
            Some(
                json!({"download": {"href": "/api/rest/v1/media-files/a/b/c/sku-0001_front.jpg/download"}})
            ),
            "stored relative"
        );
        pim.stop().await;
    }

    #[tokio::test]
    async fn completeness_follows_the_family_and_filters_the_product_list() {
        let pim = Pim::start("t", demo_products(9)).await.unwrap();
        let complete = BTreeMap::from([
            (("ecommerce".to_owned(), "en_US".to_owned()), 100),
            (("ecommerce".to_owned(), "fr_FR".to_owned()), 100),
        ]);
        assert_eq!(pim.completenesses("SKU-0007"), complete);
        // Five of six (the identifier and five attributes): no image.
        assert_eq!(
            pim.completenesses("SKU-0008").values().collect::<Vec<_>>(),
            [&83, &83]
        );

        let (_, page) = get_json(
            &pim,
            "/api/rest/v1/products?limit=4&page=2&with_completenesses=true",
        )
        .await;
        let eighth = &page["_embedded"]["items"][3];
        assert_eq!(eighth["identifier"], "SKU-0008");
        assert_eq!(
            eighth["completenesses"],
            json!([{"scope": "ecommerce", "locale": "en_US", "data": 83},
                   {"scope": "ecommerce", "locale": "fr_FR", "data": 83}])
        );
        let next = page["_links"]["next"]["href"].as_str().unwrap();
        assert!(next.contains("with_completenesses=true"), "{next}");
        let (_, plain) = get_json(&pim, "/api/rest/v1/products?limit=1").await;
        assert!(
            plain["_embedded"]["items"][0]
                .get("completenesses")
                .is_none()
        );

        let only_complete =
            json!({"completeness": [{"operator": "=", "value": 100, "scope": "ecommerce"}]});
        let (status, page) = get_json(
            &pim,
            &format!(
                "/api/rest/v1/products?limit=100&search={}",
                search(&only_complete)
            ),
        )
        .await;
        assert_eq!(status, 200);
        let listed = identifiers(&page);
        assert_eq!(listed.len(), 8);
        assert!(!listed.contains(&"SKU-0008"));

        // A French-only requirement: complete in `en_US` only.
        pim.set_family(Family::new("mugs").requires(
            "ecommerce",
            &["name", "description", "price", "image", "fr_note"],
        ));
        pim.edit_product("SKU-0003", |p| {
            p.values.insert(
                "fr_note".into(),
                vec![ProductValue::localized("en_US", "English only")],
            );
        });
        let some_locale =
            json!({"completeness": [{"operator": ">=", "value": 100, "scope": "ecommerce"}]});
        let every_locale = json!({"completeness": [{"operator": "GREATER OR EQUALS THAN ON ALL LOCALES",
            "value": 100, "scope": "ecommerce", "locales": ["en_US", "fr_FR"]}]});
        let mugs = |page: &Value| {
            identifiers(page)
                .into_iter()
                .filter(|i| ["SKU-0003", "SKU-0006", "SKU-0009"].contains(i))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let (_, page) = get_json(
            &pim,
            &format!(
                "/api/rest/v1/products?limit=100&search={}",
                search(&some_locale)
            ),
        )
        .await;
        assert_eq!(mugs(&page), ["SKU-0003"], "complete in en_US is enough");
        let (_, page) = get_json(
            &pim,
            &format!(
                "/api/rest/v1/products?limit=100&search={}",
                search(&every_locale)
            ),
        )
        .await;
        assert!(mugs(&page).is_empty(), "fr_FR is not complete");

        for refused in [
            json!({"completeness": [{"operator": "=", "value": 100}]}),
            json!({"completeness": [{"operator": "=", "value": 100, "scope": "print"}]}),
            json!({"completeness": [{"operator": "GREATER THAN ON ALL LOCALES", "value": 90, "scope": "ecommerce"}]}),
            json!({"completeness": [{"operator": "ABOUT", "value": 90, "scope": "ecommerce"}]}),
        ] {
            let (status, _) = get_json(
                &pim,
                &format!("/api/rest/v1/products?search={}", search(&refused)),
            )
            .await;
            assert_eq!(status, 422, "{refused}");
        }
        pim.stop().await;
    }

    #[tokio::test]
    async fn products_filter_by_category_subtree_and_status_and_a_rename_leaves_them_alone() {
        let loose = Product::new("LOOSE", "").updated_at("2026-11-02T09:00:00+00:00");
        let mut products = demo_products(4);
        products.push(loose);
        let pim = Pim::start("t", products).await.unwrap();
        assert!(
            pim.completenesses("LOOSE").is_empty(),
            "no family, no completeness"
        );
        let list = |filter: Value| {
            let pim = &pim;
            async move {
                let (status, page) = get_json(
                    pim,
                    &format!("/api/rest/v1/products?limit=100&search={}", search(&filter)),
                )
                .await;
                assert_eq!(status, 200, "{filter}: {page}");
                identifiers(&page)
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(json!({"categories": [{"operator": "IN CHILDREN", "value": ["clothing"]}]})).await,
            ["SKU-0001", "SKU-0002", "SKU-0004"]
        );
        assert!(
            list(json!({"categories": [{"operator": "IN", "value": ["clothing"]}]}))
                .await
                .is_empty(),
            "IN is the categories themselves"
        );
        assert_eq!(
            list(json!({"categories": [{"operator": "UNCLASSIFIED"}]})).await,
            ["LOOSE"]
        );
        assert_eq!(
            list(json!({"categories": [{"operator": "NOT IN CHILDREN", "value": ["master"]}]}))
                .await,
            ["LOOSE"]
        );
        assert_eq!(
            list(json!({"completeness": [{"operator": ">=", "value": 0, "scope": "ecommerce"}]}))
                .await
                .len(),
            4,
            "a product without completeness matches no completeness filter"
        );
        pim.edit_product("SKU-0002", |p| p.enabled = false);
        assert_eq!(
            list(json!({"enabled": [{"operator": "=", "value": false}]})).await,
            ["SKU-0002"]
        );
        assert_eq!(
            list(json!({"enabled": [{"operator": "!=", "value": false}],
                        "categories": [{"operator": "IN", "value": ["summer"]}]}))
            .await,
            ["SKU-0001", "SKU-0004"],
            "every condition holds"
        );
        let unknown = json!({"categories": [{"operator": "IN", "value": ["attic"]}]});
        assert_eq!(
            get_json(
                &pim,
                &format!("/api/rest/v1/products?search={}", search(&unknown))
            )
            .await
            .0,
            422
        );

        let before = pim.products();
        pim.edit_category("summer", |c| {
            c.labels.insert("en_US".into(), "Summer 2027".into());
        });
        assert_eq!(pim.products(), before, "the products keep their `updated`");
        let summer = pim
            .categories()
            .into_iter()
            .find(|c| c.code == "summer")
            .unwrap();
        assert_eq!(summer.labels["en_US"], "Summer 2027");
        assert!(summer.updated.as_str() > DEMO_CATEGORIES_UPDATED);
        pim.stop().await;
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
