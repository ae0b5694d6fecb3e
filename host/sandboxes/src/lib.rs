//! Loopback sandboxes of vendor systems, for `tenon demo`, `tenon sandbox` and
//! the tests.
//!
//! [`Shop`] is a commerce platform that publishes an order feed; [`Ledger`] is an
//! ERP that takes sales orders. Each follows a small documented HTTP API (see its
//! module) closely enough that a plugin written against it behaves as it would
//! against a real vendor of that shape: bearer authentication, cursor paging with
//! ties, idempotency keys, validation errors and, on demand, rate limiting and
//! outages.
//!
//! They are not production code: state lives in memory, they listen on
//! `127.0.0.1` on a port the system picks, and they stop with their handle.
//!
//! # Layout
//! - `shop.rs`: the shop's API, its [`Order`] records, refunds and the demo
//!   seed data.
//! - `ledger.rs`: the ERP's API, its [`SalesOrder`] records, credit notes and
//!   the scripted [`Fault`]s tests use to exercise retries.
//! - `pim.rs`: an Akeneo-shaped PIM ([`Pim`]): products (simple or variants of a
//!   product model) with localized values and prices, search by `updated`, page
//!   links, a category tree, associations, media files, completeness per
//!   channel and locale, an OAuth token endpoint (password and refresh
//!   grants), scripted [`pim::Fault`]s and a rate limit.
//! - `threepl.rs`: a ShipStation-shaped 3PL ([`ThreePl`]): orders to fulfil,
//!   holds and releases, shipments split in parcels, return labels with their
//!   RMA's progress, Basic auth, `X-Rate-Limit-*` and SHIP_NOTIFY.
//! - `magento.rs`: a Magento 2 (Adobe Commerce) REST API ([`Magento`]): orders,
//!   shipments and credit memos, customers and groups, categories, products,
//!   MSI source items, tier and base prices and async bulk, with
//!   `searchCriteria`, admin and integration tokens, a settable clock, scripted
//!   [`magento::Fault`]s and a rate limit.
//! - this file: the plumbing they share: binding, the bearer check (of a static
//!   token, or of the sandbox's own tokens, with routes left outside it), JSON
//!   errors, injected failures, the fixed rate-limit window ([`RateWindow`]) and
//!   shutdown.
//!
//! This crate owns only these sandboxes: it knows nothing of the engine, the
//! store or any plugin (it does not depend on them); everything it knows
//! arrives over HTTP. It is not part of the product library: `tenon` links it
//! for `tenon demo` and `tenon sandbox` only.

pub mod ledger;
pub mod magento;
pub mod pim;
pub mod shop;
pub mod threepl;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use ledger::{Fault, Ledger, NewSalesOrder, SalesOrder, SalesOrderLine, SalesOrderStatus};
// Magento's entities (`Order`, `Product`, ...) and `Fault` stay under `magento::`.
pub use magento::{Magento, MagentoSeed};
// The PIM's `Fault` stays at `pim::Fault` too.
pub use pim::{OAuthClient, Pim, Product, ProductValue, demo_products};
pub use shop::{Customer, Order, OrderLine, OrderStatus, Shop, demo_orders};
// The 3PL's `Fault` stays at `threepl::Fault`: the ledger's owns the short name.
pub use threepl::{FulfilmentOrder, Parcel, ShipNotify, Shipment, ShipmentItem, ThreePl};

/// How long `stop` waits for open connections to finish before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A sandbox's HTTP server, running on its own task until stopped or dropped.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    /// Dropping the sender (with the handle) shuts the server down too.
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// `127.0.0.1` with a port the system picks.
pub const ANY_LOOPBACK_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Whether a presented bearer token opens the API.
type TokenCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl Server {
    /// Binds `addr` and serves `routes` behind the bearer check of the static
    /// `token`.
    async fn start(
        sandbox: &'static str,
        addr: SocketAddr,
        token: &str,
        routes: Router,
    ) -> anyhow::Result<Server> {
        anyhow::ensure!(
            !token.is_empty(),
            "the {sandbox} sandbox needs a non-empty token"
        );
        let token: Arc<str> = Arc::from(token);
        let check: TokenCheck = Arc::new(move |presented: &str| presented == &*token);
        Self::start_with(sandbox, addr, check, routes, Router::new()).await
    }

    /// Binds `addr` and serves `routes` behind the bearer check `check`, and
    /// `public` (a token endpoint, say) without it. Other paths answer `404`
    /// once past the check.
    async fn start_with(
        sandbox: &'static str,
        addr: SocketAddr,
        check: TokenCheck,
        routes: Router,
        public: Router,
    ) -> anyhow::Result<Server> {
        let router = routes
            .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
            .layer(middleware::from_fn_with_state(check, require_bearer))
            .merge(public);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("could not bind the {sandbox} sandbox to {addr}"))?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("could not read the address of the {sandbox} sandbox"))?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let signal = async {
                // A send and a dropped handle both mean "stop".
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(sandbox, %error, "Sandbox server stopped with an error.");
            }
        });
        tracing::debug!(sandbox, %addr, "Sandbox listening.");
        Ok(Server {
            addr,
            shutdown,
            task,
        })
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits, at most [`SHUTDOWN_GRACE`], for the
    /// open ones to finish.
    async fn stop(self) {
        let Server { shutdown, task, .. } = self;
        let _ = shutdown.send(());
        let abort = task.abort_handle();
        if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
            abort.abort();
        }
    }
}

/// Answers `401` unless the request carries `Authorization: Bearer <token>` with
/// a token `check` accepts.
async fn require_bearer(State(check): State<TokenCheck>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    if presented.is_some_and(|token| check(token)) {
        return next.run(request).await;
    }
    let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `GET /api/health` on both sandboxes.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "ok": true }))
}

/// The error body both vendors use: `{"error": "<message>"}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Failures a test asked for: the next `remaining` requests of one kind answer
/// `status` without doing anything.
#[derive(Debug)]
struct InjectedFailures {
    remaining: usize,
    status: StatusCode,
}

impl Default for InjectedFailures {
    fn default() -> Self {
        InjectedFailures {
            remaining: 0,
            status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl InjectedFailures {
    /// Arms the next `count` requests to answer `status`.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    fn arm(&mut self, count: usize, status: u16) {
        self.remaining = count;
        self.status =
            StatusCode::from_u16(status).expect("fail_next needs an HTTP status from 100 to 999");
    }

    /// The failure this request must answer, if one is armed; `429` carries
    /// `Retry-After: 1` as real vendors do.
    fn take(&mut self) -> Option<Response> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let mut response = error(self.status, "injected failure");
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        Some(response)
    }
}

/// A fixed window of `limit` requests per `window`, counted as vendors do: the
/// first request after a window ends opens the next one, and every request
/// counts, the refused ones aside.
#[derive(Debug, Clone)]
struct RateWindow {
    limit: u32,
    window: Duration,
    start: Option<Instant>,
    used: u32,
}

/// What [`RateWindow::admit`] decided for one request.
#[derive(Debug, Clone, Copy)]
struct Admission {
    /// False when the window was already full: answer `429`.
    admitted: bool,
    limit: u32,
    /// Requests left in the window after this one.
    remaining: u32,
    /// Whole seconds (rounded up) until the window resets.
    reset_secs: u64,
}

impl RateWindow {
    /// `limit` requests per `window`, starting with the next request.
    fn new(limit: u32, window: Duration) -> Self {
        RateWindow {
            limit,
            window,
            start: None,
            used: 0,
        }
    }

    /// Counts a request that arrived at `now`, in a fresh window if the last
    /// one has ended.
    fn admit(&mut self, now: Instant) -> Admission {
        let start = match self.start {
            Some(start) if now.duration_since(start) < self.window => start,
            _ => {
                self.used = 0;
                self.start = Some(now);
                now
            }
        };
        let admitted = self.used < self.limit;
        if admitted {
            self.used += 1;
        }
        let left = self.window.saturating_sub(now.duration_since(start));
        Admission {
            admitted,
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.used),
            reset_secs: u64::try_from(left.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
        }
    }
}

/// Checks the status of a scripted fault when it is queued, so a typo fails the
/// test that wrote it rather than a request later.
///
/// # Panics
/// If `status` is not an HTTP status code (100 to 999).
fn scripted_status(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or_else(|_| {
        panic!("Fault::Status needs an HTTP status from 100 to 999, not {status}")
    })
}

/// Locks sandbox state; a handler that panicked leaves it consistent, since every
/// change is made in one step under the lock.
fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hex HMAC-SHA256 of `body` keyed with `secret`: how the sandboxes sign
/// the webhooks they send.
fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_window_refuses_past_its_limit_and_reopens() {
        let mut window = RateWindow::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        let first = window.admit(t0);
        assert!(first.admitted);
        assert_eq!((first.remaining, first.reset_secs), (1, 10));
        assert!(window.admit(t0 + Duration::from_millis(1_500)).admitted);
        let refused = window.admit(t0 + Duration::from_millis(2_500));
        assert!(!refused.admitted);
        assert_eq!((refused.remaining, refused.reset_secs), (0, 8));
        let reopened = window.admit(t0 + Duration::from_secs(10));
        assert!(reopened.admitted);
        assert_eq!((reopened.remaining, reopened.reset_secs), (1, 10));
    }
}
