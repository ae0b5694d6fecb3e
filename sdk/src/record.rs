//! Building and decoding [`Envelope`]s, the records Tenon moves between systems.
//!
//! An envelope carries its payload as a JSON string; these helpers turn a
//! `Serialize` value into an envelope and an envelope back into a typed value,
//! with errors that name the record's key. They do not touch streams or cursors.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Delivery, Envelope, Error, Op};

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

    /// The payload decoded as `T`; a permanent error naming the key if it does not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.payload).map_err(|e| {
            Error::permanent(format!(
                "record `{}` of stream `{}`: invalid payload: {e}",
                self.key, self.stream
            ))
        })
    }
}

impl Delivery {
    /// The envelope's payload decoded as `T`; see [`Envelope::json`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.envelope.json()
    }
}
