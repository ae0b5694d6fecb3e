//! The record envelope Tenon moves between systems (defined in the trust
//! boundary and re-exported here), and the idempotency key that makes
//! delivering it twice harmless.

use sha2::{Digest, Sha256};
pub use tenon_runtime::record::{Envelope, Op, ReadPage, WebhookRequest, hex};

/// The key a destination uses to recognise a repeated delivery of this version
/// of this record: the same (tenant, flow, key, version) always gives the same
/// key, a new version of the record a new one. The version is the source time
/// when the source has one, else the content itself.
pub fn idempotency_key(record: &Envelope, tenant: &str, flow: &str) -> String {
    let mut hash = Sha256::new();
    for part in [tenant, flow, &record.stream, &record.key] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.update(match record.op {
        Op::Upsert => b"u",
        Op::Delete => b"d",
    });
    match &record.source_time {
        Some(time) => hash.update(time.as_bytes()),
        None => hash.update(record.payload.as_bytes()),
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
    }
}
