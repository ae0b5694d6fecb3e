//! The PIM sandbox: a product catalogue that follows the shape of Akeneo's REST
//! API: products with a family, categories and attribute values per locale and
//! channel (scope), media references, search by `updated`, page links.
//!
//! # API
//! Every request needs `Authorization: Bearer <token>`; without it the answer is
//! `401 {"error": "..."}`.
//!
//! **Deviation from Akeneo:** Akeneo issues tokens at `POST /api/oauth/v1/token`
//! (password grant, client id and secret in Basic auth). A guest must never hold
//! those secrets, and the host only adds one credential per request, so the
//! sandbox takes a static bearer token issued out of band (what an operator would
//! store as the tenant secret); the token endpoint is not served.
//!
//! - `GET /api/rest/v1/products?search=&limit=&page=` answers
//!   `200 {"_links": {"self": {"href"}, "first": {"href"}, "next": {"href"}?},
//!   "current_page": p, "_embedded": {"items": [Product, ...]}}`, sorted by
//!   `(updated, identifier)`, `limit` per page (default 10, at most 100), pages
//!   from 1; `next` is there only when another page follows. `search` is
//!   Akeneo's JSON filter; the sandbox understands
//!   `{"updated": [{"operator": ">" | "<", "value": "2026-11-23 10:00:00"}]}`
//!   (the value may also be RFC 3339) and refuses other filters with `422`.
//! - Products look like Akeneo's: `identifier`, `family`, `categories`,
//!   `enabled`, `values` = `{attribute: [{"locale", "scope", "data"}]}` (a media
//!   value's `data` is the file path and it carries `_links.download.href`),
//!   `created`, `updated` (`2026-11-23T10:00:00+00:00`).
//!
//! # For tests
//! - [`demo_products`] seeds a catalogue with names and descriptions in
//!   `en_US` and `fr_FR` and an image each.
//! - [`Pim::edit_product`] changes a product as a catalogue editor would, and
//!   moves its `updated` to now.
//! - [`Pim::fail_next`] makes the next requests answer a status; a `429`
//!   carries `Retry-After: 1`. [`Pim::slow_next`] delays the next requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{InjectedFailures, Server, error, lock};

/// The largest `limit` of the product list.
const MAX_LIMIT: usize = 100;

/// A product as the PIM stores and lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub identifier: String,
    pub family: String,
    pub categories: Vec<String>,
    pub enabled: bool,
    /// Attribute code to its values, one per locale and scope it has.
    pub values: BTreeMap<String, Vec<ProductValue>>,
    pub created: String,
    /// `2026-11-23T10:00:00+00:00`, whole seconds.
    pub updated: String,
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
}

/// What the PIM holds.
#[derive(Debug, Default)]
struct Catalogue {
    products: BTreeMap<String, Product>,
    failures: InjectedFailures,
    slow: Option<(usize, Duration)>,
}

type Shared = Arc<Mutex<Catalogue>>;

/// A running PIM sandbox; dropping it stops the server too.
#[derive(Debug)]
pub struct Pim {
    server: Server,
    catalogue: Shared,
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
        let catalogue = Arc::new(Mutex::new(Catalogue {
            products: products
                .into_iter()
                .map(|p| (p.identifier.clone(), p))
                .collect(),
            ..Catalogue::default()
        }));
        let routes = Router::new()
            .route("/api/rest/v1/products", get(list_products))
            .with_state(Arc::clone(&catalogue));
        let server = Server::start("pim", addr, token, routes).await?;
        Ok(Pim { server, catalogue })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
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

    /// The next `count` requests answer `status` without doing anything.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.catalogue).failures.arm(count, status);
    }

    /// The next `count` requests are answered only after `delay`.
    pub fn slow_next(&self, count: usize, delay: Duration) {
        lock(&self.catalogue).slow = Some((count, delay));
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

/// `count` demo products `SKU-0001`... with a family, localized names and
/// descriptions (`en_US`, `fr_FR`), a scoped price and an image; updated a
/// minute apart on 2026-11-01.
pub fn demo_products(count: usize) -> Vec<Product> {
    let start = parse_seconds("2026-11-01T09:00:00").expect("a valid date");
    (1..=count)
        .map(|n| {
            let identifier = format!("SKU-{n:04}");
            let time = akeneo_time(UNIX_EPOCH + Duration::from_secs(start + 60 * n as u64));
            let image = format!("a/b/c/{}_front.jpg", identifier.to_lowercase());
            let values = BTreeMap::from([
                (
                    "name".to_owned(),
                    vec![
                        ProductValue::localized("en_US", format!("T-shirt {n}")),
                        ProductValue::localized("fr_FR", format!("T-shirt {n} (FR)")),
                    ],
                ),
                (
                    "description".to_owned(),
                    vec![
                        ProductValue::localized("en_US", "Organic cotton, regular fit."),
                        ProductValue::localized("fr_FR", "Coton biologique, coupe droite."),
                    ],
                ),
                (
                    "price".to_owned(),
                    vec![ProductValue {
                        locale: None,
                        scope: Some("ecommerce".to_owned()),
                        data: json!([{"amount": format!("{}.90", 10 + n), "currency": "EUR"}]),
                        links: None,
                    }],
                ),
                (
                    "image".to_owned(),
                    vec![ProductValue {
                        locale: None,
                        scope: None,
                        data: json!(image),
                        links: Some(json!({"download": {
                            "href": format!("/api/rest/v1/media-files/{image}/download")
                        }})),
                    }],
                ),
            ]);
            Product {
                identifier,
                family: "tshirts".to_owned(),
                categories: vec!["summer".to_owned()],
                enabled: true,
                values,
                created: time.clone(),
                updated: time,
            }
        })
        .collect()
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
    let delay = {
        let mut c = lock(&catalogue);
        if let Some(failure) = c.failures.take() {
            return failure;
        }
        match &mut c.slow {
            Some((count, delay)) if *count > 0 => {
                *count -= 1;
                Some(*delay)
            }
            _ => None,
        }
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut bounds: Vec<(String, u64)> = Vec::new();
    if let Some(search) = &query.search {
        let filters: BTreeMap<String, Vec<Condition>> = match serde_json::from_str(search) {
            Ok(filters) => filters,
            Err(err) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("search is not a valid filter: {err}"),
                );
            }
        };
        for (property, conditions) in filters {
            if property != "updated" {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("filter on `{property}` is not supported by the sandbox"),
                );
            }
            for condition in conditions {
                let Some(at) = parse_seconds(&condition.value) else {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("`{}` is not a date-time", condition.value),
                    );
                };
                if condition.operator != ">" && condition.operator != "<" {
                    return error(
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
}
