//! The record envelope Tenon moves between systems, as the host sees it whichever
//! contract version produced it.

use serde::{Deserialize, Serialize};

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
    /// The bytes this record takes: what the caps on pages and stored data count.
    pub fn size(&self) -> usize {
        self.stream.len()
            + self.key.len()
            + self.payload.len()
            + self.source_time.as_ref().map_or(0, String::len)
    }
}

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A page of a stream, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadPage {
    pub records: Vec<Envelope>,
    pub next_cursor: Option<String>,
    pub more: bool,
}

impl ReadPage {
    /// The bytes the page's records take.
    pub fn size(&self) -> usize {
        self.records.iter().map(Envelope::size).sum()
    }
}

/// A webhook request as the host hands it to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}
