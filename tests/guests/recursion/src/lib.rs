//! `guest-recursion`: a connector whose `read` recurses without bound.
//!
//! The recursion is not a tail call and goes through `black_box`, so the
//! optimizer can neither turn it into a loop nor drop it. Its frames are small,
//! so the WebAssembly call stack (the host's `max_wasm_stack`) runs out before
//! the guest's own shadow stack in linear memory: the call traps with "call
//! stack exhausted", and the host must survive that.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::Recursion;
    export!(Recursion);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Error, Kind, Outcome, Page, StreamInfo,
};
use std::hint::black_box;

struct Recursion;

impl Guest for Recursion {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-recursion".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: read recurses without bound.".to_owned(),
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
        let depth = descend(0);
        Err(Error::Permanent(format!(
            "guest-recursion returned from depth {depth}"
        )))
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent(
            "guest-recursion does not write".to_owned(),
        ))
    }
}

/// Recurses until the stack runs out; the exit is never taken, but it keeps the
/// function from being unconditionally recursive. The result is used after the
/// call, so it is not a tail call.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    let below = descend(black_box(depth + 1));
    black_box(below).wrapping_add(depth)
}
