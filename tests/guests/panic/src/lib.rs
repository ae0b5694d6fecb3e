//! `guest-panic`: a connector whose `read` panics with `guest-panic: deliberate`.
//!
//! A panic in a guest is a trap: the host must report it as a failure of this
//! plugin (the message reaches the guest's stderr) and keep running.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::Panic;
    export!(Panic);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};

struct Panic;

impl Guest for Panic {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-panic".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: read panics.".to_owned(),
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
        panic!("guest-panic: deliberate");
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-panic does not write".to_owned()))
    }
}
