//! Shorthands for the parts of a [`Descriptor`](crate::Descriptor): streams and
//! configuration keys.
//!
//! The descriptor is what the host stores at install time and checks every run
//! against: a flow may only read a `readable` stream and write a `writable` one,
//! an operator may only set declared config keys, and only the secrets named in
//! `secrets` can be attached to requests. The records stay plain structs; these
//! constructors only spare the common boilerplate.

use crate::{ConfigKey, StreamInfo};

/// JSON Schema that accepts any JSON object, for streams without a stricter one.
pub const ANY_OBJECT_SCHEMA: &str = r#"{"type":"object"}"#;

impl StreamInfo {
    /// A stream `name` that can be read, whose cursor follows `cursor_field`.
    pub fn readable(name: impl Into<String>, cursor_field: Option<&str>, schema: &str) -> Self {
        Self {
            name: name.into(),
            cursor_field: cursor_field.map(str::to_owned),
            schema: schema.to_owned(),
            readable: true,
            writable: false,
        }
    }

    /// A stream `name` that can be written.
    pub fn writable(name: impl Into<String>, schema: &str) -> Self {
        Self {
            name: name.into(),
            cursor_field: None,
            schema: schema.to_owned(),
            readable: false,
            writable: true,
        }
    }
}

impl ConfigKey {
    /// A key the operator must set; [`config::require`](crate::config::require) reads it.
    pub fn required(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            required: true,
            default: None,
        }
    }

    /// A key the operator may set; [`config::get`](crate::config::get) returns
    /// `default` when the operator gives none.
    pub fn optional(
        name: impl Into<String>,
        description: impl Into<String>,
        default: Option<&str>,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            required: false,
            default: default.map(str::to_owned),
        }
    }
}
