//! Log lines into the host's log, where the host tags them with tenant and plugin.
//!
//! Write fields first, then a short capitalised sentence:
//! `log::info(format!("count={} more={more} Read a page of orders.", page.len()))`.
//! Never log secret values or whole payloads; log keys and counts. Do not call
//! these functions from `describe`.

use crate::bindings::connector::tenon::connector::log as wit;

pub use wit::Level;

/// Writes `message` at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    wit::log(level, message.as_ref());
}

/// Writes `message` at `trace` level: detail only useful while developing.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Writes `message` at `debug` level: per-request or per-record detail.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Writes `message` at `info` level: what a run did (pages read, records written).
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Writes `message` at `warn` level: something odd that did not fail the call.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Writes `message` at `error` level: a failure, before returning it as an [`Error`](crate::Error).
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}
