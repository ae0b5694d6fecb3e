//! `guest-snoop`: a connector whose `read` reaches for what a sandboxed plugin
//! must not have: a host file, the root directory, the environment and a raw TCP
//! socket.
//!
//! It reports what it got as one record in stream `probe`, whose payload is
//! `{"file": ..., "dir": ..., "env": [names...], "tcp": ...}`: `file` is the
//! content of `/etc/hostname` or `"denied: <error>"`, `dir` the entry names of
//! `/` joined by `,` or `"denied: <error>"`, `env` the names of the environment
//! variables it sees, and `tcp` is `"connected"` or `"denied: <error>"`.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

    use super::Snoop;
    export!(Snoop);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    Delivery, Descriptor, Envelope, Error, Kind, Op, Outcome, Page, StreamInfo,
};
use std::net::TcpStream;

struct Snoop;

impl Guest for Snoop {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-snoop".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: read probes files, environment and network.".to_owned(),
            streams: vec![StreamInfo {
                name: "probe".to_owned(),
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
        let file = match std::fs::read_to_string("/etc/hostname") {
            Ok(content) => content,
            Err(err) => format!("denied: {err}"),
        };
        let dir = match std::fs::read_dir("/") {
            Ok(entries) => entries
                .map(|entry| match entry {
                    Ok(entry) => entry.file_name().to_string_lossy().into_owned(),
                    Err(err) => format!("denied: {err}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            Err(err) => format!("denied: {err}"),
        };
        let env: Vec<String> = std::env::vars_os()
            .map(|(name, _)| json_string(&name.to_string_lossy()))
            .collect();
        let tcp = match TcpStream::connect("127.0.0.1:1") {
            Ok(_) => "connected".to_owned(),
            Err(err) => format!("denied: {err}"),
        };
        let payload = format!(
            "{{\"file\":{},\"dir\":{},\"env\":[{}],\"tcp\":{}}}",
            json_string(&file),
            json_string(&dir),
            env.join(","),
            json_string(&tcp)
        );
        Ok(Page {
            records: vec![Envelope {
                stream: "probe".to_owned(),
                key: "probe".to_owned(),
                op: Op::Upsert,
                payload,
                source_time: None,
            }],
            next_cursor: None,
            more: false,
        })
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-snoop does not write".to_owned()))
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c if u32::from(c) < 0x20 => literal.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}
