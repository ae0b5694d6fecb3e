//! `guest-echo`: a well-behaved transform, the control beside the hostile guests.
//!
//! `transform` returns its batch unchanged. For each batch it writes one line to
//! each output a plugin has, so tests can check where each one ends up:
//! - the `log` import, at `info`: `echo: <n> records`;
//! - stdout: `echo-stdout: <n> records`;
//! - stderr: `echo-stderr: <n> records`.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "transform", path: "../../../wit/0.1.0" });

    use super::Echo;
    export!(Echo);
}

use bindings::exports::tenon::connector::transform_api::Guest;
use bindings::tenon::connector::log::{self, Level};
use bindings::tenon::connector::types::{Descriptor, Envelope, Error, Kind};

struct Echo;

impl Guest for Echo {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-echo".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description: "Test guest: returns its batch unchanged.".to_owned(),
            streams: Vec::new(),
            egress: Vec::new(),
            config: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let count = batch.len();
        log::log(Level::Info, &format!("echo: {count} records"));
        println!("echo-stdout: {count} records");
        eprintln!("echo-stderr: {count} records");
        Ok(batch)
    }
}
