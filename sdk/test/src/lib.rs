//! `tenon-test`: test a connector the way Tenon runs it, with `cargo test` and no
//! live vendor.
//!
//! A test builds the crate it belongs to as a component ([`Plugin::build`]),
//! installs it into a host of its own ([`Host`]: the `tenon` binary on a
//! temporary data folder, so the real sandbox, limits, egress grants and
//! secrets apply), and points it at a [`Vendor`] on loopback that answers what
//! the test scripted, or what a real vendor answered once and was recorded
//! ([`Vendor::recording`], [`Vendor::replay`]).
//!
//! ```no_run
//! use tenon_test::{Host, Plugin, Reply, Settings, Vendor};
//!
//! let vendor = Vendor::start();
//! vendor.reply("GET", "/api/orders", Reply::json(serde_json::json!({"orders": [], "has_more": false})));
//! let host = Host::new(&Plugin::build());
//! host.enable(Settings::new().config("base_url", &vendor.url()).secret("api_token", "test-token-1", &vendor.addr()));
//! assert!(host.read_all("orders", 10).unwrap().is_empty());
//! ```
//!
//! The `tenon` binary is `TENON_BIN` if set, else `tenon` on the `PATH`
//! (`cargo install --path <tenon>/host`).

mod host;
mod vendor;

pub use host::{Failure, Host, Outcome, Page, Plugin, Record, Settings, TENANT};
pub use vendor::{Reply, Request, Vendor};
