//! Tenon's trust boundary: everything between a plugin's bytes and the host's
//! data. A component is loaded here (size cap, verified compile cache, bounded
//! compilation, per-component maxima), and every call of it runs here: a fresh
//! store under fuel, wall-clock, memory and concurrency limits, with no ambient
//! authority, and only the capabilities the host registered, each of which decides
//! what the guest may reach with the inputs the host gave the call.
//!
//! This crate knows nothing of tenants' storage, flows, schedules or HTTP
//! serving: the host (`tenon`) builds a [`sandbox::CallContext`] per call and
//! implements the id map's storage ([`capability::idmap::Links`]). It can be
//! audited alone; `SECURITY.md` at the repository root says what it promises and
//! which test holds each promise.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`engine`] | the wasmtime engine: instance pool and its per-component maxima, compile cache (HMAC-verified), pre-linking per contract version |
//! | [`compile`] | compiling a component in a separate process, bounded in time and memory |
//! | [`sandbox`] | one plugin call: the store, its limits, the concurrency gate, traps and oversized answers turned into errors |
//! | [`gate`] | how many calls run at once, and each tenant's share |
//! | [`capability`] | the host imports, one module each (`http`, `log`, `config`, `idmap`, `verify` of `tenon:connector`; `attempts` of `tenon:delivery`), registered like Spin's factors: the core names none of them |
//! | [`call`] | what one call runs with (its context and each capability's inputs) and what it leaves (store data, report) |
//! | [`bindings`] | the generated bindings of each version of `tenon:connector` (and of `tenon:delivery`) and their conversions to the types below |
//! | [`descriptor`], [`record`], [`error`], [`limits`] | what a plugin declares, the record envelope, the error a guest sees, the limits and caps with their defaults |

pub mod bindings;
pub mod call;
pub mod capability;
pub mod compile;
pub mod descriptor;
pub mod engine;
pub mod error;
pub mod gate;
pub mod limits;
pub mod record;
pub mod sandbox;

pub use error::GuestError;
