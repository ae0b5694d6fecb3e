//! `tenon:connector/http`: egress mediated by the host.
//!
//! A guest never opens a socket. It hands the host a request, and the host:
//!
//! 1. refuses it unless the call has network at all ([`Access`]: a webhook
//!    handler and `describe` have none) and the URL is `http(s)` to a host the
//!    tenant granted this plugin;
//! 2. connects only to public addresses, unless the operator named the address
//!    in the grant or allowed its network for the tenant; the check is on the
//!    resolved address at connect time ([`address`]), never on the name, and the
//!    host's own listeners are refused always;
//! 3. refuses the headers it sets itself (`Host`, framing, hop-by-hop);
//! 4. applies the secret the request names by the scheme the plugin declared
//!    (`tenon:connector@0.2.0`; a 0.1.0 request names its scheme), only to a
//!    host the operator bound that secret to, only over https unless the host is
//!    a loopback address or the operator allowed plain http, never in a header
//!    the guest set too; an OAuth 2 grant only as a bearer token the host
//!    obtains ([`oauth`]);
//! 5. sends it with reqwest, following no redirect (a 3xx goes back to the guest,
//!    whose next request is checked like any other), within the request timeout
//!    and the response size cap, and never past the call's end less a reserve
//!    ([`reserve`]): a slow vendor times out a request, not the whole call, so
//!    the guest still returns an outcome for every record;
//! 6. removes every form of what it applied from the answer before the guest
//!    sees it ([`Redactor`]).

pub mod address;
pub mod oauth;

pub use super::grant::Grant;

use super::Capability;
use super::config::Values;
use super::secret::{Redactor, Secrets};
use crate::bindings::v0_1::LegacyScheme;
use crate::bindings::{v0_1, v0_2};
use crate::call::{CallContext, CallReport, CallState, States};
use crate::descriptor::{RESERVED_HEADERS, SecretScheme, World};
use crate::error::GuestError;
use crate::limits::Limits;
use address::{Listeners, Resolver};
use base64::Engine as _;
use ipnet::IpNet;
use oauth::{TokenAnswer, TokenGrant, Tokens};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker};

/// The call's input: where the plugin may send requests for this tenant.
/// Without it the call has no network.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The hosts the tenant granted the plugin.
    pub grants: Vec<Grant>,
    /// Loopback, private or link-local networks the operator allowed for the
    /// tenant, beyond the addresses its grants name.
    pub networks: Vec<IpNet>,
}

/// The `http` capability: its HTTP clients (one per set of allowed networks,
/// each resolving through [`Resolver`]), the OAuth tokens it holds for tenants,
/// and the host's own listeners, which it never connects to.
#[derive(Debug, Default)]
pub struct Http {
    clients: Mutex<HashMap<Vec<IpNet>, reqwest::Client>>,
    tokens: Arc<Tokens>,
    listeners: Listeners,
}

impl Http {
    pub fn new() -> Arc<Http> {
        Arc::new(Http::default())
    }

    /// Egress refuses `addr` from now on, whatever the grants: the server adds
    /// its listeners.
    pub fn refuse(&self, addr: SocketAddr) {
        self.listeners.add(addr);
    }

    /// The client for calls allowed `networks`: no redirects (each hop must be
    /// granted), no proxy from the environment, addresses checked at connect.
    fn client(&self, networks: &[IpNet]) -> reqwest::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(networks.to_vec())
            .or_insert_with(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .connect_timeout(Duration::from_secs(5))
                    .dns_resolver(Arc::new(Resolver {
                        allowed: Arc::new(networks.to_vec()),
                    }))
                    .build()
                    .expect("the HTTP client builds with static settings")
            })
            .clone()
    }
}

impl Capability for Http {
    fn add_to_linker(&self, linker: &mut Linker<CallState>, world: World) -> anyhow::Result<()> {
        if world == World::Connector {
            v0_2::http::add_to_linker::<CallState, HasEgress>(linker, CallState::get::<Egress>)?;
            v0_1::http::add_to_linker::<CallState, HasEgress>(linker, CallState::get::<Egress>)?;
        }
        Ok(())
    }

    fn prepare(&self, call: &CallContext, states: &mut States) {
        let access = call.input::<Access>();
        let client = access.as_ref().map(|a| self.client(&a.networks));
        states.insert(Egress {
            tenant: call.tenant.clone(),
            plugin: call.plugin.clone(),
            access,
            secrets: call.input::<Secrets>(),
            config: call.input::<Values>(),
            client,
            tokens: Arc::clone(&self.tokens),
            listeners: self.listeners.clone(),
            limits: call.limits,
            asked: 0,
            sent: 0,
            failed: 0,
            refused: 0,
            elapsed: Duration::ZERO,
            ends: Instant::now() + call.time_left(),
            reserve: reserve(call.time_left()),
            out_of_time: false,
        });
    }

    fn finish(&self, states: &mut States, report: &mut CallReport) {
        if let Some(egress) = states.get_mut::<Egress>() {
            report.http_requests = egress.sent;
            report.http_errors = egress.failed;
            report.http_refused = egress.refused;
            report.http_micros = u64::try_from(egress.elapsed.as_micros()).unwrap_or(u64::MAX);
            report.out_of_time = egress.out_of_time;
        }
    }
}

/// Per-call egress state.
#[derive(Debug)]
pub struct Egress {
    tenant: Arc<str>,
    plugin: Arc<str>,
    access: Option<Arc<Access>>,
    secrets: Option<Arc<Secrets>>,
    config: Option<Arc<Values>>,
    client: Option<reqwest::Client>,
    tokens: Arc<Tokens>,
    listeners: Listeners,
    limits: Limits,
    /// Requests the guest asked for during this call, refused ones included:
    /// what the call's request limit counts.
    asked: u32,
    /// Requests that went out to a vendor (an OAuth token request among them).
    sent: u32,
    /// Of the guest's requests, the ones that went out and ended without a
    /// response (failed in transport, or an answer over the size cap). An HTTP
    /// error status is a response, not an error here.
    failed: u32,
    /// Of the guest's requests, the ones the host refused before sending:
    /// not granted, invalid, over a limit, out of time.
    refused: u32,
    /// Time spent in requests during this call, refused ones included.
    elapsed: Duration,
    /// When the call must end: its own limit, or its run's deadline.
    ends: Instant,
    /// The time kept for the guest after its last request ([`reserve`]).
    reserve: Duration,
    /// Whether a request was refused for lack of time.
    out_of_time: bool,
}

/// The time a request leaves the guest before its call's end: a tenth of the
/// time the call has (its own limit, or less when its run's budget binds),
/// from 10 ms to 3 s, so that after a request timed out the guest can still
/// answer for the records it has not sent.
pub fn reserve(call_time: Duration) -> Duration {
    (call_time / 10).clamp(Duration::from_millis(10), Duration::from_secs(3))
}

/// A request as the guest asked for it, whichever contract version.
struct Outgoing {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    credential: Option<Credential>,
    timeout_ms: Option<u32>,
}

/// The secret a request names, and for 0.1.0 the scheme it asks for.
enum Credential {
    Declared(String),
    Legacy(String, LegacyScheme),
}

/// Where a request goes, once allowed.
struct Target {
    url: reqwest::Url,
    host: String,
    port: u16,
}

/// How a request is authenticated, from the tenant's secret.
enum Auth {
    /// `header: value`.
    Header {
        name: String,
        value: String,
        secret: String,
    },
    /// A bearer token the host obtains with the grant in secret `secret`.
    Granted {
        key: String,
        secret: String,
        grant: TokenGrant,
    },
}

impl Auth {
    /// The header the credential goes in, lowercase.
    fn header(&self) -> String {
        match self {
            Auth::Header { name, .. } => name.to_ascii_lowercase(),
            Auth::Granted { .. } => "authorization".into(),
        }
    }
}

fn denied(message: String) -> GuestError {
    GuestError::Denied { message }
}

fn permanent(message: String) -> GuestError {
    GuestError::Permanent { message }
}

impl Egress {
    /// Sends a request for the guest, counting it as sent or refused, whether
    /// it failed, and how long it took.
    async fn send(&mut self, request: Outgoing) -> Result<v0_2::http::Response, GuestError> {
        let started = Instant::now();
        let sent_before = self.sent;
        let result = self.exchange(request).await;
        self.elapsed += started.elapsed();
        if let Err(error) = &result {
            if self.sent == sent_before {
                self.refused += 1;
                tracing::debug!(tenant = %self.tenant, plugin = %self.plugin, %error, "Egress request refused");
            } else {
                self.failed += 1;
                tracing::debug!(tenant = %self.tenant, plugin = %self.plugin, %error, "Egress request failed");
            }
        }
        result
    }

    /// Counts a request against the call's limit.
    fn count(&mut self) -> Result<(), GuestError> {
        self.asked = self.asked.saturating_add(1);
        if self.asked > self.limits.max_requests {
            return Err(denied(format!(
                "this call already sent {} HTTP requests, the limit",
                self.limits.max_requests
            )));
        }
        Ok(())
    }

    /// A request's timeout: what it asked for, at most the limit, and never
    /// past the call's end less [`reserve`]. With no time left, the request is
    /// not sent: the guest gets a retryable error while it can still return.
    fn timeout(&mut self, asked_ms: Option<u64>) -> Result<Duration, GuestError> {
        let limit = Duration::from_millis(asked_ms.map_or(self.limits.http_timeout_ms, |ms| {
            ms.min(self.limits.http_timeout_ms)
        }));
        let left = self
            .ends
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.reserve);
        if left.is_zero() {
            self.out_of_time = true;
            return Err(GuestError::Retryable {
                message: format!(
                    "not sent: the call is within {} ms of its time limit; the host keeps that time for the plugin to answer",
                    self.reserve.as_millis()
                ),
            });
        }
        Ok(limit.min(left))
    }

    /// `url` parsed, if it is http(s) to a granted host at an address the call
    /// may reach (an address written in the URL is checked here; a name, when
    /// the client resolves it).
    fn target(&self, url: &str) -> Result<Target, GuestError> {
        let Some(access) = &self.access else {
            return Err(denied(format!(
                "plugin `{}` has no network in this call (a webhook handler verifies and parses; the flow's runs call the vendor)",
                self.plugin
            )));
        };
        let url = reqwest::Url::parse(url).map_err(|e| {
            permanent(format!(
                "invalid URL `{}`: {e}",
                crate::error::without_query(url)
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(permanent(format!(
                "URL scheme `{}` is not http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(permanent(
                "a URL may not carry a user name or password; the host applies credentials".into(),
            ));
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(0);
        let Some(grant) = access.grants.iter().find(|g| g.allows(&host, port)) else {
            tracing::warn!(tenant = %self.tenant, plugin = %self.plugin, %host, port, "Egress refused: host not granted");
            return Err(denied(format!(
                "egress to {host}:{port} is not granted to plugin `{}` for tenant `{}`",
                self.plugin, self.tenant
            )));
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            let explicit = grant.ip() == Some(ip);
            let allowed = access.networks.iter().any(|net| net.contains(&ip));
            if address::is_special(ip) && !explicit && !allowed {
                return Err(denied(format!(
                    "egress to {ip} is refused: a loopback, private or link-local address; the operator may grant the address itself or allow its network for tenant `{}`",
                    self.tenant
                )));
            }
            if self.listeners.contains(SocketAddr::new(ip, port)) {
                return Err(denied(format!(
                    "egress to {host}:{port} is refused: it is this host's own listener"
                )));
            }
        }
        Ok(Target { url, host, port })
    }

    /// A name requested at the port of one of the host's listeners must not
    /// resolve to that listener.
    async fn not_a_listener(&self, target: &Target) -> Result<(), GuestError> {
        if target.host.parse::<IpAddr>().is_ok() || !self.listeners.has_port(target.port) {
            return Ok(());
        }
        let resolved = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| GuestError::Retryable {
                message: format!("could not resolve {}: {e}", target.host),
            })?;
        for addr in resolved {
            if self.listeners.contains(addr) {
                return Err(denied(format!(
                    "egress to {}:{} is refused: it resolves to this host's own listener",
                    target.host, target.port
                )));
            }
        }
        Ok(())
    }

    /// How the named secret is applied to a request for `target`, if the
    /// operator bound it there and the scheme allows.
    fn authorize(&self, credential: Credential, target: &Target) -> Result<Auth, GuestError> {
        let (name, legacy) = match credential {
            Credential::Declared(name) => (name, None),
            Credential::Legacy(name, scheme) => (name, Some(scheme)),
        };
        let not_set = || {
            denied(format!(
                "secret `{name}` is not set for plugin `{}` and tenant `{}`",
                self.plugin, self.tenant
            ))
        };
        let secrets = self.secrets.as_ref().ok_or_else(not_set)?;
        let declared = secrets.declared(&name).ok_or_else(|| {
            denied(format!(
                "plugin `{}` does not declare secret `{name}`",
                self.plugin
            ))
        })?;
        let secret = secrets.value(&name).ok_or_else(not_set)?;
        if !declared.is_sent() {
            return Err(denied(format!(
                "secret `{name}` is declared for verifying signatures only; the host never sends it"
            )));
        }
        if !secret.bound_to(&target.host, target.port) {
            let hosts: Vec<String> = secret.hosts.iter().map(ToString::to_string).collect();
            return Err(denied(format!(
                "secret `{name}` is not for {}:{}: the operator bound it to {}",
                target.host,
                target.port,
                if hosts.is_empty() {
                    "no host (it is never sent)".to_owned()
                } else {
                    hosts.join(", ")
                }
            )));
        }
        let loopback = target
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if target.url.scheme() == "http" && !loopback && !secret.allow_http {
            return Err(denied(format!(
                "secret `{name}` would go over plain http to {}:{}; the host sends secrets over https only, unless the operator allows plain http for this secret",
                target.host, target.port
            )));
        }
        let scheme = match (declared, legacy) {
            (SecretScheme::Legacy, Some(asked)) => asked,
            (SecretScheme::Legacy, None) => {
                return Err(denied(format!("secret `{name}` has no declared scheme")));
            }
            (SecretScheme::Bearer, _) => LegacyScheme::Bearer,
            (SecretScheme::BasicPassword { user_config }, _) => LegacyScheme::Basic(
                user_config
                    .as_ref()
                    .and_then(|key| self.config.as_ref()?.0.get(key).cloned())
                    .unwrap_or_default(),
            ),
            (SecretScheme::BasicUser | SecretScheme::Header { .. }, _) => {
                // Told apart below; neither is a bearer token.
                LegacyScheme::Header(String::new())
            }
            (SecretScheme::Hmac, _) => {
                return Err(denied(format!("secret `{name}` is never sent")));
            }
        };
        if let Some(grant) = TokenGrant::from_secret(&secret.value) {
            let grant = grant.map_err(|e| denied(format!("secret `{name}`: {e}")))?;
            if scheme != LegacyScheme::Bearer {
                return Err(denied(format!(
                    "secret `{name}` holds an OAuth 2 grant, which the host applies only as a bearer token"
                )));
            }
            return Ok(Auth::Granted {
                key: Tokens::key(&self.tenant, &self.plugin, &secret.value),
                secret: name,
                grant,
            });
        }
        match declared {
            SecretScheme::BasicUser => {
                return Ok(Auth::Header {
                    name: "authorization".into(),
                    value: basic(&secret.value, ""),
                    secret: secret.value.clone(),
                });
            }
            SecretScheme::Header { header, prefix } => {
                return Ok(Auth::Header {
                    name: header.clone(),
                    value: format!("{}{}", prefix.as_deref().unwrap_or(""), secret.value),
                    secret: secret.value.clone(),
                });
            }
            _ => {}
        }
        Ok(match scheme {
            LegacyScheme::Bearer => Auth::Header {
                name: "authorization".into(),
                value: format!("Bearer {}", secret.value),
                secret: secret.value.clone(),
            },
            LegacyScheme::Basic(user) => Auth::Header {
                name: "authorization".into(),
                value: basic(&user, &secret.value),
                secret: secret.value.clone(),
            },
            LegacyScheme::Header(header) => {
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
                    || RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str())
                {
                    return Err(permanent(format!(
                        "secret `{name}` cannot go in header `{header}`"
                    )));
                }
                Auth::Header {
                    name: header,
                    value: secret.value.clone(),
                    secret: secret.value.clone(),
                }
            }
        })
    }

    async fn exchange(&mut self, request: Outgoing) -> Result<v0_2::http::Response, GuestError> {
        self.count()?;
        let target = self.target(&request.url)?;
        self.not_a_listener(&target).await?;
        let timeout = self.timeout(request.timeout_ms.map(u64::from))?;
        for (name, _) in &request.headers {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(permanent(format!(
                    "header `{name}` is set by the host; a plugin may not set it"
                )));
            }
        }
        let auth = match request.credential {
            None => None,
            Some(credential) => Some(self.authorize(credential, &target)?),
        };
        if let Some(auth) = &auth {
            let header = auth.header();
            if request
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(&header))
            {
                return Err(permanent(format!(
                    "header `{header}` carries the credential the host applies; a plugin may not set it too"
                )));
            }
        }
        let client = self
            .client
            .clone()
            .expect("a call with access has a client");

        // Sent once; a second time only when a held OAuth token was refused.
        let mut retried = false;
        loop {
            let mut builder = client
                .request(request.method.clone(), target.url.clone())
                .timeout(timeout);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let mut redactor = Redactor::default();
            builder = match &auth {
                None => builder,
                Some(Auth::Header {
                    name,
                    value,
                    secret,
                }) => {
                    redactor.add(secret, value);
                    builder.header(name.as_str(), value.as_str())
                }
                Some(Auth::Granted { key, secret, grant }) => {
                    let token = self.access_token(&client, key, secret, grant).await?;
                    let value = format!("Bearer {token}");
                    redactor.add(&token, &value);
                    builder.header("authorization", value)
                }
            };
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let response = self.receive(builder, &target, timeout).await?;
            match &auth {
                Some(Auth::Granted { key, .. }) if response.status == 401 && !retried => {
                    // Expired or revoked before its time: ask for a new one, once.
                    self.tokens.forget(key);
                    retried = true;
                    self.count()?;
                }
                _ => return Ok(redacted(response, &redactor)),
            }
        }
    }

    /// The access token of `grant`: the one held, or a new one from the token
    /// endpoint (a request of this call like any other, to a granted host).
    async fn access_token(
        &mut self,
        client: &reqwest::Client,
        key: &str,
        secret: &str,
        grant: &TokenGrant,
    ) -> Result<String, GuestError> {
        if let Some(token) = self.tokens.get(key) {
            return Ok(token);
        }
        self.count()?;
        let target = self.target(&grant.token_url)?;
        let (host, port) = (target.host.clone(), target.port);
        let timeout = self.timeout(None)?;
        let body = grant
            .form()
            .into_iter()
            .map(|(name, value)| format!("{name}={}", form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let builder = client
            .post(target.url.clone())
            .timeout(timeout)
            .basic_auth(&grant.client_id, Some(&grant.client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        let response = self.receive(builder, &target, timeout).await?;
        let refused = |kind: &str| {
            format!(
                "the token endpoint {host}:{port} answered {} to the OAuth grant of secret `{secret}`: {kind}",
                response.status
            )
        };
        match response.status {
            200..=299 => {}
            429 | 500..=599 => {
                return Err(GuestError::Retryable {
                    message: refused("try again later"),
                });
            }
            _ => {
                // The endpoint's error code (`invalid_grant`, `invalid_client`)
                // names the problem without repeating any secret.
                let code = serde_json::from_slice::<serde_json::Value>(&response.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .filter(|code| code.len() <= 64)
                    .unwrap_or_else(|| "the grant was refused".to_owned());
                return Err(permanent(refused(&code)));
            }
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&response.body).map_err(|e| GuestError::Retryable {
                message: format!(
                    "the token endpoint {host}:{port} answered without a usable access token: {e}"
                ),
            })?;
        self.tokens.put(key, &answer);
        tracing::debug!(tenant = %self.tenant, plugin = %self.plugin, %host, port, secret, expires_in = answer.expires_in, "Obtained an OAuth access token");
        Ok(answer.access_token)
    }

    /// Sends `builder` and reads the answer within the size cap.
    async fn receive(
        &mut self,
        builder: reqwest::RequestBuilder,
        target: &Target,
        timeout: Duration,
    ) -> Result<v0_2::http::Response, GuestError> {
        let (host, port) = (target.host.as_str(), target.port);
        let started = Instant::now();
        self.sent = self.sent.saturating_add(1);
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
            if (body.len() as u64).saturating_add(chunk.len() as u64) > cap {
                return Err(permanent(format!(
                    "response from {host}:{port} is larger than the {cap}-byte limit"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            tenant = %self.tenant, plugin = %self.plugin, %host, port, path = target.url.path(), status,
            bytes = body.len(), ms = started.elapsed().as_millis() as u64, "Egress request done"
        );
        Ok(v0_2::http::Response {
            status,
            headers,
            body,
        })
    }
}

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The answer with every form of the applied secret removed; a `content-length`
/// is made true again.
fn redacted(response: v0_2::http::Response, redactor: &Redactor) -> v0_2::http::Response {
    if redactor.is_empty() {
        return response;
    }
    let body = redactor.redact(response.body);
    let headers = response
        .headers
        .into_iter()
        .map(|(name, value)| {
            let value = if name.eq_ignore_ascii_case("content-length") {
                body.len().to_string()
            } else {
                redactor.redact_text(&value)
            };
            (name, value)
        })
        .collect();
    v0_2::http::Response {
        status: response.status,
        headers,
        body,
    }
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

/// The guest's error for a request that got no answer. It names the host and
/// port, never the URL: a query string can carry what does not belong in logs
/// and run records, and the SDK already names the request's method and path.
fn transport_error(host: &str, port: u16, timeout: Duration, e: reqwest::Error) -> GuestError {
    let e = e.without_url();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<address::Refused>() {
            return denied(format!("egress to {host}:{port} is refused: {refused}"));
        }
        source = cause.source();
    }
    if e.is_timeout() {
        GuestError::Retryable {
            message: format!(
                "request to {host}:{port} timed out after {} ms",
                timeout.as_millis()
            ),
        }
    } else if e.is_connect() {
        GuestError::Retryable {
            message: format!("could not connect to {host}:{port}"),
        }
    } else if e.is_builder() {
        permanent(format!("invalid request to {host}:{port}: {e}"))
    } else {
        GuestError::Retryable {
            message: format!("request to {host}:{port} failed: {}", causes(&e)),
        }
    }
}

/// An error and its causes, `outer: inner: innermost`, each said once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

fn method_v2(m: v0_2::http::Method) -> reqwest::Method {
    use v0_2::http::Method as M;
    match m {
        M::Get => reqwest::Method::GET,
        M::Head => reqwest::Method::HEAD,
        M::Post => reqwest::Method::POST,
        M::Put => reqwest::Method::PUT,
        M::Patch => reqwest::Method::PATCH,
        M::Delete => reqwest::Method::DELETE,
    }
}

fn method_v1(m: v0_1::http::Method) -> reqwest::Method {
    use v0_1::http::Method as M;
    match m {
        M::Get => reqwest::Method::GET,
        M::Head => reqwest::Method::HEAD,
        M::Post => reqwest::Method::POST,
        M::Put => reqwest::Method::PUT,
        M::Patch => reqwest::Method::PATCH,
        M::Delete => reqwest::Method::DELETE,
    }
}

impl v0_2::http::Host for Egress {
    async fn send(
        &mut self,
        request: v0_2::http::Request,
    ) -> Result<v0_2::http::Response, v0_2::types::Error> {
        let request = Outgoing {
            method: method_v2(request.method),
            url: request.url,
            headers: request.headers,
            body: request.body,
            credential: request.credential.map(Credential::Declared),
            timeout_ms: request.timeout_ms,
        };
        Egress::send(self, request).await.map_err(Into::into)
    }
}

/// The 0.1.0 request: the same, with the scheme the guest names.
impl v0_1::http::Host for Egress {
    async fn send(
        &mut self,
        request: v0_1::http::Request,
    ) -> Result<v0_1::http::Response, v0_1::types::Error> {
        let request = Outgoing {
            method: method_v1(request.method),
            url: request.url,
            headers: request.headers,
            body: request.body,
            credential: request
                .credential
                .map(|c| Credential::Legacy(c.secret, v0_1::scheme(c.scheme))),
            timeout_ms: request.timeout_ms,
        };
        match Egress::send(self, request).await {
            Ok(r) => Ok(v0_1::http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

struct HasEgress;

impl HasData for HasEgress {
    type Data<'a> = &'a mut Egress;
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_as_the_basic_user_name_has_an_empty_password() {
        // `curl -u sk_test_123:` sends this: what Stripe and Medusa expect.
        assert_eq!(super::basic("sk_test_123", ""), "Basic c2tfdGVzdF8xMjM6");
        assert_eq!(super::basic("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
