//! The record envelope Tenon moves between systems (defined in the trust
//! boundary and re-exported here), the order of a record's versions, and the
//! idempotency key that makes delivering one version twice harmless.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
pub use tenon_runtime::record::{Envelope, Op, ReadPage, WebhookRequest, hex};

/// One version of a record, as delivery orders them: by the time the source
/// changed it, with a digest of its content (op and payload) so that two
/// changes in the same second are two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredVersion")]
pub struct Version {
    /// The source time (RFC 3339), if the source gives one.
    pub time: Option<String>,
    /// Hex of the first 16 bytes of the content's sha256 (empty for versions
    /// recorded before digests were kept).
    pub digest: String,
}

/// A version as the state holds it: an object, or the bare source time that
/// earlier versions of Tenon recorded.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredVersion {
    Full {
        time: Option<String>,
        digest: String,
    },
    Time(String),
}

impl From<StoredVersion> for Version {
    fn from(stored: StoredVersion) -> Version {
        match stored {
            StoredVersion::Full { time, digest } => Version { time, digest },
            StoredVersion::Time(time) => Version {
                time: Some(time),
                digest: String::new(),
            },
        }
    }
}

impl Version {
    /// The version `record` is.
    pub fn of(record: &Envelope) -> Version {
        let mut hash = Sha256::new();
        hash.update(match record.op {
            Op::Upsert => b"u",
            Op::Delete => b"d",
        });
        hash.update(record.payload.as_bytes());
        Version {
            time: record.source_time.clone(),
            digest: hex(&hash.finalize()[..16]),
        }
    }

    /// Whether this version is older than `other`: its source time is
    /// earlier. Versions without a time, or with the same time, are not
    /// ordered by the host: they are delivered in the order they arrive.
    pub fn is_older_than(&self, other: &Version) -> bool {
        match (&self.time, &other.time) {
            (Some(mine), Some(theirs)) => compare_times(mine, theirs) == Ordering::Less,
            _ => false,
        }
    }

    /// Whether this is the same version as `other` (same time, same content).
    /// A version recorded without a digest matches on its time alone.
    pub fn is_same_as(&self, other: &Version) -> bool {
        let times = match (&self.time, &other.time) {
            (Some(mine), Some(theirs)) => compare_times(mine, theirs) == Ordering::Equal,
            (None, None) => true,
            _ => false,
        };
        times && (self.digest == other.digest || self.digest.is_empty() || other.digest.is_empty())
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.time, self.digest.get(..8)) {
            (Some(time), Some(digest)) => write!(f, "{time} ({digest})"),
            (Some(time), None) => f.write_str(time),
            (None, Some(digest)) => write!(f, "content {digest}"),
            (None, None) => f.write_str("unknown"),
        }
    }
}

/// Compares two source times as instants when both are RFC 3339 (so offsets
/// and fractions compare right), else as text.
fn compare_times(a: &str, b: &str) -> Ordering {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// The key a destination uses to recognise a repeated delivery of this version
/// of this record: the same (tenant, flow, key, version) always gives the same
/// key, a new version of the record a new one. The version is the source time
/// and the content, so two changes within the source's clock resolution are
/// two deliveries.
pub fn idempotency_key(record: &Envelope, tenant: &str, flow: &str) -> String {
    idempotency_key_of(record, &Version::of(record), tenant, flow)
}

/// [`idempotency_key`], for a record whose [`Version`] is already known and
/// that follows `after`, the version delivered last. Versions of one time are
/// delivered in the order they arrive, so one content can come back after
/// another in the same second (A, B, A): then the key also names the version
/// it follows, or the destination would take the second A for a repeat of the
/// first and keep B. Any other version's key is [`idempotency_key`]'s.
pub fn idempotency_key_after(
    record: &Envelope,
    version: &Version,
    after: Option<&Version>,
    tenant: &str,
    flow: &str,
) -> String {
    let follows = after.filter(|after| !after.is_older_than(version) && !after.is_same_as(version));
    key_of(record, version, follows, tenant, flow)
}

/// [`idempotency_key`], for a record whose [`Version`] is already known.
pub fn idempotency_key_of(
    record: &Envelope,
    version: &Version,
    tenant: &str,
    flow: &str,
) -> String {
    key_of(record, version, None, tenant, flow)
}

fn key_of(
    record: &Envelope,
    version: &Version,
    follows: Option<&Version>,
    tenant: &str,
    flow: &str,
) -> String {
    let mut hash = Sha256::new();
    for part in [tenant, flow, &record.stream, &record.key] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    if let Some(time) = &version.time {
        hash.update(time.as_bytes());
    }
    hash.update([0]);
    hash.update(version.digest.as_bytes());
    if let Some(follows) = follows {
        hash.update([0]);
        hash.update(follows.digest.as_bytes());
    }
    let digest = hash.finalize();
    format!("tenon-{}", hex(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(time: &str) -> Envelope {
        Envelope {
            stream: "orders".into(),
            key: "1001".into(),
            op: Op::Upsert,
            payload: "{}".into(),
            source_time: Some(time.into()),
        }
    }

    #[test]
    fn idempotency_key_is_stable_per_version_and_scoped_per_tenant() {
        let v1 = order("2026-11-23T10:00:00Z");
        assert_eq!(
            idempotency_key(&v1, "acme", "f"),
            idempotency_key(&v1, "acme", "f")
        );
        assert_ne!(
            idempotency_key(&v1, "acme", "f"),
            idempotency_key(&v1, "globex", "f")
        );
        let v2 = order("2026-11-23T10:00:01Z");
        assert_ne!(
            idempotency_key(&v1, "acme", "f"),
            idempotency_key(&v2, "acme", "f")
        );
        let mut cancelled = v1.clone();
        cancelled.payload = r#"{"status":"cancelled"}"#.into();
        assert_ne!(
            idempotency_key(&v1, "acme", "f"),
            idempotency_key(&cancelled, "acme", "f"),
            "two changes in the same second are two versions"
        );
    }

    #[test]
    fn versions_order_by_source_time_as_instants_and_ties_are_not_ordered() {
        let at = |time: &str| Version::of(&order(time));
        assert!(at("2026-11-23T10:00:00Z").is_older_than(&at("2026-11-23T10:00:01Z")));
        assert!(!at("2026-11-23T10:00:01Z").is_older_than(&at("2026-11-23T10:00:00Z")));
        // The same instant in another offset, and fractions.
        assert!(!at("2026-11-23T11:00:00+01:00").is_older_than(&at("2026-11-23T10:00:00Z")));
        assert!(at("2026-11-23T10:00:00.5Z").is_older_than(&at("2026-11-23T10:00:00.75Z")));
        let mut cancelled = order("2026-11-23T10:00:00Z");
        cancelled.payload = "{\"status\":\"cancelled\"}".into();
        let (v1, v2) = (at("2026-11-23T10:00:00Z"), Version::of(&cancelled));
        assert!(!v1.is_older_than(&v2) && !v2.is_older_than(&v1));
        assert!(!v1.is_same_as(&v2));
        assert!(v1.is_same_as(&at("2026-11-23T10:00:00Z")));
        let untimed = Version {
            time: None,
            digest: v1.digest.clone(),
        };
        assert!(!untimed.is_older_than(&v1) && !v1.is_older_than(&untimed));
    }

    #[test]
    fn a_content_back_after_another_of_the_same_second_gets_a_key_of_its_own() {
        let a = order("2026-11-23T10:00:00Z");
        let mut b = a.clone();
        b.payload = r#"{"status":"cancelled"}"#.into();
        let key = |record: &Envelope, after: Option<&Envelope>| {
            let after = after.map(Version::of);
            idempotency_key_after(record, &Version::of(record), after.as_ref(), "acme", "f")
        };
        // First, and after an older version: the plain key.
        assert_eq!(key(&a, None), idempotency_key(&a, "acme", "f"));
        let older = order("2026-11-23T09:00:00Z");
        assert_eq!(key(&a, Some(&older)), idempotency_key(&a, "acme", "f"));
        // A, B, A in one second: the second A is not the first one again.
        assert_ne!(key(&a, Some(&b)), key(&a, None));
        assert_eq!(
            key(&a, Some(&b)),
            key(&a, Some(&b)),
            "stable across retries"
        );
    }

    #[test]
    fn versions_recorded_as_bare_times_still_read() {
        let old: Version = serde_json::from_str("\"2026-11-23T10:00:00Z\"").unwrap();
        assert_eq!(old.time.as_deref(), Some("2026-11-23T10:00:00Z"));
        assert!(old.is_same_as(&Version::of(&order("2026-11-23T10:00:00Z"))));
        let new = Version::of(&order("2026-11-23T10:00:00Z"));
        let back: Version = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
