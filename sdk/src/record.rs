//! Building and decoding [`Envelope`]s, the records Tenon moves between systems.
//!
//! An envelope carries its payload as a JSON string; these helpers turn a
//! `Serialize` value into an envelope and an envelope back into a typed value,
//! with errors that name the record's key, and apply a batch of deliveries one
//! outcome at a time. They do not touch streams or cursors.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Delivery, Envelope, Error, Op, Outcome};

impl Envelope {
    /// A record to create or replace at `key` in `stream`, with `payload` as JSON.
    ///
    /// `source_time` is when the source last changed the record (RFC 3339), if known.
    pub fn upsert<T: Serialize + ?Sized>(
        stream: &str,
        key: &str,
        payload: &T,
        source_time: Option<&str>,
    ) -> Result<Self, Error> {
        let payload = serde_json::to_string(payload)
            .map_err(|e| Error::permanent(format!("record `{key}`: could not encode: {e}")))?;
        Ok(Self {
            stream: stream.to_owned(),
            key: key.to_owned(),
            op: Op::Upsert,
            payload,
            source_time: source_time.map(str::to_owned),
        })
    }

    /// A record to remove at `key` in `stream`; its payload is the empty object.
    pub fn delete(stream: &str, key: &str, source_time: Option<&str>) -> Self {
        Self {
            stream: stream.to_owned(),
            key: key.to_owned(),
            op: Op::Delete,
            payload: "{}".to_owned(),
            source_time: source_time.map(str::to_owned),
        }
    }

    /// The payload decoded as `T`; a permanent error if it does not fit.
    ///
    /// The error names the stream, not the record: name the record with
    /// [`Error::context`] or let [`apply_each`] do it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.payload)
            .map_err(|e| Error::permanent(format!("invalid `{}` payload: {e}", self.stream)))
    }
}

impl Delivery {
    /// The envelope's payload decoded as `T`; see [`Envelope::json`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.envelope.json()
    }
}

/// Applies `apply` to each delivery of a batch and collects one outcome per
/// delivery, in order: what `write` returns.
///
/// A failing record never stops the others, and its error is prefixed with its
/// key (``record `1001`: ...``) so the operator sees which one failed.
pub fn apply_each(batch: &[Delivery], mut apply: impl FnMut(&Delivery) -> Outcome) -> Vec<Outcome> {
    batch
        .iter()
        .map(|delivery| {
            apply(delivery).map_err(|e| e.context(format!("record `{}`", delivery.envelope.key)))
        })
        .collect()
}
