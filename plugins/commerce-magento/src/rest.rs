//! One Magento REST request: the URL under `/rest/<store>/V1`, the tenant's
//! bearer token, and Magento's answers mapped to [`Error`]s. Owns no stream
//! logic.
//!
//! Magento answers an error as `{"message": "...", "parameters": ...}`, the
//! message with placeholders (`%1` by position, `%sku` by name) that the
//! parameters fill; [`render`] fills them for the error text. Statuses map as
//! the guide says, with two Magento specifics: `401` is a permanent error that
//! names the secret (the token is wrong or revoked; retrying cannot help), and
//! `429` waits `Retry-After`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tenon_sdk::http::{self, Request, Response};
use tenon_sdk::prelude::*;

use crate::Settings;
use tenon_sdk::config::Config;

/// The tenant secret holding the integration's access token (bearer).
pub const TOKEN_SECRET: &str = "access_token";

/// Which store views a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The configured `store_code`: reads, orders, customers, inventory.
    Store,
    /// `all`: catalogue writes that hold for every store view (Magento's
    /// default values), and their reads for `reconcile`.
    All,
}

/// The Magento REST API of this tenant.
#[derive(Debug)]
pub struct Magento {
    client: Client,
    pub settings: Settings,
}

impl Magento {
    /// The API from the tenant's configuration.
    pub fn connect() -> Result<Magento, Error> {
        let settings = Settings::load()?;
        let client = Client::new(settings.base_url.trim()).credential(TOKEN_SECRET);
        Ok(Magento { client, settings })
    }

    /// `/rest/<store>/V1<path>` of `scope`.
    fn path(&self, scope: Scope, path: &str) -> String {
        rest_path(
            match scope {
                Scope::Store => &self.settings.store_code,
                Scope::All => "all",
            },
            path,
        )
    }

    /// A request for `path` (`/orders`) in `scope`.
    pub fn request(&self, method: http::Method, scope: Scope, path: &str) -> Request {
        self.client.request(method, &self.path(scope, path))
    }

    /// `GET path?query`, the 2xx body decoded as `T`.
    pub fn get<T: DeserializeOwned>(
        &self,
        scope: Scope,
        path: &str,
        query: &[(String, String)],
    ) -> Result<T, Error> {
        let request = query
            .iter()
            .fold(self.request(http::Method::Get, scope, path), |r, (k, v)| {
                r.query(k, v)
            });
        send(request)?.json()
    }

    /// `POST path` with `body`, the 2xx body decoded as `T`.
    pub fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        scope: Scope,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        send(self.request(http::Method::Post, scope, path).json(body)?)?.json()
    }

    /// `POST path` with `body`, for endpoints whose answer says nothing
    /// (`true`, `[]`, or no body at all).
    pub fn post_only<B: Serialize + ?Sized>(
        &self,
        scope: Scope,
        path: &str,
        body: &B,
    ) -> Result<(), Error> {
        send(self.request(http::Method::Post, scope, path).json(body)?)?;
        Ok(())
    }

    /// `PUT path` with `body`, the 2xx body decoded as `T`.
    pub fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        scope: Scope,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        send(self.request(http::Method::Put, scope, path).json(body)?)?.json()
    }
}

impl Magento {
    /// `POST /rest/all/async/bulk/V1<path>` with `body`: the bulk variant of
    /// a catalogue endpoint, which queues one operation per item. Where that
    /// route does not exist (`404`), `/rest/all/V1/async/bulk/V1<path>`, the
    /// form Tenon's Magento sandbox serves.
    pub fn post_bulk<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let post = |at: String| self.client.request(http::Method::Post, &at).json(body);
        let response = post(format!("/rest/all/async/bulk/V1{path}"))?.send()?;
        if response.status() != 404 {
            return send_checked(response)?.json();
        }
        send(post(rest_path("all", &format!("/async/bulk/V1{path}")))?)?.json()
    }
}

/// `/rest/<store>/V1<path>`, the store code as one path segment.
pub fn rest_path(store: &str, path: &str) -> String {
    format!("/rest/{}/V1{path}", http::path_segment(store))
}

/// Sends `request`; a non-2xx answer is the [`Error`] its status means, with
/// Magento's message rendered.
pub fn send(request: Request) -> Result<Response, Error> {
    send_checked(request.send()?)
}

/// `response` if its status is 2xx, else the [`Error`] its status means.
pub fn send_checked(response: Response) -> Result<Response, Error> {
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let message = format!("Magento answered {status}: {}", message(response.body()));
    Err(match status {
        401 => Error::permanent(format!(
            "{message}; Magento refuses the secret `{TOKEN_SECRET}`: set it to a valid integration access token (System > Integrations)"
        )),
        // The SDK's mapping reads `Retry-After` and knows the rest.
        _ => match response.error_for_status() {
            Err(Error::RateLimited(limit)) => Error::rate_limited(limit.after_ms, message),
            Err(Error::Retryable(_)) => Error::retryable(message),
            _ => Error::permanent(message),
        },
    })
}

/// The text of a Magento error body: its `message` rendered with its
/// `parameters`, then those of each of its `errors`; the start of the body
/// when it is not Magento's JSON.
pub fn message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(error) if error["message"].is_string() => {
            let mut text = render(
                error["message"].as_str().unwrap_or_default(),
                &error["parameters"],
            );
            for detail in error["errors"].as_array().into_iter().flatten() {
                if let Some(m) = detail["message"].as_str() {
                    text.push_str("; ");
                    text.push_str(&render(m, &detail["parameters"]));
                }
            }
            text
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            match text.char_indices().nth(300) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text.to_owned(),
            }
        }
    }
}

/// Magento's `message` with its placeholders filled from `parameters`: `%1`
/// is the first of a list (or the key `1` of an object), `%name` the key
/// `name` of an object. Magento also sends named placeholders with a plain
/// list (its tier price results do), which fills them in order of first
/// appearance. A placeholder without a value stays as it is.
pub fn render(message: &str, parameters: &Value) -> String {
    let mut out = String::with_capacity(message.len());
    let mut named: Vec<&str> = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..len];
        let value = if name.is_empty() {
            None
        } else if name.bytes().all(|b| b.is_ascii_digit()) {
            match parameters {
                Value::Array(list) => name
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| list.get(i)),
                Value::Object(map) => map.get(name),
                _ => None,
            }
        } else {
            match parameters {
                Value::Object(map) => map.get(name),
                Value::Array(list) => {
                    let index = named.iter().position(|n| *n == name).unwrap_or_else(|| {
                        named.push(name);
                        named.len() - 1
                    });
                    list.get(index)
                }
                _ => None,
            }
        };
        match value {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {
                out.push('%');
                out.push_str(name);
            }
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_fill_by_position_and_by_name() {
        assert_eq!(
            render(
                "The product with SKU \"%1\" does not exist.",
                &json!(["TEE-M"])
            ),
            "The product with SKU \"TEE-M\" does not exist."
        );
        assert_eq!(
            render(
                "No such entity with %fieldName = %fieldValue",
                &json!({"fieldName": "orderId", "fieldValue": 1042})
            ),
            "No such entity with orderId = 1042"
        );
        // Magento's tier price results: named placeholders, a plain list.
        assert_eq!(
            render(
                "Invalid attribute SKU = %SKU. Row ID: SKU = %SKU, Website ID: %websiteId, Customer Group: %customerGroup, Quantity: %qty.",
                &json!(["MUG", "0", "C0042", "10"])
            ),
            "Invalid attribute SKU = MUG. Row ID: SKU = MUG, Website ID: 0, Customer Group: C0042, Quantity: 10."
        );
    }

    #[test]
    fn text_without_values_stays_readable() {
        assert_eq!(render("100% cotton", &Value::Null), "100% cotton");
        assert_eq!(render("%1 and %2", &json!(["a"])), "a and %2");
        assert_eq!(render("ends with %", &json!([])), "ends with %");
    }

    #[test]
    fn error_bodies_read_as_their_rendered_message() {
        let body = br#"{"message":"The \"%1\" order doesn't exist.","parameters":["77"]}"#;
        assert_eq!(message(body), "The \"77\" order doesn't exist.");
        let validation = br#"{"message":"Validation Failed","errors":[{"message":"\"%fieldName\" is required. Enter and try again.","parameters":{"fieldName":"sku"}}]}"#;
        assert_eq!(
            message(validation),
            "Validation Failed; \"sku\" is required. Enter and try again."
        );
        assert_eq!(
            message(b"<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
    }

    #[test]
    fn paths_go_under_the_store_code() {
        assert_eq!(rest_path("default", "/orders"), "/rest/default/V1/orders");
        assert_eq!(
            rest_path("de store", "/orders"),
            "/rest/de%20store/V1/orders"
        );
    }
}
