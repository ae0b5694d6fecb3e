//! Shorthands for the parts of a [`Descriptor`](crate::Descriptor): streams,
//! configuration keys and secrets.
//!
//! The descriptor is what the host stores at install time and checks every run
//! against: a flow may only read a `readable` stream and write a `writable` one,
//! an operator may only set declared config keys, and only the secrets declared
//! in `secrets` can be attached to requests, each only by the scheme declared
//! for it. The records stay plain structs; these constructors only spare the
//! common boilerplate.

use crate::{ConfigKey, HeaderScheme, SecretInfo, SecretScheme, StreamInfo};

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

impl SecretInfo {
    fn new(name: &str, description: &str, scheme: SecretScheme, required: bool) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            scheme,
            required,
        }
    }

    /// A required secret sent as `Authorization: Bearer <secret>` (an OAuth 2
    /// grant the host runs is applied this way too).
    pub fn bearer(name: &str, description: &str) -> Self {
        Self::new(name, description, SecretScheme::Bearer, true)
    }

    /// A required secret sent as the password of HTTP Basic auth, the user
    /// name taken from the config key `user_config` (empty when `None`).
    pub fn basic_password(name: &str, description: &str, user_config: Option<&str>) -> Self {
        Self::new(
            name,
            description,
            SecretScheme::BasicPassword(user_config.map(str::to_owned)),
            true,
        )
    }

    /// A required secret sent as the user name of HTTP Basic auth, with an
    /// empty password.
    pub fn basic_user(name: &str, description: &str) -> Self {
        Self::new(name, description, SecretScheme::BasicUser, true)
    }

    /// A required secret sent in header `header` after `prefix` (`Token `), if any.
    pub fn header(name: &str, description: &str, header: &str, prefix: Option<&str>) -> Self {
        Self::new(
            name,
            description,
            SecretScheme::Header(HeaderScheme {
                name: header.to_owned(),
                prefix: prefix.map(str::to_owned),
            }),
            true,
        )
    }

    /// An optional secret that is never sent: webhook signatures are verified
    /// with it (see [`webhook`](crate::webhook)). A tenant that sets none takes
    /// no webhooks.
    pub fn hmac(name: &str, description: &str) -> Self {
        Self::new(name, description, SecretScheme::Hmac, false)
    }

    /// The same secret, optional.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}
