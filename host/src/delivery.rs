//! What happens to a record the destination did not accept: the retry queue entry
//! with its backoff, the dead letter after the last attempt, and the audit entry
//! of an operator's decision about one. Owns the shapes and the backoff policy;
//! storing them is [`crate::state`]'s, acting on them [`crate::sync`]'s.

use crate::GuestError;
use crate::record::Envelope;
use serde::{Deserialize, Serialize};

/// Delivery attempts per record when a flow does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// First retry delay when a flow does not say, in milliseconds; it doubles with
/// every further attempt.
pub const DEFAULT_RETRY_BASE_MS: u64 = 1_000;

/// Longest backoff between two attempts, in milliseconds (15 minutes).
pub const MAX_RETRY_DELAY_MS: u64 = 15 * 60 * 1000;

/// Longest wait a rate-limited answer can impose, in milliseconds (1 hour); a
/// vendor asking for more gets this.
pub const MAX_RATE_LIMIT_WAIT_MS: u64 = 60 * 60 * 1000;

/// One failed attempt to deliver a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix time in milliseconds.
    pub at: u64,
    pub error: String,
}

/// Where in the flow a record failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The host refused the record as the source produced it: it did not
    /// match the source stream's schema, or its payload was over the size cap
    /// (then the payload was dropped and it can only be discarded).
    Read,
    /// A transform refused the record.
    Transform,
    /// The destination refused it, or the host did before writing: it did not
    /// match the destination stream's schema.
    Write,
}

/// A record waiting for its next delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub tenant: String,
    pub flow: String,
    /// The record as the destination receives it (after the transforms).
    pub envelope: Envelope,
    pub idempotency_key: String,
    /// Failed attempts so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// Unix time in milliseconds before which the record is not sent again.
    pub next_at: u64,
}

/// A record that will not be delivered without an operator: after the flow's last
/// attempt, or at once on a permanent error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: u64,
    pub tenant: String,
    pub flow: String,
    pub stage: Stage,
    /// The record: for `write`, as the destination receives it; for `transform`,
    /// as the source produced it.
    pub envelope: Envelope,
    pub idempotency_key: String,
    /// The plugin that refused it, and its version then.
    pub plugin: String,
    pub plugin_version: String,
    /// Every failed attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// Unix time in milliseconds.
    pub dead_at: u64,
    /// Whether the payload was over the size cap and dropped: such a letter
    /// cannot be replayed, only discarded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub payload_dropped: bool,
    /// The cursor the source page holding the record was read from (`None`:
    /// from the start, or not read from a page: a webhook's, a retry's):
    /// where `dlq replay --reread` looks for the record again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_cursor: Option<String>,
}

/// An operator's change, kept forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    /// Unix time in milliseconds.
    pub at: u64,
    /// Who: the OS user running the CLI, or the API token's name.
    pub actor: String,
    /// What: `dlq.discard`, `dlq.replay`, ...
    pub action: String,
    /// On what: `acme/orders-to-erp/dead-letter/12`.
    pub subject: String,
    pub detail: serde_json::Value,
}

/// What to do with a record after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (Unix milliseconds).
    RetryAt(u64),
    /// Give up: dead-letter it.
    DeadLetter,
}

/// The retry policy of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base_ms: u64,
}

impl Backoff {
    /// What follows the `failures`-th failed attempt (1 for the first), failed
    /// with `error`, at `now`. Retryable errors back off exponentially with
    /// jitter (half to all of `base * 2^(failures-1)`, capped), so retries of many
    /// records spread out; a rate-limited answer waits exactly as long as the
    /// vendor asked; a permanent or denied error is not retried.
    pub fn next(&self, failures: u32, error: &GuestError, now: u64) -> Next {
        if failures >= self.max_attempts {
            return Next::DeadLetter;
        }
        match error {
            GuestError::Permanent { .. } | GuestError::Denied { .. } => Next::DeadLetter,
            GuestError::RateLimited { after_ms, .. } => {
                Next::RetryAt(now.saturating_add((*after_ms).min(MAX_RATE_LIMIT_WAIT_MS)))
            }
            GuestError::Retryable { .. } => {
                let exp = self
                    .base_ms
                    .saturating_mul(1u64 << (failures - 1).min(32))
                    .min(MAX_RETRY_DELAY_MS);
                let jittered = exp / 2 + fastrand::u64(0..=exp / 2);
                Next::RetryAt(now.saturating_add(jittered))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retryable() -> GuestError {
        GuestError::Retryable {
            message: "503".into(),
        }
    }

    #[test]
    fn delays_grow_exponentially_within_jitter_bounds() {
        let policy = Backoff {
            max_attempts: 10,
            base_ms: 100,
        };
        for failures in 1..=5u32 {
            let full = 100 * (1 << (failures - 1));
            for _ in 0..50 {
                let Next::RetryAt(at) = policy.next(failures, &retryable(), 1_000) else {
                    panic!()
                };
                let delay = at - 1_000;
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {failures}: {delay} not in [{}, {full}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn rate_limits_wait_as_asked_and_permanent_errors_are_not_retried() {
        let policy = Backoff {
            max_attempts: 3,
            base_ms: 100,
        };
        let limited = GuestError::RateLimited {
            after_ms: 7_000,
            message: String::new(),
        };
        assert_eq!(policy.next(1, &limited, 0), Next::RetryAt(7_000));
        assert_eq!(
            policy.next(
                1,
                &GuestError::Permanent {
                    message: String::new()
                },
                0
            ),
            Next::DeadLetter
        );
        assert_eq!(
            policy.next(3, &retryable(), 0),
            Next::DeadLetter,
            "the last attempt dead-letters"
        );
        let huge = GuestError::RateLimited {
            after_ms: u64::MAX,
            message: String::new(),
        };
        assert_eq!(
            policy.next(1, &huge, 0),
            Next::RetryAt(MAX_RATE_LIMIT_WAIT_MS)
        );
    }
}
