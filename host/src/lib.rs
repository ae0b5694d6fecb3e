//! Tenon: a WebAssembly plugin host for commerce connectors.
//!
//! Third parties ship connectors and transforms as WebAssembly components built
//! against the WIT package `tenon:connector` (see `wit/`); operators install them,
//! enable them per tenant with config, secrets and egress grants, and define flows
//! that move records from a source stream through transforms into a destination
//! stream. Every call runs sandboxed under limits; cursors and runs live in sled.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`host`] | [`Tenon`], the host: the operator's operations |
//! | [`sync`] | running a flow: retries due, inbox, read, transform, write, commit |
//! | [`inbox`] | webhook ingress: records a plugin made of a webhook, stored until a flow delivers them |
//! | [`dlq`] | the retry queue and dead letters: list, replay, discard (audited) |
//! | [`schema`] | stream schemas: records checked when read and before write |
//! | [`reconcile`] | comparing a flow's source and destination |
//! | [`versions`] | plugin versions: list, rollback, flow pins, grants an upgrade needs |
//! | [`engine`], [`sandbox`], [`capability`], [`limits`] | the trust boundary, crate `tenon-runtime` (`host/runtime`), re-exported: engine, one call's sandbox, host imports, limits |
//! | [`state`] | sled: plugins, tenants, enablements, flows, cursors, runs, inbox; reopened after a failed write; `state check` |
//! | [`backup`] | a data folder in one file, and back into an empty folder |
//! | [`plugin`], [`tenant`], [`flow`], [`record`], [`delivery`] | the domain types |
//! | [`server`] | `tenon serve`: scheduler, admin API with bearer tokens, OpenAPI, health, readiness, metrics, run-now, graceful shutdown |
//! | [`cli`], [`console`] | the `tenon` command line; what it prints (closed pipes, colour, times) |
//! | [`client`] | the admin API's client, for `tenon --server URL` |
//! | [`bundled`] | the first-party plugins compiled into the binary |
//! | [`scaffold`] | `tenon new`: a plugin crate to start from |
//! | [`demo`] | the demo job and `tenon sandbox`, on the loopback sandboxes of crate `tenon-sandboxes` |

pub mod backup;
pub mod bundled;
pub mod cli;
pub mod client;
pub mod console;
pub mod delivery;
pub mod demo;
pub mod dlq;
pub mod error;
pub mod flow;
pub mod host;
pub mod idmap;
pub mod inbox;
pub mod keys;
pub mod limits;
pub mod plugin;
pub mod publishers;
pub mod reconcile;
pub mod record;
pub mod scaffold;
pub mod schema;
pub mod server;
pub mod state;
pub mod sync;
pub mod tenant;
pub mod versions;

pub use error::{Error, Result};
pub use host::Tenon;
pub use tenon_runtime::{GuestError, capability, compile, engine, sandbox};
