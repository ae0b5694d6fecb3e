//! Constructors for [`Error`], the failure a plugin reports to the host.
//!
//! The host decides what happens next from the case alone, never from the text,
//! so pick the case by what a retry would do:
//!
//! | Case | When | What it tells the host |
//! |---|---|---|
//! | [`Error::retryable`] | timeout, connection reset, HTTP 408 or 5xx | the same call may succeed later |
//! | [`Error::rate_limited`] | HTTP 429, a vendor quota | try again, but not before `after_ms` |
//! | [`Error::permanent`] | invalid record, other HTTP 4xx, bad config, unknown stream | repeating fails the same way until something changes |
//! | [`Error::denied`] | the host refused a capability (egress, secret) | the operator must grant it first |
//!
//! Plugins rarely build `denied` themselves: the host returns it from imports, and
//! `?` passes it on. The text is for the operator: say what failed and on which
//! object (``record `1001`: ...``), never include secret values.
//!
//! This module adds methods only; the type itself is generated from the WIT.

use crate::{Error, RateLimit};

impl Error {
    /// A transient failure: the same call may succeed later (timeout, 5xx).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable(message.into())
    }

    /// A failure that retrying cannot fix (invalid input, 4xx, bad config).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent(message.into())
    }

    /// A capability the tenant has not granted (egress host, secret).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// The vendor asked to slow down; the host waits `after_ms` milliseconds.
    pub fn rate_limited(after_ms: u64, message: impl Into<String>) -> Self {
        Self::RateLimited(RateLimit {
            after_ms,
            message: message.into(),
        })
    }

    /// The permanent error for a stream this plugin does not have.
    pub fn unknown_stream(stream: &str) -> Self {
        Self::permanent(format!("unknown stream `{stream}`"))
    }

    /// The text of the error, whatever its case.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable(message) | Self::Permanent(message) | Self::Denied(message) => message,
            Self::RateLimited(limit) => &limit.message,
        }
    }

    /// The same error with `context` in front of its text, as `context: text`.
    ///
    /// Use it to name the object that failed: ``err.context(format!("record `{key}`"))``.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        match self {
            Self::Retryable(message) => Self::Retryable(format!("{context}: {message}")),
            Self::Permanent(message) => Self::Permanent(format!("{context}: {message}")),
            Self::Denied(message) => Self::Denied(format!("{context}: {message}")),
            Self::RateLimited(limit) => Self::RateLimited(RateLimit {
                after_ms: limit.after_ms,
                message: format!("{context}: {}", limit.message),
            }),
        }
    }

    /// Whether retrying the same call later may succeed (`retryable`, `rate-limited`).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Retryable(_) | Self::RateLimited(_))
    }
}

/// JSON that does not decode (or encode) is a permanent error: the same bytes
/// fail the same way on every retry.
impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::permanent(format!("invalid JSON: {error}"))
    }
}
