//! `guest-bloated`: a connector whose descriptor is 10 MB (its description),
//! which the host would otherwise store and serve with every plugin listing.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.2.0" });

    use super::Bloated;
    export!(Bloated);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{Delivery, Descriptor, Error, Kind, Outcome, Page};

struct Bloated;

impl Guest for Bloated {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-bloated".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "x".repeat(10 << 20),
            streams: Vec::new(),
            egress: Vec::new(),
            config: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn read(_stream: String, _cursor: Option<String>, _limit: u32) -> Result<Page, Error> {
        Err(Error::Permanent("guest-bloated does not read".to_owned()))
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-bloated does not write".to_owned()))
    }
}
