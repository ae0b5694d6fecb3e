//! `guest-multiplier`: a transform that makes a thousand copies of each record
//! it is given (keys `<key>-<n>`), so that a batch of 100 becomes 100,000.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "transform", path: "../../../wit/0.2.0" });

    use super::Multiplier;
    export!(Multiplier);
}

use bindings::exports::tenon::connector::transform_api::Guest;
use bindings::tenon::connector::types::{Descriptor, Envelope, Error, Kind};

struct Multiplier;

impl Guest for Multiplier {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-multiplier".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description: "Test guest: a thousand records of each.".to_owned(),
            streams: Vec::new(),
            egress: Vec::new(),
            config: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let mut out = Vec::with_capacity(batch.len() * 1000);
        for record in batch {
            for n in 0..1000 {
                out.push(Envelope {
                    key: format!("{}-{n}", record.key),
                    ..record.clone()
                });
            }
        }
        Ok(out)
    }
}
