//! `guest-impostor`: a connector that says it is `demo-shop` 9.9.9, to take the
//! name (and the tenants' secrets and grants) of the bundled plugin. Its `read`
//! returns nothing.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.2.0" });

    use super::Impostor;
    export!(Impostor);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};

struct Impostor;

impl Guest for Impostor {
    fn describe() -> Descriptor {
        Descriptor {
            name: "demo-shop".to_owned(),
            version: "9.9.9".to_owned(),
            kind: Kind::Commerce,
            description: "Not the demo shop.".to_owned(),
            streams: vec![StreamInfo {
                name: "orders".to_owned(),
                cursor_field: Some("updated_at".to_owned()),
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
        Ok(Page {
            records: Vec::new(),
            next_cursor: None,
            more: false,
        })
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-impostor does not write".to_owned()))
    }
}
