//! Outgoing HTTP through the host's `http.send` import, and the mapping of HTTP
//! statuses to [`Error`].
//!
//! A plugin has no sockets: the host sends each request for it, and only to hosts
//! the operator granted for the tenant (`tenon enable ... --grant host:port`).
//! The host also applies secrets: the plugin declares each secret with its
//! scheme in its descriptor ([`SecretInfo`](crate::SecretInfo)), a request names
//! one, and the host adds it the declared way, only to the hosts the operator
//! bound it to; the plugin never sees the value, and the host removes it from
//! the answer too (a vendor that echoes a request hands the plugin nothing). The
//! plugin may not set the header the secret goes in, nor `Host`. The host caps
//! the timeout and the response size (see the README's "Limits").
//!
//! [`Client`] is the usual entry point: a base URL and a secret, with
//! [`get_json`](Client::get_json), [`post_json`](Client::post_json) and
//! [`put_json`](Client::put_json) that return decoded bodies or a mapped
//! [`Error`]. [`Request`] and [`Response`] are the lower level underneath.
//!
//! Status mapping ([`Response::error_for_status`]):
//!
//! | Status | Error |
//! |---|---|
//! | 2xx | none |
//! | 429 | `rate-limited`, after `Retry-After` seconds or [`DEFAULT_RETRY_AFTER_MS`] |
//! | 408, 5xx | `retryable` |
//! | any other | `permanent` (401/403 mean the secret or grant is wrong at the vendor) |
//!
//! A body that is not the expected JSON is `permanent`. Failures without a
//! response come from the host as they are: `denied` (host not granted, an
//! address the operator has not allowed, a secret not set or not bound to that
//! host), `retryable` (timeout, connection), `permanent` (bad URL or header,
//! response too big).

use std::fmt::Write as _;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::connector::tenon::connector::http as wit;

pub use wit::Method;

/// How long to wait after a `429` without a usable `Retry-After`, in milliseconds.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 30_000;

/// How many bytes of an error response's body are quoted in the [`Error`] text.
pub const ERROR_BODY_EXCERPT: usize = 300;

/// The header that carries a write's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// A vendor API: a base URL and the secret every request carries.
///
/// ```no_run
/// # use tenon_sdk::prelude::*;
/// # #[derive(serde::Deserialize)] struct Orders {}
/// # fn read() -> Result<(), Error> {
/// let api = Client::new(config::require("base_url")?).credential("api_token");
/// let orders: Orders = api.get_json("/api/orders", &[("limit", "50")])?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    credential: Option<String>,
}

impl Client {
    /// A client for the API at `base_url` (`http://127.0.0.1:8080`); paths are
    /// appended to it, so a trailing `/` is dropped.
    pub fn new(base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        Self {
            base_url,
            credential: None,
        }
    }

    /// Has the host apply the declared secret `secret` to every request of
    /// this client.
    pub fn credential(mut self, secret: impl Into<String>) -> Self {
        self.credential = Some(secret.into());
        self
    }

    /// The base URL, without trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request for `base_url` + `path` (`/api/orders`), with the credential.
    pub fn request(&self, method: Method, path: &str) -> Request {
        let request = Request::new(method, format!("{}{path}", self.base_url));
        match &self.credential {
            Some(credential) => request.credential(credential.clone()),
            None => request,
        }
    }

    /// A `GET` request for `path`.
    pub fn get(&self, path: &str) -> Request {
        self.request(Method::Get, path)
    }

    /// A `POST` request for `path`.
    pub fn post(&self, path: &str) -> Request {
        self.request(Method::Post, path)
    }

    /// A `PUT` request for `path`.
    pub fn put(&self, path: &str) -> Request {
        self.request(Method::Put, path)
    }

    /// A `DELETE` request for `path`.
    pub fn delete(&self, path: &str) -> Request {
        self.request(Method::Delete, path)
    }

    /// `GET path?query`, then the 2xx body decoded as `T`.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        let request = query.iter().fold(self.get(path), |request, (name, value)| {
            request.query(name, value)
        });
        request.send()?.error_for_status()?.json()
    }

    /// `POST path` with `body` as JSON and, if given, an `Idempotency-Key`
    /// header; then the 2xx body decoded as `T`.
    pub fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, Error> {
        self.post(path)
            .idempotency_key(idempotency_key)
            .json(body)?
            .send()?
            .error_for_status()?
            .json()
    }

    /// `PUT path` with `body` as JSON and, if given, an `Idempotency-Key`
    /// header; then the 2xx body decoded as `T`.
    pub fn put_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, Error> {
        self.put(path)
            .idempotency_key(idempotency_key)
            .json(body)?
            .send()?
            .error_for_status()?
            .json()
    }
}

/// An HTTP request under construction; [`send`](Request::send) hands it to the host.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    credential: Option<String>,
    timeout_ms: Option<u32>,
}

impl Request {
    /// A request with `method` for the absolute `http` or `https` `url`.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            credential: None,
            timeout_ms: None,
        }
    }

    /// Appends `name=value` to the query string, percent-encoding both.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.url
            .push(if self.url.contains('?') { '&' } else { '?' });
        percent_encode(name, &mut self.url);
        self.url.push('=');
        percent_encode(value, &mut self.url);
        self
    }

    /// Adds a header; repeated names are sent as repeated headers.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the `Idempotency-Key` header when `key` is given.
    ///
    /// Pass the [`Delivery::idempotency_key`](crate::Delivery) of the record being
    /// written: a retried write then reaches the vendor with the same key, and a
    /// vendor that honours the header applies it once.
    pub fn idempotency_key(self, key: Option<&str>) -> Self {
        match key {
            Some(key) => self.header(IDEMPOTENCY_KEY, key),
            None => self,
        }
    }

    /// Asks the host to apply the declared secret `secret` to this request, by
    /// the scheme the descriptor gives it.
    pub fn credential(mut self, secret: impl Into<String>) -> Self {
        self.credential = Some(secret.into());
        self
    }

    /// Sets the body to `body` as JSON, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(body)?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// Sets the raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Asks for a shorter timeout than the host's limit (never a longer one).
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// Sends the request through the host. Any HTTP status is a [`Response`];
    /// an `Err` means there was no response (see the module documentation).
    pub fn send(self) -> Result<Response, Error> {
        // Errors name the request by method and path: the query string can be
        // long (filters, cursors) and is no one's business in a run record.
        let path = match self.url.find(['?', '#']) {
            Some(at) => format!("{}?…", &self.url[..at]),
            None => self.url.clone(),
        };
        let label = format!("{} {path}", method_name(self.method));
        let request = wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            credential: self.credential,
            timeout_ms: self.timeout_ms,
        };
        let response = wit::send(&request).map_err(|e| e.context(&label))?;
        Ok(Response {
            label,
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

/// A response from the vendor, with any status.
#[derive(Debug, Clone)]
pub struct Response {
    /// `METHOD url` of the request, to name it in errors.
    label: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded as JSON `T`. A body cut short (the JSON ends early: a
    /// dropped connection, a proxy's limit) is `retryable`, since the same
    /// request may well come back whole; any other body that does not decode is
    /// `permanent`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            if e.is_eof() {
                Error::retryable(format!(
                    "{} returned a body cut short after {} bytes: {e}",
                    self.label,
                    self.body.len()
                ))
            } else {
                Error::permanent(format!(
                    "{} returned a body that is not the expected JSON: {e}",
                    self.label
                ))
            }
        })
    }

    /// The response itself if the status is 2xx, else the mapped [`Error`]
    /// (see the module documentation), quoting the start of the body.
    pub fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status;
        if (200..300).contains(&status) {
            return Ok(self);
        }
        let message = format!(
            "{} returned {status}: {}",
            self.label,
            excerpt(&self.text(), ERROR_BODY_EXCERPT)
        );
        Err(match status {
            429 => Error::rate_limited(self.retry_after_ms(), message),
            408 | 500..=599 => Error::retryable(message),
            _ => Error::permanent(message),
        })
    }

    /// The delay `Retry-After` asks for (whole seconds), or [`DEFAULT_RETRY_AFTER_MS`]
    /// when absent or given as an HTTP date.
    fn retry_after_ms(&self) -> u64 {
        self.header("Retry-After")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER_MS, |seconds| {
                seconds.saturating_mul(1000)
            })
    }
}

/// The method as it appears on the wire, for messages.
fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// `value` as one URL path segment: every byte but RFC 3986's unreserved
/// characters percent-encoded, so `/`, `?` and `#` cannot change the path.
pub fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    percent_encode(value, &mut out);
    out
}

/// Appends `value` to `out`, percent-encoding all but RFC 3986 unreserved characters.
fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a `String` cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// At most `max` bytes of `text`, cut at a character boundary, with `…` if cut.
fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::{Method, Request, Response, excerpt};
    use crate::Error;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            label: "GET http://vendor/api".to_owned(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let request = Request::new(Method::Get, "http://vendor/api")
            .query("updated_after", "2026-11-23T10:00:00+01:00")
            .query("after_id", "a b");
        assert_eq!(
            request.url,
            "http://vendor/api?updated_after=2026-11-23T10%3A00%3A00%2B01%3A00&after_id=a%20b"
        );
    }

    #[test]
    fn statuses_map_to_error_cases() {
        assert!(response(201, &[], "{}").error_for_status().is_ok());
        assert!(matches!(
            response(503, &[], "down").error_for_status(),
            Err(Error::Retryable(_))
        ));
        assert!(matches!(
            response(408, &[], "").error_for_status(),
            Err(Error::Retryable(_))
        ));
        assert!(matches!(
            response(422, &[], r#"{"error":"empty lines"}"#).error_for_status(),
            Err(Error::Permanent(m)) if m.contains("empty lines")
        ));
    }

    #[test]
    fn a_body_cut_short_is_retryable_and_a_wrong_one_permanent() {
        let cut = response(200, &[], r#"{"orders": [{"id": 1}, {"id""#);
        let Err(Error::Retryable(message)) = cut.json::<serde_json::Value>() else {
            panic!("a body cut short must be retryable");
        };
        assert!(message.contains("cut short after 28 bytes"), "{message}");
        let html = response(200, &[], "<html>login</html>");
        assert!(matches!(
            html.json::<serde_json::Value>(),
            Err(Error::Permanent(_))
        ));
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Page {
            orders: Vec<u32>,
        }
        let shape = response(200, &[], r#"{"items": []}"#);
        assert!(matches!(shape.json::<Page>(), Err(Error::Permanent(_))));
    }

    #[test]
    fn rate_limit_waits_for_retry_after() {
        let Err(Error::RateLimited(limit)) =
            response(429, &[("retry-after", "7")], "").error_for_status()
        else {
            panic!("429 must be rate-limited");
        };
        assert_eq!(limit.after_ms, 7_000);
        let Err(Error::RateLimited(limit)) = response(429, &[], "").error_for_status() else {
            panic!("429 must be rate-limited");
        };
        assert_eq!(limit.after_ms, super::DEFAULT_RETRY_AFTER_MS);
    }

    #[test]
    fn undecodable_json_is_permanent() {
        let result: Result<Vec<u8>, Error> = response(200, &[], "<html>").json();
        assert!(matches!(result, Err(Error::Permanent(_))));
    }

    #[test]
    fn excerpts_cut_at_character_boundaries() {
        assert_eq!(excerpt("ééé", 3), "é…");
    }
}
