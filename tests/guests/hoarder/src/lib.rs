//! `guest-hoarder`: a connector that hands the host more than it should keep,
//! and writes id-map links where it may not. Its `read` answers by stream:
//!
//! - `huge-record`: a record `big` with a 10 MB payload, then a record `small`;
//! - `huge-page`: twenty records of 1 MB each, 20 MB in one page;
//! - `huge-error`: a `permanent` error of 4 MB;
//! - `rate-limited`: `rate-limited` for `u64::MAX` milliseconds;
//! - `forge`: one record, key `forge`, whose payload says what came of linking
//!   in the host's namespace `flow:orders-to-erp` (`flow`) and in the namespace
//!   `customers` (`customers`): `"ok"` or `"error <case>: <message>"`.
//!
//! Its `write` (stream `sink`) answers a 1 MB destination id for the first
//! record and the key for the others.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.2.0" });

    use super::Hoarder;
    export!(Hoarder);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::idmap;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Envelope, Error, Kind, Op, Outcome, Page, RateLimit, StreamInfo,
};

struct Hoarder;

fn stream(name: &str, readable: bool) -> StreamInfo {
    StreamInfo {
        name: name.to_owned(),
        cursor_field: None,
        schema: "{}".to_owned(),
        readable,
        writable: !readable,
    }
}

fn record(key: &str, payload: String) -> Envelope {
    Envelope {
        stream: "records".to_owned(),
        key: key.to_owned(),
        op: Op::Upsert,
        payload,
        source_time: None,
    }
}

fn page(records: Vec<Envelope>) -> Page {
    Page {
        records,
        next_cursor: Some("done".to_owned()),
        more: false,
    }
}

fn linked(result: Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(Error::Denied(m)) => format!("error denied: {m}"),
        Err(Error::Permanent(m)) => format!("error permanent: {m}"),
        Err(Error::Retryable(m)) => format!("error retryable: {m}"),
        Err(Error::RateLimited(r)) => format!("error rate-limited: {}", r.message),
    }
}

impl Guest for Hoarder {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-hoarder".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: oversized answers and forged links.".to_owned(),
            streams: vec![
                stream("huge-record", true),
                stream("huge-page", true),
                stream("huge-error", true),
                stream("rate-limited", true),
                stream("forge", true),
                stream("sink", false),
            ],
            egress: Vec::new(),
            config: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, _limit: u32) -> Result<Page, Error> {
        if cursor.is_some() {
            return Ok(page(Vec::new()));
        }
        match stream.as_str() {
            "huge-record" => Ok(page(vec![
                record("big", format!("\"{}\"", "b".repeat(10_000_000))),
                record("small", "{\"n\":1}".to_owned()),
            ])),
            "huge-page" => Ok(page(
                (0..20)
                    .map(|i| record(&format!("r{i}"), format!("\"{}\"", "p".repeat(1_000_000))))
                    .collect(),
            )),
            "huge-error" => Err(Error::Permanent("e".repeat(4_000_000))),
            "rate-limited" => Err(Error::RateLimited(RateLimit {
                after_ms: u64::MAX,
                message: "come back at the end of time".to_owned(),
            })),
            "forge" => {
                let flow = linked(idmap::link("flow:orders-to-erp", "1001", "forged"));
                let customers = linked(idmap::link("customers", "c1", "forged"));
                let payload = format!(
                    "{{\"flow\":{},\"customers\":{}}}",
                    serde_json::Value::String(flow),
                    serde_json::Value::String(customers)
                );
                Ok(page(vec![record("forge", payload)]))
            }
            other => Err(Error::Permanent(format!("no stream `{other}`"))),
        }
    }

    fn write(_stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Ok(Some(if i == 0 {
                    "i".repeat(1_000_000)
                } else {
                    d.envelope.key.clone()
                }))
            })
            .collect())
    }
}
