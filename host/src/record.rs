//! The record envelope Tenon moves between systems, and the idempotency key that
//! makes delivering it twice harmless.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a record does to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Upsert,
    Delete,
}

/// A record in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The stream the record belongs to.
    pub stream: String,
    /// Identity of the record in its source system.
    pub key: String,
    pub op: Op,
    /// The record as JSON in the stream's schema.
    pub payload: String,
    /// When the source last changed the record (RFC 3339), if known.
    pub source_time: Option<String>,
}

impl Envelope {
    /// The key a destination uses to recognise a repeated delivery of this version
    /// of this record: the same (tenant, flow, key, version) always gives the same
    /// key, a new version of the record a new one. The version is the source time
    /// when the source has one, else the content itself.
    pub fn idempotency_key(&self, tenant: &str, flow: &str) -> String {
        let mut hash = Sha256::new();
        for part in [tenant, flow, &self.stream, &self.key] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(match self.op {
            Op::Upsert => b"u",
            Op::Delete => b"d",
        });
        match &self.source_time {
            Some(time) => hash.update(time.as_bytes()),
            None => hash.update(self.payload.as_bytes()),
        }
        let digest = hash.finalize();
        format!("tenon-{}", hex(&digest[..16]))
    }
}

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
            v1.idempotency_key("acme", "f"),
            v1.idempotency_key("acme", "f")
        );
        assert_ne!(
            v1.idempotency_key("acme", "f"),
            v1.idempotency_key("globex", "f")
        );
        let v2 = order("2026-11-23T10:00:01Z");
        assert_ne!(
            v1.idempotency_key("acme", "f"),
            v2.idempotency_key("acme", "f")
        );
    }
}
