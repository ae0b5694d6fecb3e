//! `guest-sleeper`: a connector whose `read` busy-waits on the wall clock for a
//! minute.
//!
//! Reading the clock is a host call, which is cheap in fuel, so this guest tests
//! the host's wall-clock deadline separately from its fuel limit.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::Sleeper;
    export!(Sleeper);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

struct Sleeper;

impl Guest for Sleeper {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-sleeper".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: read busy-waits for a minute.".to_owned(),
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
        let start = Instant::now();
        while start.elapsed() < BUSY_WAIT {
            black_box(());
        }
        Err(Error::Permanent(
            "guest-sleeper waited a full minute: no deadline stopped it".to_owned(),
        ))
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-sleeper does not write".to_owned()))
    }
}

/// Longer than any deadline the host should allow a read.
const BUSY_WAIT: Duration = Duration::from_secs(60);
