//! `guest-loop`: a connector whose `read` spins forever.
//!
//! The host must end the call (fuel or epoch deadline) and survive it; nothing
//! the guest does yields control back on its own.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::Loop;
    export!(Loop);
}

use std::hint::black_box;

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};

struct Loop;

impl Guest for Loop {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-loop".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: read never returns.".to_owned(),
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
        // `black_box` keeps the counter observable, so the loop is not removed.
        let mut spins: u64 = 0;
        loop {
            spins = black_box(spins.wrapping_add(1));
        }
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-loop does not write".to_owned()))
    }
}
