//! `guest-memory-bomb`: a connector whose `read` allocates without bound.
//!
//! Every allocation is written to, so the pages are really used. The host's
//! memory limit must make the allocation fail (the guest then traps) without
//! the host itself running out of memory.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::MemoryBomb;
    export!(MemoryBomb);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};
use std::hint::black_box;

struct MemoryBomb;

impl Guest for MemoryBomb {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-memory-bomb".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: read allocates memory without bound.".to_owned(),
            streams: vec![StreamInfo {
                name: "records".to_owned(),
                cursor_field: None,
                schema: "{}".to_owned(),
                readable: true,
                writable: false,
            }],
            egress: Vec::new(),
            config: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn read(_stream: String, _cursor: Option<String>, _limit: u32) -> Result<Page, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // A non-zero fill touches every byte of the new mebibyte.
            hoard.push(vec![0xA5; MEBIBYTE]);
            black_box(&hoard);
        }
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent(
            "guest-memory-bomb does not write".to_owned(),
        ))
    }
}

const MEBIBYTE: usize = 1 << 20;
