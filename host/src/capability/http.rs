//! `tenon:connector/http`: egress mediated by the host.
//!
//! A guest never opens a socket. It hands the host a request; the host checks the
//! URL against the grants of this (tenant, plugin) (deny by default), adds the
//! tenant's credential so the guest never holds it, applies the timeout and the
//! response size cap, and sends it with reqwest. Redirects are not followed: a 3xx
//! goes back to the guest, whose next request is checked like any other.
//!
//! A tenant secret may hold an OAuth 2 grant instead of a token; the host then
//! obtains, caches and renews the access token itself (see [`super::oauth`]).

use crate::bindings::types::Error as WitError;
use crate::bindings::wit_http::{self, AuthScheme, Method, Request, Response};
use crate::capability::oauth::{TokenAnswer, TokenGrant, Tokens};
use crate::limits::Limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasData, Linker};

/// One host (and optionally one port) a tenant allows a plugin to reach.
///
/// Written `host` (any port) or `host:port`; IPv6 addresses in brackets
/// (`[::1]:8080`). Host names match exactly, case-insensitively: no wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Grant {
    host: String,
    port: Option<u16>,
}

impl Grant {
    /// Whether this grant allows a request to `host:port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.host
            .eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
            && self.port.is_none_or(|p| p == port)
    }

    /// Whether this grant covers a host a plugin declares it needs: same host, and
    /// any port, or the declared one.
    pub fn covers(&self, declared: &Grant) -> bool {
        self.host == declared.host && (self.port.is_none() || self.port == declared.port)
    }
}

impl std::str::FromStr for Grant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("grant `{s}` is not `host` or `host:port`");
        let s = s.trim();
        if s.is_empty() || s.contains(['/', '*', '@', ' ']) {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match s.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                Some(_) => return Err(format!("grant `{s}`: write IPv6 addresses in brackets")),
                None => (s, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("grant `{s}` has an invalid port"))
            })
            .transpose()?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Grant {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl TryFrom<String> for Grant {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Grant> for String {
    fn from(g: Grant) -> String {
        g.to_string()
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

/// Per-call egress state.
#[derive(Debug)]
pub struct Egress {
    tenant: String,
    plugin: String,
    grants: Arc<Vec<Grant>>,
    secrets: Arc<BTreeMap<String, String>>,
    client: reqwest::Client,
    /// Access tokens of OAuth 2 grants, shared across calls.
    tokens: Arc<Tokens>,
    limits: Limits,
    /// Requests sent (or refused) during this call.
    pub requests: u32,
    /// Of those, the ones that ended in an error instead of a response: refused
    /// (not granted, over the limit, no such secret), invalid, or failed in
    /// transport (connect, timeout, oversized body). An HTTP error status is a
    /// response, not an error here.
    pub errors: u32,
    /// Time spent in requests during this call, refused ones included.
    pub elapsed: Duration,
}

impl Egress {
    pub fn new(
        tenant: &str,
        plugin: &str,
        grants: Arc<Vec<Grant>>,
        secrets: Arc<BTreeMap<String, String>>,
        client: reqwest::Client,
        tokens: Arc<Tokens>,
        limits: Limits,
    ) -> Self {
        Egress {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            grants,
            secrets,
            client,
            tokens,
            limits,
            requests: 0,
            errors: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// The reqwest client egress uses: no redirects (each hop must be granted), no
    /// proxy from the environment.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("the HTTP client builds with static settings")
    }

    /// Sends a request for the guest, counting it, whether it failed, and how
    /// long it took.
    async fn send(&mut self, request: Request) -> Result<Response, WitError> {
        let started = std::time::Instant::now();
        let result = self.exchange(request).await;
        self.elapsed += started.elapsed();
        if result.is_err() {
            self.errors += 1;
        }
        result
    }

    /// Counts a request against the call's limit.
    fn count(&mut self) -> Result<(), WitError> {
        self.requests += 1;
        if self.requests > self.limits.max_requests {
            return Err(WitError::Denied(format!(
                "this call already sent {} HTTP requests, the limit",
                self.limits.max_requests
            )));
        }
        Ok(())
    }

    /// `url` parsed, if it is http(s) to a granted host: with its host and port.
    fn granted(&self, url: &str) -> Result<(reqwest::Url, String, u16), WitError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| WitError::Permanent(format!("invalid URL `{url}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WitError::Permanent(format!(
                "URL scheme `{}` is not http or https",
                url.scheme()
            )));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.grants.iter().any(|g| g.allows(&host, port)) {
            tracing::warn!(tenant = %self.tenant, plugin = %self.plugin, %host, port, "Egress refused: host not granted");
            return Err(WitError::Denied(format!(
                "egress to {host}:{port} is not granted to plugin `{}` for tenant `{}`",
                self.plugin, self.tenant
            )));
        }
        Ok((url, host, port))
    }

    async fn exchange(&mut self, request: Request) -> Result<Response, WitError> {
        self.count()?;
        let (url, host, port) = self.granted(&request.url)?;
        let timeout = Duration::from_millis(match request.timeout_ms {
            Some(ms) => u64::from(ms).min(self.limits.http_timeout_ms),
            None => self.limits.http_timeout_ms,
        });
        let auth = match &request.credential {
            None => None,
            Some(credential) => {
                let secret = self
                    .secrets
                    .get(&credential.secret)
                    .cloned()
                    .ok_or_else(|| {
                        WitError::Denied(format!(
                            "secret `{}` is not set for plugin `{}` and tenant `{}`",
                            credential.secret, self.plugin, self.tenant
                        ))
                    })?;
                Some(
                    match (&credential.scheme, TokenGrant::from_secret(&secret)) {
                        (AuthScheme::Bearer, Some(grant)) => {
                            let grant = grant.map_err(|e| {
                                WitError::Denied(format!("secret `{}`: {e}", credential.secret))
                            })?;
                            Auth::Granted {
                                key: Tokens::key(&self.tenant, &self.plugin, &secret),
                                secret: credential.secret.clone(),
                                grant,
                            }
                        }
                        (AuthScheme::Bearer, None) => Auth::Bearer(secret),
                        (AuthScheme::Basic(user), _) => Auth::Basic(user.clone(), secret),
                        (AuthScheme::Header(name), _) => Auth::Header(name.clone(), secret),
                    },
                )
            }
        };

        // Sent once; a second time only when a held OAuth token was refused.
        let mut retried = false;
        loop {
            let mut builder = self
                .client
                .request(method(request.method), url.clone())
                .timeout(timeout);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            builder = match &auth {
                None => builder,
                Some(Auth::Bearer(token)) => builder.bearer_auth(token),
                Some(Auth::Basic(user, secret)) => builder.basic_auth(user, Some(secret)),
                Some(Auth::Header(name, secret)) => builder.header(name.as_str(), secret.as_str()),
                Some(Auth::Granted { key, secret, grant }) => {
                    let token = self.access_token(key, secret, grant).await?;
                    builder.bearer_auth(token)
                }
            };
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let response = self.receive(builder, &url, &host, port, timeout).await?;
            match &auth {
                Some(Auth::Granted { key, .. }) if response.status == 401 && !retried => {
                    // Expired or revoked before its time: ask for a new one, once.
                    self.tokens.forget(key);
                    retried = true;
                    self.count()?;
                }
                _ => return Ok(response),
            }
        }
    }

    /// The access token of `grant`: the one held, or a new one from the token
    /// endpoint (a request of this call like any other).
    async fn access_token(
        &mut self,
        key: &str,
        secret: &str,
        grant: &TokenGrant,
    ) -> Result<String, WitError> {
        if let Some(token) = self.tokens.get(key) {
            return Ok(token);
        }
        self.count()?;
        let (url, host, port) = self.granted(&grant.token_url)?;
        let timeout = Duration::from_millis(self.limits.http_timeout_ms);
        let body = grant
            .form()
            .into_iter()
            .map(|(name, value)| format!("{name}={}", form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let builder = self
            .client
            .post(url.clone())
            .timeout(timeout)
            .basic_auth(&grant.client_id, Some(&grant.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        let response = self.receive(builder, &url, &host, port, timeout).await?;
        let refused = |kind: &str| {
            format!(
                "the token endpoint {host}:{port} answered {} to the OAuth grant of secret `{secret}`: {kind}",
                response.status
            )
        };
        match response.status {
            200..=299 => {}
            429 | 500..=599 => return Err(WitError::Retryable(refused("try again later"))),
            _ => {
                // The endpoint's error code (`invalid_grant`, `invalid_client`)
                // names the problem without repeating any secret.
                let code = serde_json::from_slice::<serde_json::Value>(&response.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "the grant was refused".to_owned());
                return Err(WitError::Permanent(refused(&code)));
            }
        }
        let answer: TokenAnswer = serde_json::from_slice(&response.body).map_err(|e| {
            WitError::Retryable(format!(
                "the token endpoint {host}:{port} answered without a usable access token: {e}"
            ))
        })?;
        self.tokens.put(key, &answer);
        tracing::debug!(tenant = %self.tenant, plugin = %self.plugin, %host, port, secret, expires_in = answer.expires_in, "Obtained an OAuth access token");
        Ok(answer.access_token)
    }

    /// Sends `builder` and reads the answer within the size cap.
    async fn receive(
        &self,
        builder: reqwest::RequestBuilder,
        url: &reqwest::Url,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Response, WitError> {
        let started = std::time::Instant::now();
        let mut response = builder
            .send()
            .await
            .map_err(|e| transport_error(host, port, timeout, e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let cap = self.limits.max_response_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(host, port, timeout, e))?
        {
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(WitError::Permanent(format!(
                    "response from {host}:{port} is larger than the {cap}-byte limit"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            tenant = %self.tenant, plugin = %self.plugin, %host, port, path = url.path(), status,
            bytes = body.len(), ms = started.elapsed().as_millis() as u64, "Egress request done"
        );
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// How a request is authenticated, from the tenant's secret.
enum Auth {
    Bearer(String),
    Basic(String, String),
    Header(String, String),
    /// A bearer token the host obtains with the grant in the secret `secret`.
    Granted {
        key: String,
        secret: String,
        grant: TokenGrant,
    },
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn transport_error(host: &str, port: u16, timeout: Duration, e: reqwest::Error) -> WitError {
    if e.is_timeout() {
        WitError::Retryable(format!(
            "request to {host}:{port} timed out after {} ms",
            timeout.as_millis()
        ))
    } else if e.is_connect() {
        WitError::Retryable(format!("could not connect to {host}:{port}"))
    } else if e.is_builder() {
        WitError::Permanent(format!("invalid request to {host}:{port}: {e}"))
    } else {
        WitError::Retryable(format!("request to {host}:{port} failed: {e}"))
    }
}

impl wit_http::Host for Egress {
    async fn send(&mut self, request: Request) -> Result<Response, WitError> {
        Egress::send(self, request).await
    }
}

struct HasEgress;

impl HasData for HasEgress {
    type Data<'a> = &'a mut Egress;
}

/// Adds `tenon:connector/http` to `linker`, served by the [`Egress`] that `get`
/// finds in the store.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut Egress,
) -> wasmtime::Result<()> {
    wit_http::add_to_linker::<T, HasEgress>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_match() {
        let any_port: Grant = "API.example.com".parse().unwrap();
        assert!(any_port.allows("api.example.com", 443));
        assert!(any_port.allows("api.example.com", 8080));
        assert!(!any_port.allows("evil.example.com", 443));
        let one_port: Grant = "127.0.0.1:8080".parse().unwrap();
        assert!(one_port.allows("127.0.0.1", 8080));
        assert!(!one_port.allows("127.0.0.1", 8081));
        let v6: Grant = "[::1]:9000".parse().unwrap();
        assert!(v6.allows("[::1]", 9000));
        assert_eq!(v6.to_string(), "[::1]:9000");
        for bad in ["", "http://x", "*.example.com", "host:port", "::1", "a b"] {
            assert!(bad.parse::<Grant>().is_err(), "{bad} should be refused");
        }
    }
}
