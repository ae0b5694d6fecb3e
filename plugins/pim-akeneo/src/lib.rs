//! `pim-akeneo`: reads the products of a PIM that follows Akeneo's REST API.
//!
//! - **Reads** stream `products` from `GET /api/rest/v1/products`: one record
//!   per product, key = `identifier`, op = upsert, payload = the product as the
//!   PIM returns it (`identifier`, `family`, `categories`, `enabled`, `parent`
//!   (the product model of a variant product, `null` for a simple one),
//!   `values` with every locale and scope: `{"name": [{"locale": "en_US",
//!   "scope": null, "data": "..."}, ...]}`, price collections as `{"data":
//!   [{"amount": "19.90", "currency": "EUR"}, ...]}`, media values with their
//!   `_links`, `created`, `updated`), source time = `updated`.
//! - **Writes** nothing.
//! - **Config**: `base_url` (required), the PIM's address.
//! - **Secrets**: `api_token`, sent as `Authorization: Bearer <token>`. The
//!   tenant stores Akeneo's password grant in it (`{"oauth2": {...}}`) and the
//!   host obtains and renews the access token; the plugin never sees the
//!   password or the token (a plain token works too).
//! - **Egress**: none declared: the operator grants the host of `base_url`.
//! - **Cursor**: a [`Watermark`] over `(updated, identifier)`. Akeneo's search by
//!   `updated` is strict (`>`) and in whole seconds, so the connector asks for
//!   everything after the second *before* the watermark and skips what it
//!   already delivered: products updated in the same second are never lost.
//! - **Failures** fail the whole read, so the cursor never passes a product that
//!   was not delivered: `429` is `rate-limited` after the PIM's `Retry-After`,
//!   408 and 5xx and transport failures (timeouts) are `retryable`, other
//!   statuses `permanent` (the SDK's mapping). A product page whose body is cut
//!   short is `retryable` (reading it again is harmless); a body that is not
//!   JSON at all, or JSON that is not a product page, is `permanent`: `base_url`
//!   is probably not an Akeneo API.

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::http::Response;
use tenon_sdk::prelude::*;

/// The only stream.
const PRODUCTS: &str = "products";

/// Akeneo's largest page.
const MAX_PAGE: u32 = 100;

/// The most PIM pages one `read` walks through.
const MAX_PAGES_PER_READ: u32 = 20;

/// The product list path.
const LIST: &str = "/api/rest/v1/products";

/// JSON Schema of a `products` payload.
const PRODUCT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["identifier", "values", "updated"],
  "properties": {
    "identifier": {"type": "string"},
    "family": {"type": ["string", "null"]},
    "categories": {"type": "array", "items": {"type": "string"}},
    "enabled": {"type": "boolean"},
    "parent": {"type": ["string", "null"], "description": "product model code of a variant product; null for a simple product"},
    "values": {
      "type": "object",
      "additionalProperties": {
        "type": "array",
        "items": {
          "type": "object",
          "required": ["data"],
          "properties": {
            "locale": {"type": ["string", "null"]},
            "scope": {"type": ["string", "null"]},
            "data": {}
          }
        }
      }
    },
    "created": {"type": "string", "format": "date-time"},
    "updated": {"type": "string", "format": "date-time"}
  }
}"#;

/// One page of the product list.
#[derive(Debug, Deserialize)]
struct ProductPage {
    #[serde(rename = "_links", default)]
    links: Links,
    #[serde(rename = "_embedded")]
    embedded: Embedded,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

#[derive(Debug, Deserialize)]
struct Embedded {
    items: Vec<Value>,
}

/// The fields of a product the connector needs; the payload keeps them all.
#[derive(Debug, Deserialize)]
struct Position {
    identifier: String,
    updated: String,
}

struct Akeneo;

impl Connector for Akeneo {
    fn describe() -> Descriptor {
        Descriptor {
            name: "pim-akeneo".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Pim,
            description: "Products with localized values from an Akeneo-style PIM.".to_owned(),
            streams: vec![StreamInfo::readable(
                PRODUCTS,
                Some("updated"),
                PRODUCT_SCHEMA,
            )],
            egress: Vec::new(),
            config: vec![ConfigKey::required(
                "base_url",
                "Address of the PIM, like https://pim.example.com; grant its host too.",
            )],
            secrets: vec![SecretInfo::bearer(
                "api_token",
                "An API token, or an OAuth 2 grant the host runs (see the README), sent as a bearer token.",
            )],
        }
    }

    fn check() -> Result<(), Error> {
        pim()?
            .get(LIST)
            .query("limit", "1")
            .send()?
            .error_for_status()?;
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        if stream != PRODUCTS {
            return Err(Error::unknown_stream(&stream));
        }
        let api = pim()?;
        let mut mark = Watermark::from_cursor(cursor.as_deref());
        let limit = limit.clamp(1, MAX_PAGE);
        let mut request = api.get(LIST).query("limit", &limit.to_string());
        if !mark.is_start() {
            let after = tenon_sdk::cursor::second_before(&mark.time)
                .map(|t| t.sql())
                .ok_or_else(|| {
                    Error::permanent(format!("cursor time `{}` is not a date-time", mark.time))
                })?;
            let search = serde_json::json!({"updated": [{"operator": ">", "value": after}]});
            request = request.query("search", &search.to_string());
        }
        let mut fresh: Vec<(Position, Value)> = Vec::new();
        let mut next = None;
        for number in 1..=MAX_PAGES_PER_READ {
            let page = product_page(&request.send()?.error_for_status()?, number)?;
            for product in page.embedded.items {
                let position = Position::deserialize(&product).map_err(|e| {
                    Error::permanent(format!(
                        "the PIM returned a product without identifier or updated: {e}"
                    ))
                })?;
                if mark.is_new(&position.updated, &position.identifier) {
                    fresh.push((position, product));
                }
            }
            next = page.links.next.map(|link| link.href);
            let Some(href) = &next else { break };
            if fresh.len() > limit as usize {
                break;
            }
            request = api.get(relative(api.base_url(), href)?);
        }
        fresh.sort_by(|(a, _), (b, _)| {
            (&a.updated, &a.identifier).cmp(&(&b.updated, &b.identifier))
        });
        let more = fresh.len() > limit as usize || next.is_some();
        fresh.truncate(limit as usize);
        let mut records = Vec::with_capacity(fresh.len());
        for (position, product) in &fresh {
            records.push(Envelope::upsert(
                PRODUCTS,
                &position.identifier,
                product,
                Some(&position.updated),
            )?);
            mark.advance(&position.updated, &position.identifier);
        }
        log::info(format!(
            "count={} more={more} cursor={mark} Read products.",
            records.len()
        ));
        Ok(Page {
            next_cursor: (!records.is_empty()).then(|| mark.encode()),
            more: more && !records.is_empty(),
            records,
        })
    }

    fn write(stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        if stream != PRODUCTS {
            return Err(Error::unknown_stream(&stream));
        }
        Err(Error::permanent(format!("stream `{stream}` is read-only")))
    }
}

/// Page `number` of this read, decoded. A body cut short (a proxy or a PIM
/// under load dropped the connection) is retryable: the read changes nothing, so
/// asking again is harmless. Anything else that does not decode is permanent.
fn product_page(response: &Response, number: u32) -> Result<ProductPage, Error> {
    let body = response.body();
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            Error::retryable(format!(
                "the PIM's answer to product page {number} was cut short after {} bytes ({e}); \
                 the next read asks again",
                body.len()
            ))
        } else {
            Error::permanent(format!(
                "the PIM answered product page {number} with a body that is not JSON ({e}): \
                 is base_url an Akeneo API?"
            ))
        }
    })?;
    ProductPage::deserialize(value).map_err(|e| {
        Error::permanent(format!(
            "the PIM answered product page {number} with JSON that is not a product page ({e}): is base_url an Akeneo API?"
        ))
    })
}

/// The PIM of this tenant, with its bearer `api_token`.
fn pim() -> Result<Client, Error> {
    let base_url = config::require("base_url")?;
    Ok(Client::new(base_url.trim_end_matches('/')).credential("api_token"))
}

/// The path of a `_links` href, absolute under `base_url` or relative; any other
/// host would get the tenant's token, so it is refused.
fn relative<'a>(base_url: &str, href: &'a str) -> Result<&'a str, Error> {
    if let Some(path) = href.strip_prefix(base_url)
        && path.starts_with('/')
    {
        return Ok(path);
    }
    if href.starts_with('/') && !href.starts_with("//") {
        return Ok(href);
    }
    Err(Error::permanent(format!(
        "the PIM linked to `{href}`, outside base_url"
    )))
}

export_connector!(Akeneo);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_under_the_base_url() {
        let base = "http://127.0.0.1:9000";
        assert_eq!(
            relative(base, "http://127.0.0.1:9000/api/rest/v1/products?page=2").unwrap(),
            "/api/rest/v1/products?page=2"
        );
        assert_eq!(relative(base, "/api/x").unwrap(), "/api/x");
        assert!(relative(base, "http://evil.example/api").is_err());
        assert!(relative(base, "//evil.example/api").is_err());
        assert!(relative(base, "http://127.0.0.1:90001/api").is_err());
    }
}
