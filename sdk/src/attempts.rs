//! Earlier attempts of a delivery, for a destination that takes no idempotency
//! key (the `attempts` interface of `tenon:delivery@0.1.0`).
//!
//! A vendor that honours idempotency keys makes a repeat harmless by itself;
//! for one that does not, a repeat is applied again. Before each `write` call
//! the host records that the call's deliveries are being attempted, and after
//! it what the plugin answered, so after a crash, a timeout or a retry the
//! plugin can tell a first attempt from a repeat:
//!
//! ```no_run
//! # use tenon_sdk::prelude::*;
//! # fn write(batch: Vec<Delivery>) {
//! for delivery in &batch {
//!     if let Some(earlier) = attempts::earlier(delivery)
//!         && earlier.answer.is_none()
//!     {
//!         // The vendor may hold it already: look it up before sending.
//!     }
//! }
//! # }
//! ```
//!
//! `answer` is what the plugin itself answered for the delivery in the last
//! call that carried it; `None` means no answer reached the host (it stopped,
//! or the call ended at a limit), so the vendor may hold it or not. A plugin
//! that never calls [`earlier`] does not import the interface, and the host
//! records nothing for it.

use crate::Delivery;
use crate::bindings::attempts::tenon::delivery::attempts as wit;

pub use wit::Attempt;

/// The earlier `write` calls that carried `delivery`; `None` for its first
/// attempt (and outside `write`).
pub fn earlier(delivery: &Delivery) -> Option<Attempt> {
    wit::earlier(&delivery.idempotency_key)
}
