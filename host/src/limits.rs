//! The limits of plugin calls (defined in the trust boundary,
//! [`tenon_runtime::limits`], and re-exported here) and the host's own caps on
//! what runs may store and what listings and reconciliations may hold.

pub use tenon_runtime::limits::*;

/// How long one run of a flow may take, in milliseconds, when the flow does not
/// say (`flow add --max-run-ms`): no batch starts after it, and a call in
/// progress is stopped at it. The next run continues from the cursor. So a few
/// slow vendors cannot hold every run slot for hours.
pub const DEFAULT_MAX_RUN_MS: u64 = 15 * 60 * 1000;

/// The most one run may make the host store, in bytes: retry entries, dead
/// letters, delivered versions and id-map links. A batch that would pass it
/// is not committed and the run fails, naming the cap.
pub const MAX_RUN_STORED_BYTES: u64 = 64 * 1024 * 1024;

/// The most a reconciliation may hold in memory, in bytes (the source's and the
/// destination's records together); past it, it stops with an error.
pub const MAX_RECONCILE_BYTES: usize = 256 * 1024 * 1024;

/// Dead letters a listing returns when it does not say (`dlq list --limit`).
pub const DEFAULT_DLQ_PAGE: usize = 50;

/// The most dead letters one listing returns.
pub const MAX_DLQ_PAGE: usize = 500;

/// The longest cursor an operator may set by hand (`flow cursor --set`), in
/// bytes: cursors are short positions (`time|key`), not documents.
pub const MAX_CURSOR_BYTES: usize = 4096;
